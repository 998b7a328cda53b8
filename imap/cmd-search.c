/*
 * SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH
 * (RFC 4731: RETURN (MIN MAX COUNT ALL)), SEARCHRES (RFC 5182: SAVE and
 * "$"), and CONDSTORE's (MODSEQ n) in the answer when the MODSEQ key was
 * used (RFC 7162 §3.1.5). Caller: imap_command_execute. The program is
 * parsed and evaluated by imap-search.c; this file runs it over the
 * messages the client knows and writes the answer.
 *
 * The saved result ("$") is kept as UIDs (client->search_saved), so an
 * expunge removes a message from it by itself (RFC 5182 §2.1: the UID
 * no longer maps to a sequence number) and "$" means the same messages
 * in SEARCH, UID SEARCH, FETCH, STORE, COPY and MOVE.
 *
 * No EXPUNGE is sent while SEARCH runs, but during UID SEARCH (RFC 9051
 * §7.4.1 / §7.5.1; the command table's NO_EXPUNGES flag). A long
 * "* SEARCH" line is written in pieces as the client reads it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "storage/store.h"

struct search_out {
	const struct search_program *p;
	uint32_t *vals;          /* matches: seqs, or UIDs for UID SEARCH */
	size_t n, i;
	uint64_t modseq;         /* highest of the answer, 0: none */
	bool failed;
	unsigned int phase;
};

static void
saved_set(struct client *c, const uint32_t *uids, size_t n)
{
	free(c->search_saved);
	c->search_saved = NULL;
	c->n_search_saved = 0;
	if (n == 0)
		return;
	c->search_saved = xreallocarray(NULL, n, sizeof(*uids));
	memcpy(c->search_saved, uids, n * sizeof(*uids));
	c->n_search_saved = n;
}

static void
finish(struct client_command *cmd, struct search_out *so)
{
	if (so->failed)
		imap_reply_no(cmd, "[SERVERBUG] Some messages could not be "
			      "read, see the server log.");
	else
		imap_reply_ok(cmd, "%sSEARCH completed.", cmd->uid ? "UID " :
			      "");
}

/* The values of "* SEARCH", or the runs of ESEARCH's ALL, from so->i,
 * until done (true) or the output is full. */
static bool
write_values(struct client *c, struct search_out *so, bool runs)
{
	while (so->i < so->n) {
		size_t j = so->i;
		int rc;

		if (client_output_full(c) || c->out_overflow)
			return false;
		if (!runs) {
			rc = buf_printf(c->out, " %" PRIu32, so->vals[j]);
			so->i++;
		} else {
			while (j + 1 < so->n && so->vals[j + 1] ==
			       so->vals[j] + 1)
				j++;
			if (j == so->i)
				rc = buf_printf(c->out, "%s%" PRIu32,
						so->i == 0 ? "" : ",",
						so->vals[j]);
			else
				rc = buf_printf(c->out, "%s%" PRIu32 ":%"
						PRIu32, so->i == 0 ? "" : ",",
						so->vals[so->i], so->vals[j]);
			so->i = j + 1;
		}
		client_out_check(c, rc);
	}
	return true;
}

enum { OUT_HEAD, OUT_VALUES, OUT_TAIL, OUT_DONE };

static void
search_write(struct client_command *cmd)
{
	struct search_out *so = cmd->ctx;
	struct client *c = cmd->client;
	const struct search_program *p = so->p;
	bool all = (p->ret & SEARCH_RETURN_ALL) != 0;
	int rc = 0;

	while (so->phase != OUT_DONE) {
		if (client_output_full(c) || c->out_overflow) {
			cmd->resume = search_write;
			return;
		}
		switch (so->phase) {
		case OUT_HEAD:
			if (!p->esearch) {
				rc = buf_append_str(c->out, "* SEARCH");
			} else {
				/* RFC 4731 §3.1: no MIN, MAX, ALL when
				 * nothing matched; COUNT 0 is said. */
				rc = buf_printf(c->out, "* ESEARCH (TAG \"%s\")"
						"%s", cmd->tag,
						cmd->uid ? " UID" : "");
				if (rc == 0 && so->n > 0 &&
				    (p->ret & SEARCH_RETURN_MIN) != 0)
					rc = buf_printf(c->out, " MIN %" PRIu32,
							so->vals[0]);
				if (rc == 0 && so->n > 0 &&
				    (p->ret & SEARCH_RETURN_MAX) != 0)
					rc = buf_printf(c->out, " MAX %" PRIu32,
							so->vals[so->n - 1]);
				if (rc == 0 &&
				    (p->ret & SEARCH_RETURN_COUNT) != 0)
					rc = buf_printf(c->out, " COUNT %zu",
							so->n);
				if (rc == 0 && all && so->n > 0)
					rc = buf_append_str(c->out, " ALL ");
			}
			client_out_check(c, rc);
			so->i = 0;
			so->phase = OUT_VALUES;
			break;
		case OUT_VALUES:
			if (p->esearch && !(all && so->n > 0)) {
				so->phase = OUT_TAIL;
				break;
			}
			if (!write_values(c, so, p->esearch))
				continue;
			so->phase = OUT_TAIL;
			break;
		case OUT_TAIL:
			/* RFC 7162 §3.1.5: the highest modseq of what is
			 * returned, not sent for an empty answer. */
			if (so->modseq > 0)
				rc = buf_printf(c->out, p->esearch ?
						" MODSEQ %" PRIu64 "\r\n" :
						" (MODSEQ %" PRIu64 ")\r\n",
						so->modseq);
			else
				rc = buf_append_str(c->out, "\r\n");
			client_out_check(c, rc);
			so->phase = OUT_DONE;
			break;
		}
	}
	finish(cmd, so);
}

/* What "$" holds after SAVE (RFC 5182 §2.4): with only MIN and/or MAX
 * (and SAVE), just those; otherwise every match. uids ascending. */
static void
save_result(struct client *c, const struct search_program *p,
	    const uint32_t *uids, size_t n)
{
	unsigned int others = p->ret & ~(SEARCH_RETURN_SAVE |
					 SEARCH_RETURN_MIN | SEARCH_RETURN_MAX);
	uint32_t mm[2];
	size_t k = 0;

	if (others != 0 || (p->ret & (SEARCH_RETURN_MIN |
				      SEARCH_RETURN_MAX)) == 0 || n == 0) {
		saved_set(c, uids, n);
		return;
	}
	if ((p->ret & SEARCH_RETURN_MIN) != 0)
		mm[k++] = uids[0];
	if ((p->ret & SEARCH_RETURN_MAX) != 0 && (k == 0 || uids[n - 1] !=
						   mm[0]))
		mm[k++] = uids[n - 1];
	saved_set(c, mm, k);
}

void
cmd_search(struct client_command *cmd)
{
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	struct search_program *p = pool_alloc(cmd->pool, sizeof(*p));
	struct search_out *so = pool_alloc(cmd->pool, sizeof(*so));
	struct search_env env;
	uint32_t *uids;
	size_t *idx;
	const char *error;
	int r;

	r = search_parse(cmd->pool, cmd->args, cmd->n_args, p, &error);
	if (r == -1) {
		/* RFC 5182 §2.1: a BAD SEARCH leaves "$" alone. */
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (p->charset != NULL && c->utf8) {
		/* RFC 6855 §3: after ENABLE UTF8=ACCEPT a SEARCH "MUST NOT"
		 * name a charset; the server "SHOULD reject" it with BAD. */
		imap_reply_bad(cmd, "No CHARSET after ENABLE UTF8=ACCEPT.");
		return;
	}
	if (r == -2) {
		if ((p->ret & SEARCH_RETURN_SAVE) != 0)
			saved_set(c, NULL, 0);
		imap_reply_no(cmd, "[BADCHARSET (" SEARCH_CHARSETS ")] %s",
			      error);
		return;
	}

	memset(&env, 0, sizeof(env));
	env.store = c->store;
	env.mb = c->mailbox;
	env.view = v;
	/* Sequence numbers are what the client was told; mail that came
	 * in since is announced (EXISTS) after this answer. */
	env.n = v->n < c->known_exists ? v->n : c->known_exists;
	env.saved = c->search_saved;
	env.n_saved = c->n_search_saved;
	env.now = time(NULL);
	env.text = search_text_new(cmd->pool, c->store, c->mailbox);
	search_prepare(cmd->pool, &env, p);

	so->p = p;
	so->vals = pool_alloc(cmd->pool, (env.n + 1) * sizeof(*so->vals));
	uids = pool_alloc(cmd->pool, (env.n + 1) * sizeof(*uids));
	idx = pool_alloc(cmd->pool, (env.n + 1) * sizeof(*idx));
	for (size_t i = 0; i < env.n; i++) {
		if (!search_match(&env, p, (uint32_t)(i + 1)))
			continue;
		so->vals[so->n] = cmd->uid ? v->msgs[i].uid : (uint32_t)(i + 1);
		uids[so->n] = v->msgs[i].uid;
		idx[so->n] = i;
		so->n++;
	}
	search_text_end(env.text);
	so->failed = env.failed;
	c->search_index_msgs += env.n_index;
	c->search_read_msgs += env.n_read;

	/* RFC 7162 §3.1: a SEARCH with MODSEQ enables CONDSTORE. */
	if (p->uses_modseq)
		condstore_enable(cmd->client);
	if (p->uses_modseq && so->n > 0) {
		/* With only MIN and/or MAX, the modseq of what they name
		 * (RFC 7162 §3.1.5, RFC 4731). */
		bool minmax = p->esearch && (p->ret & (SEARCH_RETURN_ALL |
						      SEARCH_RETURN_COUNT)) == 0;

		for (size_t i = 0; i < so->n; i++) {
			uint64_t ms = v->msgs[idx[i]].modseq;

			if (minmax && !((i == 0 && (p->ret &
						   SEARCH_RETURN_MIN) != 0) ||
					(i == so->n - 1 && (p->ret &
						   SEARCH_RETURN_MAX) != 0)))
				continue;
			if (ms > so->modseq)
				so->modseq = ms;
		}
	}

	if ((p->ret & SEARCH_RETURN_SAVE) != 0) {
		/* RFC 5182 §2.1: a SAVE that fails empties "$". */
		if (so->failed)
			saved_set(c, NULL, 0);
		else
			save_result(c, p, uids, so->n);
	}
	cmd->ctx = so;
	/* RFC 5182 §2.1: SAVE alone suppresses the answer. */
	if (p->esearch && p->ret == SEARCH_RETURN_SAVE) {
		finish(cmd, so);
		return;
	}
	search_write(cmd);
}
