/*
 * sasl: decodes AUTHENTICATE responses (RFC 9051 §6.2.2, RFC 4959) and
 * the PLAIN (RFC 4616) and LOGIN mechanism messages.
 * Callers: commands.c (AUTHENTICATE), tests/login/test-sasl.c.
 * Trust: every input byte comes from an unauthenticated client. Output
 * sizes are checked before anything is written, and callers wipe the
 * buffers afterwards (they hold passwords).
 */
#include <string.h>

#include "core/base64.h"
#include "core/str.h"
#include "sasl.h"

enum sasl_mech
sasl_mech_find(const char *name)
{
	if (str_eq_ci(name, "PLAIN"))
		return SASL_MECH_PLAIN;
	if (str_eq_ci(name, "LOGIN"))
		return SASL_MECH_LOGIN;
	return SASL_MECH_NONE;
}

enum sasl_status
sasl_decode(const char *text, size_t len, bool initial, uint8_t *dst,
	    size_t dstsize, size_t *outlen)
{
	size_t pad = 0, declen;
	long n;

	*outlen = 0;
	/* RFC 9051 §6.2.2: a line of "*" cancels the exchange. */
	if (len == 1 && text[0] == '*')
		return SASL_CANCEL;
	/* RFC 4959 §3: "=" is a present but empty initial response. In a
	 * continuation an empty response is an empty line. */
	if (initial && len == 1 && text[0] == '=')
		return SASL_OK;
	if (len == 0)
		return initial ? SASL_BAD_BASE64 : SASL_OK;
	if (len % 4 != 0)
		return SASL_BAD_BASE64;
	/* Work out the decoded size first, so an oversized response is
	 * told apart from a malformed one and never touches dst. */
	if (text[len - 1] == '=')
		pad = text[len - 2] == '=' ? 2 : 1;
	declen = len / 4 * 3 - pad;
	if (declen > dstsize)
		return SASL_TOO_LONG;
	n = base64_decode(dst, dstsize, text, len);
	if (n < 0)
		return SASL_BAD_BASE64;
	*outlen = (size_t)n;
	return SASL_OK;
}

/* Copies a NUL-free field into dst as a C string. */
static enum sasl_status
copy_field(const uint8_t *p, size_t len, char *dst, size_t dstsize)
{
	if (len >= dstsize)
		return SASL_TOO_LONG;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return SASL_OK;
}

enum sasl_status
sasl_plain_parse(const uint8_t *msg, size_t len, char *user, size_t usersize,
		 char *pass, size_t passsize)
{
	const uint8_t *nul1, *nul2, *authcid, *passwd;
	size_t authz_len, authc_len, pass_len;
	enum sasl_status st;

	user[0] = '\0';
	pass[0] = '\0';
	/* message = [authzid] NUL authcid NUL passwd: exactly two NULs. */
	nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return SASL_MALFORMED;
	authz_len = (size_t)(nul1 - msg);
	authcid = nul1 + 1;
	nul2 = memchr(authcid, '\0', len - authz_len - 1);
	if (nul2 == NULL)
		return SASL_MALFORMED;
	authc_len = (size_t)(nul2 - authcid);
	passwd = nul2 + 1;
	pass_len = len - authz_len - 1 - authc_len - 1;
	if (memchr(passwd, '\0', pass_len) != NULL)
		return SASL_MALFORMED;
	/* authcid = 1*SAFE, passwd = 1*SAFE (RFC 4616 §2). */
	if (authc_len == 0 || pass_len == 0)
		return SASL_MALFORMED;
	/* Acting as another user would need an authorization policy we
	 * do not have; an authzid equal to the authcid is harmless. */
	if (authz_len > 0 && (authz_len != authc_len ||
			      memcmp(msg, authcid, authc_len) != 0))
		return SASL_AUTHZ;
	st = copy_field(authcid, authc_len, user, usersize);
	if (st != SASL_OK)
		return st;
	st = copy_field(passwd, pass_len, pass, passsize);
	if (st != SASL_OK) {
		user[0] = '\0';
		return st;
	}
	return SASL_OK;
}

enum sasl_status
sasl_login_field(const uint8_t *data, size_t len, char *dst, size_t dstsize)
{
	dst[0] = '\0';
	if (memchr(data, '\0', len) != NULL)
		return SASL_MALFORMED;
	return copy_field(data, len, dst, dstsize);
}
