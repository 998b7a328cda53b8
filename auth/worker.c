/*
 * worker: an auth worker process's request loop, backend chain and
 * group lookup (see worker.h). Callers: wpool.c forks and calls
 * worker_main(); tests may call worker_authenticate(). Requests come
 * from the main auth process (root, same binary), but they carry
 * client-chosen user names and passwords, and the frame is validated
 * like any other IPC message.
 *
 * Accounts that may not log in (auth_policy: uid 0, outside the valid
 * range, login_user's uid) are refused here, as FAIL, so the answer is
 * a wrong password's. With PAM the system user database is asked first
 * and such an account's password is never given to PAM at all; the
 * record PAM yields (its PAM_USER may differ) is checked again after.
 * (If a PAM stack takes longer than auth_failure_delay, that refusal is
 * answered sooner than its wrong passwords: it tells that the account
 * is one Moat never lets in -- root, daemon -- and nothing about its
 * password.)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/ipc.h"
#include "core/log.h"
#include "core/str.h"
#include "auth-pam.h"
#include "passwd-file.h"
#include "worker.h"

/* True if user is a system account that may not log in: PAM is then
 * not asked to check its password. */
static bool
pam_precheck_refuses(const struct auth_policy *pol, const char *user,
		     const char *rip)
{
	char home[IPC_PATH_MAX + 1], why[128];
	const char *refused;
	uint32_t uid, gid;

	if (auth_getpw(user, &uid, &gid, home, sizeof(home)) <= 0)
		return false;     /* unknown here: PAM may still map it */
	refused = auth_policy_refuses(pol, uid, gid, NULL, 0, why,
				      sizeof(why));
	if (refused == NULL)
		return false;
	log_warn("rip=%s login refused before PAM (%s): user=%s; answered "
		 "as a wrong password", rip, refused, LOG_Q(user));
	return true;
}

static enum auth_result
run_backends(const struct moat_config *cfg, const struct auth_policy *pol,
	     struct pwfile_cache *pwc, const char *user, const char *password,
	     const char *rip, struct auth_user *out, pam_handle_t **pamh)
{
	enum auth_result r = AUTH_RES_UNKNOWN;
	bool last;

	for (size_t i = 0; i < cfg->n_auth_backends; i++) {
		last = i + 1 == cfg->n_auth_backends;
		switch (cfg->auth_backends[i]) {
		case CONFIG_AUTH_PASSWD_FILE:
			if (pwc == NULL)
				return AUTH_RES_TEMPFAIL;
			r = pwfile_auth(pwc, user, password, last, out);
			break;
		case CONFIG_AUTH_PAM:
			if (pam_precheck_refuses(pol, user, rip))
				return AUTH_RES_FAIL;
			r = auth_pam(cfg->auth_pam_service, user, password,
				     rip, out, pamh);
			break;
		default:
			return AUTH_RES_TEMPFAIL;
		}
		if (r != AUTH_RES_UNKNOWN)
			return r;
	}
	/* Nobody knows the user. */
	return AUTH_RES_FAIL;
}

enum auth_result
worker_authenticate(const struct moat_config *cfg,
		    const struct auth_policy *pol, struct pwfile_cache *pwc,
		    const char *user, const char *password, const char *rip,
		    struct auth_user *out)
{
	pam_handle_t *pamh = NULL;
	enum auth_result r;
	const char *refused;
	char why[128];

	out->n_groups = 0;
	r = run_backends(cfg, pol, pwc, user, password, rip, out, &pamh);
	/* The groups are looked up here, in a worker, because a lookup
	 * may block (LDAP, sssd) and costs real time even with local
	 * files: done in moatd it would stall every login and session.
	 * By the canonical name the backend returned, as initgroups
	 * would be called with it. A user in too many groups cannot log
	 * in (logged) rather than run with a shortened list. */
	if (r == AUTH_RES_OK &&
	    auth_getgroups(out->user, out->gid, out->groups,
			   &out->n_groups) < 0) {
		out->n_groups = 0;
		r = AUTH_RES_TEMPFAIL;
	}
	if (r == AUTH_RES_OK &&
	    (refused = auth_policy_refuses(pol, out->uid, out->gid,
					   out->groups, out->n_groups, why,
					   sizeof(why))) != NULL) {
		log_warn("rip=%s user may not log in (%s): user=%s; "
			 "answered as a wrong password", rip, refused,
			 LOG_Q(out->user));
		r = AUTH_RES_FAIL;
	}
	/* PAM's session stack runs only for an account we accept. */
	r = auth_pam_finish(&pamh, r, cfg->auth_pam_session);
	if (r != AUTH_RES_OK)
		out->n_groups = 0;
	return r;
}

static uint32_t
to_status(enum auth_result r)
{
	switch (r) {
	case AUTH_RES_OK:
		return IPC_ST_OK;
	case AUTH_RES_TEMPFAIL:
		return IPC_ST_TEMPFAIL;
	case AUTH_RES_FAIL:
	case AUTH_RES_UNKNOWN:
		break;
	case AUTH_RES_TIMEOUT:    /* the pool's, never a worker's */
		return IPC_ST_TEMPFAIL;
	}
	return IPC_ST_FAIL;
}

void
worker_main(const struct moat_config *cfg, int sock)
{
	/* static: 64 KiB is too much for a stack that PAM modules also
	 * use; the worker is single-threaded. */
	static uint8_t rbuf[IPC_MSG_MAX];
	struct pwfile_cache pwc, *pwcp = NULL;
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	char rip[IPC_IP_MAX];
	struct auth_user u;
	enum auth_result r;
	enum ipc_recv_result rr;
	struct ipc_msg msg;
	struct ipc_rd rd;
	struct ipc_out o;
	struct auth_policy pol;
	int ok;

	auth_policy_init(&pol, cfg);
	if (cfg->auth_passwd_file != NULL) {
		const struct pwfile *pf;

		pwfile_cache_init(&pwc, cfg->auth_passwd_file);
		pwcp = &pwc;
		/* Parse now, not on the first login; a failure is logged
		 * and retried per request. */
		(void)pwfile_cache_get(pwcp, &pf);
	}
	for (;;) {
		rr = ipc_recv(sock, rbuf, sizeof(rbuf), &msg);
		if (rr == IPC_RECV_AGAIN)
			continue;            /* EINTR on a blocking socket */
		if (rr == IPC_RECV_EOF)
			_exit(0);            /* main closed us: retired */
		if (rr != IPC_RECV_OK) {
			log_error("worker: %s from the auth main process",
				  rr == IPC_RECV_MALFORMED ?
				  "malformed message" : "receive error");
			_exit(1);
		}
		if (msg.fd >= 0)
			close(msg.fd);
		ipc_rd_init(&rd, &msg);
		ok = msg.type == IPC_WORKER_REQ && msg.fd < 0 &&
		    ipc_get_str(&rd, user, sizeof(user)) == 0 &&
		    ipc_get_str(&rd, pass, sizeof(pass)) == 0 &&
		    ipc_get_str(&rd, rip, sizeof(rip)) == 0 &&
		    ipc_rd_end(&rd) == 0;
		/* The frame held the password too. */
		explicit_bzero(rbuf, IPC_HDR_LEN + msg.payload_len);
		if (!ok) {
			explicit_bzero(pass, sizeof(pass));
			log_error("worker: unexpected or malformed request "
				  "(type %u)", msg.type);
			_exit(1);
		}

		memset(&u, 0, sizeof(u));
		r = worker_authenticate(cfg, &pol, pwcp, user, pass, rip, &u);
		explicit_bzero(pass, sizeof(pass));
		if (r != AUTH_RES_OK)
			memset(&u, 0, sizeof(u));

		ipc_out_init(&o, IPC_WORKER_RESULT, msg.id);
		ipc_put_u32(&o, to_status(r));
		ipc_put_str(&o, u.user);
		ipc_put_u32(&o, u.uid);
		ipc_put_u32(&o, u.gid);
		ipc_put_str(&o, u.home);
		ipc_put_str(&o, u.mail);
		auth_put_groups(&o, u.groups, u.n_groups);
		if (ipc_send(sock, &o, -1) < 0) {
			log_error("worker: send: %m");
			_exit(1);
		}
		ipc_out_free(&o);
	}
}
