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
		imap_reply_ok(cmd, "STORE completed.");
		return;
	}
	cmd->ctx = sc;
	store_write(cmd);
}
