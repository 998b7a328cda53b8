/*
 * LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8-9) with LIST-EXTENDED
 * (RFC 5258: selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH, return
 * options SUBSCRIBED and CHILDREN, several patterns, CHILDINFO),
 * SPECIAL-USE (RFC 6154: the selection and return option, the
 * attributes), CHILDREN (RFC 3348) and LIST-STATUS (RFC 5819: RETURN
 * (STATUS (...))). Caller: imap_command_execute. Arguments are untrusted:
 * patterns are bounded and matched without backtracking
 * (imap-list-match.c).
 *
 * The store lists every mailbox, every \Noselect parent and every
 * subscription (store_list); this file adds the ancestors of
 * subscriptions that the store does not know (for LSUB's and
 * RECURSIVEMATCH's "a parent with subscribed children"), picks what
 * the selection asks for, and writes it in name order, resumably: a user
 * with thousands of folders and STATUS for each is answered as the client
 * reads.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/imap-list-match.h"
#include "imap/imap-resp.h"
#include "imap/imap-status.h"
#include "storage/store.h"

/* Selection options (RFC 5258 §3.1, RFC 6154 §3). */
#define SEL_SUBSCRIBED     0x01u
#define SEL_REMOTE         0x02u
#define SEL_RECURSIVEMATCH 0x04u
#define SEL_SPECIAL_USE    0x08u
/* Return options (RFC 5258 §3.2, RFC 6154, RFC 5819). */
#define RET_SUBSCRIBED     0x01u
#define RET_CHILDREN       0x02u
#define RET_SPECIAL_USE    0x04u
#define RET_STATUS         0x08u

#define SPECIAL_USE_ATTRS (STORE_LIST_DRAFTS | STORE_LIST_SENT | \
	STORE_LIST_TRASH | STORE_LIST_JUNK | STORE_LIST_ARCHIVE)

/* Far more than any real hierarchy, few enough that a hostile store
 * walk (names made by other programs) cannot exhaust memory. */
#define LIST_MAX_ENTRIES 100000

struct list_entry {
	const char *name;
	unsigned int attrs;          /* STORE_LIST_* */
	bool synthetic;              /* an ancestor only we know of */
	bool subscribed_child;       /* a descendant is subscribed */
	bool out;                    /* selected for output */
	bool childinfo;              /* RECURSIVEMATCH: CHILDINFO */
	bool noselect_parent;        /* LSUB: \Noselect parent line */
};

struct list_ctx {
	bool lsub, extended;
	unsigned int sel, ret;
	struct imap_status_items status;
	struct imap_list_pattern *pats;
	size_t n_pats;

	struct list_entry *e;
	size_t n, cap;
	size_t next;                 /* output position */
	bool too_many;
	struct pool *pool;
};

static int
collect_cb(const char *name, unsigned int attrs, void *ctx)
{
	struct list_ctx *lc = ctx;

	if (lc->n == LIST_MAX_ENTRIES) {
		lc->too_many = true;
		return -1;
	}
	if (lc->n == lc->cap) {
		size_t ncap = lc->cap == 0 ? 64 : lc->cap * 2;
		struct list_entry *ne = pool_alloc(lc->pool,
						   ncap * sizeof(*ne));

		if (lc->n > 0)
			memcpy(ne, lc->e, lc->n * sizeof(*ne));
		lc->e = ne;
		lc->cap = ncap;
	}
	memset(&lc->e[lc->n], 0, sizeof(lc->e[0]));
	lc->e[lc->n].name = pool_strdup(lc->pool, name);
	lc->e[lc->n].attrs = attrs;
	lc->n++;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static struct list_entry *
find_entry(struct list_ctx *lc, const char *name)
{
	struct list_entry key = { .name = name };

	if (lc->n == 0)
		return NULL;
	return bsearch(&key, lc->e, lc->n, sizeof(lc->e[0]), entry_cmp);
}

/* Cuts the last component off name (in place); false at the top. */
static bool
parent_of(char *name)
{
	char *sep = strrchr(name, STORE_SEPARATOR);

	if (sep == NULL || sep == name)
		return false;
	*sep = '\0';
	return true;
}

/* Every ancestor of a subscription is an entry (synthetic if the store
 * had none) and knows it has a subscribed descendant. */
static void
add_ancestors(struct list_ctx *lc)
{
	struct list_entry key;
	size_t n0, w = 0;
	char *anc;

	/* (qsort and bsearch of no array at all are undefined.) */
	if (lc->n == 0)
		return;
	qsort(lc->e, lc->n, sizeof(lc->e[0]), entry_cmp);
	n0 = lc->n;
	for (size_t i = 0; i < n0 && !lc->too_many; i++) {
		if ((lc->e[i].attrs & STORE_LIST_SUBSCRIBED) == 0)
			continue;
		anc = pool_strdup(lc->pool, lc->e[i].name);
		while (parent_of(anc)) {
			key.name = anc;
			if (bsearch(&key, lc->e, n0, sizeof(lc->e[0]),
				    entry_cmp) != NULL)
				continue;
			if (collect_cb(anc, STORE_LIST_NONEXISTENT, lc) < 0)
				break;
			lc->e[lc->n - 1].synthetic = true;
		}
	}
	/* Two subscriptions under one new parent added it twice. */
	qsort(lc->e, lc->n, sizeof(lc->e[0]), entry_cmp);
	for (size_t i = 0; i < lc->n; i++) {
		if (w > 0 && str_eq(lc->e[w - 1].name, lc->e[i].name))
			continue;
		lc->e[w++] = lc->e[i];
	}
	lc->n = w;
	for (size_t i = 0; i < lc->n; i++) {
		struct list_entry *a;

		if ((lc->e[i].attrs & STORE_LIST_SUBSCRIBED) == 0)
			continue;
		anc = pool_strdup(lc->pool, lc->e[i].name);
		while (parent_of(anc)) {
			a = find_entry(lc, anc);
			if (a != NULL)
				a->subscribed_child = true;
		}
	}
}

static bool
matches(struct list_ctx *lc, const char *name)
{
	for (size_t i = 0; i < lc->n_pats; i++) {
		if (imap_list_pattern_match(&lc->pats[i], name))
			return true;
	}
	return false;
}

static bool
any_pattern_ends_with_percent(const struct list_ctx *lc)
{
	for (size_t i = 0; i < lc->n_pats; i++) {
		if (lc->pats[i].ends_with_percent)
			return true;
	}
	return false;
}

static void
select_entries(struct list_ctx *lc)
{
	bool percent = any_pattern_ends_with_percent(lc);

	for (size_t i = 0; i < lc->n; i++) {
		struct list_entry *e = &lc->e[i];
		bool sub = (e->attrs & STORE_LIST_SUBSCRIBED) != 0;
		bool exists = (e->attrs & STORE_LIST_NONEXISTENT) == 0;
		bool special = (e->attrs & SPECIAL_USE_ATTRS) != 0;

		if (!matches(lc, e->name))
			continue;
		if (lc->lsub) {
			/* RFC 3501 §6.3.9: with "%" last, a parent of a
			 * subscription is listed \Noselect. */
			if (sub) {
				e->out = true;
			} else if (percent && e->subscribed_child) {
				e->out = true;
				e->noselect_parent = true;
			}
			continue;
		}
		if ((lc->sel & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)) == 0) {
			/* Basic LIST: what exists, and parents that have
			 * children; not bare subscriptions. */
			e->out = !e->synthetic &&
				(exists || (e->attrs & STORE_LIST_CHILDREN));
			continue;
		}
		if ((lc->sel & SEL_SPECIAL_USE) != 0 && !special)
			continue;
		if ((lc->sel & SEL_SUBSCRIBED) != 0) {
			bool rec = (lc->sel & SEL_RECURSIVEMATCH) != 0;

			/* RFC 5258 §3.5: RECURSIVEMATCH also lists a parent
			 * whose descendant matches the selection. */
			if (sub) {
				e->out = true;
				e->childinfo = rec && e->subscribed_child;
			} else if (rec && e->subscribed_child) {
				e->out = true;
				e->childinfo = true;
			}
			continue;
		}
		e->out = exists;
	}
}

static void
write_attrs(struct buf *b, const struct list_ctx *lc,
	    const struct list_entry *e, int *rc)
{
	const char *sep = "";
	unsigned int a = e->attrs;
	bool nonexistent = (a & STORE_LIST_NONEXISTENT) != 0;
	static const struct {
		unsigned int bit;
		const char *name;
	} special[] = {
		{ STORE_LIST_ARCHIVE, "\\Archive" },
		{ STORE_LIST_DRAFTS, "\\Drafts" },
		{ STORE_LIST_JUNK, "\\Junk" },
		{ STORE_LIST_SENT, "\\Sent" },
		{ STORE_LIST_TRASH, "\\Trash" },
	};

#define ATTR(text) do { \
	if (*rc == 0) \
		*rc = buf_printf(b, "%s%s", sep, (text)); \
	sep = " "; \
} while (0)
	*rc = buf_append_byte(b, '(');
	if (lc->lsub) {
		if (e->noselect_parent || nonexistent ||
		    (a & STORE_LIST_NOSELECT) != 0)
			ATTR("\\Noselect");
	} else {
		/* RFC 5258 §3.4: \NonExistent implies \Noselect; a client
		 * of the basic form only knows the latter. */
		if (nonexistent)
			ATTR(lc->extended ? "\\NonExistent" : "\\Noselect");
		else if ((a & STORE_LIST_NOSELECT) != 0)
			ATTR("\\Noselect");
		if ((a & STORE_LIST_CHILDREN) != 0)
			ATTR("\\HasChildren");
		else if (!nonexistent)
			ATTR("\\HasNoChildren");
		if ((a & STORE_LIST_SUBSCRIBED) != 0 &&
		    ((lc->sel & SEL_SUBSCRIBED) != 0 ||
		     (lc->ret & RET_SUBSCRIBED) != 0))
			ATTR("\\Subscribed");
		if ((a & STORE_LIST_MARKED) != 0 && !nonexistent)
			ATTR("\\Marked");
		for (size_t i = 0; i < sizeof(special) / sizeof(special[0]);
		     i++) {
			if ((a & special[i].bit) != 0)
				ATTR(special[i].name);
		}
	}
	if (*rc == 0)
		*rc = buf_append_byte(b, ')');
#undef ATTR
}

static void
write_entry(struct client *c, struct list_ctx *lc, const struct list_entry *e)
{
	size_t mark = buf_len(c->out);
	int rc = buf_append_str(c->out, lc->lsub ? "* LSUB " : "* LIST ");

	if (rc == 0)
		write_attrs(c->out, lc, e, &rc);
	if (rc == 0)
		rc = buf_printf(c->out, " \"%c\" ", STORE_SEPARATOR);
	if (rc == 0)
		rc = imap_resp_mailbox(c->out, e->name, c->utf8);
	if (rc == 0 && e->childinfo)
		rc = buf_append_str(c->out,
				    " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	if (rc == 0)
		rc = buf_append_str(c->out, "\r\n");
	if (rc < 0)
		buf_truncate(c->out, mark);
	client_out_check(c, rc);
}

static void
list_write(struct client_command *cmd)
{
	struct list_ctx *lc = cmd->ctx;
	struct client *c = cmd->client;

	while (lc->next < lc->n) {
		const struct list_entry *e = &lc->e[lc->next];
		struct store_status st;

		if (client_output_full(c)) {
			cmd->resume = list_write;
			return;
		}
		lc->next++;
		if (!e->out)
			continue;
		write_entry(c, lc, e);
		/* RFC 5819 §2: STATUS for each selectable mailbox listed;
		 * one that cannot be read is simply left out. */
		if ((lc->ret & RET_STATUS) != 0 && !e->synthetic &&
		    (e->attrs & (STORE_LIST_NOSELECT |
				 STORE_LIST_NONEXISTENT)) == 0) {
			memset(&st, 0, sizeof(st));
			if (store_status(c->store, e->name, &st) == 0)
				imap_status_write(c, e->name, &lc->status,
						  &st);
		}
	}
	imap_reply_ok(cmd, "%s completed.", lc->lsub ? "LSUB" : "LIST");
}

/* RFC 5258 list-select-opt: "(" [opt *(SP opt)] ")". */
static int
parse_selection(struct list_ctx *lc, const struct imap_arg *list, size_t n,
		const char **error)
{
	const char *s;

	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid selection option.";
			return -1;
		}
		if (str_eq_ci(s, "SUBSCRIBED"))
			lc->sel |= SEL_SUBSCRIBED;
		else if (str_eq_ci(s, "REMOTE"))
			lc->sel |= SEL_REMOTE;   /* no remote mailboxes */
		else if (str_eq_ci(s, "RECURSIVEMATCH"))
			lc->sel |= SEL_RECURSIVEMATCH;
		else if (str_eq_ci(s, "SPECIAL-USE"))
			lc->sel |= SEL_SPECIAL_USE;
		else {
			/* RFC 5258 §3: unknown options are BAD. */
			*error = "Unknown selection option.";
			return -1;
		}
	}
	/* RFC 5258 §3.1: RECURSIVEMATCH needs another option that selects
	 * (REMOTE alone does not). */
	if ((lc->sel & SEL_RECURSIVEMATCH) != 0 &&
	    (lc->sel & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)) == 0) {
		*error = "RECURSIVEMATCH needs another selection option.";
		return -1;
	}
	return 0;
}

/* RFC 5258 list-return-opts: "RETURN" SP "(" [opt *(SP opt)] ")". */
static int
parse_return(struct list_ctx *lc, const struct imap_arg *list, size_t n,
	     const char **error)
{
	const struct imap_arg *sub;
	size_t nsub;
	const char *s;

	for (size_t i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&list[i], &s)) {
			*error = "Invalid return option.";
			return -1;
		}
		if (str_eq_ci(s, "SUBSCRIBED")) {
			lc->ret |= RET_SUBSCRIBED;
		} else if (str_eq_ci(s, "CHILDREN")) {
			lc->ret |= RET_CHILDREN;
		} else if (str_eq_ci(s, "SPECIAL-USE")) {
			lc->ret |= RET_SPECIAL_USE;
		} else if (str_eq_ci(s, "STATUS")) {
			if (i + 1 >= n || (lc->ret & RET_STATUS) != 0 ||
			    !imap_arg_get_list(&list[i + 1], &sub, &nsub)) {
				*error = "STATUS needs one list of items.";
				return -1;
			}
			if (imap_status_items_parse(sub, nsub, &lc->status,
						    error) < 0)
				return -1;
			lc->ret |= RET_STATUS;
			i++;
		} else {
			*error = "Unknown return option.";
			return -1;
		}
	}
	return 0;
}

static int
parse_patterns(struct client_command *cmd, struct list_ctx *lc,
	       const char *ref, const struct imap_arg *a, const char **error)
{
	const struct imap_arg *list = a;
	size_t n = 1;
	const char *s;

	if (a->type == IMAP_ARG_LIST) {
		/* RFC 5258: "(" list-mailbox *(SP list-mailbox) ")" */
		if (lc->lsub || a->list_n == 0) {
			*error = "Invalid mailbox patterns.";
			return -1;
		}
		list = a->list;
		n = a->list_n;
		lc->extended = true;
	}
	lc->pats = pool_alloc(cmd->pool, n * sizeof(*lc->pats));
	for (size_t i = 0; i < n; i++) {
		if (!imap_args_list_mailbox(&list[i], &s)) {
			*error = "Invalid mailbox pattern.";
			return -1;
		}
		imap_list_pattern_init(&lc->pats[i], cmd->pool, ref, s,
				       cmd->client->utf8, STORE_SEPARATOR);
	}
	lc->n_pats = n;
	return 0;
}

void
cmd_list(struct client_command *cmd)
{
	struct list_ctx *lc = pool_alloc(cmd->pool, sizeof(*lc));
	const struct imap_arg *args = cmd->args, *list;
	size_t n = cmd->n_args, nl;
	const char *ref, *pat = NULL, *error = "Invalid arguments.";
	struct store *s;

	lc->pool = cmd->pool;
	lc->lsub = str_eq(cmd->name, "LSUB");
	/* list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
	 *        [SP list-return-opts] */
	if (!lc->lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
		lc->extended = true;
		if (parse_selection(lc, args[0].list, args[0].list_n,
				    &error) < 0)
			goto bad;
		args++;
		n--;
	}
	if (n == 4 && !lc->lsub) {
		const char *kw;

		if (!imap_arg_get_atom(&args[2], &kw) ||
		    !str_eq_ci(kw, "RETURN") ||
		    !imap_arg_get_list(&args[3], &list, &nl) ||
		    parse_return(lc, list, nl, &error) < 0)
			goto bad;
		lc->extended = true;
		n = 2;
	}
	if (n != 2 || !imap_arg_get_astring(&args[0], &ref))
		goto bad;
	if (parse_patterns(cmd, lc, ref, &args[1], &error) < 0)
		goto bad;
	(void)imap_args_list_mailbox(&args[1], &pat);

	/* RFC 9051 §6.3.9: LIST "" "" asks for the separator (and the
	 * root, which is "" here). */
	if (!lc->lsub && !lc->extended && pat != NULL && pat[0] == '\0') {
		client_send_line(cmd->client, "* LIST (\\Noselect) \"%c\" \"\"",
				 STORE_SEPARATOR);
		imap_reply_ok(cmd, "LIST completed.");
		return;
	}
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (store_list(s, collect_cb, lc) < 0) {
		if (lc->too_many) {
			imap_reply_no(cmd, "[LIMIT] Too many mailboxes.");
			return;
		}
		imap_reply_store_error(cmd, store_error(s), cmd->name);
		return;
	}
	add_ancestors(lc);
	select_entries(lc);
	cmd->ctx = lc;
	list_write(cmd);
	return;
bad:
	imap_reply_bad(cmd, "%s", error);
}
