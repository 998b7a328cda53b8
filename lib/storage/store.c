/*
 * store: the generic part of the mail store (store.h): the location,
 * the index environment, mailbox handles, errors, keywords, STATUS and
 * APPEND. The namespace (LIST, CREATE, DELETE, RENAME, subscriptions,
 * special use) is in store-list.c, the selected view in store-view.c,
 * the change set in store-txn.c; the backends (maildir.c, mbox.c) sit
 * behind the vtable in store-private.h and only touch files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "storage/store-private.h"

static const struct store_backend *const backends[] = {
	&maildir_backend,
#ifdef STORE_WITH_MBOX
	&mbox_backend,
#endif
};

/* ---- errors -------------------------------------------------------- */

void
store_set_error(struct store *s, enum store_error_code code,
		const char *fmt, ...)
{
	va_list ap;

	s->err.code = code;
	va_start(ap, fmt);
	vsnprintf(s->err.detail, sizeof(s->err.detail), fmt, ap);
	va_end(ap);
}

enum store_error_code
store_errno_code(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return STORE_ERR_OVERQUOTA;
	case EACCES:
	case EPERM:
	case EROFS:
		return STORE_ERR_NOPERM;
	case ENOENT:
		return STORE_ERR_NONEXISTENT;
	case EEXIST:
	case ENOTEMPTY:
		return STORE_ERR_EXISTS;
	case ELOOP:
	case ENOTDIR:
	case ENAMETOOLONG:
	case EXDEV:
		return STORE_ERR_CANNOT;
	case EMLINK:
	case EFBIG:
	case EMFILE:
	case ENFILE:
		return STORE_ERR_LIMIT;
	case EAGAIN:
	case EBUSY:
		return STORE_ERR_INUSE;
	default:
		return STORE_ERR_SERVERBUG;
	}
}

void
store_set_errno(struct store *s, int e, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	store_set_error(s, store_errno_code(e), "%s: %s", what, strerror(e));
}

void
store_set_idx_error(struct store *s, int status, const char *what)
{
	enum store_error_code code;

	switch (status) {
	case IDX_NOSPACE:
		code = STORE_ERR_OVERQUOTA;
		break;
	case IDX_LIMIT:
		code = STORE_ERR_LIMIT;
		break;
	case IDX_NOTFOUND:
		code = STORE_ERR_NONEXISTENT;
		break;
	case IDX_EXISTS:
		code = STORE_ERR_EXISTS;
		break;
	case IDX_REBUILT:
		/* Every mailbox id we hold is stale now. */
		s->index_gen++;
		code = STORE_ERR_TEMP;
		break;
	case IDX_BUSY:
	case IDX_FAILED:
	case IDX_RETRY:
		code = STORE_ERR_TEMP;
		break;
	default:
		code = STORE_ERR_SERVERBUG;
		break;
	}
	store_set_error(s, code, "index: %s: %s", what, idx_strerror(status));
}

const struct store_error *
store_error(const struct store *s)
{
	return &s->err;
}

/* ---- small helpers ------------------------------------------------- */

struct store *
store_of(const struct mailbox *box)
{
	return box->store;
}

unsigned
store_flags_apply(enum store_flag_op op, unsigned old, unsigned flags)
{
	switch (op) {
	case STORE_FLAGS_SET:
		return flags & IDX_F_ALL;
	case STORE_FLAGS_ADD:
		return (old | flags) & IDX_F_ALL;
	case STORE_FLAGS_REMOVE:
		return old & ~flags & IDX_F_ALL;
	}
	return old;
}

uint64_t
store_keywords_apply(enum store_flag_op op, uint64_t old, uint64_t kw)
{
	switch (op) {
	case STORE_FLAGS_SET:
		return kw;
	case STORE_FLAGS_ADD:
		return old | kw;
	case STORE_FLAGS_REMOVE:
		return old & ~kw;
	}
	return old;
}

const char *
store_keyword_name(const struct mailbox *box, unsigned id)
{
	return id < box->n_keywords ? box->keywords[id] : NULL;
}

int
store_openat_dir(int dirfd, const char *rel)
{
	char comp[256];
	const char *p = rel;
	int fd = dirfd, next;

	if (*p == '\0' || *p == '/') {
		errno = EINVAL;
		return -1;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 0 || n >= sizeof(comp) ||
		    (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			if (fd != dirfd)
				close(fd);
			errno = EINVAL;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != dirfd) {
			int e = errno;

			close(fd);
			errno = e;
		}
		if (next < 0)
			return -1;
		fd = next;
		p += n;
		if (*p == '/')
			p++;
	}
	return fd;
}

int
store_fsync(const struct store *s, int fd)
{
	if (!s->set.fsync)
		return 0;
	return fsync(fd);
}

/* ---- location ---------------------------------------------------- */

/* Expands %u (the user, which must be a plain file name) and %%. */
static char *
expand_user(const char *spec, const char *user, struct store_error *err)
{
	struct buf *b = buf_new(4096);
	char *out = NULL;

	for (const char *p = spec; *p != '\0'; p++) {
		int r;

		if (*p != '%') {
			r = buf_append_byte(b, (uint8_t)*p);
		} else if (p[1] == '%') {
			r = buf_append_byte(b, '%');
			p++;
		} else if (p[1] == 'u') {
			if (user == NULL || *user == '\0' ||
			    strchr(user, '/') != NULL || str_eq(user, ".") ||
			    str_eq(user, "..")) {
				snprintf(err->detail, sizeof(err->detail),
					 "mail location: %%u needs a user name "
					 "usable as a file name");
				goto out;
			}
			r = buf_append_str(b, user);
			p++;
		} else {
			snprintf(err->detail, sizeof(err->detail),
				 "mail location: unknown variable %%%c",
				 p[1] == '\0' ? ' ' : p[1]);
			goto out;
		}
		if (r < 0) {
			snprintf(err->detail, sizeof(err->detail),
				 "mail location too long");
			goto out;
		}
	}
	out = xstrdup(buf_str(b));
out:
	buf_free(&b);
	return out;
}

/* Splits "KIND:PATH[:KEY=VALUE]..." in place. */
static int
location_parse(char *spec, const struct store_backend **bep,
	       struct store_location *loc, struct store_error *err)
{
	char *kind = spec, *p = strchr(spec, ':');
	const struct store_backend *be = NULL;

	memset(loc, 0, sizeof(*loc));
	if (p == NULL) {
		snprintf(err->detail, sizeof(err->detail),
			 "mail location has no kind (maildir:PATH or "
			 "mbox:PATH)");
		return -1;
	}
	*p++ = '\0';
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (str_eq(backends[i]->name, kind))
			be = backends[i];
	if (be == NULL) {
		snprintf(err->detail, sizeof(err->detail),
			 "mail location: unknown kind \"%.32s\"", kind);
		return -1;
	}
	loc->path = p;
	if ((p = strchr(p, ':')) != NULL)
		*p++ = '\0';
	if (loc->path[0] != '/') {
		snprintf(err->detail, sizeof(err->detail),
			 "mail location: the path must be absolute");
		return -1;
	}
	while (p != NULL) {
		char *kv = p, *eq;

		if ((p = strchr(p, ':')) != NULL)
			*p++ = '\0';
		if ((eq = strchr(kv, '=')) == NULL || eq == kv) {
			snprintf(err->detail, sizeof(err->detail),
				 "mail location: parameter \"%.32s\" is not "
				 "KEY=VALUE", kv);
			return -1;
		}
		*eq = '\0';
		for (size_t i = 0; i < loc->n_params; i++)
			if (str_eq(loc->params[i].key, kv)) {
				snprintf(err->detail, sizeof(err->detail),
					 "mail location: %.32s given twice",
					 kv);
				return -1;
			}
		if (loc->n_params == STORE_LOCATION_PARAMS_MAX) {
			snprintf(err->detail, sizeof(err->detail),
				 "mail location: too many parameters");
			return -1;
		}
		loc->params[loc->n_params].key = kv;
		loc->params[loc->n_params].value = eq + 1;
		loc->n_params++;
	}
	*bep = be;
	return 0;
}

/* ---- the store ----------------------------------------------------- */

enum store_kind
store_kind(const struct store *s)
{
	return s->be->kind;
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
	if (s->env != NULL)
		idx_env_tick(s->env);
}

bool
store_release_index(struct store *s)
{
	return s->env != NULL && idx_env_release(s->env);
}

bool
store_needs_lock_helper(const struct store_settings *set)
{
	struct store_location loc;
	const struct store_backend *be;
	struct store_error err;
	char *spec;
	bool need = false;

	if (set->location == NULL || str_has_ctl(set->location))
		return false;
	if ((spec = expand_user(set->location, set->user, &err)) == NULL)
		return false;
	if (location_parse(spec, &be, &loc, &err) == 0 &&
	    be->needs_lock_helper != NULL)
		need = be->needs_lock_helper(&loc);
	free(spec);
	return need;
}

int
store_open(const struct store_settings *set, struct store **out,
	   struct store_error *err)
{
	struct store_location loc;
	const struct store_backend *be;
	struct store *s;
	char *spec;
	bool rebuilt = false;
	int r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	err->code = STORE_ERR_SERVERBUG;
	if (set->location == NULL || set->index_dir == NULL ||
	    str_has_ctl(set->location) || str_has_ctl(set->index_dir)) {
		str_copy(err->detail, "store: no usable mail location or "
			 "index directory", sizeof(err->detail));
		return -1;
	}
	if ((spec = expand_user(set->location, set->user, err)) == NULL)
		return -1;
	if (location_parse(spec, &be, &loc, err) < 0) {
		free(spec);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->be = be;
	s->root_fd = -1;
	s->location = spec;
	s->set = *set;
	s->set.location = xstrdup(set->location);
	s->set.index_dir = NULL;
	s->set.user = set->user != NULL ? xstrdup(set->user) : NULL;
	s->index_gen = 1;
	s->set.index_dir = expand_user(set->index_dir, set->user, err);
	if (s->set.index_dir == NULL)
		goto fail;
	if (s->be->init(s, &loc) < 0) {
		*err = s->err;
		goto fail;
	}
	r = idx_env_open(s->set.index_dir, NULL, &s->env, &rebuilt);
	if (r != IDX_OK) {
		store_set_idx_error(s, r, s->set.index_dir);
		*err = s->err;
		goto fail;
	}
	{
		struct idx_stats st;

		idx_env_stats(s->env, &st);
		s->seen_rebuilds = st.rebuilds;
	}
	if (rebuilt)
		log_info("store: index %s was rebuilt; mailboxes resync from "
			 "their files", s->set.index_dir);
	store_fts_open(s);
	*out = s;
	return 0;
fail:
	store_free(&s);
	return -1;
}

void
store_free(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	if (s->be != NULL && s->be->deinit != NULL)
		s->be->deinit(s);
	store_box_drop_target(s);
	if (s->root_fd >= 0)
		close(s->root_fd);
	idx_env_close(&s->env);
	free(s->root);
	free(s->location);
	free((char *)s->set.location);
	free((char *)s->set.index_dir);
	free((char *)s->set.user);
	free(s);
}

/* ---- mailbox handles ------------------------------------------------ */

void
store_gen_refresh(struct store *s)
{
	struct idx_stats st;

	idx_env_stats(s->env, &st);
	if (st.rebuilds != s->seen_rebuilds) {
		s->seen_rebuilds = st.rebuilds;
		s->index_gen++;
	}
}

int
store_box_current(struct mailbox *box)
{
	store_gen_refresh(box->store);
	if (box->index_gen == box->store->index_gen)
		return 0;
	store_set_error(box->store, STORE_ERR_TEMP,
			"the index was rebuilt: %s must be synced first",
			box->name);
	return -1;
}

struct box_rec_ctx {
	const char *name;
	uint32_t uidvalidity;
	bool create;
	bool created;
	struct idx_mbox rec;
};

static int
box_rec_cb(struct idx_txn *txn, void *vctx)
{
	struct box_rec_ctx *c = vctx;
	int r;

	c->created = false;
	r = idx_mbox_get(txn, c->name, &c->rec);
	if (r != IDX_NOTFOUND || !c->create)
		return r;
	r = idx_mbox_create(txn, c->name, c->uidvalidity, &c->rec);
	if (r == IDX_OK)
		c->created = true;
	return r;
}

/* Finds (or creates) box's index record; *fresh when created now. */
static int
box_resolve(struct mailbox *box, bool *fresh)
{
	struct store *s = box->store;
	struct box_rec_ctx c = { .name = box->name };
	int r;

	*fresh = false;
	r = idx_txn_run(s->env, IDX_TXN_READ, box_rec_cb, &c);
	if (r == IDX_NOTFOUND) {
		if (s->be->import_uidvalidity != NULL &&
		    s->be->import_uidvalidity(box, &c.uidvalidity) < 0) {
			log_warn("store: %s: %s (UIDVALIDITY not imported)",
				 box->name, s->err.detail);
			c.uidvalidity = 0;
		}
		if (c.uidvalidity >= STORE_UIDVALIDITY_IMPORT_LIMIT) {
			log_warn("store: %s: the UIDVALIDITY %u another "
				 "server left is too high; not imported",
				 box->name, c.uidvalidity);
			c.uidvalidity = 0;
		}
		c.create = true;
		r = idx_txn_run(s->env, 0, box_rec_cb, &c);
		*fresh = c.created;
	}
	if (r != IDX_OK) {
		store_set_idx_error(s, r, box->name);
		return -1;
	}
	box->id = c.rec.id;
	box->rec = c.rec;
	box->index_gen = s->index_gen;
	return 0;
}

int
store_box_get(struct store *s, const char *name, bool readonly,
	      struct mailbox **out)
{
	struct mailbox *box;
	bool fresh;

	*out = NULL;
	if (strlen(name) > IDX_NAME_MAX) {
		store_set_error(s, STORE_ERR_NONEXISTENT, "name too long");
		return -1;
	}
	store_gen_refresh(s);
	box = xcalloc(1, sizeof(*box));
	box->store = s;
	box->name = xstrdup(name);
	box->readonly = readonly;
	if (s->be->box_open(box) < 0 || box_resolve(box, &fresh) < 0 ||
	    store_box_load_keywords(box) < 0)
		goto fail;
	if (fresh && store_box_sync(box, STORE_TXN_FORCED | STORE_TXN_FRESH)
	    < 0)
		goto fail;
	*out = box;
	return 0;
fail:
	store_box_free(&box);
	return -1;
}

static void
keywords_clear(struct mailbox *box)
{
	for (size_t i = 0; i < box->n_keywords; i++)
		free(box->keywords[i]);
	box->n_keywords = 0;
}

void
store_box_free(struct mailbox **bp)
{
	struct mailbox *box = *bp;

	if (box == NULL)
		return;
	*bp = NULL;
	if (box->store->be->box_close != NULL)
		box->store->be->box_close(box);
	keywords_clear(box);
	arr_free(&box->msgs);
	arr_free(&box->ch_expunged);
	arr_free(&box->ch_expunged_uids);
	arr_free(&box->ch_flags);
	arr_free(&box->cond_failed);
	arr_free(&box->vanished_since);
	arr_free(&box->fts_skip);
	store_box_info_flush(box);
	arr_free(&box->win_recs);
	arr_free(&box->win_arena);
	arr_free(&box->win_exact);
	for (int k = 0; k < STORE_CACHE_KINDS; k++) {
		arr_free(&box->cwin[k].ents);
		arr_free(&box->cwin[k].arena);
	}
	free(box->name);
	free(box);
}

int
store_box_sync(struct mailbox *box, unsigned flags)
{
	struct store *s = box->store;

	for (int attempt = 0;; attempt++) {
		struct store_txn *t;
		int r;

		store_gen_refresh(s);
		if (box->index_gen != s->index_gen) {
			/* The index was rebuilt under us: find the record
			 * again (a fresh one means a full resync). */
			bool fresh;

			if (box_resolve(box, &fresh) < 0)
				return -1;
			if (fresh)
				flags |= STORE_TXN_FORCED | STORE_TXN_FRESH;
			else
				flags |= STORE_TXN_FORCED;
			if (store_box_load_keywords(box) < 0)
				return -1;
		}
		if (box->readonly)
			flags |= STORE_TXN_READONLY;
		if ((t = store_txn_begin(box, flags)) == NULL)
			return -1;
		s->txn_stale = false;
		r = s->be->sync(box, t);
		if (r == 0 && store_txn_pending(t))
			r = store_txn_commit(t);
		store_txn_free(&t);
		if (r == 0)
			return 0;
		/* Reset by another session between our scan and commit:
		 * scan again against the new record. */
		if (!s->txn_stale || attempt >= 2)
			return -1;
		flags |= STORE_TXN_FORCED;
	}
}

/* ---- administration ---------------------------------------------------- */

int
store_mailbox_check(struct store *s, const char *name, bool repair,
		    struct store_check *out)
{
	size_t loaded = 0, news = 0, changes = 0, vanished = 0;
	struct mailbox *box = NULL;
	struct store_txn *t;
	int r;

	memset(out, 0, sizeof(*out));
	if (store_box_get(s, name, !repair, &box) < 0)
		return -1;
	t = store_txn_begin(box, STORE_TXN_FORCED | (repair ? 0 :
			    STORE_TXN_READONLY | STORE_TXN_DRYRUN));
	if (t == NULL) {
		store_box_free(&box);
		return -1;
	}
	r = s->be->sync(box, t);
	if (r == 0) {
		store_txn_counts(t, &loaded, &news, &changes, &vanished);
		out->indexed = (uint32_t)loaded;
		out->missing = (uint32_t)news;
		out->changed = (uint32_t)changes;
		out->vanished = (uint32_t)vanished;
		if (repair && store_txn_pending(t))
			r = store_txn_commit(t);
	}
	store_txn_free(&t);
	store_box_free(&box);
	return r;
}

int
store_index_reset(struct store *s)
{
	int r;

	if (s->selected != NULL) {
		store_set_error(s, STORE_ERR_SERVERBUG, "index reset with a "
				"mailbox selected");
		return -1;
	}
	store_box_free(&s->target);
	r = idx_env_reset(s->env);
	if (r == IDX_BUSY) {
		store_set_error(s, STORE_ERR_INUSE, "other processes have "
				"the index open");
		return -1;
	}
	if (r != IDX_OK) {
		store_set_idx_error(s, r, "index reset");
		return -1;
	}
	store_gen_refresh(s);
	return 0;
}

/* ---- keywords -------------------------------------------------------- */

struct kw_ctx {
	struct mailbox *box;
	char *names[IDX_KEYWORDS_MAX];
	const char *name;
	unsigned id;
};

static void
kw_ctx_clear(struct kw_ctx *c)
{
	for (size_t i = 0; i < IDX_KEYWORDS_MAX; i++) {
		free(c->names[i]);
		c->names[i] = NULL;
	}
}

static int
kw_list_cb(unsigned kw, const char *name, void *vctx)
{
	struct kw_ctx *c = vctx;

	if (kw < IDX_KEYWORDS_MAX && c->names[kw] == NULL)
		c->names[kw] = xstrdup(name);
	return 0;
}

static int
kw_load_cb(struct idx_txn *txn, void *vctx)
{
	struct kw_ctx *c = vctx;

	kw_ctx_clear(c);
	return idx_kw_list(txn, c->box->id, kw_list_cb, c);
}

int
store_box_load_keywords(struct mailbox *box)
{
	struct kw_ctx c;
	size_t n = 0;
	int r;

	memset(&c, 0, sizeof(c));
	c.box = box;
	r = idx_txn_run(box->store->env, IDX_TXN_READ, kw_load_cb, &c);
	if (r != IDX_OK) {
		kw_ctx_clear(&c);
		store_set_idx_error(box->store, r, box->name);
		return -1;
	}
	/* Ids are dense from 0; a hole (should not happen) gets a
	 * placeholder so that ids and names stay aligned. */
	for (size_t i = 0; i < IDX_KEYWORDS_MAX; i++)
		if (c.names[i] != NULL)
			n = i + 1;
	if (n != box->n_keywords)
		box->keywords_changed = true;
	keywords_clear(box);
	for (size_t i = 0; i < n; i++) {
		box->keywords[i] = c.names[i] != NULL ? c.names[i] :
				   xasprintf("$MoatUnknown%zu", i);
		c.names[i] = NULL;
	}
	box->n_keywords = n;
	kw_ctx_clear(&c);
	return 0;
}

static int
kw_intern_cb(struct idx_txn *txn, void *vctx)
{
	struct kw_ctx *c = vctx;

	return idx_kw_intern(txn, c->box->id, c->name, &c->id);
}

int
store_box_keyword(struct mailbox *box, const char *name, unsigned *id)
{
	struct kw_ctx c;
	int r;

	for (size_t i = 0; i < box->n_keywords; i++)
		if (str_eq_ci(box->keywords[i], name)) {
			*id = (unsigned)i;
			return 0;
		}
	if (strlen(name) > IDX_KEYWORD_LEN_MAX) {
		store_set_error(box->store, STORE_ERR_LIMIT,
				"keyword longer than %d bytes",
				IDX_KEYWORD_LEN_MAX);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.box = box;
	c.name = name;
	r = idx_txn_run(box->store->env, 0, kw_intern_cb, &c);
	if (r != IDX_OK) {
		store_set_idx_error(box->store, r, name);
		if (r == IDX_LIMIT)
			store_set_error(box->store, STORE_ERR_LIMIT,
					"more than %d keywords in %s",
					IDX_KEYWORDS_MAX, box->name);
		return -1;
	}
	*id = c.id;
	return store_box_load_keywords(box);
}

/* Keyword names (NULL-terminated) to a bitmap in box. */
int
store_box_keyword_mask(struct mailbox *box, const char *const *names,
		       uint64_t *mask)
{
	*mask = 0;
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		unsigned id;

		if (store_box_keyword(box, names[i], &id) < 0)
			return -1;
		*mask |= UINT64_C(1) << id;
	}
	return 0;
}

/* ---- STATUS ------------------------------------------------------------ */

struct status_ctx {
	uint32_t id;
	struct idx_mbox rec;
	uint32_t recent;
};

static int
status_msg_cb(uint32_t uid, const struct idx_msg *m, void *vctx)
{
	struct status_ctx *c = vctx;

	(void)uid;
	(void)m;
	c->recent++;
	return 0;
}

static int
status_cb(struct idx_txn *txn, void *vctx)
{
	struct status_ctx *c = vctx;
	int r;

	c->recent = 0;
	if ((r = idx_mbox_get_by_id(txn, c->id, NULL, 0, &c->rec)) != IDX_OK)
		return r;
	if (c->rec.recent_uid >= c->rec.uidnext)
		return IDX_OK;
	return idx_msg_foreach(txn, c->id, c->rec.recent_uid,
			       c->rec.uidnext - 1, status_msg_cb, c);
}

int
store_status(struct store *s, const char *name, struct store_status *st)
{
	struct mailbox *box;
	struct status_ctx c;
	int r;

	memset(st, 0, sizeof(*st));
	if (store_box_get(s, name, true, &box) < 0)
		return -1;
	if (store_box_sync(box, 0) < 0) {
		store_box_free(&box);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.id = box->id;
	r = idx_txn_run(s->env, IDX_TXN_READ, status_cb, &c);
	store_box_free(&box);
	if (r != IDX_OK) {
		store_set_idx_error(s, r, name);
		return -1;
	}
	st->messages = c.rec.messages;
	st->recent = c.recent;
	st->unseen = c.rec.unseen;
	st->uidnext = c.rec.uidnext;
	st->uidvalidity = c.rec.uidvalidity;
	st->highestmodseq = c.rec.highestmodseq;
	st->size = c.rec.size;
	st->deleted = c.rec.deleted;
	return 0;
}

/* ---- APPEND ------------------------------------------------------------ */

/* APPEND/COPY targets: the last one is kept open (its directories, its
 * index record and keywords), checked with the backend's box_valid
 * before each reuse, so that a run of APPENDs does not reopen the
 * folder each time. */
int
store_box_get_target(struct store *s, const char *name,
		     struct mailbox **out)
{
	struct mailbox *c = s->target;

	if (c != NULL && str_eq(c->name, name) &&
	    c->index_gen == s->index_gen && s->be->box_valid != NULL &&
	    s->be->box_valid(c)) {
		s->target = NULL;
		*out = c;
		return 0;
	}
	if (store_box_get(s, name, true, out) == 0)
		return 0;
	if (s->err.code == STORE_ERR_NONEXISTENT)
		s->err.code = STORE_ERR_TRYCREATE;
	return -1;
}

void
store_box_put_target(struct store *s, struct mailbox **box)
{
	if (*box == NULL)
		return;
	if (s->be->box_valid == NULL) {
		store_box_free(box);
		return;
	}
	store_box_info_flush(*box);
	store_box_free(&s->target);
	s->target = *box;
	*box = NULL;
}

void
store_box_drop_target(struct store *s)
{
	store_box_free(&s->target);
}

int
store_append(struct store *s, const char *name,
	     const struct store_new_msg *msgs, size_t n,
	     uint32_t *uidvalidity, uint32_t *uids)
{
	struct mailbox *box = NULL;
	struct store_txn *t = NULL;
	uint64_t *kw = NULL;
	const uint32_t *got;
	size_t ngot;
	int ret = -1;

	if (n == 0) {
		store_set_error(s, STORE_ERR_SERVERBUG, "append of nothing");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (s->set.max_message_size != 0 &&
		    msgs[i].len > s->set.max_message_size) {
			store_set_error(s, STORE_ERR_LIMIT,
					"message of %zu bytes is over the "
					"limit", msgs[i].len);
			return -1;
		}
	if (store_box_get_target(s, name, &box) < 0)
		return -1;
	kw = xcalloc(n, sizeof(*kw));
	for (size_t i = 0; i < n; i++)
		if (store_box_keyword_mask(box, msgs[i].keywords, &kw[i]) < 0)
			goto out;
	if ((t = store_txn_begin(box, STORE_TXN_READONLY)) == NULL)
		goto out;
	if (s->be->append(box, msgs, kw, n, t) < 0)
		goto out;
	got = store_txn_uids(t, &ngot);
	if (ngot != n) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"append recorded %zu of %zu messages", ngot,
				n);
		goto out;
	}
	memcpy(uids, got, n * sizeof(*uids));
	*uidvalidity = box->rec.uidvalidity;
	/* In a transaction of its own, after the messages are recorded:
	 * a crash between leaves them only unindexed. */
	store_fts_index_new(box, uids, n);
	ret = 0;
out:
	store_txn_free(&t);
	free(kw);
	store_box_put_target(s, &box);
	return ret;
}

void
store_index_parents(const char *index, const char *home)
{
	size_t hlen = strlen(home), len = strlen(index);
	char *path;

	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	if (len <= hlen + 1 || strncmp(index, home, hlen) != 0 ||
	    index[hlen] != '/')
		return;
	path = xstrdup(index);
	for (size_t i = hlen + 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			log_warn("Creating %s: %m", path);
		path[i] = '/';
	}
	free(path);
}
