/*
 * imap-condstore: see imap-condstore.h.
 */
#include <inttypes.h>
#include <string.h>

#include "core/num.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "storage/store.h"

bool
condstore_parse_modseq(const struct imap_arg *a, bool zero_ok, uint64_t *out)
{
	const char *s;
	size_t len;

	if (!imap_arg_get_atom(a, &s))
		return false;
	len = strlen(s);
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	if (num_parse_u64_n(s, len, INT64_MAX, out) < 0)
		return false;
	return zero_ok || *out > 0;
}

void
condstore_enable(struct client *c)
{
	if (c->condstore)
		return;
	c->condstore = true;
	if (c->mailbox != NULL)
		client_send_line(c, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest "
				 "mailbox mod-sequence.",
				 mailbox_view(c->mailbox)->highestmodseq);
}

/* Index of the first message of the view with a UID >= uid. */
static size_t
view_lower_bound(const struct mailbox_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
view_has_uid(const struct mailbox_view *v, uint32_t uid)
{
	size_t i = view_lower_bound(v, uid);

	return i < v->n && v->msgs[i].uid == uid;
}

struct seqset *
condstore_vanished(struct client_command *cmd, const struct seqset *known,
		   uint64_t since, uint32_t min_uid)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	struct seqset *out = seqset_new(cmd->pool);
	const uint32_t *uids;
	size_t n;
	bool complete;

	if (mailbox_expunged_since(c->mailbox, since, &uids, &n,
				   &complete) < 0) {
		imap_reply_store_error(cmd, store_error(c->store),
				       "VANISHED");
		return NULL;
	}
	/* A modseq above HIGHESTMODSEQ was not ours: the index was rebuilt
	 * (keeping UIDVALIDITY) and its modseqs started again. */
	if (since > v->highestmodseq)
		complete = false;
	if (complete) {
		for (size_t i = 0; i < n; i++)
			if (uids[i] > min_uid && seqset_contains(known, uids[i]) &&
			    !view_has_uid(v, uids[i]))
				seqset_add(out, uids[i], uids[i]);
		return out;
	}
	/* Forgotten: every known UID below UIDNEXT the view lacks, as
	 * ranges (the gaps between the view's UIDs). */
	for (size_t r = 0; r < known->n; r++) {
		uint64_t lo = known->r[r].lo, hi = known->r[r].hi;
		size_t i;

		if (lo <= min_uid)
			lo = (uint64_t)min_uid + 1;
		if (hi >= v->uidnext)
			hi = v->uidnext > 0 ? v->uidnext - 1 : 0;
		if (lo > hi)
			continue;
		i = view_lower_bound(v, (uint32_t)lo);
		while (lo <= hi) {
			uint64_t next = i < v->n ? v->msgs[i].uid : hi + 1;

			if (next > hi + 1)
				next = hi + 1;
			if (next > lo)
				seqset_add(out, (uint32_t)lo,
					   (uint32_t)(next - 1));
			lo = next + 1;
			i++;
		}
	}
	return out;
}

bool
condstore_write_vanished_earlier(struct client *c, const struct seqset *set,
				 size_t *pos)
{
	for (; *pos < set->n; *pos += CONDSTORE_VANISHED_LINE) {
		struct seqset part = *set;
		size_t mark = buf_len(c->out), i = *pos;
		int rc;

		if (client_output_full(c))
			return false;
		part.r = set->r + i;
		part.n = set->n - i < CONDSTORE_VANISHED_LINE ?
			 set->n - i : CONDSTORE_VANISHED_LINE;
		rc = buf_append_str(c->out, "* VANISHED (EARLIER) ");
		if (rc == 0)
			rc = seqset_write(&part, c->out);
		if (rc == 0)
			rc = buf_append_str(c->out, "\r\n");
		if (rc < 0)
			buf_truncate(c->out, mark);
		client_out_check(c, rc);
	}
	return true;
}
