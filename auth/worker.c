/*
 * worker: an auth worker process's request loop, backend chain and
 * group lookup (see worker.h). Callers: wpool.c forks and calls worker_main(); tests may
 * call worker_authenticate(). Requests come from the main auth process
 * (root, same binary), but they carry client-chosen user names and
 * passwords, and the frame is validated like any other IPC message.
 */
#include <string.h>
#include <unistd.h>

#include "core/ipc.h"
#include "core/log.h"
#include "core/str.h"
#include "auth-pam.h"
#include "passwd-file.h"
#include "worker.h"

static enum auth_result
run_backends(const struct moat_config *cfg, struct pwfile_cache *pwc,
	     const char *user, const char *password, const char *rip,
	     struct auth_user *out)
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
			r = auth_pam(cfg->auth_pam_service, user, password,
				     rip, out);
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
worker_authenticate(const struct moat_config *cfg, struct pwfile_cache *pwc,
		    const char *user, const char *password, const char *rip,
		    struct auth_user *out)
{
	enum auth_result r;

	out->n_groups = 0;
	r = run_backends(cfg, pwc, user, password, rip, out);
	if (r != AUTH_RES_OK)
		return r;
	/* The groups are looked up here, in a worker, because a lookup
	 * may block (LDAP, sssd) and costs real time even with local
	 * files: done in moatd it would stall every login and session.
	 * By the canonical name the backend returned, as initgroups
	 * would be called with it. A user in too many groups cannot log
	 * in (logged) rather than run with a shortened list. */
	if (auth_getgroups(out->user, out->gid, out->groups,
			   &out->n_groups) < 0) {
		out->n_groups = 0;
		return AUTH_RES_TEMPFAIL;
	}
	return AUTH_RES_OK;
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
	int ok;

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
		r = worker_authenticate(cfg, pwcp, user, pass, rip, &u);
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
