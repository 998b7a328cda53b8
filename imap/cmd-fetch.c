/*
 * FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) of FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, SAVEDATE (always NIL, RFC 8514 §4.2),
 * RFC822, BODY[] and BODY.PEEK[] with a partial <origin.count>, the FAST macro, and MODSEQ (RFC 7162 §3.1.5).
 * Modifiers (RFC 4466 §2.4): CHANGEDSINCE (§3.1.4.1: only messages
 * whose modseq is greater, MODSEQ implied) and, for UID FETCH after
 * ENABLE QRESYNC and with CHANGEDSINCE, VANISHED (§3.2.6: VANISHED
 * (EARLIER) for the UIDs of the set expunged since, before any FETCH).
 * For a CONDSTORE-aware client every response with FLAGS carries
 * MODSEQ, and after QRESYNC one with an implicit FLAGS carries UID
 * (§3.1, §3.2.4). Anything else (ENVELOPE, BODYSTRUCTURE, sections,
 * BINARY, ALL, FULL) is BAD until the message-structure work adds it.
 * Caller: imap_command_execute.
 *
 * Written resumably, message by message and item by item: a body is
 * streamed from the store's descriptor into the output as a literal
 * (client_stream_fd), so neither FETCH 1:* nor a 50 MB message is ever
 * in memory. BODY[] and RFC822 set \Seen in a read-write mailbox (RFC
 * 9051 §6.4.5), for all messages at once before the first is sent, and
 * the FETCH then includes FLAGS. Messages expunged by another session
 * but not yet reported are left out and the reply is NO [EXPUNGEISSUED]
 * (RFC 2180 §4.1.2).
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/num.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

enum fetch_kind {
	FETCH_UID,
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_BODY,
	FETCH_SAVEDATE,          /* RFC 8514 §4.2: NIL, no save date kept */
	FETCH_MODSEQ,
};

struct fetch_item {
	enum fetch_kind kind;
	const char *name;        /* in the response: "RFC822", "BODY[]<5>" */
	bool sets_seen;          /* BODY[] and RFC822, not BODY.PEEK[] */
	bool partial;
	uint64_t origin, count;
};

/* More items than this in one FETCH is not a real client. */
#define FETCH_MAX_ITEMS 64

struct fetch_ctx {
	struct fetch_item items[FETCH_MAX_ITEMS + 1];
	size_t n_items;
	bool need_body, need_info, want_flags, sets_seen, want_modseq;
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
	off_t off;
	uint64_t size;
	time_t date;
	uint64_t info_size;

	bool expunged;
	bool failed;
};

/* "<origin.count>" after a section (RFC 9051 partial: "<" number64 "."
 * nz-number64 ">"). */
static int
parse_partial(const char *s, struct fetch_item *it)
{
	const char *dot = strchr(s, '.'), *end = strchr(s, '>');
	uint64_t o, c;

	if (s[0] != '<' || dot == NULL || end == NULL || dot > end ||
	    end[1] != '\0' ||
	    num_parse_u64_n(s + 1, (size_t)(dot - s - 1), INT64_MAX, &o) < 0 ||
	    num_parse_u64_n(dot + 1, (size_t)(end - dot - 1), INT64_MAX,
			    &c) < 0 || c == 0)
		return -1;
	it->partial = true;
	it->origin = o;
	it->count = c;
	return 0;
}

static int
add_item(struct fetch_ctx *fc, enum fetch_kind kind, const char *name)
{
	/* Simple items once each; bodies as often as asked. */
	for (size_t i = 0; i < fc->n_items && kind != FETCH_BODY; i++) {
		if (fc->items[i].kind == kind)
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

static int
parse_item(struct client_command *cmd, struct fetch_ctx *fc, const char *s,
	   const char **error)
{
	char *up = pool_strdup(cmd->pool, s);
	struct fetch_item *it;
	const char *rest;
	bool peek;

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
	if (str_eq(up, "FAST")) {
		/* RFC 9051 §6.4.5: (FLAGS INTERNALDATE RFC822.SIZE) */
		return add_item(fc, FETCH_FLAGS, "FLAGS") < 0 ||
			add_item(fc, FETCH_INTERNALDATE, "INTERNALDATE") < 0 ||
			add_item(fc, FETCH_SIZE, "RFC822.SIZE") < 0 ? -1 : 0;
	}
	if (str_eq(up, "RFC822")) {
		if (add_item(fc, FETCH_BODY, "RFC822") < 0)
			return -1;
		fc->items[fc->n_items - 1].sets_seen = true;
		return 0;
	}
	if (str_has_prefix(up, "BODY.PEEK[]")) {
		peek = true;
		rest = up + strlen("BODY.PEEK[]");
	} else if (str_has_prefix(up, "BODY[]")) {
		peek = false;
		rest = up + strlen("BODY[]");
	} else {
		*error = "Unsupported FETCH item.";
		return -1;
	}
	if (add_item(fc, FETCH_BODY, "BODY[]") < 0)
		return -1;
	it = &fc->items[fc->n_items - 1];
	it->sets_seen = !peek;
	if (rest[0] != '\0') {
		if (parse_partial(rest, it) < 0)
			return -1;
		/* The response names the origin only (RFC 9051 §7.5.2). */
		it->name = pool_printf(cmd->pool, "BODY[]<%" PRIu64 ">",
				       it->origin);
	}
	return 0;
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
	} else if (imap_arg_get_atom(list, &s) &&
		   (str_eq_ci(s, "ALL") || str_eq_ci(s, "FULL"))) {
		*error = "ALL and FULL (ENVELOPE) are not supported yet.";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid FETCH item.";
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
			fc->need_body = true;
			fc->sets_seen |= fc->items[i].sets_seen;
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
fetch_cleanup(struct client_command *cmd)
{
	struct fetch_ctx *fc = cmd->ctx;

	if (fc != NULL && fc->fd >= 0) {
		close(fc->fd);
		fc->fd = -1;
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

/* Opens the next message: false if it is to be skipped (expunged). */
static bool
start_message(struct client_command *cmd, struct fetch_ctx *fc)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct store_error *err;

	fc->seq = fc->seqs[fc->next++];
	if (v->msgs[fc->seq - 1].expunged) {
		fc->expunged = true;
		return false;
	}
	if (fc->need_body &&
	    mailbox_msg_open(c->mailbox, fc->seq, &fc->fd, &fc->off,
			     &fc->size) < 0) {
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
	case FETCH_BODY:
		len = fc->size;
		if (it->partial) {
			origin = it->origin < len ? it->origin : len;
			len -= origin;
			if (len > it->count)
				len = it->count;
		}
		/* RFC 9051 §6.4.5: an origin past the end gives "". */
		if (rc == 0)
			rc = buf_printf(c->out, "{%" PRIu64 "}\r\n", len);
		if (rc == 0)
			client_stream_fd(c, fc->fd, fc->off + (off_t)origin,
					 len);
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
	if (fc->failed)
		imap_reply_no(cmd, "[SERVERBUG] Some messages could not be "
			      "read, see the server log.");
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
	cmd->ctx = fc;
	cmd->cleanup = fetch_cleanup;
	if (fc->sets_seen && !c->readonly)
		set_seen(cmd, fc);
	fetch_write(cmd);
}
