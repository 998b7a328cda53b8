/*
 * store: the generic part of the mail store (store.h). Owns the index
 * bookkeeping; the backends (maildir.c, mbox.c, behind the vtable in
 * store-private.h) own the files.
 *
 * (Skeleton: functions not written yet answer STORE_ERR_SERVERBUG
 * "not implemented".)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
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

static enum store_error_code
errno_code(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return STORE_ERR_OVERQUOTA;
	case EACCES:
	case EPERM:
		return STORE_ERR_NOPERM;
	case ENOENT:
		return STORE_ERR_NONEXISTENT;
	case EEXIST:
	case ENOTEMPTY:
		return STORE_ERR_EXISTS;
	case ELOOP:
	case ENOTDIR:
	case ENAMETOOLONG:
		return STORE_ERR_CANNOT;
	case EMLINK:
	case EFBIG:
		return STORE_ERR_LIMIT;
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
	store_set_error(s, errno_code(e), "%s: %s", what, strerror(e));
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

int
store_open(const struct store_settings *set, struct store **out,
	   struct store_error *err)
{
	(void)set;
	(void)backends;
	*out = NULL;
	err->code = STORE_ERR_SERVERBUG;
	str_copy(err->detail, "store_open: not implemented",
		 sizeof(err->detail));
	return -1;
}

void
store_free(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	free(s);
}

#define NOT_IMPLEMENTED(s) \
	(store_set_error((s), STORE_ERR_SERVERBUG, "%s: not implemented", \
			 __func__), -1)

int
store_ensure_defaults(struct store *s)
{
	return NOT_IMPLEMENTED(s);
}

int
store_list(struct store *s,
	   int (*cb)(const char *name, unsigned int attrs, void *ctx),
	   void *ctx)
{
	(void)cb;
	(void)ctx;
	return NOT_IMPLEMENTED(s);
}

int
store_create(struct store *s, const char *name, unsigned int special_use)
{
	(void)name;
	(void)special_use;
	return NOT_IMPLEMENTED(s);
}

int
store_delete(struct store *s, const char *name)
{
	(void)name;
	return NOT_IMPLEMENTED(s);
}

int
store_rename(struct store *s, const char *from, const char *to)
{
	(void)from;
	(void)to;
	return NOT_IMPLEMENTED(s);
}

int
store_subscribe(struct store *s, const char *name, bool on)
{
	(void)name;
	(void)on;
	return NOT_IMPLEMENTED(s);
}

int
store_status(struct store *s, const char *name, struct store_status *st)
{
	(void)name;
	memset(st, 0, sizeof(*st));
	return NOT_IMPLEMENTED(s);
}

int
store_append(struct store *s, const char *name,
	     const struct store_new_msg *msgs, size_t n,
	     uint32_t *uidvalidity, uint32_t *uids)
{
	(void)name;
	(void)msgs;
	(void)n;
	(void)uidvalidity;
	(void)uids;
	return NOT_IMPLEMENTED(s);
}

int
mailbox_open(struct store *s, const char *name, bool readonly,
	     struct mailbox **out)
{
	(void)name;
	(void)readonly;
	*out = NULL;
	return NOT_IMPLEMENTED(s);
}

void
mailbox_close(struct mailbox **mb)
{
	*mb = NULL;
}

const struct mailbox_view *
mailbox_view(const struct mailbox *mb)
{
	return &mb->view;
}

int
mailbox_sync(struct mailbox *mb, unsigned int flags,
	     const struct mailbox_changes **changes)
{
	(void)flags;
	*changes = &mb->changes;
	return NOT_IMPLEMENTED(mb->store);
}

int
mailbox_msg_open(struct mailbox *mb, uint32_t seq, int *fd, off_t *offset,
		 uint64_t *size)
{
	(void)seq;
	*fd = -1;
	*offset = 0;
	*size = 0;
	return NOT_IMPLEMENTED(mb->store);
}

int
mailbox_msg_info(struct mailbox *mb, uint32_t seq, time_t *internaldate,
		 uint64_t *size)
{
	(void)seq;
	*internaldate = 0;
	*size = 0;
	return NOT_IMPLEMENTED(mb->store);
}

int
mailbox_store_flags(struct mailbox *mb, const uint32_t *seqs, size_t n,
		    enum store_flag_op op, unsigned flags,
		    const char *const *keywords)
{
	(void)seqs;
	(void)n;
	(void)op;
	(void)flags;
	(void)keywords;
	return NOT_IMPLEMENTED(mb->store);
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n)
{
	(void)uids;
	(void)n;
	return NOT_IMPLEMENTED(mb->store);
}

int
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
	     const char *dest, bool move, uint32_t *uidvalidity,
	     uint32_t *src_uids, uint32_t *dst_uids)
{
	(void)seqs;
	(void)n;
	(void)dest;
	(void)move;
	(void)uidvalidity;
	(void)src_uids;
	(void)dst_uids;
	return NOT_IMPLEMENTED(mb->store);
}
