/*
 * imap-sync: the untagged updates of the selected mailbox (RFC 9051
 * §7.4: EXISTS, RECENT, EXPUNGE, FETCH FLAGS, and FLAGS/PERMANENTFLAGS
 * when keywords were added), in the one place that decides what the
 * client hears about changes made by other sessions and programs.
 * Callers: imap-commands.c, before every tagged OK/NO while a mailbox
 * is selected, and cmd-idle.c while IDLE runs (with expunges: a
 * command is in progress).
 *
 * Rules (doc/design.md, "Commands"): mailbox_sync() is asked to report
 * expunges only when the command allows them (RFC 9051 §7.5.1: never
 * during FETCH, STORE and SEARCH, but during their UID forms and every
 * other command; never when no command is in progress). EXPUNGE lines
 * come first, highest sequence number first as the store reports them,
 * so each is right when it is read; EXISTS only when the count the
 * client knows changed (it can only grow but by EXPUNGE); RECENT with
 * it; FLAGS and PERMANENTFLAGS again when a keyword appeared; then a
 * FETCH (UID FLAGS) per message whose flags changed. The writing is
 * resumable: 100,000 expunges are written as the client reads them.
 */
#ifndef MOAT_IMAP_SYNC_H
#define MOAT_IMAP_SYNC_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct mailbox_changes;

struct imap_sync {
	const struct mailbox_changes *ch;  /* NULL: nothing (more) to say */
	unsigned int phase;
	size_t i;
};

/* Picks up the changes (mailbox_sync with flags, MAILBOX_SYNC_*) of the
 * client's selected mailbox into st. A failure is logged and reported as
 * nothing; a mailbox that vanished (deleted or renamed by another
 * session) ends the session with BYE (RFC 2180 §3.3). */
void imap_sync_begin(struct client *c, struct imap_sync *st,
		     unsigned int flags);
/* Writes what st holds until done (true) or client_output_full (false:
 * call again later). The changes stay valid because no other store call
 * runs in between. */
bool imap_sync_write(struct client *c, struct imap_sync *st);

#endif
