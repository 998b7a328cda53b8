/*
 * mbox_lock: locking an mbox file the way Debian's MDAs and MUAs do
 * (Debian Policy 11.6): a kernel record lock on the whole file first,
 * then the dotlock "<mbox>.lock" through liblockfile.
 *
 *  - Write locks (APPEND, EXPUNGE, journal recovery): the fcntl write
 *    lock, then the dotlock. Read locks (scans, FETCH copies, COPY
 *    sources): the fcntl read lock only, as Dovecot's default read
 *    locks; every writer on Debian (postfix local, exim, procmail, mutt)
 *    takes the fcntl lock too, so a reader is safe from all of them.
 *  - Both are try-locks. When the second cannot be had, the first is
 *    released and the whole attempt repeats after a random, growing
 *    back-off (Policy 11.6 footnote 3): a program taking them in the
 *    other order (postfix: dotlock first) can never deadlock with us,
 *    whether it blocks or not. After timeout_ms in total the attempt
 *    fails with EAGAIN (STORE_ERR_INUSE).
 *  - The kernel lock is an open file description lock (F_OFD_SETLK):
 *    on Linux it conflicts with the classic fcntl locks of other
 *    programs exactly like one, but it belongs to the descriptor, so
 *    closing some other descriptor of the same file (the store's,
 *    liblockfile's, a FETCH copy's) never drops it, as it would a POSIX
 *    lock.
 *  - The dotlock holds our pid (L_PID): liblockfile, mutt and Dovecot
 *    treat it as stale as soon as we are gone, so a killed session
 *    never blocks delivery for long. A lock without a live pid is stale
 *    after 5 minutes of no change, so a long-held lock is touched every
 *    MBOX_LOCK_TOUCH_SECS (call mbox_lock_touch from long loops).
 *  - Released in reverse order: dotlock, then the kernel lock.
 *
 * The spool (/var/mail, root:mail 2775) is not writable by the user:
 * lockfile_create() then runs its setgid-mail helper dotlockfile(1),
 * which uses the group only for "<mbox>.lock" of an mbox the caller
 * owns in a group-mail, group-writable directory. A process
 * with PR_SET_NO_NEW_PRIVS does not gain that group on exec, so the
 * helper fails there (EACCES). mbox_lock_helper_start() is the way out
 * for such a process: see below.
 *
 * Callers: the mbox backend (mbox.c). Not thread-safe (one process,
 * one thread, like the store).
 */
#ifndef MOAT_STORAGE_MBOX_LOCK_H
#define MOAT_STORAGE_MBOX_LOCK_H

#include <stdbool.h>
#include <time.h>

/* Total wait for a lock before EAGAIN, unless set otherwise. mutt holds
 * the write lock while it rewrites a large mbox, an MDA for one
 * delivery; an IMAP command should not wait much longer than that. */
#define MBOX_LOCK_TIMEOUT_MS 30000u
/* Touch a held dotlock at least this often (liblockfile and mutt treat
 * a lock without a live pid as stale after 5 minutes, Dovecot after 2
 * minutes without change). */
#define MBOX_LOCK_TOUCH_SECS 30

/* The timeout mbox_lock_init gives a lock (tests lower it). */
extern unsigned mbox_lock_default_timeout_ms;

enum mbox_lock_mode { MBOX_LOCK_NONE, MBOX_LOCK_READ, MBOX_LOCK_WRITE };

struct mbox_lock {
	int fd;                   /* the mbox (not owned): O_RDWR for
				   * write locks */
	char *dotlock;            /* "<mbox path>.lock" (owned) */
	enum mbox_lock_mode mode;
	bool dotlocked;
	bool use_dotlock;         /* write locks take the dotlock (default) */
	unsigned timeout_ms;      /* total wait */
	time_t touched;           /* CLOCK_MONOTONIC s of the last touch */
	unsigned waits;           /* back-offs slept (tests, logs) */
	char detail[160];         /* why the last take failed (for logs) */
};

/* path is the mbox file's path (the dotlock goes next to it). */
void mbox_lock_init(struct mbox_lock *l, int fd, const char *path);
/* Releases what is held and frees the dotlock path. */
void mbox_lock_deinit(struct mbox_lock *l);

/* Takes mode (READ or WRITE). Holding another mode, it is released
 * first (no atomic upgrade: two upgraders would deadlock), so the
 * caller revalidates what it read. Returns 0, or -1 with errno:
 * EAGAIN   still held by others after timeout_ms (l->detail says
 *          which lock);
 * EACCES   the dotlock cannot be created here (no permission; under
 *          NO_NEW_PRIVS without the helper the detail says so);
 * other    from fcntl or liblockfile.
 * On failure nothing is held. */
int mbox_lock_take(struct mbox_lock *l, enum mbox_lock_mode mode);
/* Touches the dotlock if it is held and was not touched for
 * MBOX_LOCK_TOUCH_SECS (cheap otherwise). */
void mbox_lock_touch(struct mbox_lock *l);
void mbox_lock_release(struct mbox_lock *l);

/* Dotlock helper for a process that will set PR_SET_NO_NEW_PRIVS.
 * Call it after the privilege drop (the helper runs with the same ids)
 * and before prctl(PR_SET_NO_NEW_PRIVS): it forks a small child that
 * keeps the right to exec the setgid dotlockfile(1) and runs liblockfile
 * on our behalf, over a socketpair. The child does nothing else: it
 * accepts only "create / remove / touch <absolute path>.lock" requests,
 * and dotlockfile itself allows the mail group only for the caller's
 * own "<user>.lock", so the helper grants nothing the user could not do
 * from a shell. When the session ends (its end of the socket closes)
 * the helper removes any dotlock it still holds, then exits. From then
 * on mbox_lock_take uses it. The child names itself "mbox-dotlock".
 * The imap session starts it for a spool INBOX only
 * (store_needs_lock_helper). Returns 0, or -1 with errno. */
int mbox_lock_helper_start(void);
/* Closes our end (the helper exits). */
void mbox_lock_helper_stop(void);
/* True when dotlocks go through the helper. */
bool mbox_lock_helper_running(void);

#endif
