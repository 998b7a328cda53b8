/*
 * commands: the IMAP commands of the not-authenticated state (RFC 9051
 * §6.1, §6.2): CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), STARTTLS,
 * LOGIN and AUTHENTICATE (PLAIN, LOGIN; RFC 4959 SASL-IR). Every other
 * command is refused with BAD.
 * Callers: client.c, with one command framed by imap_reader, or one
 * AUTHENTICATE response line.
 * Trust: the command bytes are from an unauthenticated client. They are
 * parsed into the process-wide command pool, which is cleared before
 * each command; passwords in it are wiped as soon as they are passed on.
 */
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/id.h"
#include "login.h"

struct login_cmd {
	const char *name;
	void (*func)(struct client *c, const struct imap_command *cmd);
};

/* Commands of the later states (RFC 9051, RFC 3501 and the common
 * extensions): refused with "log in first" rather than "unknown", so a
 * client that lost track of its state gets a useful answer. */
static const char *const later_commands[] = {
	"SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
	"UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND",
	"IDLE", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH",
	"STORE", "COPY", "MOVE", "UID", "ENABLE", "GETQUOTA", "GETQUOTAROOT",
	"SETQUOTA", "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS",
	"SORT", "THREAD", "COMPRESS", "GETMETADATA", "SETMETADATA", "NOTIFY",
	"REPLACE", "XLIST", "ESEARCH", "UNAUTHENTICATE", "CANCELUPDATE",
	"RESETKEY", "GENURLAUTH", "URLFETCH", "CONVERT",
};

static void
wipe_str(const char *s)
{
	/* Pool memory handed out as const; it is ours to clear. */
	if (s != NULL)
		explicit_bzero((char *)s, strlen(s));
}

/* Wipes an argument that may carry a secret, whatever its shape. */
static void
wipe_arg(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_LIST && a->str != NULL)
		explicit_bzero((char *)a->str, a->len);
}

static bool
no_args(struct client *c, const struct imap_command *cmd)
{
	if (cmd->n_args == 0)
		return true;
	client_bad(c, cmd->tag, "Unexpected arguments.");
	return false;
}

static void
cmd_capability(struct client *c, const struct imap_command *cmd)
{
	if (!no_args(c, cmd))
		return;
	client_write_capabilities(c);
	client_tagged(c, cmd->tag, "OK Capability completed.");
}

static void
cmd_noop(struct client *c, const struct imap_command *cmd)
{
	if (!no_args(c, cmd))
		return;
	client_tagged(c, cmd->tag, "OK NOOP completed.");
}

static void
cmd_logout(struct client *c, const struct imap_command *cmd)
{
	if (!no_args(c, cmd))
		return;
	client_printf(c, "* BYE Logging out\r\n");
	client_tagged(c, cmd->tag, "OK Logout completed.");
	client_close_after_output(c, "Logged out");
}

static void
cmd_id(struct client *c, const struct imap_command *cmd)
{
	const char *logtext, *error;

	if (imap_id_parse(login.cmd_pool, cmd->args, cmd->n_args, &logtext,
			  &error) < 0) {
		client_bad(c, cmd->tag, error);
		return;
	}
	log_info("rip=%s lip=%s ID sent: %s", c->rip, c->lip, logtext);
	if (imap_id_write_reply(c->out) < 0) {
		client_destroy(c, "Output buffer full");
		return;
	}
	client_tagged(c, cmd->tag, "OK ID completed.");
}

static void
cmd_starttls(struct client *c, const struct imap_command *cmd)
{
	if (!no_args(c, cmd))
		return;
	if (c->tls_active) {
		client_bad(c, cmd->tag, "TLS is already active.");
		return;
	}
	if (!client_starttls_offered(c)) {
		client_bad(c, cmd->tag, "STARTTLS not available.");
		return;
	}
	client_tagged(c, cmd->tag, "OK Begin TLS negotiation now.");
	client_start_tls(c);
}

static bool
check_plaintext(struct client *c, const char *tag)
{
	if (client_plaintext_allowed(c))
		return true;
	/* RFC 9051 §6.2.3, RFC 5530 PRIVACYREQUIRED. */
	client_tagged(c, tag, "NO [PRIVACYREQUIRED] Plaintext authentication "
		      "disallowed on non-secure connections.");
	return false;
}

static void
cmd_login(struct client *c, const struct imap_command *cmd)
{
	const char *user = NULL, *pass = NULL;

	if (cmd->n_args != 2 || !imap_arg_get_astring(&cmd->args[0], &user) ||
	    !imap_arg_get_astring(&cmd->args[1], &pass)) {
		for (size_t i = 1; i < cmd->n_args; i++)
			wipe_arg(&cmd->args[i]);
		client_bad(c, cmd->tag, "Invalid arguments.");
		return;
	}
	if (check_plaintext(c, cmd->tag))
		client_auth_begin(c, cmd->tag, "LOGIN", user, pass);
	wipe_arg(&cmd->args[1]);
}

/* ---- AUTHENTICATE ---- */

static void
auth_end(struct client *c)
{
	c->state = CLIENT_COMMANDS;
	c->sasl_mech = SASL_MECH_NONE;
	c->sasl_step = 0;
	explicit_bzero(c->sasl_user, sizeof(c->sasl_user));
}

/* One client response (initial or continuation), already unframed. */
static void
auth_response(struct client *c, const char *text, size_t len, bool initial)
{
	uint8_t dec[SASL_DECODED_MAX];
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	const char *mech = c->sasl_mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN";
	enum sasl_status st;
	size_t n;

	st = sasl_decode(text, len, initial, dec, sizeof(dec), &n);
	if (st == SASL_OK && c->sasl_mech == SASL_MECH_PLAIN) {
		st = sasl_plain_parse(dec, n, user, sizeof(user), pass,
				      sizeof(pass));
		if (st == SASL_OK) {
			auth_end(c);
			client_auth_begin(c, c->tag, mech, user, pass);
		}
	} else if (st == SASL_OK && c->sasl_step == 0) {
		st = sasl_login_field(dec, n, c->sasl_user,
				      sizeof(c->sasl_user));
		if (st == SASL_OK) {
			/* "Password:" */
			c->sasl_step = 1;
			c->state = CLIENT_AUTH_CONT;
			client_printf(c, "+ UGFzc3dvcmQ6\r\n");
		}
	} else if (st == SASL_OK) {
		st = sasl_login_field(dec, n, pass, sizeof(pass));
		if (st == SASL_OK) {
			str_copy(user, c->sasl_user, sizeof(user));
			auth_end(c);
			client_auth_begin(c, c->tag, mech, user, pass);
		}
	}
	explicit_bzero(dec, sizeof(dec));
	explicit_bzero(pass, sizeof(pass));

	if (st == SASL_OK)
		return;
	auth_end(c);
	switch (st) {
	case SASL_CANCEL:
		/* RFC 9051 §6.2.2: the server answers a "*" with BAD. */
		client_bad(c, c->tag, "Authentication canceled.");
		break;
	case SASL_BAD_BASE64:
		client_bad(c, c->tag, "Invalid base64 data.");
		break;
	case SASL_MALFORMED:
		client_bad(c, c->tag, "Invalid SASL response.");
		break;
	case SASL_AUTHZ:
		client_tagged(c, c->tag, "NO [AUTHORIZATIONFAILED] "
			      "Authorization as another user is not "
			      "supported.");
		break;
	case SASL_TOO_LONG:
	default:
		/* Longer than any name or password auth accepts. */
		c->mech = mech;
		c->auth_attempts++;
		client_auth_failed(c, c->tag);
		break;
	}
}

static void
cmd_authenticate(struct client *c, const struct imap_command *cmd)
{
	const char *mechname, *ir = NULL;
	enum sasl_mech mech;

	if (cmd->n_args < 1 || cmd->n_args > 2 ||
	    !imap_arg_get_atom(&cmd->args[0], &mechname) ||
	    (cmd->n_args == 2 && !imap_arg_get_astring(&cmd->args[1], &ir))) {
		if (cmd->n_args == 2)
			wipe_arg(&cmd->args[1]);
		client_bad(c, cmd->tag, "Invalid arguments.");
		return;
	}
	mech = sasl_mech_find(mechname);
	if (mech == SASL_MECH_NONE) {
		wipe_str(ir);
		client_tagged(c, cmd->tag,
			      "NO Unsupported authentication mechanism.");
		return;
	}
	if (!check_plaintext(c, cmd->tag)) {
		wipe_str(ir);
		return;
	}
	str_copy(c->tag, cmd->tag, sizeof(c->tag));
	c->sasl_mech = mech;
	c->sasl_step = 0;
	if (ir != NULL) {
		/* RFC 4959: the initial response saves a round trip. For
		 * LOGIN it is the user name, as clients that send one mean
		 * it. */
		auth_response(c, ir, strlen(ir), true);
		wipe_str(ir);
		return;
	}
	c->state = CLIENT_AUTH_CONT;
	if (mech == SASL_MECH_PLAIN)
		client_printf(c, "+ \r\n");
	else
		client_printf(c, "+ VXNlcm5hbWU6\r\n");   /* "Username:" */
}

void
cmd_auth_line(struct client *c, const uint8_t *line, size_t len,
	      bool too_long)
{
	if (too_long) {
		auth_end(c);
		client_line_too_long(c, c->tag);
		return;
	}
	auth_response(c, (const char *)line, len, false);
}

/* ---- dispatch ---- */

#ifdef MOAT_TEST_HOOKS
/* Test build only (tests/integration/login-hook.c): never installed. */
void cmd_test_hook(struct client *c, const struct imap_command *cmd);
#endif

static const struct login_cmd login_cmds[] = {
	{ "CAPABILITY", cmd_capability },
	{ "NOOP", cmd_noop },
	{ "LOGOUT", cmd_logout },
	{ "ID", cmd_id },
	{ "STARTTLS", cmd_starttls },
	{ "LOGIN", cmd_login },
	{ "AUTHENTICATE", cmd_authenticate },
#ifdef MOAT_TEST_HOOKS
	{ "XTESTHOOK", cmd_test_hook },
#endif
};

void
cmd_run(struct client *c, const uint8_t *data, size_t len)
{
	struct imap_command cmd;
	const char *error = NULL;
	size_t i;

	pool_clear(login.cmd_pool);
	memset(&cmd, 0, sizeof(cmd));
	if (imap_parse_command(login.cmd_pool, data, len, &cmd, &error) < 0) {
		client_bad(c, cmd.tag, error != NULL ? error :
			   "Invalid command.");
		return;
	}
	if (cmd.tag == NULL || cmd.name == NULL) {
		client_bad(c, cmd.tag, "Missing command.");
		return;
	}
	for (i = 0; i < sizeof(login_cmds) / sizeof(login_cmds[0]); i++) {
		if (strcmp(cmd.name, login_cmds[i].name) == 0) {
			login_cmds[i].func(c, &cmd);
			return;
		}
	}
	for (i = 0; i < sizeof(later_commands) / sizeof(later_commands[0]);
	     i++) {
		if (strcmp(cmd.name, later_commands[i]) == 0) {
			client_bad(c, cmd.tag, "Command not valid in this "
				   "state (log in first).");
			return;
		}
	}
	client_bad(c, cmd.tag, "Unknown command.");
}
