/*
 * imap-list-match: see imap-list-match.h. The pattern is walked as a
 * set of positions (a Thompson-style NFA): each byte of the name moves
 * every live position at once, so "*a*a*a*...b" costs the same as any
 * other pattern of its length instead of exponential backtracking.
 */
#include <string.h>

#include "core/buf.h"
#include "imap/imap-list-match.h"
#include "imap/mutf7.h"

static bool
is_wild(char c)
{
	return c == '*' || c == '%';
}

void
imap_list_pattern_init(struct imap_list_pattern *pat, struct pool *pool,
		       const char *reference, const char *pattern, bool utf8,
		       char sep)
{
	size_t rlen = strlen(reference), plen = strlen(pattern);
	struct buf *b = buf_new(IMAP_LIST_PATTERN_MAX);
	char *joined = pool_alloc(pool, rlen + plen + 1);
	size_t n = 0;
	const char *s;

	memset(pat, 0, sizeof(*pat));
	pat->sep = sep;
	memcpy(joined, reference, rlen);
	memcpy(joined + rlen, pattern, plen + 1);
	/* Wildcards are printable ASCII other than "&", so they pass
	 * through modified UTF-7 decoding as themselves. */
	if (utf8 ? (mutf7_utf8_valid(joined, rlen + plen) &&
		    buf_append(b, joined, rlen + plen) == 0) :
	    mutf7_to_utf8(joined, rlen + plen, b) == 0) {
		s = buf_str(b);
		pat->p = pool_alloc(pool, buf_len(b) + 1);
		for (size_t i = 0; i < buf_len(b); i++) {
			/* "**", "%*", "*%": one "*"; "%%": one "%". */
			if (n > 0 && is_wild(s[i]) && is_wild(pat->p[n - 1])) {
				if (s[i] == '*')
					pat->p[n - 1] = '*';
				continue;
			}
			pat->p[n++] = s[i];
		}
		pat->len = n;
	} else {
		pat->none = true;
	}
	buf_free(&b);
	if (!pat->none) {
		pat->ends_with_percent = n > 0 && pat->p[n - 1] == '%';
		pat->cur = pool_alloc(pool, n + 1);
		pat->next = pool_alloc(pool, n + 1);
	}
}

/* A wildcard matches the empty string: a live position before one makes
 * the position after it live too. */
static void
closure(const struct imap_list_pattern *pat, unsigned char *set)
{
	for (size_t i = 0; i < pat->len; i++) {
		if (set[i] && is_wild(pat->p[i]))
			set[i + 1] = 1;
	}
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
imap_list_pattern_match(struct imap_list_pattern *pat, const char *name)
{
	size_t nlen = strlen(name);
	/* The first five bytes of "INBOX" or "INBOX/..." match in any
	 * case. */
	size_t inbox = strncmp(name, "INBOX", 5) == 0 &&
		(name[5] == '\0' || name[5] == pat->sep) ? 5 : 0;
	unsigned char *cur = pat->cur, *next = pat->next, *tmp;

	if (pat->none)
		return false;
	memset(cur, 0, pat->len + 1);
	cur[0] = 1;
	closure(pat, cur);
	for (size_t k = 0; k < nlen; k++) {
		char c = name[k];
		bool live = false;

		memset(next, 0, pat->len + 1);
		for (size_t i = 0; i < pat->len; i++) {
			char pc = pat->p[i];

			if (!cur[i])
				continue;
			if (pc == '*' || (pc == '%' && c != pat->sep)) {
				next[i] = 1;
				live = true;
			} else if (pc == c || (k < inbox &&
					       lower(pc) == lower(c))) {
				next[i + 1] = 1;
				live = true;
			}
		}
		if (!live)
			return false;
		closure(pat, next);
		tmp = cur;
		cur = next;
		next = tmp;
	}
	return cur[pat->len] != 0;
}
