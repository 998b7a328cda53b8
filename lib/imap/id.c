/*
 * id: the ID command (RFC 2971). Checks the client's field/value list
 * and turns it into one log line; writes our own "* ID (...)" reply.
 * Callers: imap-login (pre-auth) and imap.
 * Trust: the arguments come from the client, pre-auth included. The
 * RFC's size limits (§3.3) are enforced, and every field name and value
 * is logged as a quoted token (LOG_QN, log.h: bounded, escaped), so a
 * client can forge neither log lines nor fields such as rip= in one.
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

/* Room for the whole summary: "field"="value" pairs and spaces. */
#define ID_LOG_MAX (ID_MAX_PAIRS * (2 * LOG_QUOTED_MAX + 2) + 1)

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
		    buf_append_str(b, LOG_QN(field, flen)) < 0 ||
		    buf_append_byte(b, '=') < 0 ||
		    buf_append_str(b, value == NULL ? "NIL" :
				   LOG_QN(value, vlen)) < 0)
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
