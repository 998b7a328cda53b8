/*
 * store: a user's mail store (Maildir++ or mbox) behind the Berkeley DB
 * index (lib/index). The one API the imap session uses for mail; the
 * backends (maildir.c, mbox.c) sit behind it. doc/design.md, "The mail
 * store", is the prose version of this contract.
 *
 * Threading: none. One struct store per process (the index environment
 * allows one handle per process).
 *
 * Names: every mailbox name crossing this API is UTF-8, already
 * validated with mbname_validate() (lib/imap/mailbox-name.h) for the
 * store's separator, INBOX normalised to "INBOX". The store never
 * builds a path from an unvalidated name, and checks again that the
 * path it builds stays under its root (no symlink component outside the
 * user's mail root is followed: openat(O_NOFOLLOW) walk or an equivalent
 * check).
 *
 * Errors: functions return 0 or -1; on -1 the store's last error
 * (store_error()) holds a code the imap layer maps to a response code
 * in ONE place (imap/imap-store-error.c) and a detail text that is
 * logged, never sent to the client.
 *
 * Durability: store_append/mailbox_copy return only when the message
 * data, its directory entry and its UID are on disk (fsync of file and
 * directory, sync commit of the index), unless settings.fsync is off.
 *
 * The index is derived state: when it is missing or damaged it is rebuilt
 * from the files; UIDVALIDITY changes only if the files cannot tell the
 * old UIDs (Maildir: the index is the only place, unless dovecot-uidlist
 * or courierimapuiddb exist; mbox: offsets+fingerprints are lost with
 * the index, so UIDs come back as 1..n in file order and UIDVALIDITY is
 * bumped — unless X-UID headers from Dovecot/UW are present).
 */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct buf;

enum store_error_code {
	STORE_OK = 0,
	STORE_ERR_NONEXISTENT,   /* [NONEXISTENT] no such mailbox */
	STORE_ERR_TRYCREATE,     /* [TRYCREATE] APPEND/COPY target missing */
	STORE_ERR_EXISTS,        /* [ALREADYEXISTS] */
	STORE_ERR_NOPERM,        /* [NOPERM] EACCES on the user's own files */
	STORE_ERR_OVERQUOTA,     /* [OVERQUOTA] ENOSPC, EDQUOT */
	STORE_ERR_LIMIT,         /* [LIMIT] too many keywords, too large */
	STORE_ERR_CANNOT,        /* [CANNOT] e.g. delete INBOX, name not
				  * representable on disk */
	STORE_ERR_INUSE,         /* [INUSE] lock held too long by others */
	STORE_ERR_EXPUNGED,      /* [EXPUNGEISSUED] / message gone */
	STORE_ERR_TEMP,          /* [UNAVAILABLE] index busy/recovering */
	STORE_ERR_SERVERBUG,     /* [SERVERBUG] corrupt data, our bug */
};

struct store_error {
	enum store_error_code code;
	char detail[256];        /* for the log only */
};

enum store_kind { STORE_MAILDIR, STORE_MBOX };

/* What the session needs, from SESSION_INIT (doc/design.md). */
struct store_settings {
	const char *location;    /* "maildir:/home/u/Maildir" or
				  * "mbox:/home/u/mail:INBOX=/var/mail/u",
				  * "~" already expanded */
	const char *index_dir;   /* BDB environment directory */
	const char *user;        /* for %u and logs */
	bool fsync;              /* false: trade safety for speed */
	uint64_t max_message_size; /* APPEND limit, APPENDLIMIT */
	/* config search_fts = no: the full-text index is neither filled
	 * nor asked (SEARCH scans every message). */
	bool no_fts;
};

/* IMAP system flags as stored (\Recent is per session, not stored);
 * the same bits as IDX_F_* (lib/index/index.h). */
#define STORE_F_SEEN     0x01u
#define STORE_F_ANSWERED 0x02u
#define STORE_F_FLAGGED  0x04u
#define STORE_F_DELETED  0x08u
#define STORE_F_DRAFT    0x10u
#define STORE_F_ALL      0x1fu
/* Keywords: a bitmap of per-mailbox keyword ids (at most 64). */
#define STORE_KEYWORDS_MAX 64

struct store;
struct mailbox;

/* True when set->location is an mbox store whose INBOX lies in a
 * directory this process cannot write (the spool, root:mail 2775): its
 * dotlocks are made by liblockfile's setgid dotlockfile(1), which a
 * process with PR_SET_NO_NEW_PRIVS cannot run, so such a session starts
 * mbox_lock_helper_start() before it sets that (imap/session.c). False
 * for Maildir, for an INBOX in a directory of the user's, for one whose
 * directory is missing, and for a location store_open would refuse.
 * Costs an access(2); opens nothing. */
bool store_needs_lock_helper(const struct store_settings *set);

/* Opens the user's store and its index environment. */
int store_open(const struct store_settings *set, struct store **out,
	       struct store_error *err);
void store_free(struct store **s);
const struct store_error *store_error(const struct store *s);
enum store_kind store_kind(const struct store *s);
/* The hierarchy separator on the wire: '/' for both stores
 * (STORE_SEPARATOR). Maildir++ keeps "Sub/Folder" as ".Sub.Folder", so a
 * component containing '.' cannot be stored there (mbname_to_maildir
 * refuses it: STORE_ERR_CANNOT). */
#define STORE_SEPARATOR '/'
char store_separator(const struct store *s);
/* Call from the event loop about once a second (index lock expiry). */
void store_tick(struct store *s);
/* While the session waits (IDLE): close the index environment until the
 * next use (idx_env_release), the largest part of a waiting session's
 * memory. True if it was released now. */
bool store_release_index(struct store *s);

/* First login: create INBOX and the special-use folders (Drafts, Sent,
 * Trash, Junk, Archive) if the store is new. */
int store_ensure_defaults(struct store *s);

/* --- Mailbox namespace ------------------------------------------------ */

#define STORE_LIST_NOSELECT    0x01u  /* \Noselect: a parent only */
#define STORE_LIST_NONEXISTENT 0x02u
#define STORE_LIST_CHILDREN    0x04u  /* \HasChildren (else \HasNoChildren) */
#define STORE_LIST_SUBSCRIBED  0x08u
#define STORE_LIST_DRAFTS      0x10u  /* RFC 6154 special use */
#define STORE_LIST_SENT        0x20u
#define STORE_LIST_TRASH       0x40u
#define STORE_LIST_JUNK        0x80u
#define STORE_LIST_ARCHIVE     0x100u
#define STORE_LIST_MARKED      0x200u /* new mail since last seen */

/* Calls cb for every mailbox (and every \Noselect parent: in Maildir++,
 * where such a parent is nothing on disk, also STORE_LIST_NONEXISTENT)
 * in the store, in name order, with its attributes; and for every
 * subscribed name that
 * does not exist, with STORE_LIST_NONEXISTENT | STORE_LIST_SUBSCRIBED
 * (LSUB, LIST (SUBSCRIBED)). Pattern matching (* and %) is the caller's.
 * cb returns 0 to go on, -1 to stop (store_list then returns 0). */
int store_list(struct store *s,
	       int (*cb)(const char *name, unsigned int attrs, void *ctx),
	       void *ctx);
/* special_use: 0 or one STORE_LIST_<special> bit (CREATE-SPECIAL-USE). */
int store_create(struct store *s, const char *name, unsigned int special_use);
/* RFC 9051 §6.3.4: a mailbox with children becomes \Noselect (its
 * messages go); deleting INBOX is STORE_ERR_CANNOT. */
int store_delete(struct store *s, const char *name);
/* RFC 9051 §6.3.6: children move too; renaming INBOX moves its messages
 * to the new name and leaves INBOX empty. UIDVALIDITY/UIDs kept. */
int store_rename(struct store *s, const char *from, const char *to);
int store_subscribe(struct store *s, const char *name, bool on);

struct store_status {
	uint32_t messages, recent, unseen, uidnext, uidvalidity;
	uint64_t highestmodseq, size;
	uint32_t deleted;
};
/* Syncs cheaply (stat of the files, index reads) and fills st. */
int store_status(struct store *s, const char *name,
		 struct store_status *st);

/* --- APPEND ----------------------------------------------------------- */

struct store_new_msg {
	const void *data;        /* the message, CRLF or LF as given */
	size_t len;
	unsigned int flags;      /* STORE_F_* */
	const char *const *keywords; /* NULL-terminated, validated atoms */
	time_t internaldate;     /* 0: now */
	/* mbox: the sender in the From_ line (an MDA's envelope sender,
	 * printable, no space); NULL or "": MAILER-DAEMON. */
	const char *envelope_from;
};
/* MULTIAPPEND (RFC 3502): all messages or none. Fills *uidvalidity and
 * uids[0..n-1] (APPENDUID, RFC 4315). */
int store_append(struct store *s, const char *name,
		 const struct store_new_msg *msgs, size_t n,
		 uint32_t *uidvalidity, uint32_t *uids);

/* --- A selected mailbox ------------------------------------------------ */

/* 24 bytes: a view of 100,000 messages is 2.4 MB of the session's heap
 * (32 with a uint32_t of flags and the bools last). */
struct store_msg {
	uint32_t uid;
	uint16_t flags;          /* STORE_F_* */
	bool recent;             /* \Recent in this session */
	bool expunged;           /* gone, not yet reported (RFC 2180 §4.1) */
	uint64_t keywords;       /* bit i = keyword id i */
	uint64_t modseq;
};

/* The session's view: msgs[0..n-1] is sequence 1..n. */
struct mailbox_view {
	const struct store_msg *msgs;
	size_t n;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	const char *const *keywords;  /* keyword id -> name, n_keywords */
	size_t n_keywords;
	bool readonly;
};

/* What mailbox_sync() found; the session turns it into untagged
 * responses at the moments the RFC allows. */
struct mailbox_changes {
	/* sequence numbers (in the view before the sync) of messages whose
	 * expunge is now reported, in decreasing order */
	const uint32_t *expunged_seqs;
	const uint32_t *expunged_uids;  /* their UIDs (VANISHED), same order */
	size_t n_expunged;
	size_t exists;            /* the new message count */
	uint32_t recent;
	/* sequence numbers (after the sync) whose flags changed */
	const uint32_t *flag_seqs;
	size_t n_flag_changes;
	bool keywords_changed;    /* send FLAGS/PERMANENTFLAGS again */
};

/* SELECT/EXAMINE: syncs with the files (new/ -> cur/ unless readonly)
 * and opens the view. */
int mailbox_open(struct store *s, const char *name, bool readonly,
		 struct mailbox **out);
void mailbox_close(struct mailbox **mb);
const struct mailbox_view *mailbox_view(const struct mailbox *mb);

#define MAILBOX_SYNC_EXPUNGES 0x01u /* may remove expunged messages from
				     * the view (not during FETCH, STORE,
				     * SEARCH: RFC 9051 §7.5.1) */
#define MAILBOX_SYNC_QUICK    0x02u /* after a command: within a second of
				     * the session's own change to the
				     * files, what left no trace on the
				     * folder's mtimes waits for the next
				     * sync (Maildir; IDLE does not wait) */
/* Picks up changes made by other sessions and programs. The returned
 * changes live until the next call. -1 with STORE_ERR_NONEXISTENT: the
 * mailbox was deleted (by another session or program); with
 * STORE_ERR_TEMP and a view whose UIDVALIDITY no longer holds (the
 * index was rebuilt and the files could not tell the old UIDs): the
 * session cannot go on with this mailbox (BYE, or unselect). Other
 * errors leave the view as it was. */
int mailbox_sync(struct mailbox *mb, unsigned int flags,
		 const struct mailbox_changes **changes);

/* A message's bytes for FETCH: an fd to read from (owned by the caller,
 * close it), the offset and length of the message in it. The bytes are
 * the message as IMAP serves it: CRLF line ends (files that store LF
 * are served through a converted copy), so *size is its RFC822.SIZE and
 * BODY[]<partial> offsets are offsets into these bytes. For Maildir a
 * file renamed meanwhile by another program is found again; a message
 * that is gone gives STORE_ERR_EXPUNGED. */
int mailbox_msg_open(struct mailbox *mb, uint32_t seq, int *fd,
		     off_t *offset, uint64_t *size);
/* The same for a caller that reads only the first want bytes of the
 * served message (a header whose length the FETCH cache knows): an LF
 * file is converted only that far, not copied whole. *size is the whole
 * message's; bytes past want may be missing or unconverted. */
int mailbox_msg_open_prefix(struct mailbox *mb, uint32_t seq, uint64_t want,
			    int *fd, off_t *offset, uint64_t *size);
/* The whole served message: a message of at most max bytes may come in
 * mem (the caller's buffer, reset first, with room for 2 max: kept from
 * one message to the next), and *fd is then -1; this saves the converted
 * copy an LF Maildir file needs as an fd. Else as mailbox_msg_open. */
int mailbox_msg_read(struct mailbox *mb, uint32_t seq, uint64_t max, int *fd,
		     off_t *offset, struct buf *mem, uint64_t *size);
/* The start of the served message in head (the caller's, reset first,
 * room for 2 max), for a reader of its header alone: at least its first
 * max bytes, or all of it if shorter; *whole: that is the whole
 * message. An LF Maildir file is read and converted only that far. */
int mailbox_msg_read_head(struct mailbox *mb, uint32_t seq, size_t max,
			  struct buf *head, bool *whole);
/* INTERNALDATE and RFC822.SIZE (the served size, CRLF counted) without
 * opening the body where the index knows them; Maildir may stat or read
 * the file once and remember the result. */
int mailbox_msg_info(struct mailbox *mb, uint32_t seq, time_t *internaldate,
		     uint64_t *size);

/* The parsed-structure caches of a message: opaque values of at most
 * STORE_CACHE_MAX bytes in the index's cache database, one per kind,
 * keyed by the message and stamped with what the index knows of it
 * (size, date): a value put for an older version of the message is not
 * returned. The records go with the message (expunge). get: 0 with
 * *len set, 1 if there is no (current) value, -1 on an error. put: 0,
 * or -1 (the cache is only an optimisation: callers go on without it).
 * Kinds are apart in the index, so reading one kind for every message
 * reads none of the other's bytes. */
#define STORE_CACHE_MAX (60 * 1024)
enum store_cache_kind {
	STORE_CACHE_STRUCT,	/* FETCH: tree, header fields, preview */
	STORE_CACHE_SORT,	/* SORT/THREAD: the keys they compare */
	STORE_CACHE_ENVELOPE,	/* FETCH ENVELOPE: its text */
	STORE_CACHE_BODYSTRUCTURE, /* FETCH BODYSTRUCTURE: its text */
	STORE_CACHE_SEARCH,	/* SEARCH: the header fields, normalized */
	STORE_CACHE_DATE,	/* SORT (DATE): the sent date alone */
	STORE_CACHE_KINDS
};
int mailbox_msg_cache_get(struct mailbox *mb, enum store_cache_kind kind,
			  uint32_t seq, void *buf, size_t cap, size_t *len);
int mailbox_msg_cache_put(struct mailbox *mb, enum store_cache_kind kind,
			  uint32_t seq, const void *data, size_t len);
/* Several puts in one index transaction (a cold FETCH 1:* fills the
 * cache in batches). */
struct store_cache_put {
	uint32_t seq;
	const void *data;
	size_t len;
};
int mailbox_msg_cache_put_n(struct mailbox *mb, enum store_cache_kind kind,
			    const struct store_cache_put *puts, size_t n);

/* --- The full-text index (doc/design.md "Full-text index") ---------------
 * APPEND, COPY and MOVE index the text of the messages they add (the
 * collected form of lib/mail/textnorm); mail that came otherwise is
 * indexed by mailbox_fts_fill. */

/* Indexes up to max_msgs messages of the selected mailbox that have no
 * text in the index (in UID order), giving up after about max_ms.
 * *more: some are left. A no-op (0, *more false) once everything below
 * the mailbox's uidnext was found indexed, or with no_fts. -1 on an
 * index error (the store error is set; nothing is wrong, only
 * unindexed). */
int mailbox_fts_fill(struct mailbox *mb, size_t max_msgs, unsigned max_ms,
		     bool *more);

/* One needle (normalized as the text: lib/mail/textnorm), and what the
 * index answers for it: the UIDs (ascending, malloc'd) of the indexed
 * messages whose text contains it in one segment. */
struct mailbox_fts_query {
	const void *needle;
	size_t len;              /* > 0 */
	uint32_t *uids;
	size_t n;
};
/* Answers q[0..nq-1] in one read transaction, and gives the UIDs
 * (ascending, malloc'd) of the mailbox's messages that have no text in
 * the index: for those, and for UIDs the index does not know, the
 * caller must read the message. Returns 0; 1 if the index is not to be
 * used (no_fts); -1 on an error (store error set: scan instead).
 * Free with mailbox_fts_free. */
int mailbox_fts_search(struct mailbox *mb, struct mailbox_fts_query *q,
		       size_t nq, uint32_t **unindexed, size_t *n_unindexed);
void mailbox_fts_free(struct mailbox_fts_query *q, size_t nq,
		      uint32_t **unindexed);

enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
/* STORE on sequences seqs[0..n-1]. Keywords not yet known are created
 * (STORE_ERR_LIMIT past STORE_KEYWORDS_MAX; -FLAGS of an unknown keyword
 * is a no-op). Messages already expunged (still in the view) are
 * skipped. The view is updated; Maildir applies the change to the file's
 * current flags, which another program may have changed meanwhile. */
int mailbox_store_flags(struct mailbox *mb, const uint32_t *seqs, size_t n,
			enum store_flag_op op, unsigned int flags,
			const char *const *keywords);
/* STORE ... (UNCHANGEDSINCE n) (RFC 7162 §3.1.3): as above, but a
 * message whose modseq is above unchangedsince is left alone; the test
 * is made again in the index transaction that records the change, so a
 * concurrent STORE of another session cannot slip in between. Its UID
 * goes to *failed_uids (ascending, n_failed; valid until the next call
 * on mb). Maildir renames the file before that transaction: a change
 * that loses there is undone in the file afterwards. */
int mailbox_store_flags_cond(struct mailbox *mb, const uint32_t *seqs,
			     size_t n, enum store_flag_op op,
			     unsigned int flags, const char *const *keywords,
			     uint64_t unchangedsince,
			     const uint32_t **failed_uids, size_t *n_failed);

/* QRESYNC (RFC 7162 §3.2.5.2): the UIDs expunged with a modseq above
 * since that the index still remembers (ascending; valid until the next
 * call on mb). *complete is false when older expunges were forgotten
 * (doc/design.md, "Index layout": a bounded number is kept): the caller
 * must then treat every UID it cannot see as possibly expunged. */
int mailbox_expunged_since(struct mailbox *mb, uint64_t since,
			   const uint32_t **uids, size_t *n, bool *complete);

/* EXPUNGE (uids == NULL: every \Deleted message) or UID EXPUNGE (only
 * those of uids[0..n-1] that are \Deleted). Only messages in the view
 * count (mail that arrived since the last sync stays), and \Deleted is
 * as the files say now. Reports through the next
 * mailbox_sync(MAILBOX_SYNC_EXPUNGES). */
int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n);

/* What to watch (inotify) to learn soon that the selected mailbox
 * changed: the index's notify file other sessions touch on commit
 * (store-notify.c), and the backend's files (Maildir: new/ and cur/;
 * mbox: the file and, for renames and dotlocks, its directory). */
#define STORE_WATCH_MAX 4
struct store_watch {
	char path[4096];
	bool dir;                 /* a directory: entry events count */
	/* for a directory: only entries whose name starts with this
	 * count ("" = every entry) */
	char prefix[256];
};
/* Fills w[0..*n-1] (at most max). Creates the notify file if missing.
 * A watch it cannot offer is left out (logged); -1 only on a store
 * error. */
int mailbox_watches(struct mailbox *mb, struct store_watch *w, size_t max,
		    size_t *n);

/* COPY/MOVE of sequences seqs[0..n-1] (unique) into dest. Fills
 * *uidvalidity, src_uids and dst_uids, both in the source's UID order,
 * pair by pair (COPYUID, RFC 4315). Flags and keywords are copied,
 * \Recent goes to the target's next SELECT. A message already expunged
 * gives STORE_ERR_EXPUNGED and nothing is copied; a missing target is
 * STORE_ERR_TRYCREATE. MOVE expunges the sources once the copies are on
 * disk (RFC 6851), reported by the next mailbox_sync. */
int mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
		 const char *dest, bool move, uint32_t *uidvalidity,
		 uint32_t *src_uids, uint32_t *dst_uids);

/* --- Administration (moatctl index check / rebuild) ------------------ */

/* What a full scan of a mailbox's files found against its index. */
struct store_check {
	uint32_t indexed;        /* index records before the scan */
	uint32_t missing;        /* files the index does not know */
	uint32_t changed;        /* records whose flags or file differ */
	uint32_t vanished;       /* records whose file is gone */
};
/* Scans every file of mailbox name, ignoring the index's stamp (the
 * change detection a sync normally trusts), and counts what differs.
 * repair false: nothing is recorded (and Maildir's new/ is left as it
 * is); true: the differences are recorded, keeping the UIDs of the
 * messages the index knows. A mailbox the index has never seen is
 * indexed by the open, as a session's first SELECT would. */
int store_mailbox_check(struct store *s, const char *name, bool repair,
			struct store_check *out);
/* Moves the whole index aside and recreates it empty (idx_env_reset);
 * each mailbox is then rebuilt from its files at its next open, with
 * the UIDs dovecot-uidlist keeps (Maildir; an mbox without X-IMAPbase
 * gets a new UIDVALIDITY). STORE_ERR_INUSE while another process of
 * the user has the index open. */
int store_index_reset(struct store *s);

/* Makes the directories between home and an index directory inside it
 * ("~/.moat/index": "~/.moat"), mode 0700, as the user (idx_env_open
 * makes only the last level); a component that exists is used as it is
 * (the user's own business). Nothing if index is not below home. For
 * every process that opens a user's store: the session, lmtp's
 * delivery, moatctl's store work. */
void store_index_parents(const char *index, const char *home);

#endif
