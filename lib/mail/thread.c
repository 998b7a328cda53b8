/*
 * mail thread: RFC 5256 §2.1 ORDEREDSUBJECT and REFERENCES. Input: the
 * facts of the searched messages (from untrusted headers; bounded by the
 * caller and by MAIL_THREAD_MAX_*). Nodes live in one array: the
 * messages first, then the dummies that references and subject merging
 * create. Message-ID and subject lookups go through a SipHash table
 * with a random key, since anyone who mails the user picks the keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "core/siphash.h"
#include "core/str.h"
#include "mail/thread.h"

#define NONE UINT32_MAX

struct node {
	uint32_t parent, first, last, prev, next;
	uint32_t msg;            /* index into msgs, NONE for a dummy */
	uint32_t n_children;
};

struct tree {
	const struct mail_thread_msg *msgs;
	struct node *nodes;
	size_t n, cap;
};

/* --- string -> node table -------------------------------------------- */

struct htab {
	const char **keys;
	uint32_t *vals;
	size_t mask;
	uint8_t key[SIPHASH_KEY_LEN];
};

static void
htab_init(struct htab *h, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 16)
		cap *= 2;
	h->keys = xcalloc(cap, sizeof(*h->keys));
	h->vals = xcalloc(cap, sizeof(*h->vals));
	h->mask = cap - 1;
	rand_bytes(h->key, sizeof(h->key));
}

static void
htab_free(struct htab *h)
{
	free(h->keys);
	free(h->vals);
}

/* The slot of s: holding s, or the empty one where it goes. The table
 * is sized for every key the caller may add, so one is always free. */
static size_t
htab_slot(const struct htab *h, const char *s)
{
	size_t i = (size_t)siphash24(h->key, s, strlen(s)) & h->mask;

	while (h->keys[i] != NULL && strcmp(h->keys[i], s) != 0)
		i = (i + 1) & h->mask;
	return i;
}

/* --- nodes ----------------------------------------------------------- */

static uint32_t
node_new(struct tree *t, uint32_t msg)
{
	struct node *x;

	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->nodes = xreallocarray(t->nodes, t->cap, sizeof(*t->nodes));
	}
	x = &t->nodes[t->n];
	x->parent = x->first = x->last = x->prev = x->next = NONE;
	x->msg = msg;
	x->n_children = 0;
	return (uint32_t)t->n++;
}

static void
unlink_node(struct tree *t, uint32_t c)
{
	struct node *x = &t->nodes[c];
	struct node *p;

	if (x->parent == NONE)
		return;
	p = &t->nodes[x->parent];
	if (x->prev != NONE)
		t->nodes[x->prev].next = x->next;
	else
		p->first = x->next;
	if (x->next != NONE)
		t->nodes[x->next].prev = x->prev;
	else
		p->last = x->prev;
	p->n_children--;
	x->parent = x->prev = x->next = NONE;
}

static void
link_node(struct tree *t, uint32_t p, uint32_t c)
{
	struct node *x, *pp;

	unlink_node(t, c);
	x = &t->nodes[c];
	pp = &t->nodes[p];
	x->parent = p;
	x->prev = pp->last;
	if (pp->last != NONE)
		t->nodes[pp->last].next = c;
	else
		pp->first = c;
	pp->last = c;
	pp->n_children++;
}

/* Would making p the parent of c make a loop (p is c or below it)? A
 * walk longer than MAIL_THREAD_MAX_DEPTH counts as one. */
static bool
would_loop(const struct tree *t, uint32_t p, uint32_t c)
{
	unsigned int steps = 0;

	for (uint32_t x = p; x != NONE; x = t->nodes[x].parent) {
		if (x == c || ++steps > MAIL_THREAD_MAX_DEPTH)
			return true;
	}
	return false;
}

/* --- sent-date order (RFC 5256 §2.2, ties by sequence number) ------- */

/* The message a node sorts by: itself, or a dummy's first child. */
static const struct mail_thread_msg *
sort_msg(const struct tree *t, uint32_t x)
{
	unsigned int steps = 0;

	while (t->nodes[x].msg == NONE) {
		x = t->nodes[x].first;
		if (x == NONE || ++steps > MAIL_THREAD_MAX_DEPTH)
			return NULL;
	}
	return &t->msgs[t->nodes[x].msg];
}

static int
cmp_msg_date(const struct mail_thread_msg *a, const struct mail_thread_msg *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

static const struct tree *sort_tree;    /* qsort has no context arg */

static int
cmp_node_date(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return cmp_msg_date(sort_msg(sort_tree, a), sort_msg(sort_tree, b));
}

/* Sorts p's children by date; p's children list is rebuilt. scratch
 * holds at least n_children entries. */
static void
sort_children(struct tree *t, uint32_t p, uint32_t *scratch)
{
	struct node *pp = &t->nodes[p];
	size_t k = 0;

	if (pp->n_children < 2)
		return;
	for (uint32_t c = pp->first; c != NONE; c = t->nodes[c].next)
		scratch[k++] = c;
	sort_tree = t;
	qsort(scratch, k, sizeof(*scratch), cmp_node_date);
	pp = &t->nodes[p];
	pp->first = scratch[0];
	pp->last = scratch[k - 1];
	for (size_t i = 0; i < k; i++) {
		struct node *x = &t->nodes[scratch[i]];

		x->prev = i == 0 ? NONE : scratch[i - 1];
		x->next = i + 1 == k ? NONE : scratch[i + 1];
	}
}

/* --- output (RFC 5256 §4) -------------------------------------------- */

enum { OUT_CLOSE, OUT_SP, OUT_OPEN, OUT_SP_OPEN };

/* Writes the thread of each root in order; iterative: items on a stack
 * are (node << 2 | kind). */
static int
write_threads(const struct tree *t, const uint32_t *roots, size_t n_roots,
	      struct buf *out)
{
	/* Each node is pushed once with its ")" at most: 2 per node. */
	uint64_t *stack = xreallocarray(NULL, 2 * t->n + 2, sizeof(*stack));
	size_t sp = 0;
	int rc = 0;

	for (size_t i = n_roots; i-- > 0;) {
		stack[sp++] = OUT_CLOSE;
		stack[sp++] = ((uint64_t)roots[i] << 2) | OUT_OPEN;
	}
	while (sp > 0 && rc == 0) {
		uint64_t it = stack[--sp];
		unsigned int kind = (unsigned int)(it & 3);
		uint32_t x = (uint32_t)(it >> 2);
		const struct node *nd;
		bool nested;

		if (kind == OUT_CLOSE) {
			rc = buf_append_byte(out, ')');
			continue;
		}
		rc = buf_append_str(out, kind == OUT_SP ? " " :
				    kind == OUT_OPEN ? "(" :
				    kind == OUT_SP_OPEN ? " (" : "");
		nd = &t->nodes[x];
		if (rc == 0 && nd->msg != NONE)
			rc = buf_printf(out, "%" PRIu32, t->msgs[nd->msg].num);
		if (nd->n_children == 0)
			continue;
		if (nd->n_children == 1 && nd->msg != NONE) {
			stack[sp++] = ((uint64_t)nd->first << 2) | OUT_SP;
			continue;
		}
		/* thread-nested: "(a)(b)", after a space when it follows a
		 * number. */
		nested = nd->msg != NONE;
		for (uint32_t c = nd->last; c != NONE; c = t->nodes[c].prev) {
			stack[sp++] = OUT_CLOSE;
			stack[sp++] = ((uint64_t)c << 2) |
				(c == nd->first && nested ? OUT_SP_OPEN :
				 OUT_OPEN);
		}
	}
	free(stack);
	return rc;
}

/* --- ORDEREDSUBJECT --------------------------------------------------- */

static int
cmp_subject_date(const void *pa, const void *pb)
{
	const struct mail_thread_msg *a = &sort_tree->msgs[*(const uint32_t *)pa];
	const struct mail_thread_msg *b = &sort_tree->msgs[*(const uint32_t *)pb];
	int c = strcmp(a->subject, b->subject);

	return c != 0 ? c : cmp_msg_date(a, b);
}

/* Sorted by base subject, then date; each run of one subject is a
 * thread whose first message is the parent of all the others. */
static void
ordered_subject(struct tree *t, uint32_t *roots, size_t *n_roots)
{
	size_t n = t->n;
	uint32_t *order = xreallocarray(NULL, n + 1, sizeof(*order));

	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	sort_tree = t;
	qsort(order, n, sizeof(*order), cmp_subject_date);
	*n_roots = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && strcmp(t->msgs[order[j]].subject,
				       t->msgs[order[i]].subject) == 0)
			link_node(t, order[i], order[j++]);
		roots[(*n_roots)++] = order[i];
		i = j;
	}
	free(order);
	sort_tree = t;
	qsort(roots, *n_roots, sizeof(*roots), cmp_node_date);
}

/* --- REFERENCES ------------------------------------------------------- */

/* Step 1: links from each message's references, then to the message. */
static void
refs_link(struct tree *t, size_t n)
{
	size_t n_keys = n;
	struct htab h;

	for (size_t i = 0; i < n; i++)
		n_keys += t->msgs[i].n_refs;
	htab_init(&h, n_keys);
	/* The Message-ID belongs to its lowest-numbered message; a later
	 * duplicate (or none) is a unique ID: just no table entry. */
	for (size_t i = 0; i < n; i++) {
		const char *id = t->msgs[i].msgid;
		size_t s;

		if (id == NULL)
			continue;
		s = htab_slot(&h, id);
		if (h.keys[s] == NULL) {
			h.keys[s] = id;
			h.vals[s] = (uint32_t)i;
		} else if (t->msgs[h.vals[s]].seq > t->msgs[i].seq) {
			h.vals[s] = (uint32_t)i;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct mail_thread_msg *m = &t->msgs[i];
		uint32_t prev = NONE, self = (uint32_t)i;

		for (size_t r = 0; r < m->n_refs; r++) {
			size_t s = htab_slot(&h, m->refs[r]);
			uint32_t x;

			if (h.keys[s] == NULL) {
				h.keys[s] = m->refs[r];
				h.vals[s] = node_new(t, NONE);
			}
			x = h.vals[s];
			/* An existing parent stays (the References line may
			 * have been cut by a MUA). */
			if (prev != NONE && t->nodes[x].parent == NONE &&
			    !would_loop(t, prev, x))
				link_node(t, prev, x);
			prev = x;
		}
		/* Step 1B: the last reference is the parent, replacing
		 * one an earlier message's references guessed. */
		unlink_node(t, self);
		if (prev != NONE && !would_loop(t, prev, self))
			link_node(t, prev, self);
	}
	htab_free(&h);
}

/* Step 3: dummies go; their children move up, but to the root only
 * when a dummy has just one. Children are handled before their parents
 * (reverse breadth-first order), so nested dummies collapse fully. */
static void
refs_prune(struct tree *t)
{
	uint32_t *order = xreallocarray(NULL, t->n + 1, sizeof(*order));
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->nodes[i].parent == NONE)
			order[k++] = (uint32_t)i;
	}
	for (size_t i = 0; i < k; i++) {
		for (uint32_t c = t->nodes[order[i]].first; c != NONE;
		     c = t->nodes[c].next)
			order[k++] = c;
	}
	for (size_t i = k; i-- > 0;) {
		uint32_t x = order[i];
		struct node *nd = &t->nodes[x];
		uint32_t p = nd->parent;

		if (nd->msg != NONE)
			continue;
		if (p == NONE) {
			if (nd->n_children == 1)
				unlink_node(t, nd->first);
			continue;
		}
		while (t->nodes[x].first != NONE)
			link_node(t, p, t->nodes[x].first);
		unlink_node(t, x);
	}
	free(order);
}

static const struct mail_thread_msg *
thread_subject_msg(const struct tree *t, uint32_t x)
{
	if (t->nodes[x].msg != NONE)
		return &t->msgs[t->nodes[x].msg];
	if (t->nodes[x].first == NONE)
		return NULL;
	x = t->nodes[x].first;
	return t->nodes[x].msg != NONE ? &t->msgs[t->nodes[x].msg] : NULL;
}

static bool
is_dummy(const struct tree *t, uint32_t x)
{
	return t->nodes[x].msg == NONE;
}

static bool
is_reply(const struct tree *t, uint32_t x)
{
	return !is_dummy(t, x) && t->msgs[t->nodes[x].msg].reply;
}

/* Step 5: roots of one base subject are merged. roots[] is sorted by
 * date (step 4); it is compacted to the roots that remain. */
static void
refs_merge_subjects(struct tree *t, uint32_t *roots, size_t *n_roots)
{
	struct htab h;
	size_t n = *n_roots, k = 0, first_new = t->n;

	htab_init(&h, n);
	for (size_t i = 0; i < n; i++) {
		const struct mail_thread_msg *m = thread_subject_msg(t, roots[i]);
		uint32_t cur = roots[i], old;
		size_t s;

		if (m == NULL || m->subject[0] == '\0')
			continue;
		s = htab_slot(&h, m->subject);
		if (h.keys[s] == NULL) {
			h.keys[s] = m->subject;
			h.vals[s] = cur;
			continue;
		}
		old = h.vals[s];
		if (!is_dummy(t, old) && (is_dummy(t, cur) ||
		    (is_reply(t, old) && !is_reply(t, cur))))
			h.vals[s] = cur;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mail_thread_msg *m = thread_subject_msg(t, roots[i]);
		uint32_t cur = roots[i], old, d;
		size_t s;

		if (m == NULL || m->subject[0] == '\0') {
			roots[k++] = cur;
			continue;
		}
		s = htab_slot(&h, m->subject);
		old = h.vals[s];
		if (old == cur) {
			roots[k++] = cur;
			continue;
		}
		if (is_dummy(t, old) && is_dummy(t, cur)) {
			while (t->nodes[cur].first != NONE)
				link_node(t, old, t->nodes[cur].first);
		} else if (is_dummy(t, old) ||
			   (is_reply(t, cur) && !is_reply(t, old))) {
			link_node(t, old, cur);
		} else {
			/* The dummy takes old's place among the roots (a
			 * later pass finds old there: see below). */
			d = node_new(t, NONE);
			link_node(t, d, old);
			link_node(t, d, cur);
			h.vals[s] = d;
		}
	}
	htab_free(&h);
	/* Roots that became children, and dummies whose children went to
	 * another dummy, are dropped; the dummies made above are roots. */
	n = k;
	k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct node *nd = &t->nodes[roots[i]];

		if (nd->parent == NONE && (nd->msg != NONE ||
					   nd->n_children > 0))
			roots[k++] = roots[i];
	}
	for (size_t i = first_new; i < t->n; i++)
		roots[k++] = (uint32_t)i;
	*n_roots = k;
}

static void
refs_thread(struct tree *t, size_t n, uint32_t **rootsp, size_t *n_roots)
{
	uint32_t *roots, *scratch;
	size_t k = 0;

	refs_link(t, n);
	refs_prune(t);
	/* Step 4: dummies' children first, then the roots. */
	scratch = xreallocarray(NULL, t->n + 1, sizeof(*scratch));
	roots = xreallocarray(NULL, t->n + 1, sizeof(*roots));
	for (size_t i = 0; i < t->n; i++) {
		if (t->nodes[i].parent != NONE)
			continue;
		if (t->nodes[i].msg == NONE && t->nodes[i].n_children == 0)
			continue;
		if (t->nodes[i].msg == NONE)
			sort_children(t, (uint32_t)i, scratch);
		roots[k++] = (uint32_t)i;
	}
	sort_tree = t;
	qsort(roots, k, sizeof(*roots), cmp_node_date);
	refs_merge_subjects(t, roots, &k);
	/* Step 6: every sibling list, the roots last (a dummy sorts by
	 * its first child, so its children come first). */
	for (size_t i = 0; i < t->n; i++) {
		if (t->nodes[i].n_children > 1)
			sort_children(t, (uint32_t)i, scratch);
	}
	sort_tree = t;
	qsort(roots, k, sizeof(*roots), cmp_node_date);
	free(scratch);
	*rootsp = roots;
	*n_roots = k;
}

int
mail_thread(enum mail_thread_alg alg, const struct mail_thread_msg *msgs,
	    size_t n, struct buf *out)
{
	struct tree t;
	uint32_t *roots = NULL;
	size_t n_roots = 0;
	int rc;

	memset(&t, 0, sizeof(t));
	t.msgs = msgs;
	for (size_t i = 0; i < n; i++)
		node_new(&t, (uint32_t)i);
	if (alg == MAIL_THREAD_ORDEREDSUBJECT) {
		roots = xreallocarray(NULL, n + 1, sizeof(*roots));
		ordered_subject(&t, roots, &n_roots);
	} else {
		refs_thread(&t, n, &roots, &n_roots);
	}
	rc = write_threads(&t, roots, n_roots, out);
	free(roots);
	free(t.nodes);
	sort_tree = NULL;
	return rc;
}

/* --- msg-id ----------------------------------------------------------- */

/* Skips a comment at s[*i] == '(' (nested, quoted-pairs). */
static void
skip_comment(const char *s, size_t len, size_t *i)
{
	unsigned int depth = 0;

	for (; *i < len; (*i)++) {
		if (s[*i] == '\\' && *i + 1 < len) {
			(*i)++;
		} else if (s[*i] == '(') {
			depth++;
		} else if (s[*i] == ')' && --depth == 0) {
			(*i)++;
			return;
		}
	}
}

const char *
mail_msgid_next(struct pool *pool, const char *s, size_t len, size_t *pos)
{
	char id[MAIL_MSGID_MAX + 1];
	size_t i = *pos;

	while (i < len) {
		size_t n = 0;
		bool at = false, ok = true;

		if (s[i] == '(') {
			skip_comment(s, len, &i);
			continue;
		}
		if (s[i] != '<') {
			i++;
			continue;
		}
		for (i++; i < len && s[i] != '>' && s[i] != '<'; i++) {
			char c = s[i];

			if (c == '\\' && i + 1 < len)
				c = s[++i];
			else if (c == '"' || c == ' ' || c == '\t' ||
				 c == '\r' || c == '\n')
				continue;
			if (c == '@')
				at = true;
			if ((unsigned char)c < 0x21 || n == MAIL_MSGID_MAX)
				ok = false;
			else
				id[n++] = c;
		}
		if (i >= len || s[i] == '<')
			continue;       /* unclosed: a new "<" starts over */
		i++;
		if (ok && at && n > 0) {
			*pos = i;
			return pool_strndup(pool, id, n);
		}
	}
	*pos = len;
	return NULL;
}
