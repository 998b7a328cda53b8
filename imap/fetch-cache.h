/*
 * fetch_cache: what FETCH keeps of a message in the index's cache
 * database (store.h mailbox_msg_cache_*): its MIME tree
 * (mail_tree_serialize) and, for the message and every encapsulated
 * message/rfc822, the header fields ENVELOPE is made of, and the
 * PREVIEW text, so that ENVELOPE, BODY, BODYSTRUCTURE and PREVIEW of a
 * warm message open no file
 * (issue 7, "The cache"). Caller: cmd-fetch.c.
 */
#ifndef MOAT_IMAP_FETCH_CACHE_H
#define MOAT_IMAP_FETCH_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "mail/mime.h"
#include "storage/store.h"

/* A message's structure: the tree and the envelope header blocks. */
struct fetch_meta {
	struct mail_tree *tree;
	uint32_t *env_part;      /* part index of each block */
	struct buf **env;        /* its ENVELOPE fields as a header block */
	size_t n_env;
	struct buf *preview;     /* PREVIEW (RFC 8970); NULL: NIL */
	struct buf *value;       /* fill: the cache value to put, or NULL */
};

/* From the cache: 0 (meta filled), 1 a miss, -1 an error (logged). */
int fetch_cache_load(struct mailbox *mb, uint32_t seq, struct fetch_meta *m);
/* Parses the message at off of fd (size bytes); m->value is then the
 * cache value for it (NULL if too big), for the caller to put (in
 * batches: mailbox_msg_cache_put_n). -1 with errno on a read error. */
int fetch_cache_fill(int fd, off_t off, uint64_t size, struct fetch_meta *m);
/* The envelope block of the message whose header is part idx, or NULL. */
const struct buf *fetch_meta_envelope(const struct fetch_meta *m,
				      uint32_t idx);
void fetch_meta_clear(struct fetch_meta *m);

#endif
