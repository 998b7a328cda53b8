/*
 * session: starting an imap session. A login process that authenticated
 * a client sends SESSION_REQ with the cookie auth gave it and the
 * client's descriptor; moatd redeems the cookie with auth *for that
 * login process and that connection* (both ids are moatd's, so a cookie
 * obtained by one login process is useless to another, and a cookie
 * obtained with one client's password and address cannot start a
 * session on another client's connection), checks the user record and
 * the limits, starts imap for the user (children.c, spawn.c: imap is
 * exec'd as root and drops to the user's ids and to the supplementary
 * groups auth sent with the record, then enters the home itself) and
 * sends it SESSION_INIT.
 *
 * Callers: login-conn.c (SESSION_REQ), auth-conn.c (COOKIE_USER),
 * children.c (an imap process exited).
 * Trust: the SESSION_REQ comes from a possibly compromised login
 * process: every field is bounded and checked, and it may not name a
 * connection that is not its own or change the addresses moatd gave it
 * (either kills it). What stops a forged session is the cookie, redeemed
 * for this login id and this connection id.
 * The user record comes from auth; it is still checked (no uid 0, uids
 * inside first_valid_uid..last_valid_uid, no gid 0 or (gid_t)-1 among
 * the groups, an absolute home) because a wrong record here would hand
 * someone a root shell over IMAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "master/master.h"
#include "master/spawn.h"

struct session_req {
	struct conn *conn;          /* NULL after CONN_DONE */
	uint32_t conn_id;
	int fd;
	uint8_t cookie[IPC_COOKIE_LEN];
	char tag[IPC_TAG_MAX + 1];
	uint8_t *pipelined;
	size_t pipelined_len;
	uint32_t flags;
	char rip[IPC_IP_MAX], lip[IPC_IP_MAX];
	uint32_t rport, lport;
};

void
session_req_free(struct session_req *sr)
{
	if (sr->conn != NULL)
		sr->conn->sr = NULL;
	if (sr->fd >= 0)
		close(sr->fd);
	explicit_bzero(sr->cookie, sizeof(sr->cookie));
	if (sr->pipelined != NULL) {
		/* May hold the client's next commands: not ours to keep. */
		explicit_bzero(sr->pipelined, sr->pipelined_len);
		free(sr->pipelined);
	}
	free(sr);
}

void
session_req_conn_gone(struct session_req *sr)
{
	sr->conn = NULL;
}

void
session_req_fail(struct session_req *sr, struct child *login,
		 uint32_t status, const char *why)
{
	if (login != NULL) {
		log_warn("rip=%s lip=%s refused session from %s: %s",
			 sr->rip, sr->lip, child_name(login), why);
		login_reply_session(login, sr->conn_id, status);
	}
	session_req_free(sr);
}

/* RFC 9051 tag: 1*<ASTRING-CHAR except "+">; the login process's parser
 * enforced the grammar, moatd only makes sure it is printable text with
 * no space, so it can be sent back to the client verbatim. */
static bool
tag_ok(const char *tag)
{
	size_t len = strlen(tag);

	if (len == 0 || len > IPC_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)tag[i];

		if (ch <= 0x20 || ch >= 0x7f)
			return false;
	}
	return true;
}

int
session_req_handle(struct child *login, const struct ipc_msg *msg)
{
	struct session_req *sr = xcalloc(1, sizeof(*sr));
	const uint8_t *pl = NULL;
	struct ipc_out o;
	struct pending *p;
	struct conn *cn;
	struct ipc_rd r;
	const char *bad = NULL;

	sr->fd = msg->fd;
	sr->conn_id = msg->id;
	ipc_rd_init(&r, msg);
	if (ipc_get_fixed(&r, sr->cookie, sizeof(sr->cookie)) < 0 ||
	    ipc_get_str(&r, sr->tag, sizeof(sr->tag)) < 0 ||
	    ipc_get_bytes(&r, &pl, &sr->pipelined_len,
			  IPC_PIPELINED_MAX) < 0 ||
	    ipc_get_u32(&r, &sr->flags) < 0 ||
	    ipc_get_str(&r, sr->rip, sizeof(sr->rip)) < 0 ||
	    ipc_get_u32(&r, &sr->rport) < 0 ||
	    ipc_get_str(&r, sr->lip, sizeof(sr->lip)) < 0 ||
	    ipc_get_u32(&r, &sr->lport) < 0 || ipc_rd_end(&r) < 0)
		bad = "malformed SESSION_REQ";
	else if (sr->fd < 0)
		bad = "SESSION_REQ without a descriptor";
	else if (!tag_ok(sr->tag))
		bad = "SESSION_REQ with an invalid tag";
	else if ((sr->flags & ~IPC_CONN_FLAGS_ALL) != 0)
		bad = "SESSION_REQ with unknown flags";
	else if (!net_ip_valid(sr->rip) || !net_ip_valid(sr->lip) ||
		 sr->rport > 65535 || sr->lport > 65535)
		bad = "SESSION_REQ with an invalid address";
	if (bad != NULL) {
		session_req_free(sr);
		child_violation(login, "%s", bad);
		return -1;
	}
	cn = conn_find(sr->conn_id);
	if (cn == NULL)
		bad = "SESSION_REQ for a connection moatd did not give it";
	else if (cn->login != login)
		bad = "SESSION_REQ for another login process's connection";
	else if (cn->sr != NULL || !cn->preauth)
		bad = "SESSION_REQ for a connection that already has a session";
	else if (!str_eq(cn->rip, sr->rip) || cn->rport != sr->rport ||
		 !str_eq(cn->lip, sr->lip) || cn->lport != sr->lport)
		bad = "SESSION_REQ whose addresses do not match its connection";
	if (bad != NULL) {
		session_req_free(sr);
		child_violation(login, "%s (connection %u)", bad,
				msg->id);
		return -1;
	}
	if (sr->pipelined_len > 0) {
		sr->pipelined = xmalloc(sr->pipelined_len);
		memcpy(sr->pipelined, pl, sr->pipelined_len);
	}
	sr->conn = cn;
	if (cn != NULL)
		cn->sr = sr;

	if (master.stopping) {
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "moatd is shutting down");
		return 0;
	}
	if (!auth_available()) {
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "auth is not running");
		return 0;
	}
	p = pending_new(PENDING_REDEEM, login, sr->conn_id, NULL);
	if (p == NULL) {
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "too many requests waiting for auth");
		return 0;
	}
	p->sr = sr;
	ipc_out_init(&o, IPC_COOKIE_REDEEM, p->id);
	/* The login id of the process this request arrived from and the
	 * connection it is for: a cookie is only good for the login process
	 * that asked for it, on the connection the password came in on. */
	ipc_put_u64(&o, login->login_id);
	ipc_put_u32(&o, sr->conn_id);
	ipc_put_bytes(&o, sr->cookie, sizeof(sr->cookie));
	explicit_bzero(sr->cookie, sizeof(sr->cookie));
	auth_send(p, &o);
	return 0;
}

/* Returns NULL when the record may run a session, or why not. */
static const char *
record_problem(const struct user_record *rec, char *buf, size_t len)
{
	const struct moat_config *cfg = master.cfg;

	if (rec->user[0] == '\0' || str_has_ctl(rec->user) ||
	    strchr(rec->user, '/') != NULL || str_eq(rec->user, ".") ||
	    str_eq(rec->user, ".."))
		return "auth returned an invalid user name";
	if (rec->home[0] != '/' || str_has_ctl(rec->home))
		return "auth returned a home that is not an absolute path";
	if (str_has_ctl(rec->mail))
		return "auth returned an invalid mail location";
	/* (uid_t)-1 would mean "leave unchanged" to setresuid. */
	if (rec->uid == 0 || rec->uid == UINT32_MAX) {
		snprintf(buf, len, "uid %u is not allowed", rec->uid);
		return buf;
	}
	if (rec->gid == 0 || rec->gid == UINT32_MAX) {
		snprintf(buf, len, "gid %u is not allowed", rec->gid);
		return buf;
	}
	/* The supplementary groups go to setgroups as they are: a mail
	 * session must never get the root group, and (gid_t)-1 is no
	 * group. */
	for (size_t i = 0; i < rec->n_groups; i++) {
		if (rec->groups[i] == 0 || rec->groups[i] == UINT32_MAX) {
			snprintf(buf, len, "supplementary group %u is not "
				 "allowed", rec->groups[i]);
			return buf;
		}
	}
	if (rec->uid < cfg->first_valid_uid) {
		snprintf(buf, len, "uid %u is below first_valid_uid %u",
			 rec->uid, cfg->first_valid_uid);
		return buf;
	}
	if (cfg->last_valid_uid != 0 && rec->uid > cfg->last_valid_uid) {
		snprintf(buf, len, "uid %u is above last_valid_uid %u",
			 rec->uid, cfg->last_valid_uid);
		return buf;
	}
	return NULL;
}

static char *
userip_key(const char *user, const char *ip, size_t *len)
{
	size_t ul = strlen(user), il = strlen(ip);
	char *k = xmalloc(ul + 1 + il);

	memcpy(k, user, ul);
	k[ul] = '\0';
	memcpy(k + ul + 1, ip, il);
	*len = ul + 1 + il;
	return k;
}

static int
userip_add(const char *user, const char *ip, int delta)
{
	size_t klen;
	char *k = userip_key(user, ip, &klen);
	unsigned int n;

	if (delta == 0)
		n = htab_counter_get(master.sessions_per_userip, k, klen);
	else
		n = htab_counter_add(master.sessions_per_userip, k, klen,
				     delta);
	free(k);
	return (int)n;
}

void
session_imap_gone(struct child *c)
{
	if (c->user != NULL)
		(void)userip_add(c->user, c->rip, -1);
	if (c->session_id != 0)
		master.n_sessions--;
	control_session_gone(c);
}

/* "%u" in a location becomes the user name and "%%" a "%"; other "%"
 * sequences stay as written. Returns an xmalloc'd string, or NULL if it
 * would exceed IPC_PATH_MAX or would put a ':' or '=' from the name
 * into a location (where they separate its parts). */
static char *
session_expand_user(const char *tmpl, const char *user)
{
	struct buf *b = buf_new(IPC_PATH_MAX);
	const char *p;
	char *s = NULL;
	int rc = 0;

	for (p = tmpl; *p != '\0' && rc == 0; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			if (strpbrk(user, ":=") != NULL) {
				rc = -1;
				break;
			}
			rc = buf_append_str(b, user);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			rc = buf_append_byte(b, '%');
			p++;
		} else {
			rc = buf_append_byte(b, (uint8_t)*p);
		}
	}
	if (rc == 0)
		s = xstrdup(buf_str(b));
	buf_free(&b);
	return s;
}

/*
 * An index outside the home ("/DIR/<user>", config.c allows no other
 * absolute form) is made here, as root, because the user cannot write
 * DIR: DIR/<user> must be a directory of the user's, and is created
 * mode 0700 and given to the user if missing. DIR must be root's and
 * not writable by group or others, so nobody else can have put
 * anything there. This touches only DIR, which the admin keeps on a
 * local disk (doc/config.md): moatd never looks into a user's own file
 * system, where a hung mount would stall it. Not root: the directory is
 * simply ours. Returns NULL, or why the session must not start.
 */
static const char *
session_index_prepare(const char *path, uid_t uid, gid_t gid, char *why,
		      size_t len)
{
	const char *slash = strrchr(path, '/');
	char dir[IPC_PATH_MAX + 1];
	struct stat st;
	int dfd;

	if (slash == NULL || slash == path || slash[1] == '\0' ||
	    (size_t)(slash - path) >= sizeof(dir))
		return "invalid index directory";
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(why, len, "index parent directory %s: %s", dir,
			 strerror(errno));
		return why;
	}
	if (fstat(dfd, &st) < 0 ||
	    (master.root && (st.st_uid != 0 ||
			     (st.st_mode & (S_IWGRP | S_IWOTH)) != 0))) {
		close(dfd);
		snprintf(why, len, "index parent directory %s must be owned by "
			 "root and not writable by group or others", dir);
		return why;
	}
	if (fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT ||
		    mkdirat(dfd, slash + 1, 0700) < 0 ||
		    (master.root && fchownat(dfd, slash + 1, uid, gid,
					     AT_SYMLINK_NOFOLLOW) < 0)) {
			snprintf(why, len, "creating index directory %s: %s",
				 path, strerror(errno));
			close(dfd);
			return why;
		}
		log_info("Created index directory %s for uid %u", path,
			 (unsigned int)uid);
	} else if (!S_ISDIR(st.st_mode) || st.st_uid != uid) {
		close(dfd);
		snprintf(why, len, "index directory %s is not a directory "
			 "owned by uid %u", path, (unsigned int)uid);
		return why;
	}
	close(dfd);
	return NULL;
}

void
session_redeemed(struct session_req *sr, struct child *login,
		 const struct user_record *rec)
{
	const struct moat_config *cfg = master.cfg;
	static bool warned_unprivileged;
	char *argv[] = { "imap", NULL };
	struct spawn_as as;
	gid_t groups[IPC_GROUPS_MAX];
	struct ipc_out o;
	struct child *c;
	const char *why;
	char buf[IPC_PATH_MAX + LOG_QUOTED_MAX + 128];
	unsigned int max_ui = cfg->max_sessions_per_user_ip;
	char *mail, *index;

	if (rec->status != IPC_ST_OK) {
		session_req_fail(sr, login, IPC_ST_FAIL,
				 "cookie not accepted by auth");
		return;
	}
	why = record_problem(rec, buf, sizeof(buf));
	if (why != NULL) {
		log_error("rip=%s lip=%s user record from auth refused: "
			  "user=%s: %s", sr->rip, sr->lip, LOG_Q(rec->user),
			  why);
		session_req_fail(sr, login, IPC_ST_FAIL, why);
		return;
	}
	if (master.stopping) {
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "moatd is shutting down");
		return;
	}
	/* With login_per_connection this may drop a pre-auth connection
	 * (login-conn.c): a session outranks a client not logged in. */
	if (!login_process_room()) {
		session_req_fail(sr, login, IPC_ST_LIMIT,
				 "max_processes reached");
		return;
	}
	if (max_ui > 0 && (unsigned int)userip_add(rec->user, sr->rip, 0) >=
	    max_ui) {
		snprintf(buf, sizeof(buf), "user=%s already has %u sessions "
			 "from this address (max_sessions_per_user_ip)",
			 LOG_Q(rec->user), max_ui);
		session_req_fail(sr, login, IPC_ST_LIMIT, buf);
		return;
	}
	if (!master.root && !warned_unprivileged) {
		warned_unprivileged = true;
		log_warn("not running as root: sessions run as the invoking "
			 "user (uid %u), not as the user auth returned",
			 (unsigned int)getuid());
	}

	mail = session_expand_user(rec->mail[0] != '\0' ? rec->mail :
				   cfg->mail_location, rec->user);
	index = session_expand_user(cfg->mail_index, rec->user);
	why = NULL;
	if (mail == NULL || index == NULL)
		why = "mail location or index too long after expanding %u, "
			"or the user name has ':' or '='";
	else if (index[0] == '/')
		why = session_index_prepare(index, master.root ? rec->uid :
					    getuid(), master.root ? rec->gid :
					    getgid(), buf, sizeof(buf));
	if (why != NULL) {
		log_error("session for %s refused: %s", rec->user, why);
		free(mail);
		free(index);
		session_req_fail(sr, login, IPC_ST_TEMPFAIL, why);
		return;
	}

	memset(&as, 0, sizeof(as));
	as.user = rec->user;
	if (master.root) {
		as.change_ids = true;
		as.uid = rec->uid;
		as.gid = rec->gid;
		/* The groups initgroups(3) would set, looked up by the
		 * auth worker (record_problem checked them): moatd makes no
		 * NSS call, which could block its event loop, and the
		 * spawned child may not make one. */
		for (size_t i = 0; i < rec->n_groups; i++)
			groups[i] = (gid_t)rec->groups[i];
		as.groups = groups;
		as.n_groups = rec->n_groups;
	}
	c = child_spawn(CHILD_IMAP, "imap", argv, rec->user, sr->rip, &as);
	if (c == NULL) {
		free(mail);
		free(index);
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "cannot start imap");
		return;
	}
	(void)userip_add(rec->user, sr->rip, 1);

	ipc_out_init(&o, IPC_SESSION_INIT, 0);
	ipc_put_str(&o, rec->user);
	ipc_put_str(&o, rec->home);
	ipc_put_str(&o, mail);
	ipc_put_str(&o, sr->tag);
	ipc_put_bytes(&o, sr->pipelined, sr->pipelined_len);
	ipc_put_u32(&o, sr->flags);
	ipc_put_str(&o, sr->rip);
	ipc_put_u32(&o, sr->rport);
	ipc_put_str(&o, sr->lip);
	ipc_put_u32(&o, sr->lport);
	/* The session's settings (ipc-proto.h). */
	ipc_put_str(&o, index);
	ipc_put_u32(&o, (cfg->mail_fsync ? IPC_SESS_FSYNC : 0) |
		    (cfg->search_fts ? 0 : IPC_SESS_NO_FTS));
	ipc_put_u64(&o, cfg->max_line);
	ipc_put_u64(&o, cfg->max_literal);
	ipc_put_u64(&o, cfg->idle_timeout_ms);
	ipc_put_u64(&o, cfg->max_message_size);
	ipc_put_u64(&o, cfg->output_timeout_ms);
	free(mail);
	free(index);
	/* child_send owns and closes the client descriptor from here. */
	if (child_send(c, &o, sr->fd) < 0) {
		sr->fd = -1;
		(void)kill(c->pid, SIGKILL);
		c->term_sent = true;
		session_req_fail(sr, login, IPC_ST_TEMPFAIL,
				 "cannot hand the connection to imap");
		return;
	}
	sr->fd = -1;
	/* What moatctl who shows of it. */
	c->session_id = ++master.next_session_id;
	c->since = (int64_t)time(NULL);
	c->conn_flags = sr->flags;
	c->rport = (uint16_t)sr->rport;
	master.n_sessions++;
	master.logins_ok++;
	if (sr->conn != NULL)
		conn_session_started(sr->conn);
	login_reply_session(login, sr->conn_id, IPC_ST_OK);
	log_info("rip=%s lip=%s Login: user=%s pid=%ld", sr->rip, sr->lip,
		 LOG_Q(rec->user), (long)c->pid);
	session_req_free(sr);
}
