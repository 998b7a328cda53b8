/*
 * imap-status: STATUS data items (RFC 9051 §6.3.11, RFC 8438 SIZE,
 * RFC 7889 APPENDLIMIT), parsed and written for STATUS and for LIST's
 * RETURN (STATUS ...) (RFC 5819). Defined in cmd-status.c.
 */
#ifndef MOAT_IMAP_STATUS_H
#define MOAT_IMAP_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"

struct client;
struct store_status;

enum imap_status_item {
	IMAP_STATUS_MESSAGES,
	IMAP_STATUS_RECENT,
	IMAP_STATUS_UIDNEXT,
	IMAP_STATUS_UIDVALIDITY,
	IMAP_STATUS_UNSEEN,
	IMAP_STATUS_DELETED,
	IMAP_STATUS_SIZE,
	IMAP_STATUS_APPENDLIMIT,
	IMAP_STATUS_HIGHESTMODSEQ,	/* RFC 7162 §3.1.10 */
	IMAP_STATUS_N_ITEMS,
};

/* The items in the order asked, each once. */
struct imap_status_items {
	uint8_t item[IMAP_STATUS_N_ITEMS];
	size_t n;
};

/* The n atoms of a status-att list (n >= 1). Returns 0 or -1 with
 * *error for BAD. */
int imap_status_items_parse(const struct imap_arg *list, size_t n,
			    struct imap_status_items *out,
			    const char **error);
/* "* STATUS <name> (MESSAGES 3 UNSEEN 1)" */
void imap_status_write(struct client *c, const char *name,
		       const struct imap_status_items *items,
		       const struct store_status *st);

#endif
