/*
 * imap-store-error: see imap-store-error.h. Callers: imap_reply_store_
 * error (imap-commands.c), which logs the detail.
 */
#include "imap/imap-store-error.h"

const char *
imap_store_error_text(enum store_error_code code)
{
	switch (code) {
	case STORE_OK:
		break;
	case STORE_ERR_NONEXISTENT:
		return "[NONEXISTENT] Mailbox does not exist.";
	case STORE_ERR_TRYCREATE:
		/* RFC 9051 §6.3.12, §6.4.7: the client may CREATE it. */
		return "[TRYCREATE] Mailbox does not exist.";
	case STORE_ERR_EXISTS:
		return "[ALREADYEXISTS] Mailbox already exists.";
	case STORE_ERR_NOPERM:
		return "[NOPERM] Permission denied.";
	case STORE_ERR_OVERQUOTA:
		return "[OVERQUOTA] Out of disk space or quota.";
	case STORE_ERR_LIMIT:
		return "[LIMIT] Too many keywords or too large.";
	case STORE_ERR_CANNOT:
		return "[CANNOT] The operation is not possible.";
	case STORE_ERR_INUSE:
		return "[INUSE] Mailbox is in use, try again later.";
	case STORE_ERR_EXPUNGED:
		return "[EXPUNGEISSUED] Some of the messages no longer exist.";
	case STORE_ERR_TEMP:
		return "[UNAVAILABLE] Mail storage is busy, try again later.";
	case STORE_ERR_SERVERBUG:
		break;
	}
	return "[SERVERBUG] Internal error, see the server log.";
}
