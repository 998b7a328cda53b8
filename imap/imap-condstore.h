/*
 * imap-condstore: the pieces of CONDSTORE and QRESYNC (RFC 7162) that
 * several commands share: becoming CONDSTORE-aware (§3.1: ENABLE,
 * SELECT/EXAMINE (CONDSTORE), FETCH MODSEQ or CHANGEDSINCE, STORE
 * UNCHANGEDSINCE, STATUS HIGHESTMODSEQ; the SEARCH MODSEQ key belongs to
 * cmd-search), the mod-sequence grammar, and which UIDs of a client's
 * known set vanished since a mod-sequence (§3.2.5.2, §3.2.6). Callers:
 * cmd-enable, cmd-select, cmd-fetch, cmd-store, cmd-status. Arguments
 * are untrusted client input.
 */
#ifndef MOAT_IMAP_CONDSTORE_H
#define MOAT_IMAP_CONDSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/parser.h"
#include "imap/seqset.h"

struct client;
struct client_command;

/* mod-sequence-value (RFC 7162 §7: 1*DIGIT, 1 <= n <= 2^63 - 1); with
 * zero_ok, mod-sequence-valzer ("0" too). */
bool condstore_parse_modseq(const struct imap_arg *a, bool zero_ok,
			    uint64_t *out);

/* A CONDSTORE-enabling command ran: from now on every untagged FETCH
 * carries MODSEQ. The first one with a mailbox selected reports that
 * mailbox's HIGHESTMODSEQ (§3.1: every mailbox here has modseqs, so
 * never NOMODSEQ). */
void condstore_enable(struct client *c);

/* Of the UIDs in known (normalised; UIDs at or below min_uid left out:
 * the client's sequence match data vouched for them), those that are
 * not in the selected mailbox and were expunged since modseq since: from
 * the index's tombstones when it remembers that far back, else every UID
 * of known that the mailbox no longer has (§3.2.5.2 and §3.2.6 allow
 * reporting more). Messages still in the view (expunged but not yet
 * reported) are left for the VANISHED that reports them. NULL with the
 * command answered (NO) on a store error. */
struct seqset *condstore_vanished(struct client_command *cmd,
				  const struct seqset *known, uint64_t since,
				  uint32_t min_uid);

/* "* VANISHED (EARLIER) 3:5,9" for a normalised set, in lines of at
 * most CONDSTORE_VANISHED_LINE ranges (nothing for an empty set), from
 * range *pos on, while the output has room (client_output_full): a
 * sparse 100,000-message answer goes out as the client reads it. True
 * when everything is written. */
#define CONDSTORE_VANISHED_LINE 1000
bool condstore_write_vanished_earlier(struct client *c,
				      const struct seqset *set, size_t *pos);

#endif
