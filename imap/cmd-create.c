/*
 * CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3):
 * "CREATE name" or "CREATE name (USE (\Sent))". A trailing separator
 * only declares that the client means to create children under the name
 * (RFC 9051 §6.3.4), so it is dropped. INBOX always exists. Caller:
 * imap_command_execute. Arguments are untrusted; the name is validated
 * (imap_args_mailbox) before the store sees it.
 */
#include <string.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/mailbox-name.h"
#include "storage/store.h"

static const struct {
	const char *name;
	unsigned int bit;
} uses[] = {
	{ "\\Archive", STORE_LIST_ARCHIVE },
	{ "\\Drafts", STORE_LIST_DRAFTS },
	{ "\\Junk", STORE_LIST_JUNK },
	{ "\\Sent", STORE_LIST_SENT },
	{ "\\Trash", STORE_LIST_TRASH },
};

/* create-param "USE" SP "(" [use-attr *(SP use-attr)] ")"; 0 with
 * *bit, 1 for a USE the store cannot give (NO [USEATTR]), -1 BAD. */
static int
parse_use(const struct imap_arg *a, unsigned int *bit)
{
	const struct imap_arg *params, *attrs;
	size_t n, na;
	const char *s;

	*bit = 0;
	if (!imap_arg_get_list(a, &params, &n) || n != 2 ||
	    !imap_arg_get_atom(&params[0], &s) || !str_eq_ci(s, "USE") ||
	    !imap_arg_get_list(&params[1], &attrs, &na))
		return -1;
	for (size_t i = 0; i < na; i++) {
		size_t k;

		if (!imap_arg_get_atom(&attrs[i], &s) || s[0] != '\\')
			return -1;
		for (k = 0; k < sizeof(uses) / sizeof(uses[0]); k++) {
			if (str_eq_ci(s, uses[k].name))
				break;
		}
		/* \All, \Flagged (virtual folders) or a second use: the
		 * store keeps one real special use per mailbox. */
		if (k == sizeof(uses) / sizeof(uses[0]) ||
		    (*bit != 0 && *bit != uses[k].bit))
			return 1;
		*bit = uses[k].bit;
	}
	return 0;
}

void
cmd_create(struct client_command *cmd)
{
	struct imap_arg namearg;
	unsigned int use = 0;
	const char *name;
	struct store *s;
	int rc;

	if (cmd->n_args < 1 || cmd->n_args > 2) {
		imap_reply_bad(cmd, "Expected a mailbox name.");
		return;
	}
	if (cmd->n_args == 2) {
		rc = parse_use(&cmd->args[1], &use);
		if (rc < 0) {
			imap_reply_bad(cmd, "Invalid CREATE parameters.");
			return;
		}
		if (rc > 0) {
			/* RFC 6154 §3: refuse, saying why. */
			imap_reply_no(cmd, "[USEATTR] Unsupported special "
				      "use.");
			return;
		}
	}
	namearg = cmd->args[0];
	if (namearg.type != IMAP_ARG_LIST && namearg.len > 1 &&
	    namearg.str[namearg.len - 1] == STORE_SEPARATOR) {
		namearg.str = pool_strndup(cmd->pool, namearg.str,
					   namearg.len - 1);
		namearg.len--;
	}
	name = imap_args_mailbox(cmd, &namearg, IMAP_MBNAME_NEW);
	if (name == NULL)
		return;
	if (mbname_is_inbox(name)) {
		imap_reply_no(cmd, "[ALREADYEXISTS] INBOX always exists.");
		return;
	}
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (store_create(s, name, use) < 0) {
		imap_reply_store_error(cmd, store_error(s), "CREATE");
		return;
	}
	imap_reply_ok(cmd, "CREATE completed.");
}
