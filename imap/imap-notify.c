/*
 * imap-notify: see imap-notify.h. The events read from inotify are the
 * kernel's; only their mask and (for directory watches) their name are
 * looked at, the name only compared with a prefix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-notify.h"
#include "storage/store.h"

/* statfs f_type of file systems whose other clients' changes inotify
 * does not report. */
#define FS_NFS   0x6969
#define FS_SMB   0x517b
#define FS_CIFS  0xff534d42u
#define FS_SMB2  0xfe534d42u
#define FS_FUSE  0x65735546
#define FS_CEPH  0x00c36400

#define FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
		   IN_DELETE_SELF | IN_MOVE_SELF)
#define DIR_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		  IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* Events that say the watched object may no longer be the mailbox's. */
#define GONE_MASK (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)

struct notify_watch {
	int wd;
	bool dir;
	char prefix[sizeof(((struct store_watch *)0)->prefix)];
};

struct imap_notify {
	struct client *c;
	int fd;                     /* inotify, -1 if none */
	struct ev_io *io;
	struct notify_watch w[STORE_WATCH_MAX];
	size_t n_w;
	struct ev_timer *debounce;
	bool due;                   /* debounce running */
	uint64_t first_ms;          /* its first event */
	struct ev_timer *poll;
	bool armed;
	bool started;               /* watches set up (at the first IDLE) */
	bool polling;
	bool rewatch;               /* a watched object went away */
};

static bool
fs_is_remote(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case FS_NFS: case FS_SMB: case FS_CIFS: case FS_SMB2: case FS_FUSE:
	case FS_CEPH:
		return true;
	default:
		return false;
	}
}

/* (Re)adds the watches; whatever cannot be watched makes us poll. */
static void
notify_watch_all(struct imap_notify *n)
{
	struct store_watch sw[STORE_WATCH_MAX];
	size_t k = 0;

	n->n_w = 0;
	if (mailbox_watches(n->c->mailbox, sw, STORE_WATCH_MAX, &k) < 0 ||
	    k == 0)
		n->polling = true;
	for (size_t i = 0; i < k && n->fd >= 0; i++) {
		int wd = inotify_add_watch(n->fd, sw[i].path,
					   sw[i].dir ? DIR_MASK : FILE_MASK);

		if (wd < 0) {
			/* ENOSPC: fs.inotify.max_user_watches is used up. */
			log_warn("Watching %s: %m; polling every %u s",
				 sw[i].path, IMAP_NOTIFY_POLL_MS / 1000);
			n->polling = true;
			continue;
		}
		if (fs_is_remote(sw[i].path))
			n->polling = true;
		n->w[n->n_w].wd = wd;
		n->w[n->n_w].dir = sw[i].dir;
		memcpy(n->w[n->n_w].prefix, sw[i].prefix,
		       sizeof(n->w[n->n_w].prefix));
		n->n_w++;
	}
}

static const struct notify_watch *
notify_find(const struct imap_notify *n, int wd)
{
	for (size_t i = 0; i < n->n_w; i++) {
		if (n->w[i].wd == wd)
			return &n->w[i];
	}
	return NULL;
}

static void
notify_debounce_cb(struct ev_timer *t, void *ctx)
{
	struct imap_notify *n = ctx;
	struct client *c = n->c;

	(void)t;
	n->due = false;
	/* May close the mailbox and free n: touch nothing after. */
	client_wake(c);
}

/* An event that matters while armed: wake after the burst is over. */
static void
notify_changed(struct imap_notify *n)
{
	uint64_t now = ev_now_ms(n->c->ev), left, wait;

	if (!n->armed)
		return;
	if (!n->due) {
		n->due = true;
		n->first_ms = now;
		if (n->debounce == NULL)
			n->debounce = ev_timer_add(n->c->ev,
						   IMAP_NOTIFY_DEBOUNCE_MS,
						   notify_debounce_cb, n);
		else
			ev_timer_reset(n->debounce, IMAP_NOTIFY_DEBOUNCE_MS);
		return;
	}
	left = now - n->first_ms >= IMAP_NOTIFY_MAX_DELAY_MS ? 0 :
		IMAP_NOTIFY_MAX_DELAY_MS - (now - n->first_ms);
	wait = left < IMAP_NOTIFY_DEBOUNCE_MS ? left :
		IMAP_NOTIFY_DEBOUNCE_MS;
	ev_timer_reset(n->debounce, wait);
}

/* One event: does it concern the mailbox? */
static bool
notify_event_matters(struct imap_notify *n, const struct inotify_event *e)
{
	const struct notify_watch *w;

	if ((e->mask & IN_Q_OVERFLOW) != 0)
		return true;
	w = notify_find(n, e->wd);
	if (w == NULL)
		return false;          /* a watch we replaced */
	if ((e->mask & GONE_MASK) != 0) {
		n->rewatch = true;
		return true;
	}
	if (!w->dir || w->prefix[0] == '\0' || e->len == 0)
		return true;
	if (strncmp(e->name, w->prefix, strlen(w->prefix)) != 0)
		return false;
	/* The mbox replaced or created under its name: watch it anew. */
	if ((e->mask & (IN_CREATE | IN_MOVED_TO)) != 0)
		n->rewatch = true;
	return true;
}

static void
notify_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct imap_notify *n = ctx;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool matters = false;

	(void)io;
	(void)events;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (char *p = buf; p + sizeof(struct inotify_event) <=
		     buf + len;) {
			const struct inotify_event *e = (const void *)p;

			if (notify_event_matters(n, e))
				matters = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (matters)
		notify_changed(n);
}

static void
notify_poll_cb(struct ev_timer *t, void *ctx)
{
	struct imap_notify *n = ctx;
	struct client *c = n->c;

	ev_timer_reset(t, IMAP_NOTIFY_POLL_MS);
	client_wake(c);
}

/* The inotify instance and its watches, at the first IDLE of this
 * selection: adding a watch on a directory walks its entries in the
 * kernel (fsnotify_set_children_dentry_flags: a fifth of a warm SELECT's
 * CPU with 10,000 files in cur/), and nothing but IDLE looks at the
 * events. Called before IDLE's first sync, so no change falls between. */
static void
notify_begin(struct imap_notify *n)
{
	struct client *c = n->c;

	n->started = true;
	n->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (n->fd < 0) {
		/* EMFILE: fs.inotify.max_user_instances is used up. */
		log_warn("inotify_init1: %m; polling every %u s",
			 IMAP_NOTIFY_POLL_MS / 1000);
		n->polling = true;
		return;
	}
	notify_watch_all(n);
	n->io = ev_io_add(c->ev, n->fd, EV_READ, notify_io_cb, n);
}

void
imap_notify_start(struct client *c)
{
	struct imap_notify *n;

	imap_notify_stop(c);
	if (c->mailbox == NULL)
		return;
	n = xcalloc(1, sizeof(*n));
	n->c = c;
	n->fd = -1;
	c->notify = n;
}

void
imap_notify_stop(struct client *c)
{
	struct imap_notify *n = c->notify;

	if (n == NULL)
		return;
	ev_io_del(&n->io);
	ev_timer_del(&n->debounce);
	ev_timer_del(&n->poll);
	if (n->fd >= 0)
		close(n->fd);   /* drops every watch with it */
	free(n);
	c->notify = NULL;
}

void
imap_notify_arm(struct client *c, bool on)
{
	struct imap_notify *n = c->notify;

	if (n == NULL || n->armed == on)
		return;
	n->armed = on;
	if (on) {
		if (!n->started && c->mailbox != NULL)
			notify_begin(n);
		n->due = false;
		if (n->polling)
			n->poll = ev_timer_add(c->ev, IMAP_NOTIFY_POLL_MS,
					       notify_poll_cb, n);
	} else {
		ev_timer_del(&n->debounce);
		ev_timer_del(&n->poll);
		n->due = false;
	}
}

void
imap_notify_synced(struct client *c)
{
	struct imap_notify *n = c->notify;

	if (n == NULL || !n->rewatch || n->fd < 0 || c->mailbox == NULL)
		return;
	n->rewatch = false;
	for (size_t i = 0; i < n->n_w; i++)
		(void)inotify_rm_watch(n->fd, n->w[i].wd);
	notify_watch_all(n);
	if (n->polling && n->armed && n->poll == NULL)
		n->poll = ev_timer_add(c->ev, IMAP_NOTIFY_POLL_MS,
				       notify_poll_cb, n);
}

bool
imap_notify_polling(const struct client *c)
{
	return c->notify != NULL && c->notify->polling;
}
