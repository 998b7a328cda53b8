/*
 * COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8, RFC 6851,
 * UIDPLUS RFC 4315 §3). The store copies (and for MOVE expunges the
 * sources) and says which UIDs the copies got: COPY answers
 * "OK [COPYUID uidvalidity src dst]"; MOVE sends it untagged, then the
 * EXPUNGEs (the reply's untagged updates), then its OK (RFC 6851 §3.3).
 * A missing target is NO [TRYCREATE] from the store. If a message was
 * expunged by another session meanwhile nothing is copied: NO
 * [EXPUNGEISSUED] (RFC 2180 §4.4.1). Caller: imap_command_execute.
 */
#include <inttypes.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

/* A COPYUID longer than this is left out (RFC 4315 §3 lets a server
 * omit it): it must fit one response line, and a client that copied
 * 100,000 scattered messages can look the UIDs up. */
#define COPYUID_MAX (256u * 1024u)

/* "COPYUID <uidvalidity> <src> <dst>" or NULL. */
static const char *
copyuid(struct client_command *cmd, uint32_t uidvalidity,
	const uint32_t *src, const uint32_t *dst, size_t n)
{
	struct buf *b = buf_new(COPYUID_MAX);
	const char *s = NULL;

	if (buf_printf(b, "COPYUID %" PRIu32 " ", uidvalidity) == 0 &&
	    imap_resp_uidset(b, src, n) == 0 && buf_append_byte(b, ' ') == 0 &&
	    imap_resp_uidset(b, dst, n) == 0)
		s = pool_strdup(cmd->pool, buf_str(b));
	buf_free(&b);
	return s;
}

void
cmd_copy(struct client_command *cmd)
{
	struct client *c = cmd->client;
	bool move = str_eq(cmd->name, "MOVE");
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	uint32_t *seqs, *src, *dst, uidvalidity = 0;
	const char *dest, *error, *code;
	size_t n;

	if (cmd->n_args != 2) {
		imap_reply_bad(cmd, "Expected a sequence set and a mailbox.");
		return;
	}
	if (imap_args_seqs(cmd, &cmd->args[0], &seqs, &n, &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	dest = imap_args_mailbox(cmd, &cmd->args[1], IMAP_MBNAME_TARGET);
	if (dest == NULL)
		return;
	if (move && c->readonly) {
		imap_reply_no(cmd, "[READ-ONLY] The mailbox is read-only.");
		return;
	}
	if (n == 0) {
		/* UID COPY of UIDs that do not exist (RFC 9051 §6.4.9). */
		imap_reply_ok(cmd, "No messages to %s.", move ? "move" : "copy");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v->msgs[seqs[i] - 1].expunged) {
			imap_reply_no(cmd, "[EXPUNGEISSUED] Some of the "
				      "messages no longer exist.");
			return;
		}
	}
	src = pool_alloc(cmd->pool, n * sizeof(*src));
	dst = pool_alloc(cmd->pool, n * sizeof(*dst));
	if (mailbox_copy(c->mailbox, seqs, n, dest, move, &uidvalidity, src,
			 dst) < 0) {
		imap_reply_store_error(cmd, store_error(c->store), cmd->name);
		return;
	}
	code = uidvalidity != 0 ? copyuid(cmd, uidvalidity, src, dst, n) :
		NULL;
	if (move) {
		if (code != NULL)
			client_send_line(c, "* OK [%s] Moved.", code);
		imap_reply_ok(cmd, "MOVE completed.");
	} else if (code != NULL) {
		imap_reply_ok(cmd, "[%s] COPY completed.", code);
	} else {
		imap_reply_ok(cmd, "COPY completed.");
	}
}
