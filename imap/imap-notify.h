/*
 * imap-notify: learning soon that the selected mailbox changed, without
 * polling in the common case (doc/design.md, "Live sessions: IDLE and
 * notification"). One inotify instance per session from the first IDLE
 * of a selection until the mailbox is closed, on what mailbox_watches()
 * names (the index's notify file
 * other sessions touch on commit, Maildir new/ and cur/, the mbox file
 * and its directory). Where inotify cannot be had (no instance, no
 * watch: ENOSPC past max_user_watches; a network file system, whose
 * remote changes inotify never sees) it falls back to a slow poll.
 *
 * Events are drained always and acted on only while armed (IDLE):
 * then a burst (a 1000-message delivery) becomes one wake-up, at most
 * IMAP_NOTIFY_MAX_DELAY_MS after its first event. Callers: cmd-select.c
 * (start), client.c (stop, with the mailbox), cmd-idle.c (arm).
 */
#ifndef MOAT_IMAP_NOTIFY_H
#define MOAT_IMAP_NOTIFY_H

#include <stdbool.h>

struct client;
struct imap_notify;

/* Quiet time after the last event before the wake-up... */
#define IMAP_NOTIFY_DEBOUNCE_MS 30u
/* ... but never later than this after the first. */
#define IMAP_NOTIFY_MAX_DELAY_MS 250u
/* The fallback poll while armed, where inotify is not to be had. */
#define IMAP_NOTIFY_POLL_MS 30000u

/* c->notify for c's selected mailbox; the watches come with the first
 * arm (IDLE). Never fails: what cannot be watched is polled. */
void imap_notify_start(struct client *c);
/* Stops and frees c->notify (NULL-safe): no descriptor stays. */
void imap_notify_stop(struct client *c);
/* Armed: a change calls client_wake(c) (debounced). Disarmed: changes
 * are drained and forgotten (the next IDLE syncs first anyway). */
void imap_notify_arm(struct client *c, bool on);
/* After a sync while armed: watches are renewed if a rename or delete
 * of a watched file was seen (the mbox replaced by another program). */
void imap_notify_synced(struct client *c);
/* True when (part of) the mailbox is polled rather than watched. */
bool imap_notify_polling(const struct client *c);

#endif
