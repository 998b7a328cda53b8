/*
 * sasl: decoding of the client's SASL responses for AUTHENTICATE
 * (RFC 9051 §6.2.2, RFC 4959 SASL-IR) and the two mechanisms the login
 * process speaks: PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login).
 * Pure functions over untrusted bytes; no I/O, so they are unit-tested
 * directly (tests/login/test-sasl.c).
 */
#ifndef MOAT_LOGIN_SASL_H
#define MOAT_LOGIN_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/ipc-proto.h"

enum sasl_mech { SASL_MECH_NONE, SASL_MECH_PLAIN, SASL_MECH_LOGIN };

enum sasl_status {
	SASL_OK = 0,
	SASL_CANCEL,        /* the client sent "*" */
	SASL_BAD_BASE64,    /* not strict RFC 4648 base64 */
	SASL_MALFORMED,     /* decoded, but not a valid mechanism message */
	SASL_TOO_LONG,      /* a field longer than we pass to auth */
	SASL_AUTHZ,         /* PLAIN authzid names someone else */
};

/* Largest decoded response we accept: a PLAIN message with authzid and
 * authcid at IPC_USER_MAX and the password at IPC_PASS_MAX. */
#define SASL_DECODED_MAX (2 * IPC_USER_MAX + IPC_PASS_MAX + 2)

/* Mechanism by name (case-insensitive); SASL_MECH_NONE if unknown. */
enum sasl_mech sasl_mech_find(const char *name);

/* Decodes one client response. "*" is CANCEL. With initial (a SASL-IR
 * initial response) "=" is an empty response (RFC 4959 §3). Otherwise
 * the text must be strict base64; an empty text is an empty response.
 * Decoded bytes go to dst (dstsize bytes); *outlen is their count.
 * A response that would decode to more than dstsize is TOO_LONG. */
enum sasl_status sasl_decode(const char *text, size_t len, bool initial,
			     uint8_t *dst, size_t dstsize, size_t *outlen);

/* Splits an RFC 4616 message "[authzid] NUL authcid NUL passwd" into
 * user (usersize incl. NUL, at most IPC_USER_MAX+1) and pass. authcid and
 * passwd must be non-empty; an authzid must equal the authcid (we do not
 * implement proxy authorization), else SASL_AUTHZ. */
enum sasl_status sasl_plain_parse(const uint8_t *msg, size_t len,
				  char *user, size_t usersize,
				  char *pass, size_t passsize);

/* A LOGIN-mechanism response (user name or password) as a C string:
 * no NUL inside, shorter than dstsize. */
enum sasl_status sasl_login_field(const uint8_t *data, size_t len,
				  char *dst, size_t dstsize);

#endif
