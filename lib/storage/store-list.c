/*
 * store-list: the mailbox namespace (store.h "Mailbox namespace"):
 * LIST data with \Noselect parents and \HasChildren, CREATE, DELETE and
 * RENAME with the hierarchy rules of RFC 9051 §6.3.4-6.3.6, INBOX
 * rename, subscriptions and special-use attributes.
 *
 * Subscriptions live in the store root in Dovecot's format, so a user
 * switching between Dovecot and Moat keeps them: version 1 is one
 * storage name per line (components in modified UTF-7, separated by
 * the store's own separator: '.' for Maildir++, '/' for mbox); version
 * 2 starts "V\t2\n\n" and separates components with TAB, each with
 * \001-escapes for \001, TAB, CR and LF. A file we create is version 1
 * (what Dovecot writes unless the file is already version 2); an
 * existing file keeps its version and every line we do not change.
 * Writers take "<file>.lock" (O_EXCL; Dovecot's dotlock name, stale
 * after 30 s), write the new contents into it, fsync and rename it over
 * the file, as Dovecot's file_dotlock_replace does.
 *
 * Special-use attributes (RFC 6154) are kept the same way in
 * moat-special-use: lines "<Attr>\t<UTF-8 name>" (Attr one of Drafts,
 * Sent, Trash, Junk, Archive).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fdio.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "storage/store-private.h"

#define LINEFILE_MAX (1024 * 1024)
#define LOCK_STALE_SECS 30
#define LOCK_WAIT_MS 3000

typedef ARRAY(char *) strarr;

/* A backend that names no files gets dot files (never mailbox names). */
static const char *
subs_file(const struct store *s)
{
	return s->be->subscriptions_file != NULL ?
	       s->be->subscriptions_file : ".subscriptions";
}

static const char *
special_file(const struct store *s)
{
	return s->be->special_use_file != NULL ? s->be->special_use_file :
	       ".moat-special-use";
}

static void
strarr_free(strarr *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	arr_free(a);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
strarr_has(const strarr *a, const char *name)
{
	return a->n > 0 && bsearch(&name, a->v, a->n, sizeof(char *),
				   cmp_str) != NULL;
}

/* First index whose name is >= key. */
static size_t
lower_bound(char *const *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does any name in sorted v[] lie below parent in the hierarchy? */
static bool
has_child(char *const *v, size_t n, const char *parent)
{
	size_t plen = strlen(parent), i;
	char *key = xasprintf("%s%c", parent, STORE_SEPARATOR);

	i = lower_bound(v, n, key);
	free(key);
	return i < n && strncmp(v[i], parent, plen) == 0 &&
	       v[i][plen] == STORE_SEPARATOR;
}

static int
collect_cb(struct store *s, const char *name, void *ctx)
{
	strarr *a = ctx;

	(void)s;
	arr_push(a, xstrdup(name));
	return 0;
}

/* The mailboxes on disk, sorted, unique. */
static int
names_load(struct store *s, strarr *out)
{
	size_t w = 0;

	memset(out, 0, sizeof(*out));
	if (s->be->list(s, collect_cb, out) < 0) {
		strarr_free(out);
		return -1;
	}
	store_qsort(out->v, out->n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < out->n; i++) {
		if (w > 0 && str_eq(out->v[w - 1], out->v[i]))
			free(out->v[i]);
		else
			out->v[w++] = out->v[i];
	}
	out->n = w;
	return 0;
}

/* ---- line files (subscriptions, special use) ---------------------------- */

/* Reads a whole small file under the root; *data = NULL if absent. */
static int
linefile_read(struct store *s, const char *file, char **data, size_t *len)
{
	struct buf *b;
	int fd;

	*data = NULL;
	*len = 0;
	fd = openat(s->root_fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		store_set_errno(s, errno, "open %s", file);
		return -1;
	}
	b = buf_new(LINEFILE_MAX);
	for (;;) {
		uint8_t *p = buf_reserve(b, 8192);
		ssize_t r;

		if (p == NULL) {
			store_set_error(s, STORE_ERR_LIMIT, "%s is over %d "
					"bytes", file, LINEFILE_MAX);
			goto fail;
		}
		r = read(fd, p, 8192);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			store_set_errno(s, errno, "read %s", file);
			goto fail;
		}
		if (r == 0)
			break;
		buf_commit(b, (size_t)r);
	}
	close(fd);
	*len = buf_len(b);
	*data = xmalloc(*len + 1);
	memcpy(*data, buf_data(b), *len);
	(*data)[*len] = '\0';
	buf_free(&b);
	return 0;
fail:
	close(fd);
	buf_free(&b);
	return -1;
}

/* Takes "<file>.lock" (created O_EXCL); returns its fd. */
static int
linefile_lock(struct store *s, const char *file, char *lock, size_t cap)
{
	int waited = 0;

	snprintf(lock, cap, "%s.lock", file);
	for (;;) {
		struct stat st;
		int fd = openat(s->root_fd, lock,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				O_CLOEXEC, 0600);

		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			store_set_errno(s, errno, "create %s", lock);
			return -1;
		}
		if (fstatat(s->root_fd, lock, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
			log_warn("store: overriding stale lock %s", lock);
			(void)unlinkat(s->root_fd, lock, 0);
			continue;
		}
		if (waited >= LOCK_WAIT_MS) {
			store_set_error(s, STORE_ERR_INUSE, "%s is locked",
					file);
			return -1;
		}
		{
			unsigned ms = 10 + rand_u32() % 40;
			struct timespec ts = { 0, (long)ms * 1000000L };

			nanosleep(&ts, NULL);
			waited += (int)ms;
		}
	}
}

/* Replaces file with data (lock held as lockfd/lock). */
static int
linefile_replace(struct store *s, const char *file, int lockfd,
		 const char *lock, const struct buf *data)
{
	if (fd_write_full(lockfd, buf_data(data), buf_len(data)) < 0 ||
	    store_fsync(s, lockfd) < 0) {
		store_set_errno(s, errno, "write %s", lock);
		goto fail;
	}
	if (close(lockfd) < 0) {
		lockfd = -1;
		store_set_errno(s, errno, "close %s", lock);
		goto fail;
	}
	lockfd = -1;
	if (renameat(s->root_fd, lock, s->root_fd, file) < 0) {
		store_set_errno(s, errno, "rename %s", lock);
		goto fail;
	}
	(void)store_fsync(s, s->root_fd);
	return 0;
fail:
	if (lockfd >= 0)
		close(lockfd);
	(void)unlinkat(s->root_fd, lock, 0);
	return -1;
}

/* ---- subscriptions ------------------------------------------------------ */

static const char subs_v2_header[] = "V\t2\n\n";

static char
subs_v1_sep(const struct store *s)
{
	return s->be->kind == STORE_MAILDIR ? '.' : '/';
}

/* A subscription line to a canonical name (NULL if not usable). */
static char *
subs_decode(const struct store *s, const char *line, size_t len,
	    unsigned version)
{
	struct buf *b = buf_new(MBNAME_WIRE_MAX), *out;
	enum mbname_error err;
	char *name = NULL;

	for (size_t i = 0; i < len; i++) {
		char c = line[i];

		if (version >= 2 && c == '\t') {
			c = STORE_SEPARATOR;
		} else if (version >= 2 && c == '\001' && i + 1 < len) {
			switch (line[++i]) {
			case '1':
				c = '\001';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			default:
				goto out;
			}
		} else if (version < 2 && c == subs_v1_sep(s)) {
			c = STORE_SEPARATOR;
		}
		if (buf_append_byte(b, (uint8_t)c) < 0)
			goto out;
	}
	/* Dovecot tolerates a trailing separator (old writers). */
	if (buf_len(b) > 1 && buf_data(b)[buf_len(b) - 1] == STORE_SEPARATOR)
		buf_truncate(b, buf_len(b) - 1);
	out = buf_new(MBNAME_MAX_LEN + 1);
	if (mbname_from_wire(buf_str(b), buf_len(b), false, STORE_SEPARATOR, 0,
			     out, &err) == 0)
		name = xstrdup(buf_str(out));
	buf_free(&out);
out:
	buf_free(&b);
	return name;
}

static int
subs_encode(struct store *s, const char *name, unsigned version,
	    struct buf *out)
{
	struct buf *w = buf_new(MBNAME_WIRE_MAX);
	const char *p;
	int r = -1;

	if (mbname_to_wire(name, false, w) < 0) {
		store_set_error(s, STORE_ERR_CANNOT, "name not encodable");
		goto out;
	}
	for (p = buf_str(w); *p != '\0'; p++) {
		if (*p == STORE_SEPARATOR) {
			if (buf_append_byte(out, version >= 2 ? '\t' :
					    (uint8_t)subs_v1_sep(s)) < 0)
				goto full;
		} else if (version < 2 && *p == subs_v1_sep(s)) {
			store_set_error(s, STORE_ERR_CANNOT,
					"a name with '%c' in a level cannot "
					"be stored here", *p);
			goto out;
		} else if (buf_append_byte(out, (uint8_t)*p) < 0) {
			goto full;
		}
	}
	if (buf_append_byte(out, '\n') < 0)
		goto full;
	r = 0;
	goto out;
full:
	store_set_error(s, STORE_ERR_LIMIT, "subscriptions file too large");
out:
	buf_free(&w);
	return r;
}

/* Splits data into lines; calls fn for each (without the newline). */
static void
for_lines(const char *data, size_t len,
	  void (*fn)(const char *line, size_t n, void *ctx), void *ctx)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (data + i)) : len - i;

		if (n > 0)
			fn(data + i, n, ctx);
		i += n + 1;
	}
}

static const char *
subs_body(const char *data, size_t len, unsigned *version, size_t *blen)
{
	size_t hl = sizeof(subs_v2_header) - 1;

	if (len >= hl && memcmp(data, subs_v2_header, hl) == 0) {
		*version = 2;
		*blen = len - hl;
		return data + hl;
	}
	*version = 1;
	*blen = len;
	return data;
}

struct subs_read_ctx {
	const struct store *s;
	unsigned version;
	strarr *names;
};

static void
subs_read_line(const char *line, size_t n, void *vctx)
{
	struct subs_read_ctx *c = vctx;
	char *name = subs_decode(c->s, line, n, c->version);

	if (name != NULL)
		arr_push(c->names, name);
}

/* The subscribed canonical names, sorted. */
static int
subs_load(struct store *s, strarr *names)
{
	struct subs_read_ctx c = { .s = s, .names = names };
	const char *body;
	char *data;
	size_t len, blen;

	memset(names, 0, sizeof(*names));
	if (linefile_read(s, subs_file(s), &data, &len) < 0)
		return -1;
	if (data == NULL)
		return 0;
	body = subs_body(data, len, &c.version, &blen);
	for_lines(body, blen, subs_read_line, &c);
	free(data);
	store_qsort(names->v, names->n, sizeof(char *), cmp_str);
	return 0;
}

struct subs_write_ctx {
	const struct store *s;
	unsigned version;
	const char *name;
	bool on, found;
	struct buf *out;
	bool full;
};

static void
subs_write_line(const char *line, size_t n, void *vctx)
{
	struct subs_write_ctx *c = vctx;
	char *name = subs_decode(c->s, line, n, c->version);
	bool same = name != NULL && str_eq(name, c->name);

	free(name);
	if (same) {
		if (c->found || !c->on)
			return;	/* drop it (or a duplicate) */
		c->found = true;
	}
	if (buf_append(c->out, line, n) < 0 ||
	    buf_append_byte(c->out, '\n') < 0)
		c->full = true;
}

int
store_subscribe(struct store *s, const char *name, bool on)
{
	struct subs_write_ctx c = { .s = s, .name = name, .on = on };
	const char *file = subs_file(s);
	char lock[256], *data = NULL;
	const char *body;
	size_t len = 0, blen = 0;
	int lockfd, r = -1;

	if ((lockfd = linefile_lock(s, file, lock, sizeof(lock))) < 0)
		return -1;
	c.out = buf_new(LINEFILE_MAX);
	if (linefile_read(s, file, &data, &len) < 0)
		goto out;
	if (data != NULL) {
		body = subs_body(data, len, &c.version, &blen);
	} else {
		c.version = 1;
		body = "";
	}
	if (c.version >= 2 &&
	    buf_append_str(c.out, subs_v2_header) < 0)
		c.full = true;
	for_lines(body, blen, subs_write_line, &c);
	if (c.full) {
		store_set_error(s, STORE_ERR_LIMIT, "%s too large", file);
		goto out;
	}
	if (on && !c.found && subs_encode(s, name, c.version, c.out) < 0)
		goto out;
	r = linefile_replace(s, file, lockfd, lock, c.out);
	lockfd = -1;
out:
	if (lockfd >= 0) {
		close(lockfd);
		(void)unlinkat(s->root_fd, lock, 0);
	}
	buf_free(&c.out);
	free(data);
	return r;
}

/* ---- special use ---------------------------------------------------------- */

static const struct {
	const char *word;
	unsigned attr;
} special_words[] = {
	{ "Drafts", STORE_LIST_DRAFTS },
	{ "Sent", STORE_LIST_SENT },
	{ "Trash", STORE_LIST_TRASH },
	{ "Junk", STORE_LIST_JUNK },
	{ "Archive", STORE_LIST_ARCHIVE },
};
#define N_SPECIAL (sizeof(special_words) / sizeof(special_words[0]))

struct special {
	char *name;
	unsigned attr;
};
typedef ARRAY(struct special) specialarr;

static void
specials_free(specialarr *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].name);
	arr_free(a);
}

static void
special_line(const char *line, size_t n, void *vctx)
{
	specialarr *a = vctx;
	const char *tab = memchr(line, '\t', n);
	size_t wl, nl;

	if (tab == NULL)
		return;
	wl = (size_t)(tab - line);
	nl = n - wl - 1;
	for (size_t i = 0; i < N_SPECIAL; i++) {
		if (strlen(special_words[i].word) == wl &&
		    memcmp(special_words[i].word, line, wl) == 0 &&
		    mbname_check(tab + 1, nl, STORE_SEPARATOR, 0) ==
		    MBNAME_OK) {
			struct special sp = {
				xstrndup(tab + 1, nl), special_words[i].attr
			};

			arr_push(a, sp);
		}
	}
}

/* *exists: the file is there (the store has had its first login). */
static int
specials_load(struct store *s, specialarr *a, bool *exists)
{
	char *data;
	size_t len;

	memset(a, 0, sizeof(*a));
	if (linefile_read(s, special_file(s), &data, &len) < 0)
		return -1;
	if (exists != NULL)
		*exists = data != NULL;
	if (data != NULL)
		for_lines(data, len, special_line, a);
	free(data);
	return 0;
}

static unsigned
specials_attr(const specialarr *a, const char *name)
{
	unsigned attr = 0;

	for (size_t i = 0; i < a->n; i++)
		if (str_eq(a->v[i].name, name))
			attr |= a->v[i].attr;
	return attr;
}

/* Rewrites the special-use file: name's attributes become attr, or
 * (rename_to != NULL) name and its children are renamed. */
static int
specials_update(struct store *s, const char *name, unsigned attr,
		const char *rename_to, bool create_only)
{
	const char *file = special_file(s);
	specialarr a;
	struct buf *out;
	char lock[256];
	size_t nlen = strlen(name);
	bool exists;
	int lockfd, r = -1;

	if ((lockfd = linefile_lock(s, file, lock, sizeof(lock))) < 0)
		return -1;
	out = buf_new(LINEFILE_MAX);
	if (specials_load(s, &a, &exists) < 0)
		goto out;
	if (create_only && exists) {
		r = 0;
		goto out;
	}
	for (size_t i = 0; i < a.n; i++) {
		const char *n = a.v[i].name;
		bool match = str_eq(n, name);
		bool child = strncmp(n, name, nlen) == 0 &&
			     n[nlen] == STORE_SEPARATOR;

		if (rename_to == NULL && match)
			continue;
		for (size_t k = 0; k < N_SPECIAL; k++) {
			if (a.v[i].attr != special_words[k].attr)
				continue;
			if (rename_to != NULL && (match || child))
				r = buf_printf(out, "%s\t%s%s\n",
					       special_words[k].word,
					       rename_to, n + nlen);
			else
				r = buf_printf(out, "%s\t%s\n",
					       special_words[k].word, n);
			if (r < 0)
				goto full;
		}
	}
	if (rename_to == NULL)
		for (size_t k = 0; k < N_SPECIAL; k++)
			if ((attr & special_words[k].attr) &&
			    buf_printf(out, "%s\t%s\n", special_words[k].word,
				       name) < 0)
				goto full;
	r = linefile_replace(s, file, lockfd, lock, out);
	lockfd = -1;
	goto out;
full:
	r = -1;
	store_set_error(s, STORE_ERR_LIMIT, "%s too large", file);
out:
	if (lockfd >= 0) {
		close(lockfd);
		(void)unlinkat(s->root_fd, lock, 0);
	}
	specials_free(&a);
	buf_free(&out);
	return r;
}

/* ---- LIST ---------------------------------------------------------------- */

struct entry {
	char *name;
	unsigned attrs;
};
typedef ARRAY(struct entry) entryarr;

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

static void
entry_add(entryarr *a, const char *name, size_t len, unsigned attrs)
{
	struct entry e = { xstrndup(name, len), attrs };

	arr_push(a, e);
}

int
store_list(struct store *s,
	   int (*cb)(const char *name, unsigned int attrs, void *ctx),
	   void *ctx)
{
	strarr names, subs, all = ARRAY_INIT;
	specialarr sp;
	entryarr e = ARRAY_INIT;
	size_t w = 0;
	unsigned parent;
	int r = 0;

	if (names_load(s, &names) < 0)
		return -1;
	if (subs_load(s, &subs) < 0) {
		strarr_free(&names);
		return -1;
	}
	if (specials_load(s, &sp, NULL) < 0) {
		strarr_free(&names);
		strarr_free(&subs);
		return -1;
	}
	/* A parent no mailbox stands for: in Maildir++ nothing on disk
	 * (.a.b.c needs no .a), so \NonExistent too (RFC 5258 §3: it
	 * "MUST be accurately computed"; Dovecot does the same); an mbox
	 * parent is a directory, which exists. */
	parent = STORE_LIST_NOSELECT |
		 (s->be->kind == STORE_MAILDIR ? STORE_LIST_NONEXISTENT : 0);
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i], *p;

		entry_add(&e, n, strlen(n), 0);
		for (p = strchr(n, STORE_SEPARATOR); p != NULL;
		     p = strchr(p + 1, STORE_SEPARATOR))
			entry_add(&e, n, (size_t)(p - n), parent);
	}
	store_qsort(e.v, e.n, sizeof(e.v[0]), cmp_entry);
	/* One entry per name; a mailbox beats a parent-only entry. */
	for (size_t i = 0; i < e.n; i++) {
		if (w > 0 && str_eq(e.v[w - 1].name, e.v[i].name)) {
			e.v[w - 1].attrs &= e.v[i].attrs;
			free(e.v[i].name);
		} else {
			e.v[w++] = e.v[i];
		}
	}
	e.n = w;
	for (size_t i = 0; i < e.n; i++)
		arr_push(&all, e.v[i].name);
	for (size_t i = 0; i < e.n; i++) {
		if (has_child(all.v, all.n, e.v[i].name))
			e.v[i].attrs |= STORE_LIST_CHILDREN;
		if (strarr_has(&subs, e.v[i].name))
			e.v[i].attrs |= STORE_LIST_SUBSCRIBED;
		e.v[i].attrs |= specials_attr(&sp, e.v[i].name);
	}
	/* Subscribed names that do not exist (LSUB, LIST (SUBSCRIBED)). */
	for (size_t i = 0; i < subs.n; i++)
		if (lower_bound(all.v, all.n, subs.v[i]) >= all.n ||
		    !str_eq(all.v[lower_bound(all.v, all.n, subs.v[i])],
			    subs.v[i]))
			entry_add(&e, subs.v[i], strlen(subs.v[i]),
				  STORE_LIST_NONEXISTENT |
				  STORE_LIST_SUBSCRIBED);
	store_qsort(e.v, e.n, sizeof(e.v[0]), cmp_entry);
	for (size_t i = 0; i < e.n && r == 0; i++)
		if (cb(e.v[i].name, e.v[i].attrs, ctx) != 0)
			r = -1;
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].name);
	arr_free(&e);
	arr_free(&all);
	strarr_free(&names);
	strarr_free(&subs);
	specials_free(&sp);
	return 0;
}

/* ---- CREATE ------------------------------------------------------------ */

struct fresh_ctx {
	const char *name;
};

/* A new mailbox gets a new index record: drop one a mailbox of this
 * name left behind (deleted behind our back); its tombstone makes the
 * new UIDVALIDITY greater. */
static int
fresh_cb(struct idx_txn *txn, void *vctx)
{
	struct fresh_ctx *c = vctx;
	struct idx_mbox m;
	int r;

	r = idx_mbox_get(txn, c->name, &m);
	if (r == IDX_OK && (r = store_vmap_drop(txn, m.id)) == IDX_OK)
		r = idx_mbox_delete(txn, c->name);
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	return idx_mbox_create(txn, c->name, 0, NULL);
}

static int
index_fresh(struct store *s, const char *name)
{
	struct fresh_ctx c = { name };
	int r = idx_txn_run(s->env, IDX_TXN_SYNC, fresh_cb, &c);

	if (r != IDX_OK) {
		store_set_idx_error(s, r, name);
		return -1;
	}
	return 0;
}

static int
name_check(struct store *s, const char *name, unsigned flags)
{
	enum mbname_error e = mbname_check(name, strlen(name),
					   STORE_SEPARATOR, flags);

	if (e != MBNAME_OK) {
		store_set_error(s, e == MBNAME_TOO_LONG ||
				e == MBNAME_TOO_DEEP ? STORE_ERR_LIMIT :
				STORE_ERR_CANNOT, "%s: %s", name,
				mbname_error_str(e));
		return -1;
	}
	return 0;
}

int
store_create(struct store *s, const char *name, unsigned int special_use)
{
	store_box_drop_target(s);
	if (name_check(s, name, MBNAME_FOR_CREATE) < 0)
		return -1;
	if (mbname_is_inbox(name)) {
		store_set_error(s, STORE_ERR_EXISTS, "INBOX always exists");
		return -1;
	}
	if (s->be->create(s, name) < 0 || index_fresh(s, name) < 0)
		return -1;
	if (special_use != 0 &&
	    specials_update(s, name, special_use, NULL, false) < 0) {
		log_warn("store: %s: special use not kept: %s", name,
			 s->err.detail);
		return -1;
	}
	return 0;
}

int
store_ensure_defaults(struct store *s)
{
	static const struct {
		const char *name;
		unsigned attr;
	} defaults[] = {
		{ "Drafts", STORE_LIST_DRAFTS },
		{ "Sent", STORE_LIST_SENT },
		{ "Trash", STORE_LIST_TRASH },
		{ "Junk", STORE_LIST_JUNK },
		{ "Archive", STORE_LIST_ARCHIVE },
	};
	specialarr sp;
	strarr names;
	bool exists, inbox;

	if (names_load(s, &names) < 0)
		return -1;
	inbox = strarr_has(&names, "INBOX");
	if (!inbox && s->be->create(s, "INBOX") < 0 &&
	    s->err.code != STORE_ERR_EXISTS) {
		strarr_free(&names);
		return -1;
	}
	if (specials_load(s, &sp, &exists) < 0) {
		strarr_free(&names);
		return -1;
	}
	specials_free(&sp);
	if (exists) {
		strarr_free(&names);
		return 0;
	}
	/* First login: the usual folders, subscribed, with their
	 * attributes remembered. */
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		const char *n = defaults[i].name;

		if (!strarr_has(&names, n) && store_create(s, n, 0) < 0 &&
		    s->err.code != STORE_ERR_EXISTS)
			goto fail;
		if (store_subscribe(s, n, true) < 0)
			goto fail;
	}
	/* INBOX too, even if it was there: in mbox it always is (a
	 * missing spool file is an empty INBOX). */
	if (store_subscribe(s, "INBOX", true) < 0)
		goto fail;
	{
		/* one write with all five */
		const char *file = special_file(s);
		struct buf *out = buf_new(4096);
		char lock[256];
		int lockfd = linefile_lock(s, file, lock, sizeof(lock));

		if (lockfd < 0) {
			buf_free(&out);
			goto fail;
		}
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]);
		     i++)
			(void)buf_printf(out, "%s\t%s\n", defaults[i].name,
					 defaults[i].name);
		if (linefile_replace(s, file, lockfd, lock, out) < 0) {
			buf_free(&out);
			goto fail;
		}
		buf_free(&out);
	}
	strarr_free(&names);
	return 0;
fail:
	strarr_free(&names);
	return -1;
}

/* ---- DELETE ------------------------------------------------------------ */

struct del_ctx {
	const char *name;
};

static int
del_cb(struct idx_txn *txn, void *vctx)
{
	struct del_ctx *c = vctx;
	struct idx_mbox m;
	int r = idx_mbox_get(txn, c->name, &m);

	if (r == IDX_OK && (r = store_vmap_drop(txn, m.id)) == IDX_OK)
		r = idx_mbox_delete(txn, c->name);
	return r == IDX_NOTFOUND ? IDX_OK : r;
}

int
store_delete(struct store *s, const char *name)
{
	struct del_ctx c = { name };
	strarr names;
	bool is_box, children;
	int r;

	store_box_drop_target(s);

	if (mbname_is_inbox(name)) {
		store_set_error(s, STORE_ERR_CANNOT, "INBOX cannot be deleted");
		return -1;
	}
	if (names_load(s, &names) < 0)
		return -1;
	is_box = strarr_has(&names, name);
	children = has_child(names.v, names.n, name);
	strarr_free(&names);
	if (!is_box) {
		/* RFC 9051 §6.3.4: a \Noselect name with children cannot
		 * be deleted. */
		store_set_error(s, children ? STORE_ERR_CANNOT :
				STORE_ERR_NONEXISTENT,
				children ? "%s has children and is not a "
				"mailbox" : "no mailbox %s", name);
		return -1;
	}
	if (s->be->delete(s, name) < 0)
		return -1;
	r = idx_txn_run(s->env, IDX_TXN_SYNC, del_cb, &c);
	if (r != IDX_OK)
		log_warn("store: %s deleted, but not from the index: %s", name,
			 idx_strerror(r));
	if (specials_update(s, name, 0, NULL, false) < 0)
		log_warn("store: %s: special use not removed: %s", name,
			 s->err.detail);
	return 0;
}

/* ---- RENAME ------------------------------------------------------------ */

struct ren_ctx {
	const char *from, *to;
};

static int
ren_cb(struct idx_txn *txn, void *vctx)
{
	struct ren_ctx *c = vctx;
	struct idx_mbox m;
	int r;

	/* A record `to` left behind by a mailbox deleted behind our back
	 * goes (its tombstone keeps UIDVALIDITY rising). */
	r = idx_mbox_get(txn, c->to, &m);
	if (r == IDX_OK && (r = store_vmap_drop(txn, m.id)) == IDX_OK)
		r = idx_mbox_delete(txn, c->to);
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	r = idx_mbox_rename(txn, c->from, c->to);
	return r == IDX_NOTFOUND ? IDX_OK : r;
}

/* RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox
 * and leaves INBOX empty; INBOX's children stay. */
static int
inbox_rename(struct store *s, const char *to)
{
	struct mailbox *src = NULL, *dst = NULL;
	struct store_txn *t = NULL;
	const struct store_rec *recs;
	uint32_t *uids = NULL;
	size_t n;
	int ret = -1;

	if (store_create(s, to, 0) < 0)
		return -1;
	if (store_box_get(s, "INBOX", true, &src) < 0 ||
	    store_box_sync(src, 0) < 0 ||
	    store_box_get_target(s, to, &dst) < 0)
		goto out;
	if ((t = store_txn_begin(src, STORE_TXN_READONLY)) == NULL ||
	    store_txn_load(t, &recs, &n) < 0)
		goto out;
	uids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*uids));
	for (size_t i = 0; i < n; i += 1024) {
		size_t k = n - i < 1024 ? n - i : 1024;

		if (store_copy_recs(src, dst, recs + i, k, uids + i) < 0 ||
		    store_expunge_recs(src, recs + i, k) < 0)
			goto out;
	}
	ret = 0;
out:
	free(uids);
	store_txn_free(&t);
	store_box_free(&src);
	store_box_put_target(s, &dst);
	return ret;
}

int
store_rename(struct store *s, const char *from, const char *to)
{
	strarr names;
	ARRAY(char *) pairs = ARRAY_INIT;   /* from0, to0, from1, ... */
	size_t flen = strlen(from);
	int ret = -1;

	store_box_drop_target(s);

	if (name_check(s, to, MBNAME_FOR_CREATE) < 0)
		return -1;
	if (str_eq(from, to) || mbname_is_inbox(to)) {
		store_set_error(s, STORE_ERR_EXISTS, "%s exists", to);
		return -1;
	}
	if (strncmp(to, from, flen) == 0 && to[flen] == STORE_SEPARATOR) {
		store_set_error(s, STORE_ERR_CANNOT,
				"cannot move %s into itself", from);
		return -1;
	}
	if (mbname_is_inbox(from))
		return inbox_rename(s, to);
	if (names_load(s, &names) < 0)
		return -1;
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];

		if (str_eq(n, from) ||
		    (strncmp(n, from, flen) == 0 &&
		     n[flen] == STORE_SEPARATOR)) {
			char *target = xasprintf("%s%s", to, n + flen);

			arr_push(&pairs, xstrdup(n));
			arr_push(&pairs, target);
		}
	}
	if (pairs.n == 0) {
		store_set_error(s, STORE_ERR_NONEXISTENT, "no mailbox %s",
				from);
		goto out;
	}
	for (size_t i = 1; i < pairs.n; i += 2) {
		if (strarr_has(&names, pairs.v[i])) {
			store_set_error(s, STORE_ERR_EXISTS, "%s exists",
					pairs.v[i]);
			goto out;
		}
		if (name_check(s, pairs.v[i], 0) < 0)
			goto out;
	}
	/* names are sorted, so parents come before their children */
	for (size_t i = 0; i < pairs.n; i += 2) {
		struct ren_ctx c = { pairs.v[i], pairs.v[i + 1] };
		int r;

		if (s->be->rename(s, c.from, c.to) < 0)
			goto out;
		r = idx_txn_run(s->env, IDX_TXN_SYNC, ren_cb, &c);
		if (r != IDX_OK)
			log_warn("store: %s renamed to %s, but not in the "
				 "index: %s", c.from, c.to, idx_strerror(r));
	}
	if (specials_update(s, from, 0, to, false) < 0)
		log_warn("store: special use not renamed: %s", s->err.detail);
	ret = 0;
out:
	for (size_t i = 0; i < pairs.n; i++)
		free(pairs.v[i]);
	arr_free(&pairs);
	strarr_free(&names);
	return ret;
}
