/*
 * id: the ID command (RFC 2971), shared by imap-login and imap.
 * Validates the client's parameter list (NIL or a list of string pairs;
 * at most 30 pairs, field names at most 30 octets, values at most 1024,
 * RFC 2971 §3.3) and formats it for the log, and writes our own reply.
 */
#ifndef MOAT_IMAP_ID_H
#define MOAT_IMAP_ID_H

#include <stddef.h>
#include "core/buf.h"
#include "core/pool.h"
#include "imap/parser.h"

/* Checks the arguments of "ID ..." (exactly one: NIL or a list).
 * Returns 0 and sets *logtext to a printable one-line summary such as
 * "name"="Thunderbird" "version"="115.0" (pool memory; names and values
 * quoted by LOG_QN, log.h), or -1 with *error set for a BAD reply. */
int imap_id_parse(struct pool *pool, const struct imap_arg *args,
		  size_t n_args, const char **logtext, const char **error);
/* Appends our untagged reply: * ID ("name" "Moat" "version" "X.Y.Z")\r\n */
int imap_id_write_reply(struct buf *out);

#endif
