/*
 * fake-store: see fake-store.h. Test code: simple arrays and linear
 * scans, no limits beyond the contract's (64 keywords), memory freed at
 * exit of the test process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/str.h"
#include "fake-store.h"
#include "storage/mbox-lock.h"

struct fmsg {
	uint32_t uid;
	unsigned int flags;
	uint64_t keywords;
	char *data;           /* NULL: a big generated message */
	uint64_t size;
	time_t date;
	uint64_t modseq;
};

struct ftomb {
	uint32_t uid;
	uint64_t modseq;
};

struct fbox {
	char *name;
	bool exists;          /* false: a subscription only */
	bool subscribed;
	unsigned int special;
	uint32_t uidvalidity, uidnext;
	struct fmsg *msgs;
	size_t n, cap;
	char *keywords[STORE_KEYWORDS_MAX];
	size_t n_keywords;
	uint32_t recent_uid;  /* uids >= this are \Recent for the next
			       * opener */
	uint64_t highestmodseq;
	struct ftomb *tombs;  /* expunged UIDs, as the index keeps them */
	size_t n_tombs;
	uint64_t tomb_floor;
};

struct fevent {
	unsigned int at_sync;
	enum fake_event_kind kind;
	char *box;
	uint32_t uid;
	unsigned int flags;
	char *data;
};

static struct {
	struct fbox *boxes;
	size_t n, cap;
	uint32_t next_uidvalidity;
	enum store_error_code fail_open;
	struct fevent events[32];
	size_t n_events;
	unsigned int syncs;
	unsigned int msg_opens;
	bool opens_fail;         /* FAKE_NO_OPEN happened */
	bool fetch_cache_off;    /* FAKE_NO_FETCH_CACHE happened */
	bool sort_cache_off;     /* FAKE_NO_SORT_CACHE happened */
	/* mailbox_msg_cache_*: (box, uid, kind) -> value, stamped with
	 * the message's size like the real store's */
	struct fcache {
		char *box;
		uint32_t uid;
		enum store_cache_kind kind;
		uint64_t size;
		void *data;
		size_t len;
	} *caches;
	size_t n_caches;
} fs;

struct store {
	struct store_error err;
	bool defaults_done;
};

struct mailbox {
	struct store *s;
	char *name;
	bool readonly;
	struct store_msg *msgs;
	size_t n;
	struct mailbox_view view;
	uint32_t *exp_seqs, *exp_uids, *flag_seqs;
	struct mailbox_changes ch;
	uint32_t *failed, *vanished;
};

/* ---- set-up -------------------------------------------------------- */

static struct fbox *
find_box(const char *name)
{
	for (size_t i = 0; i < fs.n; i++) {
		if (str_eq(fs.boxes[i].name, name))
			return &fs.boxes[i];
	}
	return NULL;
}

static struct fbox *
new_box(const char *name)
{
	struct fbox *b = find_box(name);

	if (b != NULL)
		return b;
	if (fs.n == fs.cap) {
		fs.cap = fs.cap == 0 ? 16 : fs.cap * 2;
		fs.boxes = xreallocarray(fs.boxes, fs.cap, sizeof(*fs.boxes));
	}
	b = &fs.boxes[fs.n++];
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(name);
	b->uidvalidity = ++fs.next_uidvalidity + 1000;
	b->uidnext = 1;
	b->recent_uid = 1;
	b->highestmodseq = 1;
	return b;
}

void
fake_store_reset(void)
{
	for (size_t i = 0; i < fs.n; i++) {
		struct fbox *b = &fs.boxes[i];

		for (size_t j = 0; j < b->n; j++)
			free(b->msgs[j].data);
		free(b->msgs);
		free(b->tombs);
		for (size_t k = 0; k < b->n_keywords; k++)
			free(b->keywords[k]);
		free(b->name);
	}
	free(fs.boxes);
	for (size_t i = 0; i < fs.n_events; i++) {
		free(fs.events[i].box);
		free(fs.events[i].data);
	}
	for (size_t i = 0; i < fs.n_caches; i++) {
		free(fs.caches[i].box);
		free(fs.caches[i].data);
	}
	free(fs.caches);
	memset(&fs, 0, sizeof(fs));
}

void
fake_store_add_box(const char *name, unsigned int special, bool subscribed)
{
	struct fbox *b = new_box(name);

	b->exists = true;
	b->special = special;
	b->subscribed = subscribed;
}

void
fake_store_subscribe(const char *name)
{
	new_box(name)->subscribed = true;
}

static struct fmsg *
box_append(struct fbox *b)
{
	struct fmsg *m;

	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 16 : b->cap * 2;
		b->msgs = xreallocarray(b->msgs, b->cap, sizeof(*b->msgs));
	}
	m = &b->msgs[b->n++];
	memset(m, 0, sizeof(*m));
	m->uid = b->uidnext++;
	m->modseq = ++b->highestmodseq;
	return m;
}

void
fake_store_forget_expunges(const char *box)
{
	struct fbox *b = find_box(box);

	b->n_tombs = 0;
	b->tomb_floor = b->highestmodseq;
}

uint64_t
fake_store_modseq(const char *box, uint32_t uid)
{
	struct fbox *b = find_box(box);

	if (uid == 0)
		return b->highestmodseq;
	for (size_t i = 0; i < b->n; i++)
		if (b->msgs[i].uid == uid)
			return b->msgs[i].modseq;
	return 0;
}

void
fake_store_set_modseq(const char *box, uint32_t uid, uint64_t modseq)
{
	struct fbox *b = find_box(box);

	for (size_t i = 0; i < b->n; i++)
		if (b->msgs[i].uid == uid)
			b->msgs[i].modseq = modseq;
	if (modseq > b->highestmodseq)
		b->highestmodseq = modseq;
}

uint32_t
fake_store_add_msg(const char *box, unsigned int flags, const char *data,
		   time_t date)
{
	struct fbox *b = new_box(box);
	struct fmsg *m;

	b->exists = true;
	m = box_append(b);
	m->flags = flags;
	m->data = xstrdup(data);
	m->size = strlen(data);
	m->date = date;
	return m->uid;
}

uint32_t
fake_store_add_big(const char *box, uint64_t size)
{
	struct fbox *b = new_box(box);
	struct fmsg *m;

	b->exists = true;
	m = box_append(b);
	m->size = size;
	m->date = 1700000000;
	return m->uid;
}

void
fake_store_fail_open(enum store_error_code code)
{
	fs.fail_open = code;
}

void
fake_store_event(unsigned int at_sync, enum fake_event_kind kind,
		 const char *box, uint32_t uid, unsigned int flags,
		 const char *data)
{
	struct fevent *e = &fs.events[fs.n_events++];

	e->at_sync = at_sync;
	e->kind = kind;
	e->box = xstrdup(box);
	e->uid = uid;
	e->flags = flags;
	e->data = data != NULL ? xstrdup(data) : NULL;
}

/* ---- helpers ------------------------------------------------------- */

static int
cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
fail(struct store *s, enum store_error_code code, const char *detail)
{
	s->err.code = code;
	snprintf(s->err.detail, sizeof(s->err.detail), "fake: %s", detail);
	return -1;
}

static struct fmsg *
box_msg(struct fbox *b, uint32_t uid)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].uid == uid)
			return &b->msgs[i];
	}
	return NULL;
}

static void
box_remove(struct fbox *b, uint32_t uid)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].uid == uid) {
			b->tombs = xreallocarray(b->tombs, b->n_tombs + 1,
						 sizeof(*b->tombs));
			b->tombs[b->n_tombs].uid = uid;
			b->tombs[b->n_tombs++].modseq = ++b->highestmodseq;
			free(b->msgs[i].data);
			memmove(&b->msgs[i], &b->msgs[i + 1],
				(b->n - i - 1) * sizeof(b->msgs[0]));
			b->n--;
			return;
		}
	}
}

static int
keyword_id(struct store *s, struct fbox *b, const char *kw, uint64_t *bits)
{
	for (size_t i = 0; i < b->n_keywords; i++) {
		if (strcasecmp(b->keywords[i], kw) == 0) {
			*bits |= UINT64_C(1) << i;
			return 0;
		}
	}
	if (b->n_keywords == STORE_KEYWORDS_MAX)
		return fail(s, STORE_ERR_LIMIT, "too many keywords");
	b->keywords[b->n_keywords] = xstrdup(kw);
	*bits |= UINT64_C(1) << b->n_keywords;
	b->n_keywords++;
	return 0;
}

static bool
is_child(const char *name, const char *parent)
{
	size_t n = strlen(parent);

	return strncmp(name, parent, n) == 0 && name[n] == STORE_SEPARATOR;
}

/* ---- store ---------------------------------------------------------- */

/* No spool here: session.c never asks for the dotlock helper. */
bool
store_needs_lock_helper(const struct store_settings *set)
{
	(void)set;
	return false;
}

int
mbox_lock_helper_start(void)
{
	errno = ENOSYS;
	return -1;
}

int
store_open(const struct store_settings *set, struct store **out,
	   struct store_error *err)
{
	(void)set;
	if (fs.fail_open != STORE_OK) {
		err->code = fs.fail_open;
		snprintf(err->detail, sizeof(err->detail), "fake: open fails");
		return -1;
	}
	*out = xcalloc(1, sizeof(**out));
	return 0;
}

void
store_free(struct store **s)
{
	if (s == NULL || *s == NULL)
		return;
	free(*s);
	*s = NULL;
}

const struct store_error *
store_error(const struct store *s)
{
	return &s->err;
}

enum store_kind
store_kind(const struct store *s)
{
	(void)s;
	return STORE_MAILDIR;
}

char
store_separator(const struct store *s)
{
	(void)s;
	return STORE_SEPARATOR;
}

void
store_tick(struct store *s)
{
	(void)s;
}

bool
store_release_index(struct store *s)
{
	(void)s;
	return false;
}

int
store_ensure_defaults(struct store *s)
{
	static const struct {
		const char *name;
		unsigned int use;
	} defs[] = {
		{ "Drafts", STORE_LIST_DRAFTS }, { "Sent", STORE_LIST_SENT },
		{ "Trash", STORE_LIST_TRASH }, { "Junk", STORE_LIST_JUNK },
		{ "Archive", STORE_LIST_ARCHIVE },
	};

	if (fs.n == 0) {
		fake_store_add_box("INBOX", 0, true);
		for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
			fake_store_add_box(defs[i].name, defs[i].use, true);
	}
	s->defaults_done = true;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Like a Maildir++ store: every box, every subscription, and every
 * ancestor of a box that is no box itself (NONEXISTENT, CHILDREN). */
int
store_list(struct store *s,
	   int (*cb)(const char *name, unsigned int attrs, void *ctx),
	   void *ctx)
{
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	(void)s;
	for (size_t i = 0; i < fs.n; i++) {
		char *anc = xstrdup(fs.boxes[i].name), *sep;

		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(anc);
		while (fs.boxes[i].exists &&
		       (sep = strrchr(anc, STORE_SEPARATOR)) != NULL) {
			*sep = '\0';
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(anc);
		}
		free(anc);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct fbox *b = find_box(names[i]);
		unsigned int attrs = 0;
		bool children = false;

		if (i > 0 && str_eq(names[i - 1], names[i]))
			continue;
		for (size_t j = 0; j < fs.n; j++)
			children |= fs.boxes[j].exists &&
				is_child(fs.boxes[j].name, names[i]);
		if (children)
			attrs |= STORE_LIST_CHILDREN;
		if (b != NULL) {
			attrs |= b->special;
			if (b->subscribed)
				attrs |= STORE_LIST_SUBSCRIBED;
		}
		if (b == NULL || !b->exists)
			attrs |= STORE_LIST_NONEXISTENT;
		if ((attrs & STORE_LIST_NONEXISTENT) != 0 &&
		    (attrs & (STORE_LIST_SUBSCRIBED | STORE_LIST_CHILDREN)) == 0)
			continue;
		rc = cb(names[i], attrs, ctx);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int
store_create(struct store *s, const char *name, unsigned int special_use)
{
	struct fbox *b = find_box(name);

	if (b != NULL && b->exists)
		return fail(s, STORE_ERR_EXISTS, "exists");
	fake_store_add_box(name, special_use, b != NULL && b->subscribed);
	return 0;
}

int
store_delete(struct store *s, const char *name)
{
	struct fbox *b = find_box(name);

	if (str_eq(name, "INBOX"))
		return fail(s, STORE_ERR_CANNOT, "INBOX");
	if (b == NULL || !b->exists)
		return fail(s, STORE_ERR_NONEXISTENT, "no such mailbox");
	b->exists = false;
	for (size_t i = 0; i < b->n; i++)
		free(b->msgs[i].data);
	b->n = 0;
	return 0;
}

int
store_rename(struct store *s, const char *from, const char *to)
{
	struct fbox *b = find_box(from), *t = find_box(to);
	size_t flen = strlen(from);

	if (b == NULL || !b->exists)
		return fail(s, STORE_ERR_NONEXISTENT, "no such mailbox");
	if (t != NULL && t->exists)
		return fail(s, STORE_ERR_EXISTS, "target exists");
	if (str_eq(from, "INBOX")) {
		struct fbox *nb = new_box(to);

		b = find_box("INBOX");
		nb->exists = true;
		for (size_t i = 0; i < b->n; i++) {
			struct fmsg *m = box_append(nb);
			uint32_t uid = m->uid;

			*m = b->msgs[i];
			m->uid = uid;
		}
		b->n = 0;
		return 0;
	}
	for (size_t i = 0; i < fs.n; i++) {
		struct fbox *c = &fs.boxes[i];

		if (str_eq(c->name, from) || is_child(c->name, from)) {
			char *nn = xasprintf("%s%s", to, c->name + flen);

			free(c->name);
			c->name = nn;
		}
	}
	return 0;
}

int
store_subscribe(struct store *s, const char *name, bool on)
{
	struct fbox *b = find_box(name);

	(void)s;
	if (b == NULL && !on)
		return 0;
	if (b == NULL)
		b = new_box(name);
	b->subscribed = on;
	return 0;
}

int
store_status(struct store *s, const char *name, struct store_status *st)
{
	struct fbox *b = find_box(name);

	if (b == NULL || !b->exists)
		return fail(s, STORE_ERR_NONEXISTENT, "no such mailbox");
	memset(st, 0, sizeof(*st));
	st->messages = (uint32_t)b->n;
	st->uidnext = b->uidnext;
	st->uidvalidity = b->uidvalidity;
	st->highestmodseq = b->highestmodseq;
	for (size_t i = 0; i < b->n; i++) {
		st->unseen += (b->msgs[i].flags & STORE_F_SEEN) == 0;
		st->deleted += (b->msgs[i].flags & STORE_F_DELETED) != 0;
		st->recent += b->msgs[i].uid >= b->recent_uid;
		st->size += b->msgs[i].size;
	}
	return 0;
}

int
store_append(struct store *s, const char *name,
	     const struct store_new_msg *msgs, size_t n,
	     uint32_t *uidvalidity, uint32_t *uids)
{
	struct fbox *b = find_box(name);

	if (b == NULL || !b->exists)
		return fail(s, STORE_ERR_TRYCREATE, "no such mailbox");
	for (size_t i = 0; i < n; i++) {
		uint64_t kw = 0;

		for (size_t k = 0; msgs[i].keywords != NULL &&
			     msgs[i].keywords[k] != NULL; k++) {
			if (keyword_id(s, b, msgs[i].keywords[k], &kw) < 0)
				return -1;
		}
		struct fmsg *m = box_append(b);

		m->flags = msgs[i].flags;
		m->keywords = kw;
		m->data = xstrndup(msgs[i].data, msgs[i].len);
		m->size = msgs[i].len;
		m->date = msgs[i].internaldate != 0 ? msgs[i].internaldate :
			time(NULL);
		uids[i] = m->uid;
	}
	*uidvalidity = b->uidvalidity;
	return 0;
}

/* ---- a selected mailbox --------------------------------------------- */

static struct fbox *
mb_box(struct mailbox *mb)
{
	return find_box(mb->name);
}

static void
view_refresh(struct mailbox *mb)
{
	struct fbox *b = mb_box(mb);

	mb->view.msgs = mb->msgs;
	mb->view.n = mb->n;
	if (b != NULL) {
		mb->view.uidvalidity = b->uidvalidity;
		mb->view.uidnext = b->uidnext;
		mb->view.highestmodseq = b->highestmodseq;
		mb->view.keywords = (const char *const *)b->keywords;
		mb->view.n_keywords = b->n_keywords;
	}
	mb->view.readonly = mb->readonly;
}

static void
view_add(struct mailbox *mb, const struct fmsg *m, bool recent)
{
	mb->msgs = xreallocarray(mb->msgs, mb->n + 1, sizeof(*mb->msgs));
	memset(&mb->msgs[mb->n], 0, sizeof(mb->msgs[0]));
	mb->msgs[mb->n].uid = m->uid;
	mb->msgs[mb->n].flags = m->flags;
	mb->msgs[mb->n].keywords = m->keywords;
	mb->msgs[mb->n].modseq = m->modseq;
	mb->msgs[mb->n].recent = recent;
	mb->msgs[mb->n].modseq = m->modseq;
	mb->n++;
}

int
mailbox_open(struct store *s, const char *name, bool readonly,
	     struct mailbox **out)
{
	struct fbox *b = find_box(name);
	struct mailbox *mb;

	if (b == NULL || !b->exists)
		return fail(s, STORE_ERR_NONEXISTENT, "no such mailbox");
	mb = xcalloc(1, sizeof(*mb));
	mb->s = s;
	mb->name = xstrdup(name);
	mb->readonly = readonly;
	for (size_t i = 0; i < b->n; i++)
		view_add(mb, &b->msgs[i], b->msgs[i].uid >= b->recent_uid);
	if (!readonly)
		b->recent_uid = b->uidnext;
	view_refresh(mb);
	*out = mb;
	return 0;
}

void
mailbox_close(struct mailbox **mb)
{
	if (mb == NULL || *mb == NULL)
		return;
	free((*mb)->name);
	free((*mb)->msgs);
	free((*mb)->exp_seqs);
	free((*mb)->exp_uids);
	free((*mb)->flag_seqs);
	free((*mb)->failed);
	free((*mb)->vanished);
	free(*mb);
	*mb = NULL;
}

const struct mailbox_view *
mailbox_view(const struct mailbox *mb)
{
	return &mb->view;
}

/* Nothing on disk to watch: IDLE here polls. */
int
mailbox_watches(struct mailbox *mb, struct store_watch *w, size_t max,
		size_t *n)
{
	(void)mb;
	(void)w;
	(void)max;
	*n = 0;
	return 0;
}

static void
run_events(struct mailbox *mb)
{
	for (size_t i = 0; i < fs.n_events; i++) {
		struct fevent *e = &fs.events[i];
		struct fbox *b = find_box(e->box);
		struct fmsg *m;

		if (e->at_sync != fs.syncs || b == NULL)
			continue;
		switch (e->kind) {
		case FAKE_EXPUNGE:
			box_remove(b, e->uid);
			break;
		case FAKE_APPEND:
			m = box_append(b);
			m->data = xstrdup(e->data);
			m->size = strlen(e->data);
			m->date = 1700000000;
			break;
		case FAKE_FLAGS:
			m = box_msg(b, e->uid);
			if (m != NULL) {
				m->flags = e->flags;
				m->modseq = ++b->highestmodseq;
			}
			break;
		case FAKE_FORGET:
			fake_store_forget_expunges(e->box);
			break;
		case FAKE_NO_OPEN:
			fs.opens_fail = true;
			break;
		case FAKE_NO_FETCH_CACHE:
			fs.fetch_cache_off = true;
			break;
		case FAKE_NO_SORT_CACHE:
			fs.sort_cache_off = true;
			break;
		case FAKE_DELETE:
			b->exists = false;
			for (size_t j = 0; j < b->n; j++)
				free(b->msgs[j].data);
			b->n = 0;
			break;
		}
	}
	(void)mb;
}

int
mailbox_sync(struct mailbox *mb, unsigned int flags,
	     const struct mailbox_changes **changes)
{
	struct fbox *b;
	size_t w = 0, ne = 0, nf = 0;
	uint32_t last_uid;

	fs.syncs++;
	run_events(mb);
	b = mb_box(mb);
	if (b == NULL || !b->exists)
		return fail(mb->s, STORE_ERR_NONEXISTENT, "mailbox gone");
	free(mb->exp_seqs);
	free(mb->exp_uids);
	free(mb->flag_seqs);
	mb->exp_seqs = xcalloc(mb->n + 1, sizeof(uint32_t));
	mb->exp_uids = xcalloc(mb->n + 1, sizeof(uint32_t));
	mb->flag_seqs = xcalloc(mb->n + b->n + 1, sizeof(uint32_t));
	/* Gone from the box: expunged (reported) or marked. */
	for (size_t i = 0; i < mb->n; i++) {
		struct fmsg *m = box_msg(b, mb->msgs[i].uid);

		if (m == NULL)
			mb->msgs[i].expunged = true;
	}
	if ((flags & MAILBOX_SYNC_EXPUNGES) != 0) {
		for (size_t i = mb->n; i-- > 0; ) {
			if (mb->msgs[i].expunged) {
				mb->exp_uids[ne] = mb->msgs[i].uid;
				mb->exp_seqs[ne++] = (uint32_t)(i + 1);
			}
		}
		for (size_t i = 0; i < mb->n; i++) {
			if (!mb->msgs[i].expunged)
				mb->msgs[w++] = mb->msgs[i];
		}
		mb->n = w;
	}
	/* Flags changed by others. */
	for (size_t i = 0; i < mb->n; i++) {
		struct fmsg *m = box_msg(b, mb->msgs[i].uid);

		if (m != NULL)
			mb->msgs[i].modseq = m->modseq;
		if (m != NULL && (m->flags != mb->msgs[i].flags ||
				  m->keywords != mb->msgs[i].keywords)) {
			mb->msgs[i].flags = m->flags;
			mb->msgs[i].keywords = m->keywords;
			mb->flag_seqs[nf++] = (uint32_t)(i + 1);
		}
	}
	/* New messages. */
	last_uid = 0;
	for (size_t i = 0; i < mb->n; i++)
		last_uid = mb->msgs[i].uid;
	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].uid > last_uid && (mb->n == 0 ||
		    b->msgs[i].uid > mb->msgs[mb->n - 1].uid)) {
			bool recent = !mb->readonly &&
				b->msgs[i].uid >= b->recent_uid;

			view_add(mb, &b->msgs[i], recent);
		}
	}
	if (!mb->readonly)
		b->recent_uid = b->uidnext;
	view_refresh(mb);
	memset(&mb->ch, 0, sizeof(mb->ch));
	mb->ch.expunged_seqs = mb->exp_seqs;
	mb->ch.expunged_uids = mb->exp_uids;
	mb->ch.n_expunged = ne;
	mb->ch.exists = mb->n;
	mb->ch.flag_seqs = mb->flag_seqs;
	mb->ch.n_flag_changes = nf;
	*changes = &mb->ch;
	return 0;
}

int
mailbox_msg_open_prefix(struct mailbox *mb, uint32_t seq, uint64_t want,
			int *fd, off_t *offset, uint64_t *size)
{
	int r = mailbox_msg_open(mb, seq, fd, offset, size);

	/* only the bytes asked for, as the real store may: a FETCH that
	 * reads past them shows */
	if (r == 0 && want > 0 && want < *size &&
	    ftruncate(*fd, *offset + (off_t)want) < 0)
		return fail(mb->s, STORE_ERR_SERVERBUG, strerror(errno));
	return r;
}

/* As the real store for Maildir: a message up to max comes in memory. */
int
mailbox_msg_read(struct mailbox *mb, uint32_t seq, uint64_t max, int *fd,
		 off_t *offset, struct buf *mem, uint64_t *size)
{
	int r = mailbox_msg_open(mb, seq, fd, offset, size);
	uint8_t *p;

	if (r < 0 || *size > max)
		return r;
	buf_reset(mem);
	p = buf_reserve(mem, (size_t)*size);
	if (p == NULL || (*size > 0 && pread(*fd, p, (size_t)*size,
					     *offset) != (ssize_t)*size)) {
		close(*fd);
		*fd = -1;
		return fail(mb->s, STORE_ERR_SERVERBUG, "short read");
	}
	buf_commit(mem, (size_t)*size);
	close(*fd);
	*fd = -1;
	return 0;
}

/* The first max bytes, read out of the message's file. */
int
mailbox_msg_read_head(struct mailbox *mb, uint32_t seq, size_t max,
		      struct buf *head, bool *whole)
{
	uint64_t size;
	off_t off;
	size_t n;
	uint8_t *p;
	int fd, r = mailbox_msg_open(mb, seq, &fd, &off, &size);

	*whole = false;
	if (r < 0)
		return r;
	n = size < max ? (size_t)size : max;
	buf_reset(head);
	p = buf_reserve(head, n);
	if (p == NULL || (n > 0 && pread(fd, p, n, off) != (ssize_t)n)) {
		close(fd);
		return fail(mb->s, STORE_ERR_SERVERBUG, "short read");
	}
	buf_commit(head, n);
	close(fd);
	*whole = n == size;
	return 0;
}

int
mailbox_msg_open(struct mailbox *mb, uint32_t seq, int *fd, off_t *offset,
		 uint64_t *size)
{
	struct fbox *b = mb_box(mb);
	struct fmsg *m;
	int mfd;

	if (seq == 0 || seq > mb->n || b == NULL)
		return fail(mb->s, STORE_ERR_SERVERBUG, "bad seq");
	fs.msg_opens++;
	if (fs.opens_fail)
		return fail(mb->s, STORE_ERR_SERVERBUG, "FAKE_NO_OPEN");
	m = box_msg(b, mb->msgs[seq - 1].uid);
	if (m == NULL)
		return fail(mb->s, STORE_ERR_EXPUNGED, "gone");
	mfd = memfd_create("fake-msg", MFD_CLOEXEC);
	if (mfd < 0)
		return fail(mb->s, STORE_ERR_SERVERBUG, strerror(errno));
	if (m->data != NULL) {
		if (write(mfd, m->data, m->size) != (ssize_t)m->size) {
			close(mfd);
			return fail(mb->s, STORE_ERR_SERVERBUG, "write");
		}
	} else {
		/* A big message: a header, then "X"s up to size (sparse
		 * zeros would be NULs). */
		static const char hdr[] = "Subject: big\r\n\r\n";
		char chunk[65536];
		uint64_t left = m->size;

		memset(chunk, 'X', sizeof(chunk));
		memcpy(chunk, hdr, sizeof(hdr) - 1);
		while (left > 0) {
			size_t n = left < sizeof(chunk) ? (size_t)left :
				sizeof(chunk);

			if (write(mfd, chunk, n) != (ssize_t)n) {
				close(mfd);
				return fail(mb->s, STORE_ERR_SERVERBUG,
					    "write");
			}
			memset(chunk, 'X', sizeof(hdr));
			left -= n;
		}
	}
	*fd = mfd;
	*offset = 0;
	*size = m->size;
	return 0;
}

int
mailbox_msg_info(struct mailbox *mb, uint32_t seq, time_t *internaldate,
		 uint64_t *size)
{
	struct fbox *b = mb_box(mb);
	struct fmsg *m;

	if (seq == 0 || seq > mb->n || b == NULL)
		return fail(mb->s, STORE_ERR_SERVERBUG, "bad seq");
	m = box_msg(b, mb->msgs[seq - 1].uid);
	if (m == NULL)
		return fail(mb->s, STORE_ERR_EXPUNGED, "gone");
	*internaldate = m->date;
	*size = m->size;
	return 0;
}

static int
store_flags(struct mailbox *mb, const uint32_t *seqs, size_t n,
	    enum store_flag_op op, unsigned int flags,
	    const char *const *keywords, bool cond, uint64_t since,
	    size_t *n_failed)
{
	struct fbox *b = mb_box(mb);
	uint64_t kw = 0;

	*n_failed = 0;
	if (b == NULL)
		return fail(mb->s, STORE_ERR_NONEXISTENT, "gone");
	for (size_t k = 0; keywords != NULL && keywords[k] != NULL; k++) {
		if (keyword_id(mb->s, b, keywords[k], &kw) < 0)
			return -1;
	}
	free(mb->failed);
	mb->failed = xcalloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		struct store_msg *v = &mb->msgs[seqs[i] - 1];
		struct fmsg *m = box_msg(b, v->uid);
		unsigned int of;
		uint64_t okw;

		if (m == NULL)
			continue;
		if (cond && m->modseq > since) {
			mb->failed[(*n_failed)++] = m->uid;
			continue;
		}
		of = m->flags;
		okw = m->keywords;
		switch (op) {
		case STORE_FLAGS_SET:
			m->flags = flags;
			m->keywords = kw;
			break;
		case STORE_FLAGS_ADD:
			m->flags |= flags;
			m->keywords |= kw;
			break;
		case STORE_FLAGS_REMOVE:
			m->flags &= ~flags;
			m->keywords &= ~kw;
			break;
		}
		if (m->flags != of || m->keywords != okw)
			m->modseq = ++b->highestmodseq;
		v->flags = m->flags;
		v->keywords = m->keywords;
		v->modseq = m->modseq;
	}
	view_refresh(mb);
	return 0;
}

int
mailbox_store_flags(struct mailbox *mb, const uint32_t *seqs, size_t n,
		    enum store_flag_op op, unsigned int flags,
		    const char *const *keywords)
{
	size_t nf;

	return store_flags(mb, seqs, n, op, flags, keywords, false, 0, &nf);
}

int
mailbox_store_flags_cond(struct mailbox *mb, const uint32_t *seqs, size_t n,
			 enum store_flag_op op, unsigned int flags,
			 const char *const *keywords, uint64_t unchangedsince,
			 const uint32_t **failed_uids, size_t *n_failed)
{
	int r = store_flags(mb, seqs, n, op, flags, keywords, true,
			    unchangedsince, n_failed);

	*failed_uids = mb->failed;
	return r;
}

int
mailbox_expunged_since(struct mailbox *mb, uint64_t since,
		       const uint32_t **uids, size_t *n, bool *complete)
{
	struct fbox *b = mb_box(mb);
	size_t k = 0;

	if (b == NULL)
		return fail(mb->s, STORE_ERR_NONEXISTENT, "gone");
	free(mb->vanished);
	mb->vanished = xcalloc(b->n_tombs + 1, sizeof(uint32_t));
	/* tombstones are in modseq order, and so in UID order here */
	for (size_t i = 0; i < b->n_tombs; i++)
		if (b->tombs[i].modseq > since)
			mb->vanished[k++] = b->tombs[i].uid;
	qsort(mb->vanished, k, sizeof(uint32_t), cmp_uid);
	*uids = mb->vanished;
	*n = k;
	*complete = since >= b->tomb_floor;
	return 0;
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n)
{
	struct fbox *b = mb_box(mb);

	if (b == NULL)
		return fail(mb->s, STORE_ERR_NONEXISTENT, "gone");
	for (size_t i = b->n; i-- > 0; ) {
		bool in = uids == NULL;

		for (size_t k = 0; k < n && !in; k++)
			in = uids[k] == b->msgs[i].uid;
		if (in && (b->msgs[i].flags & STORE_F_DELETED) != 0)
			box_remove(b, b->msgs[i].uid);
	}
	return 0;
}

int
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
	     const char *dest, bool move, uint32_t *uidvalidity,
	     uint32_t *src_uids, uint32_t *dst_uids)
{
	struct fbox *b = mb_box(mb), *d = find_box(dest);

	if (d == NULL || !d->exists)
		return fail(mb->s, STORE_ERR_TRYCREATE, "no such mailbox");
	if (b == NULL)
		return fail(mb->s, STORE_ERR_NONEXISTENT, "gone");
	for (size_t i = 0; i < n; i++) {
		struct fmsg *m = box_msg(b, mb->msgs[seqs[i] - 1].uid);
		struct fmsg *c;
		uint32_t uid;

		if (m == NULL)
			return fail(mb->s, STORE_ERR_EXPUNGED, "gone");
		/* d may be b: box_append can move b->msgs. */
		struct fmsg copy = *m;

		c = box_append(d);
		uid = c->uid;
		*c = copy;
		c->uid = uid;
		c->data = copy.data != NULL ? xstrdup(copy.data) : NULL;
		src_uids[i] = copy.uid;
		dst_uids[i] = uid;
	}
	if (move) {
		for (size_t i = 0; i < n; i++)
			box_remove(b, src_uids[i]);
	}
	*uidvalidity = d->uidvalidity;
	return 0;
}

unsigned int
fake_store_msg_opens(void)
{
	return fs.msg_opens;
}

static struct fcache *
cache_find(const struct fbox *b, uint32_t uid, enum store_cache_kind kind)
{
	for (size_t i = 0; i < fs.n_caches; i++)
		if (fs.caches[i].uid == uid && fs.caches[i].kind == kind &&
		    str_eq(fs.caches[i].box, b->name))
			return &fs.caches[i];
	return NULL;
}

/* Stores the value of (b, m, kind), stamped with m's size. */
static void
cache_store(const struct fbox *b, const struct fmsg *m,
	    enum store_cache_kind kind, const void *data, size_t len)
{
	struct fcache *c;

	if ((c = cache_find(b, m->uid, kind)) == NULL) {
		fs.caches = xreallocarray(fs.caches, fs.n_caches + 1,
					  sizeof(*fs.caches));
		c = &fs.caches[fs.n_caches++];
		c->box = xstrdup(b->name);
		c->uid = m->uid;
		c->kind = kind;
		c->data = NULL;
	}
	free(c->data);
	c->data = xmalloc(len > 0 ? len : 1);
	memcpy(c->data, data, len);
	c->len = len;
	c->size = m->size;
}

void
fake_store_cache_set_kind(const char *box, uint32_t uid,
			  enum store_cache_kind kind, const void *data,
			  size_t len)
{
	struct fbox *b = find_box(box);
	struct fmsg *m = NULL;

	if (b == NULL || (m = box_msg(b, uid)) == NULL)
		abort();	/* a test's mistake */
	cache_store(b, m, kind, data, len);
}

void
fake_store_cache_set(const char *box, uint32_t uid, const void *data,
		     size_t len)
{
	fake_store_cache_set_kind(box, uid, STORE_CACHE_STRUCT, data, len);
}

int
mailbox_msg_cache_get(struct mailbox *mb, enum store_cache_kind kind,
		      uint32_t seq, void *buf, size_t cap, size_t *len)
{
	struct fbox *b = mb_box(mb);
	struct fmsg *m;
	struct fcache *c;

	*len = 0;
	if (seq == 0 || seq > mb->n || b == NULL || kind >= STORE_CACHE_KINDS)
		return fail(mb->s, STORE_ERR_SERVERBUG, "bad seq");
	m = box_msg(b, mb->msgs[seq - 1].uid);
	c = cache_find(b, mb->msgs[seq - 1].uid, kind);
	if (m == NULL || c == NULL || c->size != m->size || c->len > cap ||
	    (kind == STORE_CACHE_STRUCT && fs.fetch_cache_off) ||
	    (kind == STORE_CACHE_SORT && fs.sort_cache_off))
		return 1;
	memcpy(buf, c->data, c->len);
	*len = c->len;
	return 0;
}

int
mailbox_msg_cache_put(struct mailbox *mb, enum store_cache_kind kind,
		      uint32_t seq, const void *data, size_t len)
{
	struct fbox *b = mb_box(mb);
	struct fmsg *m;

	if (seq == 0 || seq > mb->n || b == NULL || len > STORE_CACHE_MAX ||
	    kind >= STORE_CACHE_KINDS)
		return fail(mb->s, STORE_ERR_SERVERBUG, "bad seq");
	m = box_msg(b, mb->msgs[seq - 1].uid);
	if (m == NULL)
		return fail(mb->s, STORE_ERR_EXPUNGED, "gone");
	cache_store(b, m, kind, data, len);
	return 0;
}

int
mailbox_msg_cache_put_n(struct mailbox *mb, enum store_cache_kind kind,
			const struct store_cache_put *puts, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (mailbox_msg_cache_put(mb, kind, puts[i].seq, puts[i].data,
					  puts[i].len) < 0)
			r = -1;
	return r;
}

/* No full-text index here: SEARCH scans (lib/storage/store-fts.c is
 * tested through moatd, tests/integration/test_fts.py). */
int
mailbox_fts_fill(struct mailbox *mb, size_t max_msgs, unsigned max_ms,
		 bool *more)
{
	(void)mb;
	(void)max_msgs;
	(void)max_ms;
	*more = false;
	return 0;
}

int
mailbox_fts_search(struct mailbox *mb, struct mailbox_fts_query *q,
		   size_t nq, uint32_t **unindexed, size_t *n_unindexed)
{
	(void)mb;
	for (size_t i = 0; i < nq; i++) {
		q[i].uids = NULL;
		q[i].n = 0;
	}
	*unindexed = NULL;
	*n_unindexed = 0;
	return 1;
}

void
mailbox_fts_free(struct mailbox_fts_query *q, size_t nq,
		 uint32_t **unindexed)
{
	(void)q;
	(void)nq;
	(void)unindexed;
}

/* The fake store keeps no index on disk: nothing to make. */
void
store_index_parents(const char *index, const char *home)
{
	(void)index;
	(void)home;
}
