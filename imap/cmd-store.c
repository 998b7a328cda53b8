/*
 * STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9): FLAGS, +FLAGS, -FLAGS,
 * each with .SILENT; system flags and keywords (imap_args_flags). The
 * answer is a FETCH (FLAGS) per message (with UID for UID STORE),
 * written resumably: STORE 1:* on 100,000 messages is one store call
 * and 100,000 lines sent as the client reads them. Messages another
 * session expunged (still in our view) are left alone; the reply is then
 * NO [EXPUNGEISSUED], or OK for .SILENT (RFC 2180 §4.2.1, §4.2.3).
 * UNCHANGEDSINCE (CONDSTORE) is not offered: BAD. Caller:
 * imap_command_execute (also through UID).
 */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

struct store_ctx {
	uint32_t *seqs;
	size_t n, next;
	bool expunged;
};

/* What a message held before the STORE, for .SILENT. */
struct store_old {
	uint16_t flags;
	uint64_t keywords;
};

/* The keyword bits of the names (all known once the STORE created
 * them; keyword names compare case-insensitively, RFC 9051 §2.3.2). */
static uint64_t
keyword_bits(const struct mailbox_view *v, const struct imap_flags *f)
{
	uint64_t bits = 0;

	for (size_t i = 0; i < f->n_keywords; i++) {
		for (size_t k = 0; k < v->n_keywords && k < 64; k++) {
			if (strcasecmp(v->keywords[k], f->keywords[i]) == 0)
				bits |= (uint64_t)1 << k;
		}
	}
	return bits;
}

/* .SILENT answers nothing for our own change, but RFC 9051 §6.4.6:
 * "Regardless of whether or not the ".SILENT" suffix was used, the
 * server SHOULD send an untagged FETCH response if a change to a
 * message's flags from an external source is observed." The store's
 * view took another session's flags in with our change, so the sync
 * after it would not see them. Keeps in sc->seqs those whose flags are
 * not what op made of * what the client knew. */
static void
silent_others(struct store_ctx *sc, const struct mailbox_view *v,
	      const struct store_old *old, enum store_flag_op op,
	      const struct imap_flags *f)
{
	uint64_t kw = keyword_bits(v, f);
	unsigned int fl = f->flags & STORE_F_ALL;
	size_t w = 0;

	for (size_t i = 0; i < sc->n; i++) {
		const struct store_msg *m = &v->msgs[sc->seqs[i] - 1];
		unsigned int ef = old[i].flags;
		uint64_t ek = old[i].keywords;

		if (op == STORE_FLAGS_SET) {
			ef = fl;
			ek = kw;
		} else if (op == STORE_FLAGS_ADD) {
			ef |= fl;
			ek |= kw;
		} else {
			ef &= ~fl;
			ek &= ~kw;
		}
		if (m->expunged || (m->flags == ef && m->keywords == ek))
			continue;
		sc->seqs[w++] = sc->seqs[i];
	}
	sc->n = w;
}

static void
store_write(struct client_command *cmd)
{
	struct store_ctx *sc = cmd->ctx;
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);

	while (sc->next < sc->n) {
		uint32_t seq = sc->seqs[sc->next];
		const struct store_msg *m = &v->msgs[seq - 1];
		size_t mark = buf_len(c->out);
		int rc;

		if (client_output_full(c)) {
			cmd->resume = store_write;
			return;
		}
		sc->next++;
		rc = buf_printf(c->out, "* %" PRIu32 " FETCH (", seq);
		if (rc == 0 && cmd->uid)
			rc = buf_printf(c->out, "UID %" PRIu32 " ", m->uid);
		if (rc == 0)
			rc = buf_append_str(c->out, "FLAGS ");
		if (rc == 0)
			rc = imap_resp_msg_flags(c->out, v, m);
		if (rc == 0)
			rc = buf_append_str(c->out, ")\r\n");
		if (rc < 0)
			buf_truncate(c->out, mark);
		client_out_check(c, rc);
	}
	if (sc->expunged)
		imap_reply_no(cmd, "[EXPUNGEISSUED] Some of the messages no "
			      "longer exist.");
	else
		imap_reply_ok(cmd, "STORE completed.");
}

void
cmd_store(struct client_command *cmd)
{
	struct client *c = cmd->client;
	struct store_ctx *sc = pool_alloc(cmd->pool, sizeof(*sc));
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct imap_arg *flagargs;
	struct imap_flags flags;
	enum store_flag_op op;
	const char *item, *error;
	size_t nflags, w = 0;
	bool silent = false;
	struct store_old *old = NULL;
	char *up;

	/* store = "STORE" SP sequence-set SP store-att-flags
	 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
	 *                   (flag-list / (flag *(SP flag))) */
	if (cmd->n_args < 3) {
		imap_reply_bad(cmd, "Expected a sequence set, FLAGS and "
			       "flags.");
		return;
	}
	if (!imap_arg_get_atom(&cmd->args[1], &item)) {
		imap_reply_bad(cmd, cmd->args[1].type == IMAP_ARG_LIST ?
			       "STORE modifiers are not supported." :
			       "Invalid STORE item.");
		return;
	}
	up = pool_strdup(cmd->pool, item);
	str_upper(up);
	op = up[0] == '+' ? STORE_FLAGS_ADD : up[0] == '-' ?
		STORE_FLAGS_REMOVE : STORE_FLAGS_SET;
	if (op != STORE_FLAGS_SET)
		up++;
	if (str_eq(up, "FLAGS.SILENT"))
		silent = true;
	else if (!str_eq(up, "FLAGS")) {
		imap_reply_bad(cmd, "Invalid STORE item.");
		return;
	}
	if (cmd->n_args == 3 && cmd->args[2].type == IMAP_ARG_LIST) {
		flagargs = cmd->args[2].list;
		nflags = cmd->args[2].list_n;
	} else {
		flagargs = &cmd->args[2];
		nflags = cmd->n_args - 2;
	}
	if (imap_args_flags(cmd->pool, flagargs, nflags, &flags,
			    &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (imap_args_seqs(cmd, &cmd->args[0], &sc->seqs, &sc->n,
			   &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (c->readonly) {
		imap_reply_no(cmd, "[READ-ONLY] The mailbox is read-only.");
		return;
	}
	for (size_t i = 0; i < sc->n; i++) {
		if (v->msgs[sc->seqs[i] - 1].expunged)
			sc->expunged = true;
		else
			sc->seqs[w++] = sc->seqs[i];
	}
	sc->n = w;
	if (silent && sc->n > 0) {
		old = pool_alloc(cmd->pool, sc->n * sizeof(*old));
		for (size_t i = 0; i < sc->n; i++) {
			old[i].flags = v->msgs[sc->seqs[i] - 1].flags;
			old[i].keywords = v->msgs[sc->seqs[i] - 1].keywords;
		}
	}
	if (sc->n > 0 &&
	    mailbox_store_flags(c->mailbox, sc->seqs, sc->n, op, flags.flags,
				flags.keywords) < 0) {
		imap_reply_store_error(cmd, store_error(c->store), "STORE");
		return;
	}
	/* A new keyword: FLAGS and PERMANENTFLAGS again (RFC 9051
	 * §7.3.5), before the FETCH responses that show it. */
	v = mailbox_view(c->mailbox);
	if (v->n_keywords != c->known_n_keywords) {
		imap_resp_flags_lines(c);
		c->known_n_keywords = v->n_keywords;
	}
	if (silent) {
		if (sc->n > 0)
			silent_others(sc, v, old, op, &flags);
		sc->expunged = false;   /* RFC 2180 §4.2.3: OK */
	}
	cmd->ctx = sc;
	store_write(cmd);
}
