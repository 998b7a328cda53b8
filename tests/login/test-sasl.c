/*
 * Tests for imap-login/sasl.c: AUTHENTICATE response decoding (RFC 9051
 * §6.2.2, RFC 4959), the PLAIN message (RFC 4616) and LOGIN fields.
 * Hostile rows included: bad base64, missing NULs, extra NULs, oversized
 * fields, another user's authzid.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/base64.h"
#include "sasl.h"

static const char *
st_name(enum sasl_status st)
{
	switch (st) {
	case SASL_OK: return "OK";
	case SASL_CANCEL: return "CANCEL";
	case SASL_BAD_BASE64: return "BAD_BASE64";
	case SASL_MALFORMED: return "MALFORMED";
	case SASL_TOO_LONG: return "TOO_LONG";
	case SASL_AUTHZ: return "AUTHZ";
	}
	return "?";
}

Test(sasl, mech_find)
{
	static const struct {
		const char *name;
		enum sasl_mech want;
	} rows[] = {
		{ "PLAIN", SASL_MECH_PLAIN }, { "plain", SASL_MECH_PLAIN },
		{ "Login", SASL_MECH_LOGIN }, { "LOGIN", SASL_MECH_LOGIN },
		{ "CRAM-MD5", SASL_MECH_NONE }, { "", SASL_MECH_NONE },
		{ "PLAINX", SASL_MECH_NONE }, { "PLAI", SASL_MECH_NONE },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum sasl_mech got = sasl_mech_find(rows[i].name);

		cr_assert_eq(got, rows[i].want, "row %zu (%s): got %d, want %d",
			     i, rows[i].name, got, rows[i].want);
	}
}

Test(sasl, decode_table)
{
	static const struct {
		const char *text;
		bool initial;
		enum sasl_status want;
		const char *out;   /* expected bytes when OK */
		size_t outlen;
	} rows[] = {
		/* RFC 4959 §3 example response. */
		{ "dGVzdAB0ZXN0AHRlc3Q=", true, SASL_OK, "test\0test\0test",
		  14 },
		{ "dGVzdAB0ZXN0AHRlc3Q=", false, SASL_OK, "test\0test\0test",
		  14 },
		/* "*" cancels (RFC 9051 §6.2.2), initial or not. */
		{ "*", false, SASL_CANCEL, NULL, 0 },
		{ "*", true, SASL_CANCEL, NULL, 0 },
		/* "=" is an empty initial response (RFC 4959 §3) ... */
		{ "=", true, SASL_OK, "", 0 },
		/* ... but not base64 in a continuation. */
		{ "=", false, SASL_BAD_BASE64, NULL, 0 },
		/* An empty continuation line is an empty response. */
		{ "", false, SASL_OK, "", 0 },
		{ "", true, SASL_BAD_BASE64, NULL, 0 },
		/* Strictness: padding, alphabet, whitespace, length. */
		{ "dGVzdA", false, SASL_BAD_BASE64, NULL, 0 },
		{ "dGVzdA=", false, SASL_BAD_BASE64, NULL, 0 },
		{ "dGVz dA==", false, SASL_BAD_BASE64, NULL, 0 },
		{ "!!!!", true, SASL_BAD_BASE64, NULL, 0 },
		{ "====", false, SASL_BAD_BASE64, NULL, 0 },
		{ "=AAA", false, SASL_BAD_BASE64, NULL, 0 },
		{ "**", false, SASL_BAD_BASE64, NULL, 0 },
		{ "dGVzdA==", false, SASL_OK, "test", 4 },
		{ "Ym9i", false, SASL_OK, "bob", 3 },
	};
	uint8_t dst[64];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = 99;
		enum sasl_status got = sasl_decode(rows[i].text,
						   strlen(rows[i].text),
						   rows[i].initial, dst,
						   sizeof(dst), &n);

		cr_assert_eq(got, rows[i].want, "row %zu (%s): got %s, want %s",
			     i, rows[i].text, st_name(got),
			     st_name(rows[i].want));
		if (got == SASL_OK) {
			cr_assert_eq(n, rows[i].outlen,
				     "row %zu: got %zu bytes, want %zu", i, n,
				     rows[i].outlen);
			cr_assert(memcmp(dst, rows[i].out, n) == 0,
				  "row %zu: decoded bytes differ", i);
		} else {
			cr_assert_eq(n, 0, "row %zu: got outlen %zu on error, "
				     "want 0", i, n);
		}
	}
}

Test(sasl, decode_too_long_never_writes_past_dst)
{
	/* 8 bytes into a 6-byte buffer, with a guard after it. */
	uint8_t dst[8];
	char text[16];
	size_t n;

	base64_encode(text, "12345678", 8);
	memset(dst, 0xAA, sizeof(dst));
	cr_assert_eq(sasl_decode(text, strlen(text), false, dst, 6, &n),
		     SASL_TOO_LONG, "got other status, want TOO_LONG");
	cr_assert_eq(dst[6], 0xAA, "byte past dstsize was written");
	cr_assert_eq(dst[7], 0xAA, "byte past dstsize was written");
	/* Exactly fitting is fine. */
	cr_assert_eq(sasl_decode(text, strlen(text), false, dst, 8, &n),
		     SASL_OK, "exact fit: got error, want OK");
	cr_assert_eq(n, 8, "got %zu bytes, want 8", n);
}

Test(sasl, plain_table)
{
	static const struct {
		const char *msg;
		size_t len;
		enum sasl_status want;
		const char *user, *pass;
	} rows[] = {
		{ "\0alice\0secret", 13, SASL_OK, "alice", "secret" },
		/* authzid equal to authcid is the same identity. */
		{ "alice\0alice\0secret", 18, SASL_OK, "alice", "secret" },
		/* Acting as someone else is refused. */
		{ "bob\0alice\0secret", 16, SASL_AUTHZ, NULL, NULL },
		{ "alic\0alice\0secret", 17, SASL_AUTHZ, NULL, NULL },
		/* Passwords may contain spaces and 8-bit bytes. */
		{ "\0u\0p w\xc3\xa9", 8, SASL_OK, "u", "p w\xc3\xa9" },
		/* Structure: exactly two NULs, non-empty authcid/passwd. */
		{ "", 0, SASL_MALFORMED, NULL, NULL },
		{ "alice", 5, SASL_MALFORMED, NULL, NULL },
		{ "\0alice", 6, SASL_MALFORMED, NULL, NULL },
		{ "\0alice\0", 7, SASL_MALFORMED, NULL, NULL },
		{ "\0\0secret", 8, SASL_MALFORMED, NULL, NULL },
		{ "\0alice\0sec\0ret", 14, SASL_MALFORMED, NULL, NULL },
		{ "\0\0", 2, SASL_MALFORMED, NULL, NULL },
	};
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum sasl_status got = sasl_plain_parse(
			(const uint8_t *)rows[i].msg, rows[i].len, user,
			sizeof(user), pass, sizeof(pass));

		cr_assert_eq(got, rows[i].want, "row %zu: got %s, want %s", i,
			     st_name(got), st_name(rows[i].want));
		if (got == SASL_OK) {
			cr_assert_str_eq(user, rows[i].user,
					 "row %zu: got user %s, want %s", i,
					 user, rows[i].user);
			cr_assert_str_eq(pass, rows[i].pass,
					 "row %zu: got pass %s, want %s", i,
					 pass, rows[i].pass);
		}
	}
}

Test(sasl, plain_field_limits)
{
	/* RFC 4616 §2: servers MUST accept fields up to 255 octets. */
	uint8_t msg[2 * IPC_USER_MAX + IPC_PASS_MAX + 16];
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	size_t off;

	off = 0;
	msg[off++] = '\0';
	memset(msg + off, 'u', 255);
	off += 255;
	msg[off++] = '\0';
	memset(msg + off, 'p', 255);
	off += 255;
	cr_assert_eq(sasl_plain_parse(msg, off, user, sizeof(user), pass,
				      sizeof(pass)), SASL_OK,
		     "255-octet fields: got error, want OK");
	cr_assert_eq(strlen(user), 255, "got user length %zu, want 255",
		     strlen(user));

	/* A user name longer than anything auth accepts. */
	off = 0;
	msg[off++] = '\0';
	memset(msg + off, 'u', IPC_USER_MAX + 1);
	off += IPC_USER_MAX + 1;
	msg[off++] = '\0';
	msg[off++] = 'p';
	cr_assert_eq(sasl_plain_parse(msg, off, user, sizeof(user), pass,
				      sizeof(pass)), SASL_TOO_LONG,
		     "oversized user: want TOO_LONG");

	/* A password over IPC_PASS_MAX. */
	off = 0;
	msg[off++] = '\0';
	msg[off++] = 'u';
	msg[off++] = '\0';
	memset(msg + off, 'p', IPC_PASS_MAX + 1);
	off += IPC_PASS_MAX + 1;
	cr_assert_eq(sasl_plain_parse(msg, off, user, sizeof(user), pass,
				      sizeof(pass)), SASL_TOO_LONG,
		     "oversized password: want TOO_LONG");
	cr_assert_eq(user[0], '\0', "user left set after a failure");
}

Test(sasl, plain_end_to_end_largest)
{
	/* The largest PLAIN message we accept fits SASL_DECODED_MAX after
	 * base64 decoding. */
	uint8_t msg[SASL_DECODED_MAX];
	char text[SASL_DECODED_MAX * 2];
	uint8_t dec[SASL_DECODED_MAX];
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	size_t off = 0, n;

	memset(msg + off, 'u', IPC_USER_MAX);
	off += IPC_USER_MAX;
	msg[off++] = '\0';
	memset(msg + off, 'u', IPC_USER_MAX);
	off += IPC_USER_MAX;
	msg[off++] = '\0';
	memset(msg + off, 'p', IPC_PASS_MAX);
	off += IPC_PASS_MAX;
	cr_assert_eq(off, SASL_DECODED_MAX, "got %zu, want %d", off,
		     SASL_DECODED_MAX);
	base64_encode(text, msg, off);
	cr_assert_eq(sasl_decode(text, strlen(text), true, dec, sizeof(dec),
				 &n), SASL_OK, "decode: want OK");
	cr_assert_eq(sasl_plain_parse(dec, n, user, sizeof(user), pass,
				      sizeof(pass)), SASL_OK,
		     "parse: want OK");
	cr_assert_eq(strlen(pass), IPC_PASS_MAX, "got %zu, want %d",
		     strlen(pass), IPC_PASS_MAX);
}

Test(sasl, login_field)
{
	char dst[8];

	cr_assert_eq(sasl_login_field((const uint8_t *)"bob", 3, dst,
				      sizeof(dst)), SASL_OK, "want OK");
	cr_assert_str_eq(dst, "bob", "got %s, want bob", dst);
	/* Empty is a valid (if useless) answer; auth rejects it. */
	cr_assert_eq(sasl_login_field((const uint8_t *)"", 0, dst,
				      sizeof(dst)), SASL_OK, "empty: want OK");
	cr_assert_str_eq(dst, "", "got %s, want empty", dst);
	cr_assert_eq(sasl_login_field((const uint8_t *)"a\0b", 3, dst,
				      sizeof(dst)), SASL_MALFORMED,
		     "NUL inside: want MALFORMED");
	cr_assert_eq(sasl_login_field((const uint8_t *)"12345678", 8, dst,
				      sizeof(dst)), SASL_TOO_LONG,
		     "8 bytes into 8: want TOO_LONG (room for NUL)");
	cr_assert_eq(sasl_login_field((const uint8_t *)"1234567", 7, dst,
				      sizeof(dst)), SASL_OK,
		     "7 bytes into 8: want OK");
}
