/*
 * userwork: moatctl's work on one user's mail store: index check and
 * rebuild, import of an mbox file or a Maildir tree, export as Maildir
 * or mbox. Done here rather than in moatd: moatd never forks and its
 * event loop must not wait on a user's files (a hung mount, a huge
 * mailbox); a command is one administrator's one-off job.
 *
 * Never as root: the user is looked up as LMTP delivery looks up a
 * recipient (lmtp/lookup.c: auth's passwd-file and NSS code, auth's
 * policy: no uid 0, the uid range, no group 0), then a child sets the
 * user's groups and ids (verified: it cannot get root back), enters the
 * home and only then opens the store, the file to import or the
 * directory to export to. So an import reads only what the user could
 * read (a symlink in a Maildir tree to /etc/shadow is the user's
 * problem, not a leak), and an export writes only where the user may.
 *
 * Callers: main.c. Trust: the command line is root's; the files read are
 * the user's (untrusted: parsed with the store's own parsers, sizes
 * bounded by max_message_size).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/passwd-file.h"
#include "core/arr.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "lmtp/deliver.h"
#include "lmtp/lookup.h"
#include "moatctl/moatctl.h"
#include "storage/maildir-name.h"
#include "storage/mbox-lock.h"
#include "storage/mbox-parse.h"
#include "storage/store.h"

#define IO_CHUNK (64 * 1024)

enum job { JOB_CHECK, JOB_REBUILD, JOB_IMPORT, JOB_EXPORT };

struct work {
	const struct ctl_opts *o;
	const struct moat_config *cfg;
	enum job job;
	const char *user;
	const char *path;           /* import source, export directory */
	char mailbox[MBNAME_MAX_LEN + 1]; /* "" = all / INBOX */
	bool mbox_format;           /* export --format mbox */
	struct store *st;
	/* results */
	unsigned int n_boxes, n_bad;
	uint64_t n_msgs, n_skipped;
	bool first_row;
	bool head_done;             /* json_head printed */
	char why[512];              /* export_box's error */
};

/* ---- names ---- */

/* A mailbox name from the command line: UTF-8, checked, INBOX
 * normalised. */
static int
canon_mailbox(const char *in, char *out, size_t outlen)
{
	struct buf *b = buf_new(MBNAME_MAX_LEN * 4 + 16);
	enum mbname_error err = MBNAME_OK;
	int rc = -1;

	if (mbname_from_wire(in, strlen(in), true, STORE_SEPARATOR, 0, b,
			     &err) == 0 &&
	    str_copy(out, buf_str(b), outlen) == 0)
		rc = 0;
	buf_free(&b);
	return rc;
}

/* ---- becoming the user ---- */

static int
open_store(struct work *w, const struct auth_user *u)
{
	struct store_settings set;
	struct store_error err;
	char *loc, *index;

	loc = deliver_expand(u->mail, u->home, u->user);
	index = deliver_expand(w->cfg->mail_index, u->home, u->user);
	if (loc == NULL || index == NULL) {
		free(loc);
		free(index);
		return ctl_fail(w->o, CTL_EXIT_ERROR, "mail location or index "
				"of %s too long", u->user);
	}
	if (w->cfg->mail_index[0] == '~')
		store_index_parents(index, u->home);
	memset(&set, 0, sizeof(set));
	set.location = loc;
	set.index_dir = index;
	set.user = u->user;
	set.fsync = w->cfg->mail_fsync;
	set.max_message_size = w->cfg->max_message_size;
	if (store_needs_lock_helper(&set) && mbox_lock_helper_start() < 0)
		log_error("cannot start the dotlock helper: %m");
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L);
	memset(&err, 0, sizeof(err));
	if (store_open(&set, &w->st, &err) < 0) {
		free(loc);
		free(index);
		return ctl_fail(w->o, CTL_EXIT_ERROR, "opening the store of %s: "
				"%s", u->user, err.detail);
	}
	free(loc);
	free(index);
	return CTL_EXIT_OK;
}

/* ---- mailbox lists ---- */

typedef ARRAY(char *) name_list;

static int
list_cb(const char *name, unsigned int attrs, void *ctx)
{
	name_list *l = ctx;

	if ((attrs & (STORE_LIST_NOSELECT | STORE_LIST_NONEXISTENT)) == 0)
		arr_push(l, xstrdup(name));
	return 0;
}

static int
list_boxes(struct work *w, name_list *l)
{
	if (store_list(w->st, list_cb, l) < 0)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "listing mailboxes: %s",
				store_error(w->st)->detail);
	return CTL_EXIT_OK;
}

static void
names_free(name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	arr_free(l);
}

/* ---- output rows ---- */

static void
row_begin(struct work *w)
{
	if (w->o->json) {
		printf(w->first_row ? "" : ",");
		w->first_row = false;
	}
}

/* --json: one object {"user", "mailboxes": [rows], "messages", "ok",
 * "message"}; the rows are printed as the work goes. */
static void
json_head(struct work *w)
{
	w->first_row = true;
	w->head_done = true;
	if (w->o->json) {
		printf("{\"user\":");
		json_str(stdout, w->user);
		printf(",\"mailboxes\":[");
	}
}

static int
json_tail(struct work *w, bool ok, const char *msg)
{
	if (w->o->json) {
		printf("],\"messages\":%llu,\"ok\":%s,\"message\":",
		       (unsigned long long)w->n_msgs, ok ? "true" : "false");
		json_str(stdout, msg);
		printf("}\n");
	}
	if (ok && !w->o->json)
		printf("%s\n", msg);
	else if (!ok)
		fprintf(stderr, "moatctl: %s\n", msg);
	return ok ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

/* A failure after json_head: the JSON object is closed with ok false. */
static int __attribute__((format(printf, 2, 3)))
work_fail(struct work *w, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!w->head_done)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "%s", msg);
	return json_tail(w, false, msg);
}

/* ---- index check / rebuild ---- */

static int
do_check(struct work *w, bool repair, const char *only)
{
	name_list boxes = ARRAY_INIT;
	unsigned int differ = 0;
	char msg[512];
	int rc;

	if (only != NULL) {
		arr_push(&boxes, xstrdup(only));
	} else if ((rc = list_boxes(w, &boxes)) != CTL_EXIT_OK) {
		return rc;
	}
	json_head(w);
	if (!w->o->json)
		printf("%-30s %8s %8s %8s %8s\n", "MAILBOX", "INDEXED",
		       "MISSING", "CHANGED", "VANISHED");
	for (size_t i = 0; i < boxes.n; i++) {
		struct store_check c;

		w->n_boxes++;
		if (store_mailbox_check(w->st, boxes.v[i], repair, &c) < 0) {
			w->n_bad++;
			row_begin(w);
			if (w->o->json) {
				printf("{\"name\":");
				json_str(stdout, boxes.v[i]);
				printf(",\"error\":");
				json_str(stdout, store_error(w->st)->detail);
				printf("}");
			} else {
				printf("%-30s error: %s\n", boxes.v[i],
				       store_error(w->st)->detail);
			}
			continue;
		}
		if (c.missing + c.changed + c.vanished > 0)
			differ++;
		w->n_msgs += c.indexed + c.missing - c.vanished;
		row_begin(w);
		if (w->o->json) {
			printf("{\"name\":");
			json_str(stdout, boxes.v[i]);
			printf(",\"indexed\":%u,\"missing\":%u,\"changed\":%u,"
			       "\"vanished\":%u}", c.indexed, c.missing,
			       c.changed, c.vanished);
		} else {
			printf("%-30s %8u %8u %8u %8u\n", boxes.v[i], c.indexed,
			       c.missing, c.changed, c.vanished);
		}
	}
	names_free(&boxes);
	if (w->n_bad > 0) {
		snprintf(msg, sizeof(msg), "%u of %u mailboxes could not be "
			 "%s", w->n_bad, w->n_boxes, repair ? "rebuilt" :
			 "checked");
		return json_tail(w, false, msg);
	}
	if (repair) {
		snprintf(msg, sizeof(msg), "%s rescanned from the files: "
			 "%u mailbox%s, %u brought up to date", only, w->n_boxes,
			 w->n_boxes == 1 ? "" : "es", differ);
		return json_tail(w, true, msg);
	}
	if (differ > 0) {
		snprintf(msg, sizeof(msg), "the index differs from the files "
			 "in %u of %u mailboxes (mail not yet seen by a "
			 "session counts too): moatctl index rebuild %s",
			 differ, w->n_boxes, w->user);
		return json_tail(w, false, msg);
	}
	snprintf(msg, sizeof(msg), "index consistent with the files (%u "
		 "mailboxes)", w->n_boxes);
	return json_tail(w, true, msg);
}

/* The whole index: moved aside, then every mailbox indexed again from
 * its files (dovecot-uidlist keeps the UIDs of a Maildir). */
static int
do_rebuild_all(struct work *w)
{
	name_list boxes = ARRAY_INIT;
	char msg[512];
	int rc;

	if (store_index_reset(w->st) < 0) {
		const struct store_error *e = store_error(w->st);

		if (e->code == STORE_ERR_INUSE)
			return ctl_fail(w->o, CTL_EXIT_ERROR, "the index of %s "
					"is in use by a session or a delivery: "
					"end them (moatctl kick %s) and try "
					"again", w->user, w->user);
		return ctl_fail(w->o, CTL_EXIT_ERROR, "resetting the index: "
				"%s", e->detail);
	}
	if ((rc = list_boxes(w, &boxes)) != CTL_EXIT_OK)
		return rc;
	json_head(w);
	if (!w->o->json)
		printf("%-30s %8s %12s\n", "MAILBOX", "MESSAGES",
		       "UIDVALIDITY");
	for (size_t i = 0; i < boxes.n; i++) {
		struct store_status s;

		w->n_boxes++;
		row_begin(w);
		if (store_status(w->st, boxes.v[i], &s) < 0) {
			w->n_bad++;
			if (w->o->json) {
				printf("{\"name\":");
				json_str(stdout, boxes.v[i]);
				printf(",\"error\":");
				json_str(stdout, store_error(w->st)->detail);
				printf("}");
			} else {
				printf("%-30s error: %s\n", boxes.v[i],
				       store_error(w->st)->detail);
			}
			continue;
		}
		w->n_msgs += s.messages;
		if (w->o->json) {
			printf("{\"name\":");
			json_str(stdout, boxes.v[i]);
			printf(",\"messages\":%u,\"uidvalidity\":%u,"
			       "\"uidnext\":%u}", s.messages, s.uidvalidity,
			       s.uidnext);
		} else {
			printf("%-30s %8u %12u\n", boxes.v[i], s.messages,
			       s.uidvalidity);
		}
	}
	names_free(&boxes);
	snprintf(msg, sizeof(msg), "index of %s rebuilt: %u mailboxes, %llu "
		 "messages%s", w->user, w->n_boxes,
		 (unsigned long long)w->n_msgs, w->n_bad > 0 ?
		 " (some mailboxes failed)" : "");
	return json_tail(w, w->n_bad == 0, msg);
}

/* ---- import ---- */

static int
ensure_box(struct work *w, const char *name)
{
	struct store_status s;

	if (store_status(w->st, name, &s) == 0)
		return 0;
	if (store_create(w->st, name, 0) == 0 ||
	    store_error(w->st)->code == STORE_ERR_EXISTS)
		return 0;
	return -1;
}

static int
append_one(struct work *w, const char *box, const void *data, size_t len,
	   unsigned int flags, time_t date, const char *from)
{
	struct store_new_msg nm;
	uint32_t uidv, uid;

	memset(&nm, 0, sizeof(nm));
	nm.data = data;
	nm.len = len;
	nm.flags = flags;
	nm.internaldate = date;
	nm.envelope_from = from;
	if (store_append(w->st, box, &nm, 1, &uidv, &uid) < 0)
		return -1;
	w->n_msgs++;
	return 0;
}

struct mbox_import {
	struct work *w;
	int fd;
	const char *box;
	uint64_t n;
	int err;                    /* a store error stopped the import */
};

static time_t
from_date(const struct mbox_from_date *d)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->year - 1900;
	tm.tm_mon = d->mon - 1;
	tm.tm_mday = d->mday;
	tm.tm_hour = d->hour;
	tm.tm_min = d->min;
	tm.tm_sec = d->sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	return d->has_tz ? t - (time_t)d->tz_min * 60 : t;
}

static int
mbox_import_cb(void *ctx, const struct mbox_msg *m)
{
	struct mbox_import *mi = ctx;
	struct work *w = mi->w;
	unsigned int flags = 0;
	char sender[257];
	uint8_t *data;
	ssize_t got;

	if (m->length > w->cfg->max_message_size) {
		w->n_skipped++;
		log_warn("message %llu (%llu bytes) is over max_message_size; "
			 "skipped", (unsigned long long)mi->n + 1,
			 (unsigned long long)m->length);
		mi->n++;
		return 0;
	}
	data = xmalloc(m->length > 0 ? (size_t)m->length : 1);
	got = pread(mi->fd, data, (size_t)m->length, (off_t)m->offset);
	if (got < 0 || (uint64_t)got != m->length) {
		free(data);
		mi->err = errno != 0 ? errno : EIO;
		return 1;
	}
	if (m->flags & MBOX_FLAG_SEEN)
		flags |= STORE_F_SEEN;
	if (m->flags & MBOX_FLAG_ANSWERED)
		flags |= STORE_F_ANSWERED;
	if (m->flags & MBOX_FLAG_FLAGGED)
		flags |= STORE_F_FLAGGED;
	if (m->flags & MBOX_FLAG_DRAFT)
		flags |= STORE_F_DRAFT;
	if (m->flags & MBOX_FLAG_DELETED)
		flags |= STORE_F_DELETED;
	sender[0] = '\0';
	if (m->sender_len > 0 && m->sender_len < sizeof(sender)) {
		memcpy(sender, m->sender, m->sender_len);
		sender[m->sender_len] = '\0';
		if (strpbrk(sender, " \t") != NULL || str_has_ctl(sender))
			sender[0] = '\0';
	}
	mi->n++;
	if (append_one(w, mi->box, data, (size_t)m->length, flags,
		       from_date(&m->date), sender) < 0) {
		free(data);
		mi->err = -1;
		return 1;
	}
	free(data);
	return 0;
}

static int
import_mbox(struct work *w, int fd, const char *box)
{
	struct mbox_import mi = { .w = w, .fd = fd, .box = box };
	uint64_t junk = 0;
	int r;

	r = mbox_parse_fd(fd, 0, 1024 * 1024, mbox_import_cb, &mi, &junk);
	if (r < 0)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "reading %s: %s",
				w->path, strerror(errno));
	if (mi.err == -1)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "appending to %s: %s "
				"(%llu messages imported before)", box,
				store_error(w->st)->detail,
				(unsigned long long)w->n_msgs);
	if (mi.err != 0)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "reading %s: %s",
				w->path, strerror(mi.err));
	if (mi.n == 0 && junk > 0)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "%s is not an mbox file "
				"(no From_ line)", w->path);
	w->n_boxes++;
	return CTL_EXIT_OK;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One Maildir folder (dfd: the folder with cur/ new/) into box. */
static int
import_maildir_folder(struct work *w, int dfd, const char *box)
{
	static const char *const subs[] = { "cur", "new" };

	if (ensure_box(w, box) < 0)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "creating %s: %s", box,
				store_error(w->st)->detail);
	w->n_boxes++;
	for (size_t s = 0; s < 2; s++) {
		name_list files = ARRAY_INIT;
		struct dirent *de;
		int sfd;
		DIR *d;

		sfd = openat(dfd, subs[s], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (sfd < 0)
			continue;
		d = fdopendir(sfd);
		if (d == NULL) {
			close(sfd);
			continue;
		}
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				arr_push(&files, xstrdup(de->d_name));
		/* Base names start with the delivery time: file order is
		 * arrival order. */
		if (files.n > 0)
			qsort(files.v, files.n, sizeof(files.v[0]), name_cmp);
		for (size_t i = 0; i < files.n; i++) {
			const char *fn = files.v[i];
			struct maildir_name mn;
			unsigned int flags = 0;
			struct stat st;
			uint8_t *data;
			ssize_t got;
			int fd;

			fd = openat(dirfd(d), fn, O_RDONLY | O_NOFOLLOW |
				    O_NONBLOCK);
			if (fd < 0 || fstat(fd, &st) < 0 ||
			    !S_ISREG(st.st_mode) ||
			    (uint64_t)st.st_size > w->cfg->max_message_size) {
				if (fd >= 0)
					close(fd);
				w->n_skipped++;
				/* The name is the user's: quoted. */
				log_warn("%s/%s: not a readable message file "
					 "of at most max_message_size; skipped",
					 subs[s], LOG_Q(fn));
				continue;
			}
			data = xmalloc(st.st_size > 0 ? (size_t)st.st_size : 1);
			got = pread(fd, data, (size_t)st.st_size, 0);
			close(fd);
			if (got != st.st_size) {
				free(data);
				w->n_skipped++;
				continue;
			}
			if (s == 0 && maildir_name_parse(fn, strlen(fn),
							 &mn) == 0 &&
			    mn.flags_valid) {
				if (mn.flags & MAILDIR_FLAG_SEEN)
					flags |= STORE_F_SEEN;
				if (mn.flags & MAILDIR_FLAG_REPLIED)
					flags |= STORE_F_ANSWERED;
				if (mn.flags & MAILDIR_FLAG_FLAGGED)
					flags |= STORE_F_FLAGGED;
				if (mn.flags & MAILDIR_FLAG_DRAFT)
					flags |= STORE_F_DRAFT;
				if (mn.flags & MAILDIR_FLAG_TRASHED)
					flags |= STORE_F_DELETED;
			}
			if (append_one(w, box, data, (size_t)st.st_size, flags,
				       st.st_mtime, NULL) < 0) {
				free(data);
				names_free(&files);
				closedir(d);
				return ctl_fail(w->o, CTL_EXIT_ERROR, "appending "
						"to %s: %s", box,
						store_error(w->st)->detail);
			}
			free(data);
		}
		names_free(&files);
		closedir(d);
	}
	return CTL_EXIT_OK;
}

/* A Maildir++ tree: the root into box, each ".Sub.Folder" into
 * box/Sub/Folder (or Sub/Folder when box is INBOX). */
static int
import_maildir(struct work *w, int rootfd, const char *box)
{
	name_list subs = ARRAY_INIT;
	struct dirent *de;
	int rc, dfd;
	DIR *d;

	rc = import_maildir_folder(w, rootfd, box);
	if (rc != CTL_EXIT_OK)
		return rc;
	dfd = dup(rootfd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL)
		return ctl_fail(w->o, CTL_EXIT_ERROR, "%s: %s", w->path,
				strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] == '.' && !str_eq(de->d_name, ".") &&
		    !str_eq(de->d_name, ".."))
			arr_push(&subs, xstrdup(de->d_name));
	closedir(d);
	if (subs.n > 0)
		qsort(subs.v, subs.n, sizeof(subs.v[0]), name_cmp);
	for (size_t i = 0; i < subs.n && rc == CTL_EXIT_OK; i++) {
		struct buf *b = buf_new(MBNAME_MAX_LEN * 4 + 16);
		enum mbname_error err;
		char target[MBNAME_MAX_LEN * 2 + 2];
		int sfd;

		if (mbname_from_maildir(subs.v[i], strlen(subs.v[i]),
					STORE_SEPARATOR, b, &err) < 0 ||
		    (sfd = openat(rootfd, subs.v[i], O_RDONLY | O_DIRECTORY |
				  O_NOFOLLOW)) < 0) {
			if (!str_eq(subs.v[i], ".moat"))
				log_warn("%s: not a Maildir++ folder; skipped",
					 LOG_Q(subs.v[i]));
			buf_free(&b);
			continue;
		}
		if (str_eq(box, "INBOX"))
			snprintf(target, sizeof(target), "%s", buf_str(b));
		else
			snprintf(target, sizeof(target), "%s%c%s", box,
				 STORE_SEPARATOR, buf_str(b));
		buf_free(&b);
		if (faccessat(sfd, "cur", F_OK, 0) == 0 ||
		    faccessat(sfd, "new", F_OK, 0) == 0)
			rc = import_maildir_folder(w, sfd, target);
		close(sfd);
	}
	names_free(&subs);
	return rc;
}

static int
do_import(struct work *w)
{
	const char *box = w->mailbox[0] != '\0' ? w->mailbox : "INBOX";
	char msg[512];
	struct stat st;
	int fd, rc;

	fd = open(w->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return ctl_fail(w->o, CTL_EXIT_ERROR, "%s (as %s): %s",
				w->path, w->user, strerror(e));
	}
	if (S_ISREG(st.st_mode)) {
		if (ensure_box(w, box) < 0)
			rc = ctl_fail(w->o, CTL_EXIT_ERROR, "creating %s: %s",
				      box, store_error(w->st)->detail);
		else
			rc = import_mbox(w, fd, box);
	} else if (S_ISDIR(st.st_mode)) {
		if (faccessat(fd, "cur", F_OK, 0) < 0 &&
		    faccessat(fd, "new", F_OK, 0) < 0)
			rc = ctl_fail(w->o, CTL_EXIT_ERROR, "%s is not a "
				      "Maildir (no cur/ or new/)", w->path);
		else
			rc = import_maildir(w, fd, box);
	} else {
		rc = ctl_fail(w->o, CTL_EXIT_ERROR, "%s is neither an mbox "
			      "file nor a Maildir", w->path);
	}
	close(fd);
	if (rc != CTL_EXIT_OK)
		return rc;
	json_head(w);
	snprintf(msg, sizeof(msg), "imported %llu messages into %u "
		 "mailbox%s of %s%s", (unsigned long long)w->n_msgs,
		 w->n_boxes, w->n_boxes == 1 ? "" : "es", w->user,
		 w->n_skipped > 0 ? " (some files skipped: see above)" : "");
	return json_tail(w, true, msg);
}

/* ---- export ---- */

static int
write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t n = write(fd, b, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies a message (CRLF as served) to fd with LF line ends, as mail
 * files on Debian are; mbox: with From_ quoting (mbox_parse_quote
 * strips the CRs too). Returns 0 or -1 with errno. */
static int
copy_message(int in, off_t off, uint64_t size, int out, bool mbox)
{
	struct mbox_quote q;
	struct buf *b = buf_new(4 * IO_CHUNK);
	uint8_t chunk[IO_CHUNK];
	bool last_lf = false, cr = false;
	int rc = 0;

	mbox_parse_quote_init(&q, true);
	while (size > 0 && rc == 0) {
		size_t want = size > sizeof(chunk) ? sizeof(chunk) :
		    (size_t)size;
		ssize_t n = pread(in, chunk, want, off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			rc = -1;
			break;
		}
		off += n;
		size -= (uint64_t)n;
		buf_reset(b);
		if (mbox) {
			rc = mbox_parse_quote(&q, chunk, (size_t)n, b);
			if (rc == 0 && size == 0)
				rc = mbox_parse_quote_finish(&q, b);
		} else {
			/* CRLF -> LF; a CR at the end of a chunk waits for
			 * the next byte. */
			for (ssize_t i = 0; i < n && rc == 0; i++) {
				if (cr && chunk[i] != '\n')
					rc = buf_append_byte(b, '\r');
				cr = chunk[i] == '\r';
				if (!cr && rc == 0)
					rc = buf_append_byte(b, chunk[i]);
			}
			if (rc == 0 && size == 0 && cr)
				rc = buf_append_byte(b, '\r');
		}
		if (rc == 0 && buf_len(b) > 0) {
			last_lf = buf_data(b)[buf_len(b) - 1] == '\n';
			rc = write_all(out, buf_data(b), buf_len(b));
		}
	}
	/* mbox: the message ends with a line break, then a blank line
	 * separates it from the next From_ line. */
	if (rc == 0 && mbox)
		rc = write_all(out, last_lf ? "\n" : "\n\n", last_lf ? 1 : 2);
	buf_free(&b);
	return rc;
}

static int
mkdir_p(const char *path)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int
export_box(struct work *w, const char *name, uint32_t *count)
{
	const struct mailbox_view *v;
	struct mailbox *mb = NULL;
	struct buf *path = buf_new(8192);
	enum mbname_error err;
	int out = -1, rc = -1;
	char *dir = NULL;

	*count = 0;
	w->why[0] = '\0';
	if (mailbox_open(w->st, name, true, &mb) < 0) {
		snprintf(w->why, sizeof(w->why), "%s",
			 store_error(w->st)->detail);
		goto done;
	}
	v = mailbox_view(mb);
	if (w->mbox_format) {
		if (str_eq(name, "INBOX")) {
			(void)buf_append_str(path, w->path);
			(void)buf_append_str(path, "/INBOX");
		} else if (mbname_to_mbox_path(name, STORE_SEPARATOR, w->path,
					       path, &err) < 0) {
			snprintf(w->why, sizeof(w->why), "no mbox path for "
				 "this name: %s", mbname_error_str(err));
			goto done;
		}
		dir = xstrdup(buf_str(path));
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir) < 0)
			goto done;
		out = open(buf_str(path), O_WRONLY | O_CREAT | O_EXCL |
			   O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			goto done;
	} else {
		struct buf *rel = buf_new(8192);

		if (mbname_to_maildir(name, STORE_SEPARATOR, rel, &err) < 0) {
			buf_free(&rel);
			snprintf(w->why, sizeof(w->why), "no Maildir++ name "
				 "for this name: %s", mbname_error_str(err));
			goto done;
		}
		(void)buf_append_str(path, w->path);
		if (buf_len(rel) > 0) {
			(void)buf_append_str(path, "/");
			(void)buf_append_str(path, buf_str(rel));
		}
		buf_free(&rel);
		dir = xstrdup(buf_str(path));
		for (size_t i = 0; i < 3; i++) {
			static const char *const sub[] = { "cur", "new",
							    "tmp" };
			char *p = xasprintf("%s/%s", dir, sub[i]);
			int r = mkdir_p(p);

			free(p);
			if (r < 0)
				goto done;
		}
	}
	for (size_t seq = 1; seq <= v->n; seq++) {
		const struct store_msg *m = &v->msgs[seq - 1];
		time_t date = 0;
		uint64_t size, msize;
		off_t off;
		int in;

		if (mailbox_msg_open(mb, (uint32_t)seq, &in, &off, &size) < 0) {
			if (store_error(w->st)->code == STORE_ERR_EXPUNGED)
				continue;
			snprintf(w->why, sizeof(w->why), "message %zu: %s", seq,
				 store_error(w->st)->detail);
			goto done;
		}
		(void)mailbox_msg_info(mb, (uint32_t)seq, &date, &msize);
		if (w->mbox_format) {
			struct buf *hdr = buf_new(2048);
			int r;

			r = mbox_parse_from_line_build(hdr, NULL, date);
			/* Flags as mutt and Dovecot write them into an
			 * mbox; the first Status header counts. */
			if (r == 0)
				r = buf_append_str(hdr, (m->flags & STORE_F_SEEN)
						   ? "Status: RO\n" :
						   "Status: O\n");
			if (r == 0 && (m->flags & (STORE_F_ANSWERED |
						   STORE_F_FLAGGED |
						   STORE_F_DRAFT |
						   STORE_F_DELETED)) != 0) {
				r = buf_append_str(hdr, "X-Status: ");
				if (m->flags & STORE_F_ANSWERED)
					r |= buf_append_byte(hdr, 'A');
				if (m->flags & STORE_F_FLAGGED)
					r |= buf_append_byte(hdr, 'F');
				if (m->flags & STORE_F_DRAFT)
					r |= buf_append_byte(hdr, 'T');
				if (m->flags & STORE_F_DELETED)
					r |= buf_append_byte(hdr, 'D');
				r |= buf_append_byte(hdr, '\n');
			}
			if (r == 0)
				r = write_all(out, buf_data(hdr),
					      buf_len(hdr));
			buf_free(&hdr);
			if (r == 0)
				r = copy_message(in, off, size, out, true);
			close(in);
			if (r < 0)
				goto done;
		} else {
			char flags[8], *tmp, *dst;
			size_t nf = 0;
			struct timespec ts[2];
			int fd, r;

			/* Maildir's info letters, in ASCII order. */
			if (m->flags & STORE_F_DRAFT)
				flags[nf++] = 'D';
			if (m->flags & STORE_F_FLAGGED)
				flags[nf++] = 'F';
			if (m->flags & STORE_F_ANSWERED)
				flags[nf++] = 'R';
			if (m->flags & STORE_F_SEEN)
				flags[nf++] = 'S';
			if (m->flags & STORE_F_DELETED)
				flags[nf++] = 'T';
			flags[nf] = '\0';
			tmp = xasprintf("%s/tmp/%lld.U%uV%u.moatctl", dir,
					(long long)date, m->uid,
					v->uidvalidity);
			dst = xasprintf("%s/cur/%lld.U%uV%u.moatctl:2,%s", dir,
					(long long)date, m->uid,
					v->uidvalidity, flags);
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				  O_CLOEXEC, 0600);
			r = fd < 0 ? -1 : copy_message(in, off, size, fd,
						       false);
			close(in);
			if (fd >= 0 && r == 0 && w->cfg->mail_fsync)
				r = fsync(fd);
			if (fd >= 0 && close(fd) < 0)
				r = -1;
			/* The mtime is the INTERNALDATE for whoever reads
			 * the Maildir next (Moat, Dovecot). */
			ts[0].tv_sec = ts[1].tv_sec = date;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			if (r == 0 && date > 0)
				(void)utimensat(AT_FDCWD, tmp, ts, 0);
			if (r == 0)
				r = rename(tmp, dst);
			free(tmp);
			free(dst);
			if (r < 0)
				goto done;
		}
		(*count)++;
	}
	rc = 0;
done:
	if (out >= 0 && close(out) < 0)
		rc = -1;
	if (rc < 0 && w->why[0] == '\0')
		snprintf(w->why, sizeof(w->why), "%s", strerror(errno));
	mailbox_close(&mb);
	free(dir);
	buf_free(&path);
	return rc;
}

static bool
dir_empty(const char *path)
{
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(path);

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		if (!str_eq(de->d_name, ".") && !str_eq(de->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static int
do_export(struct work *w)
{
	name_list boxes = ARRAY_INIT;
	char msg[512];
	int rc;

	if (mkdir(w->path, 0700) < 0 && (errno != EEXIST ||
					 !dir_empty(w->path)))
		return ctl_fail(w->o, CTL_EXIT_ERROR, "%s (as %s): %s", w->path,
				w->user, errno == EEXIST ? "exists and is not "
				"an empty directory" : strerror(errno));
	if ((rc = list_boxes(w, &boxes)) != CTL_EXIT_OK)
		return rc;
	json_head(w);
	for (size_t i = 0; i < boxes.n; i++) {
		uint32_t n = 0;

		if (export_box(w, boxes.v[i], &n) < 0) {
			rc = work_fail(w, "exporting %s: %s", boxes.v[i],
				       w->why);
			names_free(&boxes);
			return rc;
		}
		w->n_boxes++;
		w->n_msgs += n;
		row_begin(w);
		if (w->o->json) {
			printf("{\"name\":");
			json_str(stdout, boxes.v[i]);
			printf(",\"messages\":%u}", n);
		} else {
			printf("%-30s %8u\n", boxes.v[i], n);
		}
	}
	names_free(&boxes);
	snprintf(msg, sizeof(msg), "exported %llu messages in %u mailboxes "
		 "of %s to %s (%s)", (unsigned long long)w->n_msgs, w->n_boxes,
		 w->user, w->path, w->mbox_format ? "mbox" : "Maildir");
	return json_tail(w, true, msg);
}

/* ---- the child ---- */

static int __attribute__((noreturn))
child_main(struct work *w, const struct auth_user *u)
{
	struct rlimit rl = { 0, 0 };
	int rc;

	if (auth_become_user(u) < 0) {
		rc = ctl_fail(w->o, CTL_EXIT_ERROR, "cannot become %s (uid %u): "
			      "%s", u->user, u->uid, strerror(errno));
		fflush(stdout);
		_exit(rc);
	}
	/* The user's process holds no root secrets, but its memory is
	 * the user's mail: no core dumps, no ptrace by others. */
	(void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
	(void)setrlimit(RLIMIT_CORE, &rl);
	umask(077);
	if (chdir(u->home) < 0) {
		rc = ctl_fail(w->o, CTL_EXIT_ERROR, "cannot enter home %s of "
			      "%s: %s", u->home, u->user, strerror(errno));
		fflush(stdout);
		_exit(rc);
	}
	rc = open_store(w, u);
	if (rc == CTL_EXIT_OK) {
		switch (w->job) {
		case JOB_CHECK:
			rc = do_check(w, false, NULL);
			break;
		case JOB_REBUILD:
			rc = w->mailbox[0] != '\0' ?
			    do_check(w, true, w->mailbox) : do_rebuild_all(w);
			break;
		case JOB_IMPORT:
			rc = do_import(w);
			break;
		case JOB_EXPORT:
			rc = do_export(w);
			break;
		}
		store_free(&w->st);
	}
	mbox_lock_helper_stop();
	fflush(stdout);
	_exit(rc);
}

static int
parse_args(struct work *w, int argc, char **argv)
{
	const char *box = NULL, *format = NULL;
	char *pos[4] = { NULL, NULL, NULL, NULL };
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (str_eq(argv[i], "--mailbox") && i + 1 < argc)
			box = argv[++i];
		else if (str_eq(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (argv[i][0] == '-' || n >= 4)
			return -1;
		else
			pos[n++] = argv[i];
	}
	if (n == 0)
		return -1;
	if (str_eq(pos[0], "index") && n >= 3) {
		if (str_eq(pos[1], "check") && n == 3)
			w->job = JOB_CHECK;
		else if (str_eq(pos[1], "rebuild") && n <= 4)
			w->job = JOB_REBUILD;
		else
			return -1;
		w->user = pos[2];
		if (n == 4)
			box = pos[3];
		if (format != NULL || (w->job == JOB_CHECK && box != NULL) ||
		    (n != 4 && box != NULL))
			return -1;
	} else if (str_eq(pos[0], "import") && n == 3 && format == NULL) {
		w->job = JOB_IMPORT;
		w->user = pos[1];
		w->path = pos[2];
	} else if (str_eq(pos[0], "export") && n == 3 && box == NULL &&
		   format != NULL && (str_eq(format, "maildir") ||
				      str_eq(format, "mbox"))) {
		w->job = JOB_EXPORT;
		w->user = pos[1];
		w->path = pos[2];
		w->mbox_format = str_eq(format, "mbox");
	} else {
		return -1;
	}
	if (box != NULL && canon_mailbox(box, w->mailbox,
					 sizeof(w->mailbox)) < 0) {
		usage_hint("%s: not a valid mailbox name", box);
		return -2;
	}
	if (w->path != NULL && w->path[0] != '/') {
		usage_hint("%s: give an absolute path (the work runs in the "
			   "user's home)", w->path);
		return -2;
	}
	return 0;
}

int
ctl_user_cmd(const struct ctl_opts *o, int argc, char **argv)
{
	struct pwfile_cache pwc, *pwcp = NULL;
	struct auth_user u;
	struct work w;
	unsigned int st;
	int status, r;
	pid_t pid;

	memset(&w, 0, sizeof(w));
	w.o = o;
	w.cfg = o->cfg;
	r = parse_args(&w, argc, argv);
	if (r < 0) {
		if (r == -1)
			usage_hint("%s: wrong arguments", argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (geteuid() != 0)
		log_warn("not root: working as uid %u, not as the user",
			 (unsigned int)geteuid());
	if (o->cfg->auth_passwd_file != NULL) {
		pwfile_cache_init(&pwc, o->cfg->auth_passwd_file);
		pwcp = &pwc;
	}
	st = lmtp_lookup(o->cfg, pwcp, w.user, &u);
	if (pwcp != NULL)
		pwfile_cache_free(pwcp);
	if (st == IPC_ST_FAIL)
		return ctl_fail(o, CTL_EXIT_ERROR, "no such user %s (or one "
				"who gets no mail here)", w.user);
	if (st != IPC_ST_OK)
		return ctl_fail(o, CTL_EXIT_ERROR, "looking up %s failed; "
				"try again", w.user);
	w.user = u.user;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return ctl_fail(o, CTL_EXIT_ERROR, "fork: %s", strerror(errno));
	if (pid == 0)
		child_main(&w, &u);
	explicit_bzero(&u, sizeof(u));
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return ctl_fail(o, CTL_EXIT_ERROR, "waitpid: %s",
					strerror(errno));
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return ctl_fail(o, CTL_EXIT_ERROR, "the worker for %s was killed by "
			"signal %d", w.user, WTERMSIG(status));
}
