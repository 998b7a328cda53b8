/*
 * imap-store-error: the one mapping from store errors (lib/storage/
 * store.h) to IMAP response codes (RFC 5530, RFC 9051 §7.1) and the
 * short text the client sees. The store's detail text is for the log
 * only: it may name paths and system errors.
 */
#ifndef MOAT_IMAP_STORE_ERROR_H
#define MOAT_IMAP_STORE_ERROR_H

#include "storage/store.h"

/* "[NONEXISTENT] Mailbox does not exist." and so on: the text after
 * "NO " for code. */
const char *imap_store_error_text(enum store_error_code code);

#endif
