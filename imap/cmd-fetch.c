/*
 * FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) of FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, SAVEDATE (always NIL, RFC 8514 §4.2),
 * ENVELOPE, BODY, BODYSTRUCTURE, RFC822, RFC822.HEADER, RFC822.TEXT,
 * BODY[section] and BODY.PEEK[section] with a partial <origin.count>,
 * BINARY[section], BINARY.PEEK[section] and BINARY.SIZE[section] (RFC
 * 3516), PREVIEW (RFC 8970, with the LAZY modifier), the FAST, ALL
 * and FULL macros, and MODSEQ (RFC 7162 §3.1.5).
 * Modifiers (RFC 4466 §2.4): CHANGEDSINCE (§3.1.4.1: only messages
 * whose modseq is greater, MODSEQ implied) and, for UID FETCH after
 * ENABLE QRESYNC and with CHANGEDSINCE, VANISHED (§3.2.6: VANISHED
 * (EARLIER) for the UIDs of the set expunged since, before any FETCH).
 * For a CONDSTORE-aware client every response with FLAGS carries
 * MODSEQ, and after QRESYNC one with an implicit FLAGS carries UID
 * (§3.1, §3.2.4). Caller: imap_command_execute.
 *
 * Written resumably, message by message and item by item: a body is
 * streamed from the store's descriptor into the output as a literal
 * (client_stream_fd), a decoded or filtered one in pieces as the output
 * drains, so neither FETCH 1:* nor a 50 MB message is ever in memory;
 * the MIME tree (lib/mail/mime.h) keeps only offsets. The tree, the
 * ENVELOPE fields and the PREVIEW go to the index's cache on first use
 * (fetch-cache.c), so ENVELOPE, BODY, BODYSTRUCTURE and PREVIEW of a
 * warm message open no file. BODY[...],
 * BINARY[...], RFC822 and RFC822.TEXT set \Seen in a read-write
 * mailbox (RFC 9051 §6.4.5), for all messages at once before the first
 * is sent, and the FETCH then includes FLAGS. Messages expunged by
 * another session but not yet reported are left out and the reply is
 * NO [EXPUNGEISSUED] (RFC 2180 §4.1.2); a BINARY of a part whose
 * encoding we cannot decode leaves the message out and the reply is NO
 * [UNKNOWN-CTE] (RFC 3516 §4.3).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/num.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/fetch-cache.h"
#include "imap/fetch-msg.h"
#include "imap/fetch-section.h"
#include "imap/imap-resp.h"
#include "imap/writer.h"
#include "mail/bodystructure.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/section.h"
#include "storage/store.h"

enum fetch_kind {
	FETCH_UID,
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_BODY,
	FETCH_SAVEDATE,          /* RFC 8514 §4.2: NIL, no save date kept */
	FETCH_MODSEQ,
	FETCH_ENVELOPE,
	FETCH_STRUCTURE,         /* BODY (bodystructure false) */
	FETCH_BINARY,
	FETCH_BINARY_SIZE,
	FETCH_PREVIEW,           /* RFC 8970 */
};

struct fetch_item {
	enum fetch_kind kind;
	const char *name;        /* in the response: "RFC822", "BODY[]<5>" */
	bool sets_seen;          /* BODY[] and RFC822, not BODY.PEEK[] */
	bool extended;           /* BODYSTRUCTURE, not BODY */
	struct fetch_section sec;   /* BODY, BINARY, BINARY.SIZE */
};

/* More items than this in one FETCH is not a real client. */
#define FETCH_MAX_ITEMS 64

struct fetch_ctx {
	struct fetch_item items[FETCH_MAX_ITEMS + 1];
	size_t n_items;
	bool need_info, want_flags, sets_seen, want_modseq;
	bool need_tree;          /* the MIME tree of each message */
	bool need_bytes;         /* items served from the message file */
	bool need_meta;          /* tree or envelope: the cache can answer */
	/* ENVELOPE, BODYSTRUCTURE asked for: their text records are read
	 * first; meta_other: another item needs the tree or blocks */
	bool text_env, text_bs, meta_other;
	bool want_uid;
	bool changedsince_set, vanished;
	uint64_t changedsince;
	struct seqset *gone;     /* VANISHED (EARLIER) to write first */
	size_t gone_pos;

	uint32_t *seqs;
	size_t n, next;          /* next message to start */
	/* \Seen was set by this FETCH on these (ascending) sequences */
	uint32_t *seen;
	size_t n_seen, seen_i;

	/* The message being written. */
	bool open;               /* its "* n FETCH (" is out */
	size_t item;             /* next item to write */
	bool add_flags;          /* FLAGS appended at the end */
	uint32_t seq;
	int fd;
	bool fd_prefix;          /* fd holds only the bytes the items read */
	off_t off;
	uint64_t size;
	time_t date;
	uint64_t info_size;
	struct fetch_meta meta;  /* tree and envelope blocks (cache) */
	/* a message read whole (or its head), kept for the next one */
	struct buf *mem_buf;
	struct buf *env_text, *bs_text;  /* this message's, from the cache */
	bool env_hit, bs_hit;
	uint64_t env_size, bs_size;      /* of the message they were made of */
	uint8_t *text_val;       /* a text record read (STORE_CACHE_MAX) */
	struct mail_tree *tree;  /* meta.tree */
	/* An item being written in pieces: gen bytes from gen_pos, or
	 * decoded bytes of the raw range dec_off/dec_left with dec_skip
	 * of them still to drop (partial) and out_left still owed. */
	bool gen_on, dec_on;
	struct buf *gen;
	size_t gen_pos;
	struct mail_decoder dec;
	off_t dec_off;
	uint64_t dec_left, dec_skip, out_left;
	struct buf *dec_buf;

	/* cache records made, put every FETCH_CACHE_BATCH and at the end */
	struct fetch_cache_batch batch[STORE_CACHE_KINDS];

	bool expunged;
	bool unknown_cte;
	bool failed;
};

static int
add_item(struct fetch_ctx *fc, enum fetch_kind kind, const char *name)
{
	/* Simple items once each; bodies as often as asked. */
	for (size_t i = 0; i < fc->n_items && kind != FETCH_BODY &&
	     kind != FETCH_BINARY && kind != FETCH_BINARY_SIZE; i++) {
		if (fc->items[i].kind == kind &&
		    (kind != FETCH_STRUCTURE || str_eq(fc->items[i].name,
						       name)))
			return 0;
	}
	if (fc->n_items == FETCH_MAX_ITEMS)
		return -1;
	memset(&fc->items[fc->n_items], 0, sizeof(fc->items[0]));
	fc->items[fc->n_items].kind = kind;
	fc->items[fc->n_items].name = name;
	fc->n_items++;
	return 0;
}

/* A section item: name (BODY, BODY.PEEK, BINARY...) then "[...]". */
static int
add_section(struct client_command *cmd, struct fetch_ctx *fc,
	    enum fetch_kind kind, const char *resp_name, const char *rest,
	    enum fetch_section_syntax syntax, bool seen, const char **error)
{
	struct fetch_section sec;
	struct fetch_item *it;

	if (fetch_section_parse(cmd->pool, rest, syntax, &sec, error) < 0)
		return -1;
	if (add_item(fc, kind, resp_name) < 0)
		return -1;
	it = &fc->items[fc->n_items - 1];
	it->sec = sec;
	it->sets_seen = seen;
	/* The response names the origin only (RFC 9051 §7.5.2). */
	if (sec.partial)
		it->name = pool_printf(cmd->pool, "%s%s<%" PRIu64 ">",
				       resp_name, sec.spec, sec.origin);
	else
		it->name = pool_printf(cmd->pool, "%s%s", resp_name,
				       sec.spec);
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: BODY[], BODY.PEEK[HEADER] and
 * BODY[TEXT] under their own names (RFC 9051 §6.4.5). */
static int
add_rfc822(struct fetch_ctx *fc, const char *name,
	   enum mail_section_kind kind, bool seen)
{
	struct fetch_item *it;

	if (add_item(fc, FETCH_BODY, name) < 0)
		return -1;
	it = &fc->items[fc->n_items - 1];
	it->sec.sec.kind = kind;
	it->sets_seen = seen;
	return 0;
}

static int
parse_item(struct client_command *cmd, struct fetch_ctx *fc, const char *s,
	   const char **error)
{
	char *up = pool_strdup(cmd->pool, s);
	static const struct {
		const char *prefix, *resp;
		enum fetch_kind kind;
		enum fetch_section_syntax syntax;
		bool seen;
	} sections[] = {
		{ "BODY.PEEK[", "BODY", FETCH_BODY, FETCH_SECTION_BODY,
		  false },
		{ "BODY[", "BODY", FETCH_BODY, FETCH_SECTION_BODY, true },
		{ "BINARY.PEEK[", "BINARY", FETCH_BINARY,
		  FETCH_SECTION_BINARY, false },
		{ "BINARY[", "BINARY", FETCH_BINARY, FETCH_SECTION_BINARY,
		  true },
		{ "BINARY.SIZE[", "BINARY.SIZE", FETCH_BINARY_SIZE,
		  FETCH_SECTION_SIZE, false },
	};

	str_upper(up);
	*error = "Invalid FETCH item.";
	if (str_eq(up, "UID"))
		return add_item(fc, FETCH_UID, "UID");
	if (str_eq(up, "FLAGS"))
		return add_item(fc, FETCH_FLAGS, "FLAGS");
	if (str_eq(up, "INTERNALDATE"))
		return add_item(fc, FETCH_INTERNALDATE, "INTERNALDATE");
	if (str_eq(up, "RFC822.SIZE"))
		return add_item(fc, FETCH_SIZE, "RFC822.SIZE");
	if (str_eq(up, "SAVEDATE"))
		return add_item(fc, FETCH_SAVEDATE, "SAVEDATE");
	if (str_eq(up, "MODSEQ"))
		return add_item(fc, FETCH_MODSEQ, "MODSEQ");
	if (str_eq(up, "ENVELOPE"))
		return add_item(fc, FETCH_ENVELOPE, "ENVELOPE");
	if (str_eq(up, "PREVIEW"))
		return add_item(fc, FETCH_PREVIEW, "PREVIEW");
	if (str_eq(up, "BODY"))
		return add_item(fc, FETCH_STRUCTURE, "BODY");
	if (str_eq(up, "BODYSTRUCTURE")) {
		if (add_item(fc, FETCH_STRUCTURE, "BODYSTRUCTURE") < 0)
			return -1;
		fc->items[fc->n_items - 1].extended = true;
		return 0;
	}
	if (str_eq(up, "FAST") || str_eq(up, "ALL") || str_eq(up, "FULL")) {
		/* RFC 9051 §6.4.5: FAST = (FLAGS INTERNALDATE RFC822.SIZE),
		 * ALL adds ENVELOPE, FULL adds ENVELOPE BODY. */
		if (add_item(fc, FETCH_FLAGS, "FLAGS") < 0 ||
		    add_item(fc, FETCH_INTERNALDATE, "INTERNALDATE") < 0 ||
		    add_item(fc, FETCH_SIZE, "RFC822.SIZE") < 0)
			return -1;
		if (str_eq(up, "FAST"))
			return 0;
		if (add_item(fc, FETCH_ENVELOPE, "ENVELOPE") < 0)
			return -1;
		return str_eq(up, "ALL") ? 0 :
			add_item(fc, FETCH_STRUCTURE, "BODY");
	}
	if (str_eq(up, "RFC822"))
		return add_rfc822(fc, "RFC822", MAIL_SECTION_BODY, true);
	if (str_eq(up, "RFC822.HEADER"))
		return add_rfc822(fc, "RFC822.HEADER", MAIL_SECTION_HEADER,
				  false);
	if (str_eq(up, "RFC822.TEXT"))
		return add_rfc822(fc, "RFC822.TEXT", MAIL_SECTION_TEXT, true);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		size_t n = strlen(sections[i].prefix);

		if (strncmp(up, sections[i].prefix, n) == 0)
			return add_section(cmd, fc, sections[i].kind,
					   sections[i].resp, up + n - 1,
					   sections[i].syntax,
					   sections[i].seen, error);
	}
	*error = "Unknown FETCH item.";
	return -1;
}

static int
parse_items(struct client_command *cmd, struct fetch_ctx *fc,
	    const char **error)
{
	const struct imap_arg *list = &cmd->args[1];
	size_t n = 1;
	const char *s;

	if (cmd->args[1].type == IMAP_ARG_LIST) {
		list = cmd->args[1].list;
		n = cmd->args[1].list_n;
		if (n == 0) {
			*error = "Empty FETCH item list.";
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *ml;
		size_t mn;

		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid FETCH item.";
			return -1;
		}
		/* RFC 8970 §3.1: PREVIEW (LAZY); we always have a preview
		 * (computed at the first use, then cached) */
		if (str_eq_ci(s, "PREVIEW") && i + 1 < n &&
		    imap_arg_get_list(&list[i + 1], &ml, &mn)) {
			const char *mod;

			if (mn != 1 || !imap_arg_get_atom(&ml[0], &mod) ||
			    !str_eq_ci(mod, "LAZY")) {
				*error = "Invalid PREVIEW modifier.";
				return -1;
			}
			if (parse_item(cmd, fc, s, error) < 0)
				return -1;
			i++;
			continue;
		}
		/* The macros stand alone (RFC 9051 §6.4.5 grammar). */
		if ((str_eq_ci(s, "ALL") || str_eq_ci(s, "FULL") ||
		     str_eq_ci(s, "FAST")) && list != &cmd->args[1]) {
			*error = "FETCH macros cannot be in a list.";
			return -1;
		}
		if (parse_item(cmd, fc, s, error) < 0) {
			if (fc->n_items == FETCH_MAX_ITEMS)
				*error = "Too many FETCH items.";
			return -1;
		}
	}
	/* RFC 9051 §6.4.9: UID FETCH always returns the UID. */
	if (cmd->uid && fc->items[0].kind != FETCH_UID) {
		bool have = false;

		for (size_t i = 0; i < fc->n_items; i++)
			have |= fc->items[i].kind == FETCH_UID;
		if (!have) {
			memmove(&fc->items[1], &fc->items[0],
				fc->n_items * sizeof(fc->items[0]));
			memset(&fc->items[0], 0, sizeof(fc->items[0]));
			fc->items[0].kind = FETCH_UID;
			fc->items[0].name = "UID";
			fc->n_items++;
		}
	}
	/* RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ; §3.1: a
	 * CONDSTORE-aware client gets MODSEQ with every FLAGS. */
	if (fc->changedsince_set || cmd->client->condstore) {
		bool flags = false;

		for (size_t i = 0; i < fc->n_items; i++)
			flags |= fc->items[i].kind == FETCH_FLAGS;
		if ((flags || fc->changedsince_set) &&
		    add_item(fc, FETCH_MODSEQ, "MODSEQ") < 0) {
			*error = "Too many FETCH items.";
			return -1;
		}
	}
	for (size_t i = 0; i < fc->n_items; i++) {
		switch (fc->items[i].kind) {
		case FETCH_MODSEQ:
			fc->want_modseq = true;
			break;
		case FETCH_BODY:
		case FETCH_BINARY:
		case FETCH_BINARY_SIZE:
			/* false for BINARY.SIZE */
			fc->sets_seen |= fc->items[i].sets_seen;
			fc->need_bytes = true;
			/* BODY[] alone needs no structure */
			if (fc->items[i].sec.sec.kind != MAIL_SECTION_BODY ||
			    fc->items[i].sec.sec.n_part > 0)
				fc->need_tree = fc->meta_other = true;
			break;
		case FETCH_STRUCTURE:
			fc->need_tree = true;
			fc->need_meta = true;
			if (fc->items[i].extended)
				fc->text_bs = true;
			else
				fc->meta_other = true;
			break;
		case FETCH_ENVELOPE:
			fc->need_meta = true;
			fc->text_env = true;
			break;
		case FETCH_PREVIEW:
			fc->need_meta = true;
			fc->meta_other = true;
			break;
		case FETCH_INTERNALDATE:
		case FETCH_SIZE:
			fc->need_info = true;
			break;
		case FETCH_FLAGS:
			fc->want_flags = true;
			break;
		case FETCH_UID:
			fc->want_uid = true;
			break;
		case FETCH_SAVEDATE:
			break;
		}
	}
	fc->need_meta |= fc->need_tree;
	return 0;
}

/* fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
 * (RFC 4466 §2.4); CHANGEDSINCE mod-sequence-value, VANISHED. */
static int
parse_modifiers(struct client_command *cmd, struct fetch_ctx *fc,
		const char **error)
{
	const struct imap_arg *l;
	size_t n;
	const char *s;

	*error = "Invalid FETCH modifiers.";
	if (!imap_arg_get_list(&cmd->args[2], &l, &n) || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&l[i], &s))
			return -1;
		if (str_eq_ci(s, "CHANGEDSINCE") && !fc->changedsince_set) {
			if (i + 1 >= n ||
			    !condstore_parse_modseq(&l[i + 1], true,
						    &fc->changedsince))
				return -1;
			fc->changedsince_set = true;
			i++;
		} else if (str_eq_ci(s, "VANISHED") && !fc->vanished) {
			fc->vanished = true;
		} else {
			*error = "Unknown FETCH modifier.";
			return -1;
		}
	}
	/* RFC 7162 §3.2.6 */
	if (fc->vanished && !cmd->uid)
		*error = "VANISHED is only for UID FETCH.";
	else if (fc->vanished && !cmd->client->qresync)
		*error = "VANISHED needs ENABLE QRESYNC first.";
	else if (fc->vanished && !fc->changedsince_set)
		*error = "VANISHED needs CHANGEDSINCE.";
	else
		return 0;
	return -1;
}

/* UID FETCH ... (CHANGEDSINCE n VANISHED): the UIDs of the command's
 * set expunged since n, for VANISHED (EARLIER). false: answered. */
static bool
find_vanished(struct client_command *cmd, struct fetch_ctx *fc)
{
	const struct mailbox_view *v = mailbox_view(cmd->client->mailbox);
	struct seqset *parsed, *known, *gone;
	const char *s, *error;

	if (!imap_arg_get_atom(&cmd->args[0], &s) ||
	    (parsed = seqset_parse(cmd->pool, s, cmd->args[0].len,
				   SEQSET_MAX_RANGES, &error)) == NULL ||
	    parsed->has_last)
		return true;	/* imap_args_seqs judged the set already */
	/* "*" as UIDNEXT - 1: "1:*" names the expunged last UIDs too
	 * (Dovecot agrees). */
	known = seqset_resolve_uid(cmd->pool, parsed,
				   v->uidnext > 1 ? v->uidnext - 1 : 0,
				   v->uidnext);
	gone = condstore_vanished(cmd, known, fc->changedsince, 0);
	if (gone == NULL)
		return false;
	fc->gone = gone;
	return true;
}

static void
flush_cache(struct client_command *cmd, struct fetch_ctx *fc)
{
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		fetch_cache_batch_flush(cmd->client->store,
					cmd->client->mailbox, &fc->batch[k],
					"FETCH");
}

static void
queue_cache(struct client_command *cmd, struct fetch_ctx *fc,
	    enum store_cache_kind kind, struct buf *val)
{
	fetch_cache_batch_queue(cmd->client->store, cmd->client->mailbox,
				&fc->batch[kind], fc->seq, val, "FETCH");
}

/* The text of an item just written at c->out[at..] as its record. */
static void
queue_text(struct client_command *cmd, struct fetch_ctx *fc,
	   enum store_cache_kind kind, size_t at)
{
	const struct buf *out = cmd->client->out;
	struct buf *val;

	if (fc->failed)
		return;
	val = fetch_text_encode(buf_data(out) + at, buf_len(out) - at,
				cmd->client->utf8, fc->tree != NULL ?
				fc->tree->size : FETCH_TEXT_SIZE_UNKNOWN);
	if (val != NULL)
		queue_cache(cmd, fc, kind, val);
}

static void
fetch_cleanup(struct client_command *cmd)
{
	struct fetch_ctx *fc = cmd->ctx;

	if (fc == NULL)
		return;
	if (fc->fd >= 0) {
		close(fc->fd);
		fc->fd = -1;
	}
	fetch_meta_clear(&fc->meta);
	fc->tree = NULL;
	buf_free(&fc->gen);
	buf_free(&fc->dec_buf);
	fc->gen_on = fc->dec_on = false;
}

/* The command's end (done or aborted): the cache values still held. */
static void
fetch_done(struct client_command *cmd)
{
	struct fetch_ctx *fc = cmd->ctx;

	fetch_cleanup(cmd);
	if (fc != NULL) {
		flush_cache(cmd, fc);
		free(fc->text_val);
		fc->text_val = NULL;
		buf_free(&fc->mem_buf);
		buf_free(&fc->env_text);
		buf_free(&fc->bs_text);
	}
}

/* \Seen for every message of the set that lacks it, in one store call. */
static void
set_seen(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);

	fc->seen = pool_alloc(cmd->pool, (fc->n + 1) * sizeof(*fc->seen));
	for (size_t i = 0; i < fc->n; i++) {
		const struct store_msg *m = &v->msgs[fc->seqs[i] - 1];

		if (!m->expunged && (m->flags & STORE_F_SEEN) == 0)
			fc->seen[fc->n_seen++] = fc->seqs[i];
	}
	if (fc->n_seen == 0)
		return;
	if (mailbox_store_flags(c->mailbox, fc->seen, fc->n_seen,
				STORE_FLAGS_ADD, STORE_F_SEEN, NULL) < 0) {
		/* The bodies are still sent; only the flag is missing. */
		log_error("FETCH: setting \\Seen: %s",
			  store_error(c->store)->detail);
		fc->n_seen = 0;
	}
}

static bool
seen_by_us(struct fetch_ctx *fc, uint32_t seq)
{
	while (fc->seen_i < fc->n_seen && fc->seen[fc->seen_i] < seq)
		fc->seen_i++;
	return fc->seen_i < fc->n_seen && fc->seen[fc->seen_i] == seq;
}

static void
read_failed(struct client_command *cmd, struct fetch_ctx *fc,
	    const char *what)
{
	const struct mailbox_view *v = mailbox_view(cmd->client->mailbox);

	log_error("FETCH of message %" PRIu32 " (UID %" PRIu32 "): %s: %m",
		  fc->seq, v->msgs[fc->seq - 1].uid, what);
	fc->failed = true;
}

/* The tree and envelope blocks of the message: from the cache, else
 * parsed from its bytes (and cached). */
static bool
load_meta(struct client_command *cmd, struct fetch_ctx *fc, bool cached,
	  const struct buf *mem)
{
	if (cached && (fc->fd < 0 || fc->meta.tree->size == fc->size)) {
		fc->tree = fc->meta.tree;
		return true;
	}
	/* not cached, or the file is not what the cache saw: parsed again
	 * from all of it */
	if (fc->fd_prefix) {
		close(fc->fd);
		fc->fd = -1;
		fc->fd_prefix = false;
		if (mailbox_msg_open(cmd->client->mailbox, fc->seq, &fc->fd,
				     &fc->off, &fc->size) < 0) {
			const struct store_error *err =
				store_error(cmd->client->store);

			fc->fd = -1;
			if (err->code == STORE_ERR_EXPUNGED)
				fc->expunged = true;
			else
				read_failed(cmd, fc, err->detail);
			fetch_cleanup(cmd);
			return false;
		}
	}
	fetch_meta_clear(&fc->meta);
	/* the tree's record only for an item that reads it: ENVELOPE and
	 * BODYSTRUCTURE keep their text (a tree put cost 3 times theirs) */
	if (fetch_cache_fill_from(fc->fd, fc->off,
				  mem != NULL ? buf_data(mem) : NULL,
				  mem != NULL ? buf_len(mem) : fc->size,
				  fc->meta_other, &fc->meta) < 0) {
		read_failed(cmd, fc, "reading the message");
		fetch_cleanup(cmd);
		return false;
	}
	if (fc->meta.value != NULL) {
		queue_cache(cmd, fc, STORE_CACHE_STRUCT, fc->meta.value);
		fc->meta.value = NULL;
	}
	fc->tree = fc->meta.tree;
	return true;
}

/* The byte range item it serves of the open message. */
static void
item_range(struct fetch_ctx *fc, const struct fetch_item *it,
	   struct mail_section_range *r)
{
	const struct mail_section *s = &it->sec.sec;

	if (s->kind == MAIL_SECTION_BODY && s->n_part == 0) {
		memset(r, 0, sizeof(*r));
		r->exists = true;
		r->size = fc->size;
		return;
	}
	if (mail_section_lookup(fc->tree, s, r) < 0)
		r->exists = false;
}

/* RFC 3516 §4.3: a BINARY of a part we cannot decode. */
static bool
binary_unknown(struct fetch_ctx *fc)
{
	struct mail_section_range r;

	for (size_t i = 0; i < fc->n_items; i++) {
		const struct fetch_item *it = &fc->items[i];

		if (it->kind != FETCH_BINARY && it->kind != FETCH_BINARY_SIZE)
			continue;
		item_range(fc, it, &r);
		if (r.exists && r.part != NULL &&
		    r.part->cte == MAIL_CTE_UNKNOWN)
			return true;
	}
	return false;
}

static enum mail_cte
range_cte(const struct mail_section_range *r)
{
	/* A multipart or message body is not decoded (RFC 2045 §6.4
	 * allows them only identity encodings). */
	if (r->part == NULL ||
	    (r->part->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)))
		return MAIL_CTE_BINARY;
	return r->part->cte;
}

/* The served slice [*origin, *origin + *len) of size bytes. */
static void
slice(const struct fetch_item *it, uint64_t size, uint64_t *origin,
      uint64_t *len)
{
	*origin = 0;
	*len = size;
	if (it->sec.partial) {
		/* RFC 9051 §6.4.5: an origin past the end gives "". */
		*origin = it->sec.origin < size ? it->sec.origin : size;
		*len = size - *origin;
		if (*len > it->sec.count)
			*len = it->sec.count;
	}
}

static int
envelope_cb(void *ctx, const struct mail_tree *t, const struct mail_part *msg,
	    struct buf *out)
{
	struct client_command *cmd = ctx;
	struct fetch_ctx *fc = cmd->ctx;
	const struct buf *blk = fetch_meta_envelope(&fc->meta,
						    (uint32_t)(msg - t->parts));
	struct buf *h;
	int rc;

	if (blk != NULL)
		return fetch_envelope_write(out, buf_data(blk), buf_len(blk),
					    cmd->client->utf8);
	if (fc->fd < 0)
		return buf_append_str(out, "(NIL NIL NIL NIL NIL NIL NIL NIL "
				      "NIL NIL)");
	h = fetch_read_range(fc->fd, fc->off + (off_t)msg->hdr_offset,
			     msg->hdr_size < FETCH_HEADER_MAX ?
			     msg->hdr_size : FETCH_HEADER_MAX);
	if (h == NULL) {
		read_failed(cmd, fc, "reading a header");
		return -1;
	}
	rc = fetch_envelope_write(out, buf_data(h), buf_len(h),
				  cmd->client->utf8);
	buf_free(&h);
	return rc;
}

static int
write_envelope(struct client_command *cmd, struct fetch_ctx *fc)
{
	const struct buf *blk = fetch_meta_envelope(&fc->meta, 0);

	if (blk == NULL)
		return buf_append_str(cmd->client->out, "(NIL NIL NIL NIL NIL "
				      "NIL NIL NIL NIL NIL)");
	return fetch_envelope_write(cmd->client->out, buf_data(blk),
				    buf_len(blk), cmd->client->utf8);
}

/* HEADER.FIELDS[.NOT]: the filtered header block, then its slice as a
 * literal written in pieces. */
static int
write_filtered(struct client_command *cmd, struct fetch_ctx *fc,
	       const struct fetch_item *it, const struct mail_section_range *r)
{
	struct buf *h;
	uint64_t origin, len;

	h = fetch_read_range(fc->fd, fc->off + (off_t)r->offset,
			     r->size < FETCH_HEADER_MAX ? r->size :
			     FETCH_HEADER_MAX);
	if (h == NULL) {
		read_failed(cmd, fc, "reading the header");
		return buf_append_str(cmd->client->out, "\"\"");
	}
	/* the block, a CRLF for a last field at EOF and the empty line */
	fc->gen = buf_new(FETCH_HEADER_MAX + 8);
	if (mail_header_filter(fc->gen, buf_data(h), buf_len(h),
			       it->sec.sec.fields, it->sec.sec.n_fields,
			       it->sec.sec.kind ==
			       MAIL_SECTION_HEADER_FIELDS_NOT) < 0)
		buf_reset(fc->gen);
	buf_free(&h);
	slice(it, buf_len(fc->gen), &origin, &len);
	fc->gen_pos = (size_t)origin;
	fc->out_left = len;
	fc->gen_on = true;
	return buf_printf(cmd->client->out, "{%" PRIu64 "}\r\n", len);
}

/* BINARY: the decoded size first (RFC 3516 §4.2: literal8 if the bytes
 * hold a NUL), then the decoding in pieces. */
static int
write_binary(struct client_command *cmd, struct fetch_ctx *fc,
	     const struct fetch_item *it, const struct mail_section_range *r)
{
	enum mail_cte cte = range_cte(r);
	uint64_t size, origin, len;
	bool nul;

	if (fetch_decode_scan(fc->fd, fc->off + (off_t)r->offset, r->size,
			      cte, it->sec.partial ? it->sec.origin : 0,
			      it->sec.partial ? it->sec.count : UINT64_MAX,
			      &size, &nul) < 0) {
		read_failed(cmd, fc, "decoding a part");
		return buf_append_str(cmd->client->out, "\"\"");
	}
	if (it->kind == FETCH_BINARY_SIZE)
		return buf_printf(cmd->client->out, "%" PRIu64, size);
	slice(it, size, &origin, &len);
	(void)mail_decoder_init(&fc->dec, cte);
	fc->dec_off = fc->off + (off_t)r->offset;
	fc->dec_left = r->size;
	fc->dec_skip = origin;
	fc->out_left = len;
	fc->dec_on = len > 0;
	if (fc->dec_buf == NULL)
		fc->dec_buf = buf_new(4 * FETCH_DECODE_CHUNK);
	return buf_printf(cmd->client->out, "%s{%" PRIu64 "}\r\n",
			  nul ? "~" : "", len);
}

/* Writes the next piece of a generated literal. */
static void
gen_step(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	size_t n = FETCH_DECODE_CHUNK;

	if (n > fc->out_left)
		n = (size_t)fc->out_left;
	client_out_check(c, buf_append(c->out, buf_data(fc->gen) +
				       fc->gen_pos, n));
	fc->gen_pos += n;
	fc->out_left -= n;
	if (fc->out_left == 0) {
		fc->gen_on = false;
		buf_free(&fc->gen);
	}
}

static void
dec_step(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	uint8_t raw[FETCH_DECODE_CHUNK];
	const uint8_t *o;
	size_t want = sizeof(raw), n, len;
	ssize_t got = 0;

	if (want > fc->dec_left)
		want = (size_t)fc->dec_left;
	if (want > 0)
		got = pread(fc->fd, raw, want, fc->dec_off);
	buf_reset(fc->dec_buf);
	if (got < 0 || (size_t)got != want) {
		/* The file changed under us: the size was promised, so the
		 * connection cannot go on in sync. */
		read_failed(cmd, fc, "message changed while decoding");
		client_close_after_output(c, "message changed during FETCH");
		fc->dec_on = false;
		return;
	}
	fc->dec_off += got;
	fc->dec_left -= (uint64_t)got;
	(void)mail_decoder_push(&fc->dec, raw, (size_t)got, fc->dec_buf);
	if (fc->dec_left == 0)
		(void)mail_decoder_finish(&fc->dec, fc->dec_buf);
	o = buf_data(fc->dec_buf);
	len = buf_len(fc->dec_buf);
	n = len;
	if (fc->dec_skip > 0) {
		size_t k = fc->dec_skip < n ? (size_t)fc->dec_skip : n;

		o += k;
		n -= k;
		fc->dec_skip -= k;
	}
	if (n > fc->out_left)
		n = (size_t)fc->out_left;
	client_out_check(c, buf_append(c->out, o, n));
	fc->out_left -= n;
	if (fc->out_left == 0)
		fc->dec_on = false;
	else if (fc->dec_left == 0) {
		read_failed(cmd, fc, "message changed while decoding");
		client_close_after_output(c, "message changed during FETCH");
		fc->dec_on = false;
	}
}

/* How much of the message the byte items read, by the cached tree:
 * HEADER.FIELDS (a client's message list) needs only the header, and a
 * file with LF line ends is then converted only that far. 0: all of it
 * (BODY[], or a section the tree cannot place). */
static uint64_t
prefix_want(const struct fetch_ctx *fc)
{
	uint64_t want = 0;

	for (size_t i = 0; i < fc->n_items; i++) {
		const struct fetch_item *it = &fc->items[i];
		const struct mail_section *s = &it->sec.sec;
		struct mail_section_range r;

		if (it->kind != FETCH_BODY && it->kind != FETCH_BINARY &&
		    it->kind != FETCH_BINARY_SIZE)
			continue;
		if ((s->kind == MAIL_SECTION_BODY && s->n_part == 0) ||
		    mail_section_lookup(fc->meta.tree, s, &r) < 0)
			return 0;
		if (r.exists && r.offset + r.size > want)
			want = r.offset + r.size;
	}
	return want;
}

/* What ENVELOPE alone reads of a message not in the cache: most headers
 * end in the first read, nearly all in the second (the others go the
 * whole way). A 32 kB first read was a fifth of a cold FETCH ENVELOPE
 * of 100,000 messages in the copy from the page cache alone. */
static const size_t fetch_head_reads[] = { 8u * 1024u, 64u * 1024u };

/* The buffer a message is read into, made at first use. */
static struct buf *
mem_buf(struct fetch_ctx *fc)
{
	if (fc->mem_buf == NULL)
		fc->mem_buf = buf_new(2 * FETCH_CACHE_FILL_MAX);
	return fc->mem_buf;
}

/* The message's own envelope block from a read of its head: 0, 1 if its
 * header goes on past it, -1 on a store error. */
static int
head_envelope(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct buf *head = mem_buf(fc);
	size_t hlen = 0;
	bool whole = false;

	for (size_t i = 0; i < sizeof(fetch_head_reads) /
	     sizeof(fetch_head_reads[0]); i++) {
		if (mailbox_msg_read_head(cmd->client->mailbox, fc->seq,
					  fetch_head_reads[i], head,
					  &whole) < 0)
			return -1;
		/* the header ends at its first empty line, as the whole
		 * message's parse would end it (fuzz-mime checks that they
		 * agree) */
		hlen = mail_header_block_len(buf_data(head), buf_len(head));
		if (hlen < buf_len(head) || whole)
			break;
	}
	if (hlen == buf_len(head) && !whole)
		return 1;
	fetch_meta_clear(&fc->meta);
	fetch_meta_from_header(&fc->meta, buf_data(head), hlen);
	return 0;
}

/* Opens the next message: false if it is to be skipped (expunged). */
static bool
start_message(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct store_error *err;
	const struct buf *mem = NULL;
	uint64_t want;
	bool need_meta, cached;
	int r;

	fc->seq = fc->seqs[fc->next++];
	if (v->msgs[fc->seq - 1].expunged) {
		fc->expunged = true;
		return false;
	}
	/* ENVELOPE and BODYSTRUCTURE as written before, if kept */
	if (fc->text_val != NULL) {
		buf_reset(fc->env_text);
		buf_reset(fc->bs_text);
	}
	fc->env_hit = fc->text_env &&
		fetch_text_load(c->mailbox, STORE_CACHE_ENVELOPE, fc->seq,
				c->utf8, fc->text_val, fc->env_text,
				&fc->env_size) == 0;
	fc->bs_hit = fc->text_bs &&
		fetch_text_load(c->mailbox, STORE_CACHE_BODYSTRUCTURE, fc->seq,
				c->utf8, fc->text_val, fc->bs_text,
				&fc->bs_size) == 0;
	need_meta = fc->need_meta &&
		(fc->meta_other || (fc->text_env && !fc->env_hit) ||
		 (fc->text_bs && !fc->bs_hit));
	cached = need_meta &&
		fetch_cache_load(c->mailbox, fc->seq, &fc->meta) == 0;
	want = cached && fc->need_bytes ? prefix_want(fc) : 0;
	fc->fd_prefix = want > 0;
	r = 0;
	/* only ENVELOPE's text is missing: its header is all it needs, not
	 * a read and parse of the whole message (r 1: the header is longer
	 * than the head read) */
	if (need_meta && !cached && !fc->meta_other && !fc->need_bytes &&
	    !(fc->text_bs && !fc->bs_hit) &&
	    (r = head_envelope(cmd, fc)) == 0)
		need_meta = false;
	if (r >= 0 && need_meta && !fc->need_bytes && !cached) {
		/* only parsed, no item reads the bytes: in memory (an fd
		 * for a big one) */
		r = mailbox_msg_read(c->mailbox, fc->seq, FETCH_CACHE_FILL_MAX,
				     &fc->fd, &fc->off, mem_buf(fc),
				     &fc->size);
		if (r == 0 && fc->fd < 0)
			mem = fc->mem_buf;
	} else if (r >= 0 && (fc->need_bytes || (need_meta && !cached))) {
		r = mailbox_msg_open_prefix(c->mailbox, fc->seq, want,
					    &fc->fd, &fc->off, &fc->size);
	}
	if (r < 0) {
		fc->fd = -1;
		err = store_error(c->store);
		if (err->code == STORE_ERR_EXPUNGED) {
			fc->expunged = true;
		} else {
			log_error("FETCH of message %" PRIu32 " (UID %" PRIu32
				  "): %s", fc->seq, v->msgs[fc->seq - 1].uid,
				  err->detail);
			fc->failed = true;
		}
		return false;
	}
	if (fc->need_info &&
	    mailbox_msg_info(c->mailbox, fc->seq, &fc->date,
			     &fc->info_size) < 0) {
		err = store_error(c->store);
		fetch_cleanup(cmd);
		if (err->code == STORE_ERR_EXPUNGED) {
			fc->expunged = true;
		} else {
			log_error("FETCH of message %" PRIu32 ": %s", fc->seq,
				  err->detail);
			fc->failed = true;
		}
		return false;
	}
	/* a file opened here that is not what a text was made of (another
	 * program rewrote it): parsed again, as a tree of another size is */
	if ((fc->fd >= 0 || mem != NULL) &&
	    ((fc->env_hit && fc->env_size != fc->size) ||
	     (fc->bs_hit && fc->bs_size != fc->size))) {
		fc->env_hit = fc->env_hit && fc->env_size == fc->size;
		fc->bs_hit = fc->bs_hit && fc->bs_size == fc->size;
		need_meta = true;
	}
	if (need_meta && !load_meta(cmd, fc, cached, mem))
		return false;
	if (binary_unknown(fc)) {
		fetch_cleanup(cmd);
		fc->unknown_cte = true;
		return false;
	}
	fc->add_flags = !fc->want_flags && seen_by_us(fc, fc->seq);
	fc->open = true;
	fc->item = 0;
	client_out_check(c, buf_printf(c->out, "* %" PRIu32 " FETCH (",
				       fc->seq));
	return true;
}

/* Writes one item of the open message; a body starts a stream. */
static void
write_item(struct client_command *cmd, struct fetch_ctx *fc,
	   const struct fetch_item *it, bool first)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct store_msg *m = &v->msgs[fc->seq - 1];
	struct mail_section_range r;
	uint64_t origin = 0, len;
	int rc;

	rc = buf_printf(c->out, "%s%s ", first ? "" : " ", it->name);
	switch (it->kind) {
	case FETCH_UID:
		if (rc == 0)
			rc = buf_printf(c->out, "%" PRIu32, m->uid);
		break;
	case FETCH_FLAGS:
		if (rc == 0)
			rc = imap_resp_msg_flags(c->out, v, m);
		break;
	case FETCH_INTERNALDATE:
		if (rc == 0)
			rc = imap_resp_date(c->out, fc->date);
		break;
	case FETCH_SIZE:
		if (rc == 0)
			rc = buf_printf(c->out, "%" PRIu64, fc->info_size);
		break;
	case FETCH_SAVEDATE:
		if (rc == 0)
			rc = buf_append_str(c->out, "NIL");
		break;
	case FETCH_MODSEQ:
		if (rc == 0)
			rc = buf_printf(c->out, "(%" PRIu64 ")", m->modseq);
		break;
	case FETCH_ENVELOPE:
		if (rc == 0 && fc->env_hit) {
			rc = buf_append(c->out, buf_data(fc->env_text),
					buf_len(fc->env_text));
		} else if (rc == 0) {
			size_t at = buf_len(c->out);

			rc = write_envelope(cmd, fc);
			if (rc == 0)
				queue_text(cmd, fc, STORE_CACHE_ENVELOPE, at);
		}
		break;
	case FETCH_PREVIEW:
		if (rc == 0 && fc->meta.preview == NULL)
			rc = buf_append_str(c->out, "NIL");
		else if (rc == 0)
			rc = (c->utf8 ? imap_write_utf8_string :
			      imap_write_string)(c->out,
						 buf_data(fc->meta.preview),
						 buf_len(fc->meta.preview));
		break;
	case FETCH_STRUCTURE:
		if (rc == 0 && it->extended && fc->bs_hit) {
			rc = buf_append(c->out, buf_data(fc->bs_text),
					buf_len(fc->bs_text));
		} else if (rc == 0) {
			size_t at = buf_len(c->out);

			rc = mail_bodystructure_write(c->out, fc->tree,
						      it->extended,
						      envelope_cb, cmd);
			if (rc == 0 && it->extended)
				queue_text(cmd, fc, STORE_CACHE_BODYSTRUCTURE,
					   at);
		}
		break;
	case FETCH_BINARY:
	case FETCH_BINARY_SIZE:
		if (rc != 0)
			break;
		item_range(fc, it, &r);
		if (!r.exists)
			rc = buf_append_str(c->out, it->kind == FETCH_BINARY ?
					    "{0}\r\n" : "0");
		else
			rc = write_binary(cmd, fc, it, &r);
		break;
	case FETCH_BODY:
		if (rc != 0)
			break;
		item_range(fc, it, &r);
		if (!r.exists) {
			/* a part that does not exist is empty (section.h),
			 * written as Dovecot does */
			rc = buf_append_str(c->out, "{0}\r\n");
			break;
		}
		if (r.filter) {
			rc = write_filtered(cmd, fc, it, &r);
			break;
		}
		slice(it, r.size, &origin, &len);
		rc = buf_printf(c->out, "{%" PRIu64 "}\r\n", len);
		if (rc == 0)
			client_stream_fd(c, fc->fd, fc->off +
					 (off_t)(r.offset + origin), len);
		break;
	}
	client_out_check(c, rc);
}

static void
end_message(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	int rc = 0;

	if (fc->add_flags) {
		const struct store_msg *m = &v->msgs[fc->seq - 1];

		rc = buf_append_str(c->out, " FLAGS ");
		if (rc == 0)
			rc = imap_resp_msg_flags(c->out, v, m);
		/* RFC 7162 §3.1, §3.2.4 */
		if (rc == 0 && c->condstore && !fc->want_modseq)
			rc = buf_printf(c->out, " MODSEQ (%" PRIu64 ")",
					m->modseq);
		if (rc == 0 && c->qresync && !fc->want_uid)
			rc = buf_printf(c->out, " UID %" PRIu32, m->uid);
	}
	if (rc == 0)
		rc = buf_append_str(c->out, ")\r\n");
	client_out_check(c, rc);
	fetch_cleanup(cmd);
	fc->open = false;
}

static void
fetch_write(struct client_command *cmd)
{
	struct fetch_ctx *fc = cmd->ctx;
	struct client *c = cmd->client;

	/* RFC 7162 §3.2.6: VANISHED (EARLIER) before any FETCH */
	if (fc->gone != NULL &&
	    !condstore_write_vanished_earlier(c, fc->gone, &fc->gone_pos)) {
		cmd->resume = fetch_write;
		return;
	}
	for (;;) {
		if (client_output_full(c) || c->stream.left > 0 ||
		    c->out_overflow) {
			cmd->resume = fetch_write;
			return;
		}
		if (fc->gen_on) {
			gen_step(cmd, fc);
			continue;
		}
		if (fc->dec_on) {
			dec_step(cmd, fc);
			continue;
		}
		if (fc->open) {
			if (fc->item < fc->n_items) {
				size_t i = fc->item++;

				write_item(cmd, fc, &fc->items[i], i == 0);
				continue;
			}
			end_message(cmd, fc);
			continue;
		}
		if (fc->next >= fc->n || fc->failed)
			break;
		(void)start_message(cmd, fc);
	}
	flush_cache(cmd, fc);
	if (fc->failed)
		imap_reply_no(cmd, "[SERVERBUG] Some messages could not be "
			      "read, see the server log.");
	else if (fc->unknown_cte)
		imap_reply_no(cmd, "[UNKNOWN-CTE] Cannot decode the content "
			      "transfer encoding of some parts.");
	else if (fc->expunged)
		imap_reply_no(cmd, "[EXPUNGEISSUED] Some of the requested "
			      "messages no longer exist.");
	else
		imap_reply_ok(cmd, "FETCH completed.");
}

void
cmd_fetch(struct client_command *cmd)
{
	struct client *c = cmd->client;
	struct fetch_ctx *fc = pool_alloc(cmd->pool, sizeof(*fc));
	const char *error;

	fc->fd = -1;
	/* fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
	 *         fetch-att / "(" fetch-att *(SP fetch-att) ")") */
	if (cmd->n_args != 2 && cmd->n_args != 3) {
		imap_reply_bad(cmd, "Expected a sequence set and FETCH "
			       "items.");
		return;
	}
	if (cmd->n_args == 3 && parse_modifiers(cmd, fc, &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (parse_items(cmd, fc, &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (imap_args_seqs(cmd, &cmd->args[0], &fc->seqs, &fc->n,
			   &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (fc->want_modseq)
		condstore_enable(c);
	if (fc->vanished && !find_vanished(cmd, fc))
		return;
	if (fc->changedsince_set) {
		const struct mailbox_view *v = mailbox_view(c->mailbox);
		size_t w = 0;

		for (size_t i = 0; i < fc->n; i++)
			if (v->msgs[fc->seqs[i] - 1].modseq > fc->changedsince)
				fc->seqs[w++] = fc->seqs[i];
		fc->n = w;
	}
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		fc->batch[k].kind = (enum store_cache_kind)k;
	if (fc->text_env || fc->text_bs) {
		fc->text_val = xmalloc(STORE_CACHE_MAX);
		fc->env_text = buf_new(STORE_CACHE_MAX);
		fc->bs_text = buf_new(STORE_CACHE_MAX);
	}
	cmd->ctx = fc;
	cmd->cleanup = fetch_done;
	if (fc->sets_seen && !c->readonly)
		set_seen(cmd, fc);
	fetch_write(cmd);
}
