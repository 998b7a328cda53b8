/*
 * SELECT and EXAMINE (RFC 9051 §6.3.2-3, RFC 3501 §6.3.1-2): open a
 * mailbox (EXAMINE read-only) and describe it: FLAGS, PERMANENTFLAGS,
 * EXISTS, RECENT, UNSEEN (the first unseen message, RFC 3501), UIDVALIDITY,
 * UIDNEXT, HIGHESTMODSEQ for a CONDSTORE-aware client (RFC 7162 §3.1.2.1;
 * every mailbox here keeps modseqs, so never NOMODSEQ), and [READ-WRITE]
 * or [READ-ONLY]. Any selected mailbox is closed first, and stays closed
 * if the new one cannot be opened (RFC 9051 §6.3.2), marked by "OK
 * [CLOSED]" (client.h, send_closed).
 *
 * Parameters (RFC 4466 §2.1): CONDSTORE (RFC 7162 §3.1.8) and, after
 * ENABLE QRESYNC, QRESYNC (uidvalidity modseq [known-uids
 * [(seq-match-data)]]) (§3.2.5): VANISHED (EARLIER) for the known UIDs
 * expunged since modseq, then a FETCH (UID FLAGS MODSEQ) for each known
 * message changed since, written resumably. Parameters are checked
 * before anything is closed; a bad one is BAD. Caller:
 * imap_command_execute.
 */
#include <inttypes.h>

#include "core/num.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/imap-notify.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

struct qresync {
	bool on;
	uint32_t uidvalidity;
	uint64_t modseq;
	const struct seqset *known;    /* parsed; NULL: 1:UIDNEXT-1 */
	const struct seqset *match_seqs, *match_uids;  /* parsed, or NULL */
};

struct select_ctx {
	struct qresync q;
	const struct seqset *known;    /* normalised */
	const struct seqset *vanished; /* VANISHED (EARLIER) to write */
	size_t vpos;                   /* its next range */
	size_t next;                   /* next message for FETCH */
};

/* A parsed (not normalised) set in the order written, for the
 * sequence match data: ascending single values and ranges, no "*";
 * *count receives the number of values. */
static bool
match_set_ok(const struct seqset *s, uint64_t *count)
{
	uint32_t last = 0;

	*count = 0;
	if (s->has_star || s->has_last)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].lo > s->r[i].hi || s->r[i].lo <= last)
			return false;
		last = s->r[i].hi;
		*count += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
	}
	return true;
}

static struct seqset *
parse_set(struct client_command *cmd, const struct imap_arg *a)
{
	const char *s, *error;

	if (!imap_arg_get_atom(a, &s))
		return NULL;
	return seqset_parse(cmd->pool, s, a->len, SEQSET_MAX_RANGES, &error);
}

/* QRESYNC's list: uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] (RFC 7162 §7). */
static bool
parse_qresync(struct client_command *cmd, const struct imap_arg *a,
	      struct qresync *q)
{
	const struct imap_arg *l, *m;
	uint64_t uv, cs, cu;
	size_t n, nm, i = 2;
	const char *s;

	if (!imap_arg_get_list(a, &l, &n) || n < 2 || n > 4 ||
	    !imap_arg_get_atom(&l[0], &s) ||
	    num_parse_u64(s, UINT32_MAX, &uv) < 0 || uv == 0 ||
	    !condstore_parse_modseq(&l[1], false, &q->modseq))
		return false;
	q->uidvalidity = (uint32_t)uv;
	if (i < n && l[i].type != IMAP_ARG_LIST) {
		if ((q->known = parse_set(cmd, &l[i])) == NULL ||
		    q->known->has_last)
			return false;
		i++;
	}
	if (i < n) {
		if (!imap_arg_get_list(&l[i], &m, &nm) || nm != 2 ||
		    (q->match_seqs = parse_set(cmd, &m[0])) == NULL ||
		    (q->match_uids = parse_set(cmd, &m[1])) == NULL ||
		    !match_set_ok(q->match_seqs, &cs) ||
		    !match_set_ok(q->match_uids, &cu) || cs != cu)
			return false;
		i++;
	}
	return i == n;
}

/* select-params = SP "(" select-param *(SP select-param) ")" */
static bool
parse_params(struct client_command *cmd, struct qresync *q, bool *condstore,
	     const char **error)
{
	const struct imap_arg *l;
	size_t n;
	const char *s;

	*error = "Invalid SELECT parameters.";
	if (cmd->n_args != 2)
		return cmd->n_args == 1;
	if (!imap_arg_get_list(&cmd->args[1], &l, &n) || n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&l[i], &s))
			return false;
		if (str_eq_ci(s, "CONDSTORE") && !*condstore) {
			*condstore = true;
		} else if (str_eq_ci(s, "QRESYNC") && !q->on) {
			if (!cmd->client->qresync) {
				*error = "QRESYNC needs ENABLE QRESYNC first.";
				return false;
			}
			if (i + 1 >= n || !parse_qresync(cmd, &l[i + 1], q)) {
				*error = "Invalid QRESYNC parameter.";
				return false;
			}
			q->on = true;
			i++;
		} else {
			*error = "Unknown SELECT parameter.";
			return false;
		}
	}
	return true;
}

/* §3.2.5.2: the greatest UID of the sequence match data that still has
 * the client's sequence number, before the first pair that does not:
 * the client knows every expunge up to it. */
static uint32_t
match_floor(const struct mailbox_view *v, const struct qresync *q)
{
	size_t ri = 0, ui = 0;
	uint64_t seq, uid, floor = 0;

	if (q->match_seqs == NULL || q->match_seqs->n == 0)
		return 0;
	seq = q->match_seqs->r[0].lo;
	uid = q->match_uids->r[0].lo;
	for (;;) {
		if (seq > v->n || v->msgs[seq - 1].uid != uid)
			break;
		floor = uid;
		if (seq++ == q->match_seqs->r[ri].hi) {
			if (++ri == q->match_seqs->n)
				break;
			seq = q->match_seqs->r[ri].lo;
		}
		if (uid++ == q->match_uids->r[ui].hi) {
			if (++ui == q->match_uids->n)
				break;
			uid = q->match_uids->r[ui].lo;
		}
	}
	return (uint32_t)floor;
}

static void
qresync_fetch(struct client_command *cmd)
{
	struct select_ctx *sc = cmd->ctx;
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);

	/* §3.2.5.2: VANISHED (EARLIER) before any FETCH */
	if (!condstore_write_vanished_earlier(c, sc->vanished, &sc->vpos)) {
		cmd->resume = qresync_fetch;
		return;
	}
	while (sc->next < v->n) {
		const struct store_msg *m = &v->msgs[sc->next];
		size_t mark = buf_len(c->out);
		int rc;

		if (client_output_full(c)) {
			cmd->resume = qresync_fetch;
			return;
		}
		sc->next++;
		if (m->modseq <= sc->q.modseq ||
		    !seqset_contains(sc->known, m->uid))
			continue;
		rc = buf_printf(c->out, "* %zu FETCH (UID %" PRIu32 " FLAGS ",
				sc->next, m->uid);
		if (rc == 0)
			rc = imap_resp_msg_flags(c->out, v, m);
		if (rc == 0)
			rc = buf_printf(c->out, " MODSEQ (%" PRIu64 "))\r\n",
					m->modseq);
		if (rc < 0)
			buf_truncate(c->out, mark);
		client_out_check(c, rc);
	}
	imap_reply_nosync(cmd, "OK [%s] %s completed.",
			  c->readonly ? "READ-ONLY" : "READ-WRITE", cmd->name);
}

/* §3.2.5.1: what changed since the client's modseq, for its UIDs. */
static void
qresync_start(struct client_command *cmd, struct select_ctx *sc)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	/* "*" as UIDNEXT - 1: "1:*" covers expunged last UIDs too */
	uint32_t highest = v->uidnext > 1 ? v->uidnext - 1 : 0;

	if (sc->q.known != NULL) {
		sc->known = seqset_resolve_uid(cmd->pool, sc->q.known,
					       highest, v->uidnext);
	} else {
		struct seqset *all = seqset_new(cmd->pool);

		if (v->uidnext > 1)
			seqset_add(all, 1, v->uidnext - 1);
		sc->known = all;
	}
	sc->vanished = condstore_vanished(cmd, sc->known, sc->q.modseq,
					  match_floor(v, &sc->q));
	if (sc->vanished == NULL)
		return;
	/* Not a modseq of this index (rebuilt since): every flag. */
	if (sc->q.modseq > v->highestmodseq)
		sc->q.modseq = 0;
	cmd->ctx = sc;
	qresync_fetch(cmd);
}

void
cmd_select(struct client_command *cmd)
{
	struct client *c = cmd->client;
	bool examine = str_eq(cmd->name, "EXAMINE");
	struct select_ctx *sc = pool_alloc(cmd->pool, sizeof(*sc));
	const struct mailbox_view *v;
	struct mailbox *mb = NULL;
	const char *name, *error;
	struct store *s;
	uint32_t recent = 0, unseen = 0;
	bool condstore = false;

	if (cmd->n_args == 0) {
		imap_reply_bad(cmd, "Expected a mailbox name.");
		return;
	}
	if (!parse_params(cmd, &sc->q, &condstore, &error)) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	/* Closed before anything can fail: a failed SELECT leaves no
	 * mailbox selected (RFC 9051 §6.3.2). */
	if (c->mailbox != NULL) {
		client_mailbox_close(c);
		if (c->send_closed)
			client_send_line(c, "* OK [CLOSED] Previous mailbox "
					 "is now closed.");
	}
	if (condstore || sc->q.on)
		condstore_enable(c);
	name = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_EXISTING);
	if (name == NULL)
		return;
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (mailbox_open(s, name, examine, &mb) < 0) {
		imap_reply_store_error(cmd, store_error(s), cmd->name);
		return;
	}
	c->mailbox = mb;
	c->mailbox_name = xstrdup(name);
	imap_notify_start(c);
	v = mailbox_view(mb);
	c->readonly = examine || v->readonly;
	for (size_t i = 0; i < v->n; i++) {
		if (v->msgs[i].recent)
			recent++;
		if (unseen == 0 && (v->msgs[i].flags & STORE_F_SEEN) == 0)
			unseen = (uint32_t)(i + 1);
	}
	c->known_exists = (uint32_t)v->n;
	c->known_recent = recent;
	c->known_n_keywords = v->n_keywords;

	imap_resp_flags_lines(c);
	client_send_line(c, "* %zu EXISTS", v->n);
	client_send_line(c, "* %" PRIu32 " RECENT", recent);
	if (unseen != 0)
		client_send_line(c, "* OK [UNSEEN %" PRIu32 "] First unseen.",
				 unseen);
	client_send_line(c, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid.",
			 v->uidvalidity);
	client_send_line(c, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID.",
			 v->uidnext);
	if (c->condstore)
		client_send_line(c, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest "
				 "mailbox mod-sequence.", v->highestmodseq);
	/* §3.2.5: another UIDVALIDITY means nothing the client knows
	 * applies; it sees that from the UIDVALIDITY above. */
	if (sc->q.on && sc->q.uidvalidity == v->uidvalidity) {
		qresync_start(cmd, sc);
		return;
	}
	imap_reply_nosync(cmd, "OK [%s] %s completed.",
			  c->readonly ? "READ-ONLY" : "READ-WRITE", cmd->name);
}
