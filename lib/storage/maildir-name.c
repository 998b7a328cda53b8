/*
 * maildir_name: parse and build Maildir file names, make new unique
 * bases. Callers: the Maildir backend and uidlist.c. Names come from
 * directory listings that other programs (MDAs, mutt, mbsync, the user)
 * fill: every byte is checked, only len bytes are read, and parsing
 * borrows instead of allocating.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "storage/maildir-name.h"

static const struct {
	char c;
	unsigned bit;
} std_flags[] = {
	{ 'D', MAILDIR_FLAG_DRAFT },
	{ 'F', MAILDIR_FLAG_FLAGGED },
	{ 'P', MAILDIR_FLAG_PASSED },
	{ 'R', MAILDIR_FLAG_REPLIED },
	{ 'S', MAILDIR_FLAG_SEEN },
	{ 'T', MAILDIR_FLAG_TRASHED },
};

static unsigned
std_flag_bit(char c)
{
	for (size_t i = 0; i < sizeof(std_flags) / sizeof(std_flags[0]); i++)
		if (std_flags[i].c == c)
			return std_flags[i].bit;
	return 0;
}

/* ',' ends the flags (Dovecot's tail), ':' would move the info
 * separator, '/' cannot be in a file name. */
static bool
is_flag_char(char c)
{
	return c >= '!' && c <= '~' && c != ',' && c != ':' && c != '/';
}

size_t
maildir_name_base_len(const char *name, size_t len)
{
	for (size_t i = len; i > 0; i--)
		if (name[i - 1] == ':')
			return i - 1;
	return len;
}

static bool
valid_name_bytes(const char *name, size_t len)
{
	if (len == 0 || len > MAILDIR_NAME_MAX || name[0] == '.')
		return false;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

/* Dovecot's ",S=<digits>" / ",W=<digits>" fields in the base: each
 * field runs from a ',' to the next ',' or the end of the base. */
static void
parse_sizes(struct maildir_name *n)
{
	const char *b = n->base;
	size_t len = n->base_len;

	for (size_t i = 0; i < len; i++) {
		size_t j, digits;
		uint64_t v = 0;
		bool ok = true;

		if (b[i] != ',' || i + 3 > len || b[i + 2] != '=' ||
		    (b[i + 1] != 'S' && b[i + 1] != 'W'))
			continue;
		for (j = i + 3; j < len && b[j] != ','; j++) {
			if (b[j] < '0' || b[j] > '9' ||
			    v > (UINT64_MAX - 9) / 10) {
				ok = false;
				break;
			}
			v = v * 10 + (uint64_t)(b[j] - '0');
		}
		digits = j - (i + 3);
		if (!ok || digits == 0)
			continue;
		if (b[i + 1] == 'S' && !n->has_size) {
			n->has_size = true;
			n->size = v;
		} else if (b[i + 1] == 'W' && !n->has_vsize) {
			n->has_vsize = true;
			n->vsize = v;
		}
	}
}

/* Fills the flag fields from info "2,<flags>[,<tail>]"; leaves them
 * empty and flags_valid false when the info is anything else. */
static void
parse_flags(struct maildir_name *n)
{
	const char *p = n->info;
	size_t len = n->info_len, i;
	bool seen[128] = { false };
	size_t no = 0;

	if (len < 2 || p[0] != '2' || p[1] != ',')
		return;
	for (i = 2; i < len && p[i] != ','; i++) {
		unsigned bit;

		if (!is_flag_char(p[i]))
			goto invalid;
		if ((bit = std_flag_bit(p[i])) != 0)
			n->flags |= bit;
		else if (p[i] >= 'a' && p[i] <= 'z')
			n->keywords |= 1u << (p[i] - 'a');
		else
			seen[(unsigned char)p[i]] = true;
	}
	if (i < len) {
		n->tail = p + i;
		n->tail_len = len - i;
	}
	for (int c = '!'; c <= '~'; c++)
		if (seen[c])
			n->other[no++] = (char)c;
	n->other[no] = '\0';
	n->flags_valid = true;
	return;
invalid:
	n->flags = 0;
	n->keywords = 0;
}

void
maildir_name_init(struct maildir_name *n, const char *base, size_t base_len)
{
	memset(n, 0, sizeof(*n));
	n->base = base;
	n->base_len = base_len;
	n->flags_valid = true;
}

int
maildir_name_parse(const char *name, size_t len, struct maildir_name *n)
{
	size_t bl;

	memset(n, 0, sizeof(*n));
	if (!valid_name_bytes(name, len))
		goto inval;
	bl = maildir_name_base_len(name, len);
	if (bl == 0)
		goto inval;
	n->base = name;
	n->base_len = bl;
	if (bl < len) {
		n->has_info = true;
		n->info = name + bl + 1;
		n->info_len = len - bl - 1;
		parse_flags(n);
	}
	parse_sizes(n);
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

int
maildir_name_build(const struct maildir_name *n, struct buf *out)
{
	bool want[128] = { false };
	char name[MAILDIR_NAME_MAX + 1];
	size_t len;

	/* A ':' inside the base is fine: the info starts after the last
	 * one, so the built name parses back to the same base. */
	if (!valid_name_bytes(n->base, n->base_len))
		goto inval;
	for (size_t i = 0; i < sizeof(std_flags) / sizeof(std_flags[0]); i++)
		if (n->flags & std_flags[i].bit)
			want[(unsigned char)std_flags[i].c] = true;
	for (int k = 0; k < 26; k++)
		if (n->keywords & (1u << k))
			want['a' + k] = true;
	for (const char *p = n->other; *p != '\0'; p++) {
		if (!is_flag_char(*p))
			goto inval;
		want[(unsigned char)*p] = true;
	}
	if (n->tail_len > 0 && (n->tail[0] != ',' ||
				memchr(n->tail, '/', n->tail_len) != NULL ||
				memchr(n->tail, ':', n->tail_len) != NULL ||
				memchr(n->tail, '\0', n->tail_len) != NULL))
		goto inval;
	if (n->base_len + 3 > MAILDIR_NAME_MAX)
		goto toolong;
	memcpy(name, n->base, n->base_len);
	len = n->base_len;
	memcpy(name + len, ":2,", 3);
	len += 3;
	for (int c = '!'; c <= '~'; c++) {
		if (!want[c])
			continue;
		if (len >= MAILDIR_NAME_MAX)
			goto toolong;
		name[len++] = (char)c;
	}
	if (n->tail_len > MAILDIR_NAME_MAX - len)
		goto toolong;
	if (n->tail_len > 0) {
		memcpy(name + len, n->tail, n->tail_len);
		len += n->tail_len;
	}
	return buf_append(out, name, len);
inval:
	errno = EINVAL;
	return -1;
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

bool
maildir_name_time(const char *base, size_t len, uint64_t *sec)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < 20 && base[i] >= '0' && base[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(base[i] - '0');
	if (i == 0 || i > 19 || i >= len || base[i] != '.')
		return false;
	*sec = v;
	return true;
}

int
maildir_name_new_base(struct buf *out, uint64_t sec, uint32_t usec,
		      uint32_t pid, uint64_t seq, const char *host)
{
	char b[MAILDIR_NEW_BASE_MAX + 1];
	int n;
	size_t len;

	if (host == NULL || host[0] == '\0' || usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(b, sizeof(b), "%llu.M%uP%uQ%llu.",
		     (unsigned long long)sec, usec, pid,
		     (unsigned long long)seq);
	if (n < 0 || (size_t)n >= sizeof(b))
		goto toolong;
	len = (size_t)n;
	for (const unsigned char *h = (const unsigned char *)host; *h != '\0';
	     h++) {
		bool plain = (*h >= 'A' && *h <= 'Z') || (*h >= 'a' && *h <= 'z') ||
		    (*h >= '0' && *h <= '9') || *h == '.' || *h == '-' ||
		    *h == '_';

		if (len + (plain ? 1 : 4) > MAILDIR_NEW_BASE_MAX)
			goto toolong;
		if (plain) {
			b[len++] = (char)*h;
		} else {
			b[len++] = '\\';
			b[len++] = (char)('0' + (*h >> 6));
			b[len++] = (char)('0' + ((*h >> 3) & 7));
			b[len++] = (char)('0' + (*h & 7));
		}
	}
	return buf_append(out, b, len);
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

int
maildir_name_add_sizes(struct buf *out, uint64_t size, uint64_t vsize)
{
	return buf_printf(out, ",S=%llu,W=%llu", (unsigned long long)size,
			  (unsigned long long)vsize);
}
