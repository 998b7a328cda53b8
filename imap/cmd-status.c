/*
 * STATUS (RFC 9051 §6.3.11): counters of a mailbox without selecting
 * it. Items: MESSAGES, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED
 * (RFC 9051), SIZE (RFC 8438) and APPENDLIMIT (RFC 7889: the session's
 * limit, the same for every mailbox) and HIGHESTMODSEQ (RFC 7162
 * §3.1.10, a CONDSTORE-enabling command: imap-condstore.h). Also the
 * item parser and writer for LIST-STATUS (imap-status.h). Caller:
 * imap_command_execute. Arguments are untrusted.
 */
#include <inttypes.h>
#include <string.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-condstore.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-resp.h"
#include "imap/imap-status.h"
#include "storage/store.h"

static const char *const item_names[IMAP_STATUS_N_ITEMS] = {
	[IMAP_STATUS_MESSAGES] = "MESSAGES",
	[IMAP_STATUS_RECENT] = "RECENT",
	[IMAP_STATUS_UIDNEXT] = "UIDNEXT",
	[IMAP_STATUS_UIDVALIDITY] = "UIDVALIDITY",
	[IMAP_STATUS_UNSEEN] = "UNSEEN",
	[IMAP_STATUS_DELETED] = "DELETED",
	[IMAP_STATUS_SIZE] = "SIZE",
	[IMAP_STATUS_APPENDLIMIT] = "APPENDLIMIT",
	[IMAP_STATUS_HIGHESTMODSEQ] = "HIGHESTMODSEQ",
};

int
imap_status_items_parse(const struct imap_arg *list, size_t n,
			struct imap_status_items *out, const char **error)
{
	unsigned int seen = 0;
	const char *s;

	out->n = 0;
	if (n == 0) {
		*error = "Missing status items.";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid status item.";
			return -1;
		}
		for (k = 0; k < IMAP_STATUS_N_ITEMS; k++) {
			if (str_eq_ci(s, item_names[k]))
				break;
		}
		if (k == IMAP_STATUS_N_ITEMS) {
			*error = "Unknown status item.";
			return -1;
		}
		/* Asked twice, answered once. */
		if ((seen & (1u << k)) != 0)
			continue;
		seen |= 1u << k;
		out->item[out->n++] = (uint8_t)k;
	}
	return 0;
}

void
imap_status_write(struct client *c, const char *name,
		  const struct imap_status_items *items,
		  const struct store_status *st)
{
	size_t mark = buf_len(c->out);
	int rc = buf_append_str(c->out, "* STATUS ");

	if (rc == 0)
		rc = imap_resp_mailbox(c->out, name, c->utf8);
	if (rc == 0)
		rc = buf_append_str(c->out, " (");
	for (size_t i = 0; i < items->n && rc == 0; i++) {
		uint64_t v = 0;

		switch (items->item[i]) {
		case IMAP_STATUS_MESSAGES: v = st->messages; break;
		case IMAP_STATUS_RECENT: v = st->recent; break;
		case IMAP_STATUS_UIDNEXT: v = st->uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = st->uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = st->unseen; break;
		case IMAP_STATUS_DELETED: v = st->deleted; break;
		case IMAP_STATUS_SIZE: v = st->size; break;
		case IMAP_STATUS_APPENDLIMIT: v = c->append_limit; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = st->highestmodseq; break;
		}
		rc = buf_printf(c->out, "%s%s %" PRIu64, i > 0 ? " " : "",
				item_names[items->item[i]], v);
	}
	if (rc == 0)
		rc = buf_append_str(c->out, ")\r\n");
	if (rc < 0)
		buf_truncate(c->out, mark);
	client_out_check(c, rc);
}

void
cmd_status(struct client_command *cmd)
{
	struct imap_status_items items;
	const struct imap_arg *list;
	struct store_status st;
	struct store *s;
	const char *name, *error;
	size_t n;

	/* status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")" */
	if (cmd->n_args != 2 || !imap_arg_get_list(&cmd->args[1], &list, &n)) {
		imap_reply_bad(cmd, "Expected a mailbox and a list of status "
			       "items.");
		return;
	}
	if (imap_status_items_parse(list, n, &items, &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	name = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_EXISTING);
	if (name == NULL)
		return;
	s = client_store(cmd);
	if (s == NULL)
		return;
	memset(&st, 0, sizeof(st));
	if (store_status(s, name, &st) < 0) {
		imap_reply_store_error(cmd, store_error(s), "STATUS");
		return;
	}
	for (size_t i = 0; i < items.n; i++)
		if (items.item[i] == IMAP_STATUS_HIGHESTMODSEQ)
			condstore_enable(cmd->client);
	imap_status_write(cmd->client, name, &items, &st);
	imap_reply_ok(cmd, "STATUS completed.");
}
