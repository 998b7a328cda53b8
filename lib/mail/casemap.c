/*
 * mail casemap: RFC 5051 i;unicode-casemap preparation with utf8proc's
 * Unicode tables (Debian libutf8proc). Input is decoded, untrusted text;
 * output is deterministic for a given utf8proc version (the full-text
 * index stores it, so a utf8proc upgrade with new Unicode data means a
 * reindex).
 */
#include <errno.h>
#include <utf8proc.h>

#include "mail/casemap.h"
#include "mail/utf8.h"

/* The longest full decomposition in Unicode is 18 code points (U+FDFA). */
#define DECOMP_MAX 32

static int
map_char(uint32_t cp, struct buf *out)
{
	utf8proc_int32_t dec[DECOMP_MAX];
	utf8proc_ssize_t n;
	int last = 0;
	uint8_t *d;

	/* utf8proc maps U+00DF to U+1E9E, a mapping UnicodeData.txt does not
	 * have (ß has no simple titlecase there); RFC 5051 says
	 * UnicodeData, and Dovecot follows it. Compared over all code
	 * points with Python's Unicode 14 tables, ß is utf8proc 2.8's only
	 * departure from the simple titlecase. */
	if (cp != 0xdf)
		cp = (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp);
	n = utf8proc_decompose_char((utf8proc_int32_t)cp, dec, DECOMP_MAX,
				    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
				    &last);
	if (n < 0 || n > DECOMP_MAX) {
		/* Not reachable with Unicode's data; keep the char. */
		dec[0] = (utf8proc_int32_t)cp;
		n = 1;
	}
	d = buf_reserve(out, (size_t)n * 4);
	if (d == NULL)
		return -1;
	size_t w = 0;
	for (utf8proc_ssize_t i = 0; i < n; i++)
		w += mail_utf8_encode((uint32_t)dec[i], d + w);
	buf_commit(out, w);
	return 0;
}

int
mail_casemap(const void *in, size_t len, struct buf *out)
{
	const uint8_t *p = in;
	size_t i = 0;

	while (i < len) {
		if (p[i] < 0x80) {
			/* ASCII: titlecase is uppercase and nothing
			 * decomposes. */
			size_t run = i;
			while (run < len && p[run] < 0x80)
				run++;
			uint8_t *d = buf_reserve(out, run - i);
			if (d == NULL)
				goto full;
			for (size_t k = i; k < run; k++) {
				uint8_t c = p[k];
				d[k - i] = (c >= 'a' && c <= 'z') ?
					   (uint8_t)(c - 32) : c;
			}
			buf_commit(out, run - i);
			i = run;
			continue;
		}
		uint32_t cp;
		int n = mail_utf8_decode(p + i, len - i, &cp);
		if (n <= 0) {
			cp = 0xfffd;
			n = 1;
		}
		if (map_char(cp, out) < 0)
			goto full;
		i += (size_t)n;
	}
	return 0;
full:
	errno = EMSGSIZE;
	return -1;
}
