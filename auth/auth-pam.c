/*
 * auth-pam: verify a login through PAM (see auth-pam.h).
 * Callers: auth/worker.c, inside a worker process running as root (the
 * usual modules read /etc/shadow). user, password and rip come from the
 * network through moatd and are untrusted; auth main has checked their
 * lengths and that they hold no control characters. What PAM modules
 * hand back (PAM_USER) is checked again before we use it.
 *
 * The conversation answers a hidden prompt with the password and a
 * visible one with the user name; informational messages are logged at
 * debug level. Linux-PAM modules wipe the reply we give them before
 * freeing it (pam_get_authtok / _pam_drop_reply), and we wipe our own
 * copies, so no password outlives the request in this process.
 *
 * The failure delay modules request (pam_unix: ~2 s) is overridden with
 * a no-op: the main auth process delays every failure uniformly itself,
 * and a sleeping worker would cut the pool's throughput for nothing.
 *
 * Sessions (auth_pam_session, doc/config.md): like Dovecot's passdb
 * `session=yes setcred=yes`, the credential and session stacks run in
 * the auth worker's world, not in the imap process, and the session is
 * closed again at once. Unlike Dovecot they run in a short-lived child
 * of the worker: modules that change the calling process (pam_limits'
 * rlimits, pam_group's groups, pam_umask, pam_systemd's cgroup) would
 * otherwise leave those changes on the worker that serves the next
 * user. Only effects outside the process remain (pam_mkhomedir's home,
 * pam_exec's scripts, credential caches, log records).
 */
#include <errno.h>
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "auth-pam.h"

struct conv_ctx {
	const char *user;
	const char *password;
};

/* Frees n replies, wiping them: some may hold the password. */
static void
replies_free(struct pam_response *resp, int n)
{
	for (int i = 0; i < n; i++) {
		if (resp[i].resp != NULL) {
			explicit_bzero(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	}
	free(resp);
}

static int
conv(int num_msg, const struct pam_message **msg,
     struct pam_response **resp_out, void *appdata)
{
	const struct conv_ctx *ctx = appdata;
	struct pam_response *resp;
	const char *answer;

	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	if (resp_out == NULL) {
		/* Some modules pass no reply pointer for messages that
		 * need no answer; there is nowhere to put a password. */
		for (int i = 0; i < num_msg; i++) {
			if (msg[i]->msg_style != PAM_ERROR_MSG &&
			    msg[i]->msg_style != PAM_TEXT_INFO)
				return PAM_CONV_ERR;
			/* A module's text may embed the user name. */
			log_debug("pam: message=%s", LOG_Q(msg[i]->msg));
		}
		return PAM_SUCCESS;
	}
	*resp_out = NULL;
	/* PAM frees the array and the strings with free(), so they come
	 * from the C allocator, not xmalloc (which would exit on OOM). */
	resp = calloc((size_t)num_msg, sizeof(*resp));
	if (resp == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < num_msg; i++) {
		/* Linux-PAM: msg is an array of pointers. */
		const struct pam_message *m = msg[i];

		switch (m->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			answer = ctx->password;
			break;
		case PAM_PROMPT_ECHO_ON:
			answer = ctx->user;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			log_debug("pam: message=%s", LOG_Q(m->msg));
			continue;
		default:
			/* Binary prompts, radio buttons: nothing we can
			 * answer for a client that only sent a password. */
			replies_free(resp, num_msg);
			return PAM_CONV_ERR;
		}
		resp[i].resp = strdup(answer);
		if (resp[i].resp == NULL) {
			replies_free(resp, num_msg);
			return PAM_BUF_ERR;
		}
	}
	*resp_out = resp;
	return PAM_SUCCESS;
}

static void
no_fail_delay(int status, unsigned int delay, void *appdata)
{
	(void)status;
	(void)delay;
	(void)appdata;
}

enum auth_result
auth_pam_result(int st)
{
	switch (st) {
	case PAM_SUCCESS:
		return AUTH_RES_OK;
	case PAM_USER_UNKNOWN:
		return AUTH_RES_UNKNOWN;
	case PAM_AUTH_ERR:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
	case PAM_PERM_DENIED:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:   /* expired: cannot change it via IMAP */
	case PAM_AUTHTOK_EXPIRED:
	case PAM_CRED_EXPIRED:
		return AUTH_RES_FAIL;
	default:
		/* PAM_AUTHINFO_UNAVAIL, PAM_SYSTEM_ERR, PAM_BUF_ERR,
		 * PAM_CONV_ERR, PAM_ABORT, PAM_SERVICE_ERR, ...: PAM could
		 * not decide; a later attempt may succeed. */
		return AUTH_RES_TEMPFAIL;
	}
}

enum auth_result
auth_pam(const char *service, const char *user, const char *password,
	 const char *rip, struct auth_user *out, pam_handle_t **keep)
{
	struct conv_ctx ctx = { user, password };
	struct pam_conv pc = { conv, &ctx };
	pam_handle_t *pamh = NULL;
	const void *item = NULL;
	enum auth_result r;
	char name[IPC_USER_MAX + 1];
	int st, found;

	if (keep != NULL)
		*keep = NULL;
	st = pam_start(service, user, &pc, &pamh);
	if (st != PAM_SUCCESS) {
		log_error("pam_start(%s): %s", service,
			  pam_strerror(pamh, st));
		return AUTH_RES_TEMPFAIL;
	}
	st = pam_set_item(pamh, PAM_RHOST, rip);
	if (st == PAM_SUCCESS)
		st = pam_set_item(pamh, PAM_FAIL_DELAY,
				  (const void *)no_fail_delay);
	if (st != PAM_SUCCESS) {
		log_error("pam_set_item: %s", pam_strerror(pamh, st));
		goto out;
	}
	st = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (st != PAM_SUCCESS) {
		log_debug("rip=%s pam_authenticate: user=%s: %s", rip,
			  LOG_Q(user), pam_strerror(pamh, st));
		goto out;
	}
	st = pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (st != PAM_SUCCESS) {
		log_info("rip=%s pam_acct_mgmt: user=%s: %s", rip,
			 LOG_Q(user), pam_strerror(pamh, st));
		goto out;
	}
	/* A module may have mapped the name (aliases, case folding): the
	 * session belongs to whoever PAM_USER names now. */
	st = pam_get_item(pamh, PAM_USER, &item);
	if (st != PAM_SUCCESS || item == NULL ||
	    str_copy(name, item, sizeof(name)) < 0 ||
	    !auth_user_name_valid(name)) {
		log_error("rip=%s pam: unusable PAM_USER after "
			  "authenticating user=%s", rip, LOG_Q(user));
		st = PAM_SYSTEM_ERR;
		goto out;
	}
out:
	r = auth_pam_result(st);
	if (r == AUTH_RES_OK) {
		memset(out, 0, sizeof(*out));
		found = auth_getpw(name, &out->uid, &out->gid, out->home,
				   sizeof(out->home));
		if (found <= 0) {
			if (found == 0)
				log_error("rip=%s pam: user=%s "
					  "authenticated but unknown to the "
					  "system user database", rip,
					  LOG_Q(name));
			r = AUTH_RES_TEMPFAIL;
			st = PAM_SYSTEM_ERR;
		} else {
			(void)str_copy(out->user, name, sizeof(out->user));
		}
	}
	if (r == AUTH_RES_OK && keep != NULL) {
		*keep = pamh;
		return r;
	}
	pam_end(pamh, st);
	return r;
}

/* The child's part of auth_pam_finish: its exit status is the PAM
 * status. */
static void __attribute__((noreturn))
session_child(pam_handle_t *pamh)
{
	const void *item = NULL;
	int st;

	st = pam_setcred(pamh, PAM_ESTABLISH_CRED | PAM_SILENT);
	if (st == PAM_SUCCESS)
		st = pam_open_session(pamh, PAM_SILENT);
	if (st == PAM_SUCCESS)
		st = pam_close_session(pamh, PAM_SILENT);
	if (st != PAM_SUCCESS) {
		(void)pam_get_item(pamh, PAM_USER, &item);
		log_info("pam session: user=%s: %s",
			 LOG_Q((const char *)item), pam_strerror(pamh, st));
	}
	/* No pam_end: the parent owns the transaction; nothing here is
	 * flushed or cleaned up twice. */
	_exit(st >= 0 && st < 256 ? st : PAM_SYSTEM_ERR);
}

static int
run_session(pam_handle_t *pamh)
{
	pid_t pid, got;
	int status;

	pid = fork();
	if (pid < 0) {
		log_error("pam session: fork: %m");
		return PAM_SYSTEM_ERR;
	}
	if (pid == 0)
		session_child(pamh);
	/* Bounded by auth_worker_timeout: a hung session stack gets the
	 * worker killed, with this child (same process group). */
	while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (got < 0) {
		log_error("pam session: waitpid: %m");
		return PAM_SYSTEM_ERR;
	}
	if (!WIFEXITED(status)) {
		log_error("pam session process killed by signal %d",
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return PAM_SYSTEM_ERR;
	}
	return WEXITSTATUS(status);
}

enum auth_result
auth_pam_finish(pam_handle_t **pamhp, enum auth_result r, bool session)
{
	pam_handle_t *pamh;
	int st = r == AUTH_RES_OK ? PAM_SUCCESS : PAM_PERM_DENIED;

	if (pamhp == NULL || (pamh = *pamhp) == NULL)
		return r;
	*pamhp = NULL;
	if (r == AUTH_RES_OK && session) {
		st = run_session(pamh);
		r = auth_pam_result(st);
		/* The account was known a moment ago. */
		if (r == AUTH_RES_UNKNOWN)
			r = AUTH_RES_FAIL;
	}
	pam_end(pamh, st);
	return r;
}
