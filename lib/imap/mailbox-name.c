/*
 * mbname: validation of client mailbox names and their Maildir++/mbox
 * on-disk forms. Callers: IMAP commands taking a mailbox, LIST, the
 * storage backends. Inputs are untrusted: client bytes, and directory
 * entries that other programs (or a hostile user with shell access to
 * their own store) created. Every function writes its whole result or
 * nothing. The reverse mappings accept a disk name only if mapping the
 * result forward gives back exactly the same bytes, so one folder never
 * has two names and no disk name escapes the forward rules.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/log.h"
#include "imap/mailbox-name.h"
#include "imap/mutf7.h"

/* Linux NAME_MAX and PATH_MAX; the mapping refuses what could not be a
 * directory entry or a path. */
#define DISK_NAME_MAX 255
#define DISK_PATH_MAX 4096

static const char *const error_str[] = {
	[MBNAME_OK] = "OK",
	[MBNAME_EMPTY] = "Mailbox name is empty",
	[MBNAME_TOO_LONG] = "Mailbox name is too long",
	[MBNAME_TOO_DEEP] = "Mailbox hierarchy is too deep",
	[MBNAME_BAD_MUTF7] = "Mailbox name is not valid modified UTF-7",
	[MBNAME_BAD_UTF8] = "Mailbox name is not valid UTF-8",
	[MBNAME_CONTROL] = "Mailbox name contains a control character",
	[MBNAME_ABSOLUTE] = "Mailbox name starts with the hierarchy separator",
	[MBNAME_EMPTY_COMPONENT] = "Mailbox name has an empty hierarchy level",
	[MBNAME_DOT_COMPONENT] = "Mailbox name has a \".\" or \"..\" level",
	[MBNAME_TILDE] = "Mailbox name starts with \"~\"",
	[MBNAME_WILDCARD] = "Mailbox name contains a wildcard (% or *)",
	[MBNAME_UNSTORABLE] = "Mailbox name cannot be stored in this mail store",
	[MBNAME_IS_INBOX] = "INBOX has no folder path in this store",
};

const char *
mbname_error_str(enum mbname_error err)
{
	if ((size_t)err >= sizeof(error_str) / sizeof(error_str[0]) ||
	    error_str[err] == NULL)
		return "Invalid mailbox name";
	return error_str[err];
}

static void
check_sep(char sep)
{
	/* A configuration value, never client input. */
	if (sep <= 0x20 || sep >= 0x7f || sep == '&' ||
	    (sep >= '0' && sep <= '9') || (sep >= 'A' && sep <= 'Z') ||
	    (sep >= 'a' && sep <= 'z'))
		log_panic("mbname: invalid hierarchy separator 0x%02x",
			  (unsigned char)sep);
}

static bool
is_control(unsigned long cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

enum mbname_error
mbname_check(const char *name, size_t len, char sep, unsigned flags)
{
	size_t i, comp_start = 0, depth = 0;

	check_sep(sep);
	if (len == 0)
		return MBNAME_EMPTY;
	if (len > MBNAME_MAX_LEN)
		return MBNAME_TOO_LONG;
	for (i = 0; i < len;) {
		unsigned long cp;
		size_t n = mutf7_utf8_next(name + i, len - i, &cp);

		if (n == 0)
			return MBNAME_BAD_UTF8;
		if (is_control(cp))
			return MBNAME_CONTROL;
		if ((flags & MBNAME_FOR_CREATE) && (cp == '%' || cp == '*'))
			return MBNAME_WILDCARD;
		i += n;
	}
	if (name[0] == sep)
		return MBNAME_ABSOLUTE;
	if (name[0] == '~')
		return MBNAME_TILDE;
	/* sep is ASCII, so a byte equal to it is never inside a UTF-8
	 * sequence: splitting bytes is splitting characters. */
	for (i = 0; i <= len; i++) {
		size_t clen;

		if (i < len && name[i] != sep)
			continue;
		clen = i - comp_start;
		if (clen == 0)
			return MBNAME_EMPTY_COMPONENT;
		if ((clen == 1 && name[comp_start] == '.') ||
		    (clen == 2 && name[comp_start] == '.' &&
		     name[comp_start + 1] == '.'))
			return MBNAME_DOT_COMPONENT;
		if (++depth > MBNAME_MAX_DEPTH)
			return MBNAME_TOO_DEEP;
		comp_start = i + 1;
	}
	return MBNAME_OK;
}

/* Length of the first component (up to sep or the end). */
static size_t
first_len(const char *name, size_t len, char sep)
{
	const char *p = memchr(name, sep, len);

	return p == NULL ? len : (size_t)(p - name);
}

/* Checks a UTF-8 name and appends its canonical form (INBOX in upper
 * case) to out. */
static int
canonical(const char *name, size_t len, char sep, unsigned flags,
	  struct buf *out, enum mbname_error *err)
{
	size_t start = buf_len(out), fl;

	*err = mbname_check(name, len, sep, flags);
	if (*err != MBNAME_OK)
		return -1;
	fl = first_len(name, len, sep);
	if (fl == 5 && strncasecmp(name, "INBOX", 5) == 0) {
		if (buf_append_str(out, "INBOX") < 0 ||
		    buf_append(out, name + 5, len - 5) < 0)
			goto too_long;
	} else if (buf_append(out, name, len) < 0) {
		goto too_long;
	}
	return 0;
too_long:
	buf_truncate(out, start);
	*err = MBNAME_TOO_LONG;
	return -1;
}

int
mbname_from_wire(const char *wire, size_t len, bool utf8, char sep,
		 unsigned flags, struct buf *out, enum mbname_error *err)
{
	struct buf *tmp;
	int ret;

	check_sep(sep);
	if (len > MBNAME_WIRE_MAX) {
		*err = MBNAME_TOO_LONG;
		return -1;
	}
	if (utf8)
		return canonical(wire, len, sep, flags, out, err);
	/* Decoded UTF-8 is at most 9/8 of the modified UTF-7 length. */
	tmp = buf_new(2 * MBNAME_WIRE_MAX);
	if (mutf7_to_utf8(wire, len, tmp) < 0) {
		*err = MBNAME_BAD_MUTF7;
		ret = -1;
	} else {
		ret = canonical(buf_str(tmp), buf_len(tmp), sep, flags, out,
				err);
	}
	buf_free(&tmp);
	return ret;
}

int
mbname_to_wire(const char *name, bool utf8, struct buf *out)
{
	size_t len = strlen(name);

	if (!utf8)
		return mutf7_from_utf8(name, len, out);
	if (!mutf7_utf8_valid(name, len)) {
		errno = EINVAL;
		return -1;
	}
	return buf_append(out, name, len);
}

bool
mbname_is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

/* What each store cannot hold in one component of a name. */
enum store { STORE_MAILDIR, STORE_MBOX };

static bool
component_storable(enum store st, const char *c, size_t len)
{
	if (memchr(c, '/', len) != NULL)
		return false;
	if (st == STORE_MAILDIR)
		return memchr(c, '.', len) == NULL;
	if (c[0] == '.')
		return false;
	return !(len >= 5 && memcmp(c + len - 5, ".lock", 5) == 0);
}

/* Appends the components of canonical name, each as modified UTF-7 and
 * preceded by lead ('.' for Maildir++, '/' for mbox; none before the
 * first mbox component when skip_first_lead). */
static int
map_components(enum store st, const char *name, char sep, char lead,
	       bool skip_first_lead, struct buf *out, enum mbname_error *err)
{
	size_t len = strlen(name), i = 0;

	while (i < len) {
		size_t clen = first_len(name + i, len - i, sep);
		size_t before = buf_len(out);

		if (!component_storable(st, name + i, clen)) {
			*err = MBNAME_UNSTORABLE;
			return -1;
		}
		if (!(skip_first_lead && i == 0) &&
		    buf_append_byte(out, (uint8_t)lead) < 0)
			goto too_long;
		if (mutf7_from_utf8(name + i, clen, out) < 0)
			goto too_long;
		/* The checked name has no NUL and is valid UTF-8, so only the
		 * length can fail; one mbox component is one directory
		 * entry. */
		if (st == STORE_MBOX && buf_len(out) - before > DISK_NAME_MAX)
			goto too_long;
		i += clen + 1;
	}
	return 0;
too_long:
	*err = MBNAME_TOO_LONG;
	return -1;
}

int
mbname_to_maildir(const char *name, char sep, struct buf *out,
		  enum mbname_error *err)
{
	size_t start = buf_len(out);
	struct buf *tmp;
	int ret = 0;

	*err = mbname_check(name, strlen(name), sep, 0);
	if (*err != MBNAME_OK)
		return -1;
	if (mbname_is_inbox(name))
		return 0;
	tmp = buf_new(DISK_NAME_MAX);
	if (map_components(STORE_MAILDIR, name, sep, '.', false, tmp,
			   err) < 0 ||
	    buf_append(out, buf_data(tmp), buf_len(tmp)) < 0) {
		if (*err == MBNAME_OK)
			*err = MBNAME_TOO_LONG;
		buf_truncate(out, start);
		ret = -1;
	}
	buf_free(&tmp);
	return ret;
}

int
mbname_to_mbox_path(const char *name, char sep, const char *root,
		    struct buf *out, enum mbname_error *err)
{
	size_t start = buf_len(out);
	struct buf *tmp;
	int ret = 0;

	*err = mbname_check(name, strlen(name), sep, 0);
	if (*err != MBNAME_OK)
		return -1;
	if (mbname_is_inbox(name)) {
		*err = MBNAME_IS_INBOX;
		return -1;
	}
	tmp = buf_new(DISK_PATH_MAX);
	if (buf_append_str(tmp, root) < 0 ||
	    map_components(STORE_MBOX, name, sep, '/', root[0] == '\0', tmp,
			   err) < 0 ||
	    buf_append(out, buf_data(tmp), buf_len(tmp)) < 0) {
		if (*err == MBNAME_OK)
			*err = MBNAME_TOO_LONG;
		buf_truncate(out, start);
		ret = -1;
	}
	buf_free(&tmp);
	return ret;
}

/* Shared reverse mapping: split disk on dsep, decode each component from
 * modified UTF-7, join with sep, canonicalise, and accept only if the
 * forward mapping reproduces expect (the whole disk name) exactly. */
static int
from_disk(enum store st, const char *disk, size_t len, char dsep, char sep,
	  const char *expect, size_t expect_len, struct buf *out,
	  enum mbname_error *err)
{
	struct buf *name, *canon, *fwd;
	size_t i = 0;
	int ret = -1;

	check_sep(sep);
	*err = MBNAME_UNSTORABLE;
	if (len == 0 || len > DISK_PATH_MAX || memchr(disk, '\0', len) != NULL)
		return -1;
	name = buf_new(2 * DISK_PATH_MAX);
	canon = buf_new(MBNAME_MAX_LEN);
	fwd = buf_new(DISK_PATH_MAX);
	while (i <= len) {
		const char *c = disk + i;
		const char *e = memchr(c, dsep, len - i);
		size_t clen = e == NULL ? len - i : (size_t)(e - c);

		if (i > 0 && buf_append_byte(name, (uint8_t)sep) < 0)
			goto done;
		if (mutf7_to_utf8(c, clen, name) < 0) {
			*err = errno == EINVAL ? MBNAME_BAD_MUTF7 :
			    MBNAME_TOO_LONG;
			goto done;
		}
		i += clen + 1;
	}
	if (canonical(buf_str(name), buf_len(name), sep, 0, canon, err) < 0)
		goto done;
	if (st == STORE_MAILDIR) {
		if (mbname_to_maildir(buf_str(canon), sep, fwd, err) < 0)
			goto done;
	} else if (mbname_to_mbox_path(buf_str(canon), sep, "", fwd, err) < 0) {
		goto done;
	}
	if (buf_len(fwd) != expect_len ||
	    memcmp(buf_data(fwd), expect, expect_len) != 0) {
		*err = MBNAME_UNSTORABLE;
		goto done;
	}
	if (buf_append(out, buf_data(canon), buf_len(canon)) < 0) {
		*err = MBNAME_TOO_LONG;
		goto done;
	}
	ret = 0;
done:
	buf_free(&fwd);
	buf_free(&canon);
	buf_free(&name);
	return ret;
}

int
mbname_from_maildir(const char *dirname, size_t len, char sep,
		    struct buf *out, enum mbname_error *err)
{
	/* ".Sub.Folder": skip the leading '.', the rest splits on '.'. */
	if (len < 2 || dirname[0] != '.') {
		*err = MBNAME_UNSTORABLE;
		return -1;
	}
	return from_disk(STORE_MAILDIR, dirname + 1, len - 1, '.', sep,
			 dirname, len, out, err);
}

int
mbname_from_mbox_path(const char *relpath, size_t len, char sep,
		      struct buf *out, enum mbname_error *err)
{
	return from_disk(STORE_MBOX, relpath, len, '/', sep, relpath, len, out,
			 err);
}
