/*
 * SELECT and EXAMINE (RFC 9051 §6.3.2-3, RFC 3501 §6.3.1-2): open a
 * mailbox (EXAMINE read-only) and describe it: FLAGS, PERMANENTFLAGS,
 * EXISTS, RECENT, UNSEEN (the first unseen message, RFC 3501), UIDVALIDITY,
 * UIDNEXT, and [READ-WRITE] or [READ-ONLY]. Any selected mailbox is
 * closed first, and stays closed if the new one cannot be opened
 * (RFC 9051 §6.3.2); "OK [CLOSED]" marks that only for clients that
 * know the code (client.h, send_closed). SELECT parameters (CONDSTORE,
 * QRESYNC) are not offered: BAD. Caller: imap_command_execute.
 */
#include <inttypes.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

void
cmd_select(struct client_command *cmd)
{
	struct client *c = cmd->client;
	bool examine = str_eq(cmd->name, "EXAMINE");
	const struct mailbox_view *v;
	struct mailbox *mb = NULL;
	const char *name;
	struct store *s;
	uint32_t recent = 0, unseen = 0;

	if (cmd->n_args != 1) {
		imap_reply_bad(cmd, cmd->n_args == 0 ? "Expected a mailbox "
			       "name." : "SELECT parameters are not "
			       "supported.");
		return;
	}
	/* Closed before anything can fail: a failed SELECT leaves no
	 * mailbox selected (RFC 9051 §6.3.2). */
	if (c->mailbox != NULL) {
		client_mailbox_close(c);
		if (c->send_closed)
			client_send_line(c, "* OK [CLOSED] Previous mailbox "
					 "is now closed.");
	}
	name = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_EXISTING);
	if (name == NULL)
		return;
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (mailbox_open(s, name, examine, &mb) < 0) {
		imap_reply_store_error(cmd, store_error(s), cmd->name);
		return;
	}
	c->mailbox = mb;
	c->mailbox_name = xstrdup(name);
	imap_notify_start(c);
	v = mailbox_view(mb);
	c->readonly = examine || v->readonly;
	for (size_t i = 0; i < v->n; i++) {
		if (v->msgs[i].recent)
			recent++;
		if (unseen == 0 && (v->msgs[i].flags & STORE_F_SEEN) == 0)
			unseen = (uint32_t)(i + 1);
	}
	c->known_exists = (uint32_t)v->n;
	c->known_recent = recent;
	c->known_n_keywords = v->n_keywords;

	imap_resp_flags_lines(c);
	client_send_line(c, "* %zu EXISTS", v->n);
	client_send_line(c, "* %" PRIu32 " RECENT", recent);
	if (unseen != 0)
		client_send_line(c, "* OK [UNSEEN %" PRIu32 "] First unseen.",
				 unseen);
	client_send_line(c, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid.",
			 v->uidvalidity);
	client_send_line(c, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID.",
			 v->uidnext);
	imap_reply_nosync(cmd, "OK [%s] %s completed.",
			  c->readonly ? "READ-ONLY" : "READ-WRITE", cmd->name);
}
