/*
 * fake-store: an in-memory implementation of lib/storage/store.h for the
 * command-layer tests (test-mailbox). It keeps the contract's semantics
 * that the commands depend on -- a view per selected mailbox, expunges
 * kept in the view until a sync may report them, flag changes of others
 * reported as FETCH, UIDs and UIDVALIDITY, TRYCREATE, COPYUID data --
 * with none of the files, so that a test can say exactly what another
 * session or program does and when (fake_store_event), and check the
 * untagged responses the RFCs demand. The real stores are tested
 * against the same commands by tests/integration.
 *
 * Set up before sess_start: the forked session inherits the state.
 */
#ifndef MOAT_TEST_FAKE_STORE_H
#define MOAT_TEST_FAKE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "storage/store.h"

/* Empties the store (no mailboxes: store_ensure_defaults makes INBOX and
 * the special-use folders on the first open). */
void fake_store_reset(void);
/* A mailbox (special: one STORE_LIST_<use> bit or 0). */
void fake_store_add_box(const char *name, unsigned int special,
			bool subscribed);
/* A subscription of a name that has no mailbox. */
void fake_store_subscribe(const char *name);
/* A message appended to box; returns its UID. data is copied. */
uint32_t fake_store_add_msg(const char *box, unsigned int flags,
			    const char *data, time_t date);
/* A message of size bytes ("X" repeated, with a short header), made
 * when it is fetched, so a test can fetch 50 MB without holding it. */
uint32_t fake_store_add_big(const char *box, uint64_t size);
/* Sets the cache value of box's uid (as mailbox_msg_cache_put would,
 * stamped with the message's size): of FETCH's kind, or of kind. */
void fake_store_cache_set(const char *box, uint32_t uid, const void *data,
			  size_t len);
void fake_store_cache_set_kind(const char *box, uint32_t uid,
			       enum store_cache_kind kind, const void *data,
			       size_t len);
/* How often mailbox_msg_open was called in this process. */
unsigned int fake_store_msg_opens(void);
/* CONDSTORE/QRESYNC: every change gets the box's next modseq, every
 * expunge a tombstone. _forget drops the tombstones as the index does
 * past its bound; _modseq gives a message's modseq (uid 0: the box's
 * highest). */
void fake_store_forget_expunges(const char *box);
uint64_t fake_store_modseq(const char *box, uint32_t uid);
/* Sets a message's modseq (and raises the box's highest to it). */
void fake_store_set_modseq(const char *box, uint32_t uid, uint64_t modseq);
/* store_open fails with this code. */
void fake_store_fail_open(enum store_error_code code);

/* What another session or program does, just before the at_sync-th call
 * of mailbox_sync in the session (1 = the first). */
enum fake_event_kind {
	FAKE_EXPUNGE,   /* removes uid */
	FAKE_APPEND,    /* appends data */
	FAKE_FLAGS,     /* sets uid's flags to flags */
	FAKE_DELETE,    /* deletes the mailbox */
	FAKE_FORGET,    /* fake_store_forget_expunges(box) */
	FAKE_NO_OPEN,   /* from now on mailbox_msg_open fails */
	FAKE_NO_FETCH_CACHE, /* from now on the STORE_CACHE_STRUCT kind
			      * answers nothing (its puts still work) */
	FAKE_NO_SORT_CACHE,  /* the same for STORE_CACHE_SORT */
};
void fake_store_event(unsigned int at_sync, enum fake_event_kind kind,
		      const char *box, uint32_t uid, unsigned int flags,
		      const char *data);

#endif
