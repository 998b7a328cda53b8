/*
 * fetch_cache: what FETCH keeps of a message in the index's cache
 * database (store.h mailbox_msg_cache_*): its MIME tree
 * (mail_tree_serialize) and, for the message and every encapsulated
 * message/rfc822, the header fields ENVELOPE is made of, and the
 * PREVIEW text, so that ENVELOPE, BODY, BODYSTRUCTURE and PREVIEW of a
 * warm message open no file
 * (issue 7, "The cache"). Caller: cmd-fetch.c.
 */
#ifndef MOAT_IMAP_FETCH_CACHE_H
#define MOAT_IMAP_FETCH_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "mail/mime.h"
#include "storage/store.h"

/* A message's structure: the tree and the envelope header blocks. */
struct fetch_meta {
	struct mail_tree *tree;
	uint32_t *env_part;      /* part index of each block */
	struct buf **env;        /* its ENVELOPE fields as a header block */
	size_t n_env;
	struct buf *preview;     /* PREVIEW (RFC 8970); NULL: NIL */
	struct buf *value;       /* fill: the cache value to put, or NULL */
	/* env[] of part 0 came from the very header fields SEARCH's scan
	 * reads (the first MAIL_TEXTNORM_HEADER_MAX bytes up to the empty
	 * line), every occurrence: SEARCH HEADER of those fields can be
	 * answered from it */
	bool top_exact;
	/* the same for SORT/THREAD's read of FETCH_CACHE_SORT_HEADER_MAX */
	bool top_sort;
};

/* What SORT and THREAD read of a message's header (MSGFIELDS_HEADER_MAX). */
#define FETCH_CACHE_SORT_HEADER_MAX (256u * 1024u)
/* fetch_cache_top: the block for SEARCH's scan or SORT/THREAD's. */
#define FETCH_TOP_SEARCH 1u
#define FETCH_TOP_SORT 2u

/* Up to this size a fill reads the message once, whole (a big one goes
 * by ranges; from an LF Maildir file through a converted copy). */
#define FETCH_CACHE_FILL_MAX (1024u * 1024u)

/* From the cache: 0 (meta filled), 1 a miss, -1 an error (logged). */
int fetch_cache_load(struct mailbox *mb, uint32_t seq, struct fetch_meta *m);
/* The message's own block (its ENVELOPE fields and References, every
 * occurrence) from the cache, without the tree, if it has the fields
 * the scan need names sees (top_exact, top_sort): 0 with *block set
 * (free it), 1 not there, -1 an error. */
int fetch_cache_top(struct mailbox *mb, uint32_t seq, unsigned int need,
		    struct buf **block);
/* The decoders of a cache value (untrusted: the index's bytes are only
 * as trusted as the disk): the whole record, 0 or -1 (m cleared); the
 * message's own block alone, 0 (*block set), 1 (none usable) or -1. */
int fetch_cache_decode(const uint8_t *val, size_t len, struct fetch_meta *m);
int fetch_cache_decode_top(const uint8_t *val, size_t len, unsigned int need,
			   struct buf **block);
/* Parses the message at off of fd (size bytes); m->value is then the
 * cache value for it (NULL if too big), for the caller to put (in
 * batches: mailbox_msg_cache_put_n). -1 with errno on a read error. */
int fetch_cache_fill(int fd, off_t off, uint64_t size, struct fetch_meta *m);
/* Only the message's own envelope block, from its header hdr[0..len)
 * (what a fill makes of part 0's: FETCH ENVELOPE read only the head of
 * the message); no tree, nothing to cache. */
void fetch_meta_from_header(struct fetch_meta *m, const uint8_t *hdr,
			    size_t len);
/* The same from msg (the message's bytes in memory, mailbox_msg_read)
 * if not NULL, else from fd; without record, only the tree and the
 * envelope blocks: no preview and no cache value (ENVELOPE and
 * BODYSTRUCTURE keep their text instead). */
int fetch_cache_fill_from(int fd, off_t off, const uint8_t *msg,
			  uint64_t size, bool record, struct fetch_meta *m);
/* Cache records of one kind put in one index transaction. */
#define FETCH_CACHE_BATCH 64
struct fetch_cache_batch {
	enum store_cache_kind kind;
	struct store_cache_put puts[FETCH_CACHE_BATCH];
	struct buf *vals[FETCH_CACHE_BATCH];
	size_t n;
};
/* Queues val (taken over) as message seq's record; a full batch is put.
 * who names the command in a warning (the cache is only an
 * optimisation: a failed put is logged, not answered). */
void fetch_cache_batch_queue(struct store *s, struct mailbox *mb,
			     struct fetch_cache_batch *b, uint32_t seq,
			     struct buf *val, const char *who);
void fetch_cache_batch_flush(struct store *s, struct mailbox *mb,
			     struct fetch_cache_batch *b, const char *who);

/* The text records (STORE_CACHE_ENVELOPE, STORE_CACHE_BODYSTRUCTURE):
 * an item's IMAP text as written for a client in one mode (UTF8=ACCEPT
 * or not), sent again as it is, and the size of the message it was
 * made from (FETCH_TEXT_SIZE_UNKNOWN after a head read), which a FETCH
 * that opens the file checks as it checks the tree's. Value: u8 version
 * | u8 mode | u64 size | text. */
#define FETCH_TEXT_SIZE_UNKNOWN UINT64_MAX
struct buf *fetch_text_encode(const uint8_t *text, size_t len, bool utf8,
			      uint64_t size);
/* 0 with *text and *size set; 1 for the other mode's; -1 malformed (the
 * text is checked to be one list of the writer's grammar,
 * imap_list_valid, so the index's bytes cannot break the client's parse
 * of the response). */
int fetch_text_decode(const uint8_t *val, size_t len, bool utf8,
		      const uint8_t **text, size_t *tlen, uint64_t *size);
/* The text of kind for message seq appended to out, *size its message's
 * size: 0, or 1 (a miss); val is room for STORE_CACHE_MAX bytes. */
int fetch_text_load(struct mailbox *mb, enum store_cache_kind kind,
		    uint32_t seq, bool utf8, uint8_t *val, struct buf *out,
		    uint64_t *size);

/* Whether name is one of the fields the envelope blocks keep. */
bool fetch_cache_field_kept(const char *name);
/* The envelope block of the message whose header is part idx, or NULL. */
const struct buf *fetch_meta_envelope(const struct fetch_meta *m,
				      uint32_t idx);
void fetch_meta_clear(struct fetch_meta *m);

#endif
