/*
 * id: the ID command (RFC 2971). Checks the client's field/value list
 * and turns it into one log line; writes our own "* ID (...)" reply.
 * Callers: imap-login (pre-auth) and imap.
 * Trust: the arguments come from the client, pre-auth included. The
 * RFC's size limits (§3.3) are enforced so the log line stays bounded
 * (at most 30 * (30 + 4 * 1024 + 5) bytes), and every byte that is not
 * printable ASCII is escaped so a client cannot forge log lines.
 *
 * The RFC says what is sent, not what a server must refuse; we refuse
 * what breaks the grammar or the limits (BAD), and accept a field sent
 * twice, which only makes the log line longer.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/str.h"
#include "imap/id.h"
#include "imap/parser.h"
#include "imap/writer.h"

#define ID_MAX_PAIRS 30
#define ID_FIELD_MAX 30
#define ID_VALUE_MAX 1024

/* Room for the whole summary at the limits above. */
#define ID_LOG_MAX (ID_MAX_PAIRS * (ID_FIELD_MAX * 4 + \
				    ID_VALUE_MAX * 4 + 8) + 1)

static int
log_append(struct buf *b, const char *s, size_t len, bool quote)
{
	if (quote && buf_append_byte(b, '"') < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];
		int r;

		/* A field name is unquoted: keep it one word. */
		if (c < 0x20 || c >= 0x7f ||
		    (!quote && (c == ' ' || c == '=' || c == '"' ||
				c == '\\')))
			r = buf_printf(b, "\\x%02x", c);
		else if (quote && (c == '"' || c == '\\'))
			r = buf_printf(b, "\\%c", c);
		else
			r = buf_append_byte(b, c);
		if (r < 0)
			return -1;
	}
	if (quote && buf_append_byte(b, '"') < 0)
		return -1;
	return 0;
}

/* string = quoted / literal (RFC 9051 §9); not an atom, not literal8. */
static bool
id_get_string(const struct imap_arg *a, const char **s, size_t *len)
{
	if (!imap_arg_get_string(a, s))
		return false;
	*len = a->len;
	return true;
}

int
imap_id_parse(struct pool *pool, const struct imap_arg *args,
	      size_t n_args, const char **logtext, const char **error)
{
	const struct imap_arg *list;
	struct buf *b;
	size_t n;
	int ret = -1;

	*logtext = NULL;
	*error = NULL;
	if (n_args != 1) {
		*error = n_args == 0 ? "Missing argument" :
			"Too many arguments";
		return -1;
	}
	if (imap_arg_is_nil(&args[0])) {
		*logtext = "NIL";
		return 0;
	}
	if (!imap_arg_get_list(&args[0], &list, &n)) {
		*error = "Argument must be a list or NIL";
		return -1;
	}
	if (n % 2 != 0) {
		*error = "Field without a value";
		return -1;
	}
	if (n / 2 > ID_MAX_PAIRS) {
		*error = "Too many fields";
		return -1;
	}

	b = buf_new(ID_LOG_MAX);
	for (size_t i = 0; i < n; i += 2) {
		const char *field, *value = NULL;
		size_t flen, vlen = 0;

		if (!id_get_string(&list[i], &field, &flen)) {
			*error = "Field must be a string";
			goto out;
		}
		if (flen > ID_FIELD_MAX) {
			*error = "Field too long";
			goto out;
		}
		if (!imap_arg_is_nil(&list[i + 1]) &&
		    !id_get_string(&list[i + 1], &value, &vlen)) {
			*error = "Value must be a string or NIL";
			goto out;
		}
		if (vlen > ID_VALUE_MAX) {
			*error = "Value too long";
			goto out;
		}
		if ((i > 0 && buf_append_byte(b, ' ') < 0) ||
		    log_append(b, field, flen, false) < 0 ||
		    buf_append_byte(b, '=') < 0 ||
		    (value == NULL ? buf_append_str(b, "NIL") :
		     log_append(b, value, vlen, true)) < 0)
			log_panic("imap_id_parse: log buffer too small");
	}
	*logtext = pool_strndup(pool, buf_str(b), buf_len(b));
	ret = 0;
out:
	buf_free(&b);
	return ret;
}

int
imap_id_write_reply(struct buf *out)
{
	static const char *const fields[][2] = {
		{ "name", "Moat" },
		{ "version", PACKAGE_VERSION },
	};
	size_t start = buf_len(out);

	if (buf_append_str(out, "* ID (") < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if ((i > 0 && buf_append_byte(out, ' ') < 0) ||
		    imap_write_string(out, fields[i][0],
				      strlen(fields[i][0])) < 0 ||
		    buf_append_byte(out, ' ') < 0 ||
		    imap_write_string(out, fields[i][1],
				      strlen(fields[i][1])) < 0)
			goto fail;
	}
	if (buf_append_str(out, ")\r\n") < 0)
		goto fail;
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}
