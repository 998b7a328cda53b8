/*
 * APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: several
 * messages, all or none) and UIDPLUS (RFC 4315: "OK [APPENDUID
 * uidvalidity uid-set]"). Each message: optional flag list, optional
 * date-time, then a literal, or RFC 6855's UTF8 (literal8) for a
 * message with UTF-8 headers. A bare literal8 (~{n}) is BINARY's (RFC 3516
 * §4.4): stored like a literal unless it holds a NUL, which the stores
 * cannot keep: NO [UNKNOWN-CTE] as §4.4 demands. 8-bit headers in a plain literal are
 * stored, not refused (RFC 6855 §4 says NO without ENABLE UTF8=ACCEPT,
 * but old mail with raw 8-bit headers is common and mbsync or imapsync
 * must be able to move it; Dovecot stores it too). A message over the session's limit is NO [TOOBIG]
 * (RFC 7889 §4, RFC 4469 §4); an empty one NO (there is nothing to
 * store). A missing mailbox is NO [TRYCREATE] from the store. The store
 * answers only once the messages are on disk (store.h, durability).
 * Caller: imap_command_execute. The literals are already in memory (the
 * reader collected them, bounded by max_literal); the store gets them
 * without another copy.
 */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

void
cmd_append(struct client_command *cmd)
{
	struct client *c = cmd->client;
	const struct imap_arg *a = cmd->args;
	struct store_new_msg *msgs;
	struct imap_flags flags;
	uint32_t *uids, uidvalidity = 0;
	size_t n = 0, i;
	const char *name, *error;
	struct store *st;
	struct buf *code;
	int rc;

	if (cmd->n_args < 2) {
		imap_reply_bad(cmd, "Expected a mailbox and a message.");
		return;
	}
	/* At most one message per remaining argument. */
	msgs = pool_alloc(cmd->pool, cmd->n_args * sizeof(*msgs));
	for (i = 1; i < cmd->n_args; ) {
		struct store_new_msg *m = &msgs[n];

		/* append-opts = [SP flag-list] [SP date-time] */
		if (a[i].type == IMAP_ARG_LIST) {
			if (imap_args_flags(cmd->pool, a[i].list, a[i].list_n,
					    &flags, &error) < 0) {
				imap_reply_bad(cmd, "%s", error);
				return;
			}
			m->flags = flags.flags;
			m->keywords = flags.n_keywords > 0 ? flags.keywords :
				NULL;
			i++;
		}
		if (i < cmd->n_args && a[i].type == IMAP_ARG_QUOTED) {
			if (imap_args_date_time(a[i].str, a[i].len,
						&m->internaldate) < 0) {
				imap_reply_bad(cmd, "Invalid date-time.");
				return;
			}
			i++;
		}
		if (i < cmd->n_args && a[i].type == IMAP_ARG_ATOM &&
		    strcasecmp(a[i].str, "UTF8") == 0) {
			/* RFC 6855 §4: utf8-literal = "UTF8" SP "("
			 * literal8 ")", a message with UTF-8 headers. */
			const struct imap_arg *l = i + 1 < cmd->n_args ?
				&a[i + 1] : NULL;

			if (l == NULL || l->type != IMAP_ARG_LIST ||
			    l->list_n != 1 ||
			    l->list[0].type != IMAP_ARG_LITERAL ||
			    !l->list[0].binary) {
				imap_reply_bad(cmd, "Expected UTF8 "
					       "(literal8).");
				return;
			}
			/* literal8 may hold NUL; a stored message may
			 * not (neither mbox nor Maildir readers cope). */
			if (memchr(l->list[0].str, '\0',
				   l->list[0].len) != NULL) {
				imap_reply_no(cmd, "[CANNOT] NUL in a message "
					      "cannot be stored.");
				return;
			}
			m->data = l->list[0].str;
			m->len = l->list[0].len;
			i += 2;
			n++;
			continue;
		}
		if (i >= cmd->n_args || a[i].type != IMAP_ARG_LITERAL) {
			imap_reply_bad(cmd, "Expected a message literal.");
			return;
		}
		if (a[i].binary && memchr(a[i].str, '\0', a[i].len) != NULL) {
			imap_reply_no(cmd, "[UNKNOWN-CTE] Messages with NUL "
				      "bytes cannot be stored.");
			return;
		}
		/* RFC 9051 literal: CHAR8 has no NUL (only literal8 may). */
		if (memchr(a[i].str, '\0', a[i].len) != NULL) {
			imap_reply_bad(cmd, "NUL in a message needs BINARY.");
			return;
		}
		m->data = a[i].str;
		m->len = a[i].len;
		i++;
		n++;
	}
	name = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_TARGET);
	if (name == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (msgs[i].len > c->append_limit) {
			imap_reply_no(cmd, "[TOOBIG] Message larger than "
				      "APPENDLIMIT (%" PRIu64 " bytes).",
				      c->append_limit);
			return;
		}
		if (msgs[i].len == 0) {
			imap_reply_no(cmd, "[CANNOT] Empty messages cannot be "
				      "stored.");
			return;
		}
	}
	st = client_store(cmd);
	if (st == NULL)
		return;
	uids = pool_alloc(cmd->pool, n * sizeof(*uids));
	if (store_append(st, name, msgs, n, &uidvalidity, uids) < 0) {
		imap_reply_store_error(cmd, store_error(st), "APPEND");
		return;
	}
	if (uidvalidity == 0) {
		imap_reply_ok(cmd, "APPEND completed.");
		return;
	}
	code = buf_new(64 * 1024);
	rc = imap_resp_uidset(code, uids, n);
	if (rc == 0)
		imap_reply_ok(cmd, "[APPENDUID %" PRIu32 " %s] APPEND "
			      "completed.", uidvalidity, buf_str(code));
	else
		imap_reply_ok(cmd, "APPEND completed.");
	buf_free(&code);
}
