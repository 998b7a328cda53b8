/*
 * STORE and UID STORE (RFC 9051 §6.4.6, §6.4.9): FLAGS, +FLAGS, -FLAGS,
 * each with .SILENT; system flags and keywords (imap_args_flags). The
 * answer is a FETCH (FLAGS) per message (with UID for UID STORE, and
 * after ENABLE QRESYNC; with MODSEQ for a CONDSTORE-aware client),
 * written resumably: STORE 1:* on 100,000 messages is one store call
 * and 100,000 lines sent as the client reads them. Messages another
 * session expunged (still in our view) are left alone; the reply is then
 * NO [EXPUNGEISSUED], or OK for .SILENT (RFC 2180 §4.2.1, §4.2.3).
 *
 * The UNCHANGEDSINCE modifier (RFC 7162 §3.1.3) makes the store
 * conditional: a message whose modseq is above the value is left alone
 * (the test is repeated inside the index transaction that writes, so no
 * other session's STORE slips in between: store.h), and those are
 * listed in the tagged reply's [MODIFIED set] (sequence numbers, or
 * UIDs for UID STORE); the others get a FETCH with MODSEQ even with
 * .SILENT (then without FLAGS), as every STORE of a CONDSTORE-aware
 * client does. The failed ones' new flags reach the
 * client as the reply's untagged FETCH (imap-sync). Caller:
 * imap_command_execute (also through UID).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/imap-resp.h"
#include "storage/store.h"

struct store_ctx {
	uint32_t *seqs;
	size_t n, next;
	bool expunged;
	bool silent;
	bool cond;
	uint64_t unchangedsince;
	/* failed the UNCHANGEDSINCE test: ascending UIDs (store-owned,
	 * copied) and their sequence numbers or UIDs for the reply */
	uint32_t *failed_uids;
	size_t n_failed;
	struct seqset *modified;
};

/* What a message held before the STORE, for .SILENT. */
struct store_old {
	uint16_t flags;
	uint64_t keywords;
};

/* The keyword bits of the names (all known once the STORE created
 * them; keyword names compare case-insensitively, RFC 9051 §2.3.2). */
static uint64_t
keyword_bits(const struct mailbox_view *v, const struct imap_flags *f)
{
	uint64_t bits = 0;

	for (size_t i = 0; i < f->n_keywords; i++) {
		for (size_t k = 0; k < v->n_keywords && k < 64; k++) {
			if (strcasecmp(v->keywords[k], f->keywords[i]) == 0)
				bits |= (uint64_t)1 << k;
		}
	}
	return bits;
}

/* .SILENT answers nothing for our own change, but RFC 9051 §6.4.6:
 * "Regardless of whether or not the ".SILENT" suffix was used, the
 * server SHOULD send an untagged FETCH response if a change to a
 * message's flags from an external source is observed." The store's
 * view took another session's flags in with our change, so the sync
 * after it would not see them. Keeps in sc->seqs those whose flags are
 * not what op made of * what the client knew. */
static void
silent_others(struct store_ctx *sc, const struct mailbox_view *v,
	      const struct store_old *old, enum store_flag_op op,
	      const struct imap_flags *f)
{
	uint64_t kw = keyword_bits(v, f);
	unsigned int fl = f->flags & STORE_F_ALL;
	size_t w = 0;

	for (size_t i = 0; i < sc->n; i++) {
		const struct store_msg *m = &v->msgs[sc->seqs[i] - 1];
		unsigned int ef = old[i].flags;
		uint64_t ek = old[i].keywords;

		if (op == STORE_FLAGS_SET) {
			ef = fl;
			ek = kw;
		} else if (op == STORE_FLAGS_ADD) {
			ef |= fl;
			ek |= kw;
		} else {
			ef &= ~fl;
			ek &= ~kw;
		}
		if (m->expunged || (m->flags == ef && m->keywords == ek))
			continue;
		sc->seqs[w++] = sc->seqs[i];
	}
	sc->n = w;
}

static bool
failed(const struct store_ctx *sc, uint32_t uid)
{
	size_t lo = 0, hi = sc->n_failed;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sc->failed_uids[mid] < uid)
			lo = mid + 1;
		else if (sc->failed_uids[mid] > uid)
			hi = mid;
		else
			return true;
	}
	return false;
}

static void
store_reply(struct client_command *cmd)
{
	struct store_ctx *sc = cmd->ctx;
	struct client *c = cmd->client;
	const char *code = "";

	if (sc->modified != NULL && sc->modified->n > 0) {
		struct buf *b = buf_new(1024 * 1024);

		if (buf_append_str(b, "[MODIFIED ") == 0 &&
		    seqset_write(sc->modified, b) == 0 &&
		    buf_append_str(b, "] ") == 0)
			code = pool_strdup(cmd->pool, buf_str(b));
		buf_free(&b);
	}
	(void)c;
	if (sc->expunged)
		imap_reply_no(cmd, "%s[EXPUNGEISSUED] Some of the messages no "
			      "longer exist.", code);
	else if (*code != '\0')
		imap_reply_ok(cmd, "%sConditional STORE failed.", code);
	else
		imap_reply_ok(cmd, "STORE completed.");
}

static void
store_write(struct client_command *cmd)
{
	struct store_ctx *sc = cmd->ctx;
	struct client *c = cmd->client;
	const struct mailbox_view *v = mailbox_view(c->mailbox);

	while (sc->next < sc->n) {
		uint32_t seq = sc->seqs[sc->next];
		const struct store_msg *m = &v->msgs[seq - 1];
		size_t mark = buf_len(c->out);
		bool sp = false;
		int rc;

		if (client_output_full(c)) {
			cmd->resume = store_write;
			return;
		}
		sc->next++;
		if (sc->cond && failed(sc, m->uid))
			continue;
		rc = buf_printf(c->out, "* %" PRIu32 " FETCH (", seq);
		if (rc == 0 && (cmd->uid || c->qresync)) {
			rc = buf_printf(c->out, "UID %" PRIu32, m->uid);
			sp = true;
		}
		if (rc == 0 && !sc->silent) {
			rc = buf_printf(c->out, "%sFLAGS ", sp ? " " : "");
			if (rc == 0)
				rc = imap_resp_msg_flags(c->out, v, m);
			sp = true;
		}
		if (rc == 0 && c->condstore)
			rc = buf_printf(c->out, "%sMODSEQ (%" PRIu64 ")",
					sp ? " " : "", m->modseq);
		if (rc == 0)
			rc = buf_append_str(c->out, ")\r\n");
		if (rc < 0)
			buf_truncate(c->out, mark);
		client_out_check(c, rc);
	}
	store_reply(cmd);
}

/* store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"
 * (RFC 4466 §2.5); UNCHANGEDSINCE mod-sequence-valzer. */
static bool
parse_modifiers(const struct imap_arg *a, struct store_ctx *sc)
{
	const struct imap_arg *l;
	const char *s;
	size_t n;

	if (!imap_arg_get_list(a, &l, &n) || n != 2 ||
	    !imap_arg_get_atom(&l[0], &s) ||
	    !str_eq_ci(s, "UNCHANGEDSINCE") ||
	    !condstore_parse_modseq(&l[1], true, &sc->unchangedsince))
		return false;
	sc->cond = true;
	return true;
}

void
cmd_store(struct client_command *cmd)
{
	struct client *c = cmd->client;
	struct store_ctx *sc = pool_alloc(cmd->pool, sizeof(*sc));
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct imap_arg *flagargs, *args = cmd->args;
	size_t n_args = cmd->n_args;
	struct imap_flags flags;
	enum store_flag_op op;
	const char *item, *error;
	size_t nflags, w = 0;
	struct store_old *old = NULL;
	char *up;
	int r;

	/* store = "STORE" SP sequence-set [store-modifiers] SP
	 *         store-att-flags
	 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
	 *                   (flag-list / (flag *(SP flag))) */
	if (n_args >= 2 && args[1].type == IMAP_ARG_LIST) {
		if (!parse_modifiers(&args[1], sc)) {
			imap_reply_bad(cmd, "Invalid STORE modifiers.");
			return;
		}
		args++;
		n_args--;
	}
	if (n_args < 3) {
		imap_reply_bad(cmd, "Expected a sequence set, FLAGS and "
			       "flags.");
		return;
	}
	if (!imap_arg_get_atom(&args[1], &item)) {
		imap_reply_bad(cmd, "Invalid STORE item.");
		return;
	}
	up = pool_strdup(cmd->pool, item);
	str_upper(up);
	op = up[0] == '+' ? STORE_FLAGS_ADD : up[0] == '-' ?
		STORE_FLAGS_REMOVE : STORE_FLAGS_SET;
	if (op != STORE_FLAGS_SET)
		up++;
	if (str_eq(up, "FLAGS.SILENT"))
		sc->silent = true;
	else if (!str_eq(up, "FLAGS")) {
		imap_reply_bad(cmd, "Invalid STORE item.");
		return;
	}
	if (n_args == 3 && args[2].type == IMAP_ARG_LIST) {
		flagargs = args[2].list;
		nflags = args[2].list_n;
	} else {
		flagargs = &args[2];
		nflags = n_args - 2;
	}
	if (imap_args_flags(cmd->pool, flagargs, nflags, &flags,
			    &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (imap_args_seqs(cmd, &cmd->args[0], &sc->seqs, &sc->n,
			   &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (c->readonly) {
		imap_reply_no(cmd, "[READ-ONLY] The mailbox is read-only.");
		return;
	}
	if (sc->cond)
		condstore_enable(c);
	for (size_t i = 0; i < sc->n; i++) {
		if (v->msgs[sc->seqs[i] - 1].expunged)
			sc->expunged = true;
		else
			sc->seqs[w++] = sc->seqs[i];
	}
	sc->n = w;
	if (sc->silent && sc->n > 0) {
		old = pool_alloc(cmd->pool, sc->n * sizeof(*old));
		for (size_t i = 0; i < sc->n; i++) {
			old[i].flags = v->msgs[sc->seqs[i] - 1].flags;
			old[i].keywords = v->msgs[sc->seqs[i] - 1].keywords;
		}
	}
	if (sc->n > 0 && sc->cond) {
		const uint32_t *fu;

		r = mailbox_store_flags_cond(c->mailbox, sc->seqs, sc->n, op,
					     flags.flags, flags.keywords,
					     sc->unchangedsince, &fu,
					     &sc->n_failed);
		if (r == 0 && sc->n_failed > 0) {
			sc->failed_uids = pool_alloc(cmd->pool, sc->n_failed *
						     sizeof(*fu));
			memcpy(sc->failed_uids, fu,
			       sc->n_failed * sizeof(*fu));
		}
	} else if (sc->n > 0) {
		r = mailbox_store_flags(c->mailbox, sc->seqs, sc->n, op,
					flags.flags, flags.keywords);
	} else {
		r = 0;
	}
	if (r < 0) {
		imap_reply_store_error(cmd, store_error(c->store), "STORE");
		return;
	}
	cmd->ctx = sc;
	if (sc->n_failed > 0) {
		sc->modified = seqset_new(cmd->pool);
		v = mailbox_view(c->mailbox);
		for (size_t i = 0; i < sc->n; i++) {
			uint32_t uid = v->msgs[sc->seqs[i] - 1].uid;

			if (failed(sc, uid))
				seqset_add(sc->modified, cmd->uid ? uid :
					   sc->seqs[i], cmd->uid ? uid :
					   sc->seqs[i]);
		}
	}
	/* A new keyword: FLAGS and PERMANENTFLAGS again (RFC 9051
	 * §7.3.5), before the FETCH responses that show it. */
	v = mailbox_view(c->mailbox);
	if (v->n_keywords != c->known_n_keywords) {
		imap_resp_flags_lines(c);
		c->known_n_keywords = v->n_keywords;
	}
	/* §3.1.3: a conditional STORE answers every stored message, even
	 * .SILENT (with MODSEQ only); so does any STORE of a
	 * CONDSTORE-aware client, which must learn the new modseqs (as
	 * Dovecot does). */
	if (sc->silent && !sc->cond && !c->condstore) {
		/* Only what another session changed, and OK for expunged
		 * ones (RFC 2180 §4.2.3). */
		if (sc->n > 0)
			silent_others(sc, v, old, op, &flags);
		sc->expunged = false;
		sc->silent = false;	/* those left are shown with FLAGS */
	}
	store_write(cmd);
}
