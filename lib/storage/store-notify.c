/*
 * store-notify: what a session watches to learn that its selected
 * mailbox changed (IDLE), and the signal a committing writer leaves for
 * the other sessions of the same user. Callers: store-txn.c after every
 * commit (store_notify_touch), the imap session through
 * mailbox_watches() (store.h).
 *
 * The signal between sessions is a per-mailbox file in the index
 * directory, "<index_dir>/notify/<mailbox id>": a session that watches
 * the mailbox creates it and watches it with inotify (IN_ATTRIB); a
 * writer sets its times after each commit (one utimensat(2), which fails
 * cheaply with ENOENT while nobody watches). The file holds nothing;
 * the index is the truth, the touch only says "sync now". Every path
 * is built from the index directory the session was given and a number,
 * never from a mailbox name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/store-private.h"

/* "<index_dir>/notify/<id>" into out; false if it does not fit. */
static bool
notify_path(const struct store *s, uint32_t id, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/notify/%u", s->set.index_dir, id);

	return n > 0 && (size_t)n < len;
}

void
store_notify_touch(struct store *s, const struct mailbox *box)
{
	char path[PATH_MAX];

	if (box->id == 0 || !notify_path(s, box->id, path, sizeof(path)))
		return;
	if (utimensat(AT_FDCWD, path, NULL, 0) < 0 && errno != ENOENT)
		log_warn("Touching %s: %m", path);
}

/* Creates the notify file of box (and its directory) if missing. */
static int
notify_prepare(struct store *s, const struct mailbox *box, char *path,
	       size_t len)
{
	char dir[PATH_MAX];
	int fd, n;

	n = snprintf(dir, sizeof(dir), "%s/notify", s->set.index_dir);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    !notify_path(s, box->id, path, len)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int
mailbox_watches(struct mailbox *mb, struct store_watch *w, size_t max,
		size_t *n)
{
	struct store *s = mb->store;

	*n = 0;
	if (max == 0)
		return 0;
	memset(&w[0], 0, sizeof(w[0]));
	if (mb->id != 0) {
		if (notify_prepare(s, mb, w[0].path, sizeof(w[0].path)) == 0)
			(*n)++;
		else
			log_warn("Change notification file of %s: %m",
				 mb->name);
	}
	if (s->be->watches == NULL)
		return 0;
	return s->be->watches(mb, w, max, n);
}
