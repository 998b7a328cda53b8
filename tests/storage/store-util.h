/* Helpers for the store tests (test-store.c, test-maildir.c): a temporary
 * user with a Maildir and an index, files written the way other
 * programs write them, and small wrappers that assert. */
#ifndef MOAT_TESTS_STORE_UTIL_H
#define MOAT_TESTS_STORE_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "../index/util.h"
#include "storage/store.h"

struct su {
	char *base;      /* temp dir */
	char *maildir;   /* base/Maildir */
	char *index;     /* base/idx */
	char location[512];
	struct store *s;
};

static inline void
su_open_loc(struct su *u, const char *location)
{
	struct store_settings set = {
		.location = location, .index_dir = u->index, .user = "tester",
		.fsync = false, .max_message_size = 1 << 20,
	};
	struct store_error err;

	cr_assert_eq(store_open(&set, &u->s, &err), 0, "store_open: %s",
		     err.detail);
}

static inline void
su_init(struct su *u)
{
	memset(u, 0, sizeof(*u));
	u->base = tu_tmpdir();
	u->maildir = tu_path(u->base, "Maildir");
	u->index = tu_path(u->base, "idx");
	snprintf(u->location, sizeof(u->location), "maildir:%s", u->maildir);
}

static inline void
su_open(struct su *u)
{
	su_open_loc(u, u->location);
}

static inline void
su_close(struct su *u)
{
	store_free(&u->s);
}

static inline void
su_fini(struct su *u)
{
	store_free(&u->s);
	tu_rmrf(u->base);
	free(u->base);
	free(u->maildir);
	free(u->index);
}

/* <maildir>/<rel> */
static inline char *
su_path(const struct su *u, const char *rel)
{
	return tu_path(u->maildir, rel);
}

static inline void
su_mkdir(const struct su *u, const char *rel)
{
	char *p = su_path(u, rel);

	cr_assert(mkdir(p, 0700) == 0 || errno == EEXIST, "mkdir %s", p);
	free(p);
}

/* A Maildir folder as other programs make it (rel "" = the root). */
static inline void
su_folder(const struct su *u, const char *rel)
{
	char buf[600];

	cr_assert(mkdir(u->maildir, 0700) == 0 || errno == EEXIST);
	if (*rel != '\0')
		su_mkdir(u, rel);
	for (int i = 0; i < 3; i++) {
		static const char *sub[] = { "cur", "new", "tmp" };

		snprintf(buf, sizeof(buf), "%s%s%s", rel, *rel ? "/" : "",
			 sub[i]);
		su_mkdir(u, buf);
	}
}

static inline void
su_write(const struct su *u, const char *rel, const char *data)
{
	char *p = su_path(u, rel);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f, "fopen %s", p);
	fputs(data, f);
	fclose(f);
	free(p);
}

static inline bool
su_exists(const struct su *u, const char *rel)
{
	char *p = su_path(u, rel);
	struct stat st;
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

/* Number of entries in <maildir>/<rel> not starting with '.'. */
static inline int
su_count(const struct su *u, const char *rel)
{
	char *p = su_path(u, rel);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d, "opendir %s", p);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	free(p);
	return n;
}

/* The one file in <maildir>/<rel> whose name starts with prefix. */
static inline char *
su_find(const struct su *u, const char *rel, const char *prefix)
{
	char *p = su_path(u, rel), *found = NULL;
	DIR *d = opendir(p);
	struct dirent *de;

	cr_assert_not_null(d, "opendir %s", p);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			cr_assert_null(found, "two files start with %s",
				       prefix);
			found = strdup(de->d_name);
		}
	closedir(d);
	free(p);
	return found;
}

/* The file in <maildir>/<rel> whose contents hold needle. */
static inline char *
su_file_with(const struct su *u, const char *rel, const char *needle)
{
	char *p = su_path(u, rel), *found = NULL;
	DIR *d = opendir(p);
	struct dirent *de;

	cr_assert_not_null(d, "opendir %s", p);
	while ((de = readdir(d)) != NULL) {
		char path[1024], buf[4096];
		FILE *f;
		size_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", p, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		if (strstr(buf, needle) != NULL) {
			cr_assert_null(found, "two files hold %s", needle);
			found = strdup(de->d_name);
		}
	}
	closedir(d);
	free(p);
	return found;
}

/* rename <maildir>/<from> to <maildir>/<to> */
static inline void
su_rename(const struct su *u, const char *from, const char *to)
{
	char *a = su_path(u, from), *b = su_path(u, to);

	cr_assert_eq(rename(a, b), 0, "rename %s %s", a, b);
	free(a);
	free(b);
}

static inline void
su_unlink(const struct su *u, const char *rel)
{
	char *a = su_path(u, rel);

	cr_assert_eq(unlink(a), 0, "unlink %s", a);
	free(a);
}

static inline uint32_t
su_append(struct su *u, const char *box, const char *msg, unsigned flags)
{
	struct store_new_msg m = { .data = msg, .len = strlen(msg),
				   .flags = flags };
	uint32_t uv, uid;

	cr_assert_eq(store_append(u->s, box, &m, 1, &uv, &uid), 0,
		     "append: %s", store_error(u->s)->detail);
	return uid;
}

static inline const char *
su_err(const struct su *u)
{
	return store_error(u->s)->detail;
}

static inline enum store_error_code
su_code(const struct su *u)
{
	return store_error(u->s)->code;
}

/* Reads the whole message seq of mb. */
static inline char *
su_read_msg(struct mailbox *mb, uint32_t seq)
{
	int fd;
	off_t off;
	uint64_t size;
	char *buf;

	if (mailbox_msg_open(mb, seq, &fd, &off, &size) < 0)
		return NULL;
	buf = calloc(1, size + 1);
	cr_assert_eq(pread(fd, buf, size, off), (ssize_t)size);
	close(fd);
	return buf;
}

/* mailbox_msg_read_head of seq with max: the served message want[0..len)
 * starts it (at least max bytes of it, all if shorter), whole iff all. */
static inline void
su_assert_head(struct mailbox *mb, uint32_t seq, size_t max, const char *want,
	       size_t len)
{
	struct buf *head = buf_new(2 * max + 2);
	bool whole;

	cr_assert_eq(mailbox_msg_read_head(mb, seq, max, head, &whole), 0);
	cr_assert_eq(whole, max >= len, "whole %d", whole);
	cr_assert_geq(buf_len(head), max < len ? max : len);
	cr_assert_leq(buf_len(head), len);
	cr_assert(memcmp(buf_data(head), want, buf_len(head)) == 0,
		  "a head is the served message's start");
	buf_free(&head);
}

#endif
