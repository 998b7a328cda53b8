/*
 * str: allocation wrappers that never return NULL, and small string
 * helpers. Used by every process. Inputs are caller-owned strings; the
 * helpers trust nothing about their contents beyond NUL termination.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

/* A server out of memory cannot answer anyone correctly: stop. */
static void __attribute__((noreturn, cold))
oom(size_t n)
{
	log_fatal("out of memory (allocating %zu bytes)", n);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		oom(size > 0 && nmemb > SIZE_MAX / size ? SIZE_MAX : nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *np = realloc(p, n == 0 ? 1 : n);

	if (np == NULL)
		oom(n);
	return np;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	/* The multiplication is the bug class this function exists for. */
	if (size != 0 && nmemb > SIZE_MAX / size)
		log_fatal("allocation overflow (%zu * %zu)", nmemb, size);
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xmalloc(n);

	memcpy(d, s, n);
	return d;
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = xmalloc(len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

int
str_copy(char *dst, const char *src, size_t dstsize)
{
	size_t len;

	if (dstsize == 0)
		return -1;
	len = strnlen(src, dstsize);
	if (len == dstsize) {
		memcpy(dst, src, dstsize - 1);
		dst[dstsize - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

bool
str_eq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool
str_eq_ci(const char *a, const char *b)
{
	/* Not strcasecmp: the locale must not change what an IMAP atom is. */
	for (;; a++, b++) {
		int ca = ascii_lower((unsigned char)*a);
		int cb = ascii_lower((unsigned char)*b);

		if (ca != cb)
			return false;
		if (ca == '\0')
			return true;
	}
}

bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void
str_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - ('a' - 'A'));
}

void
str_free_wipe(char **s)
{
	if (s == NULL || *s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

bool
str_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *pa = a, *pb = b;
	uint8_t diff = 0;

	/* Always touch every byte so timing does not reveal where the first
	 * difference is (cookies, passwords). */
	for (size_t i = 0; i < n; i++)
		diff |= (uint8_t)(pa[i] ^ pb[i]);
	return diff == 0;
}

static bool
ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

char *
str_trim(char *s)
{
	size_t len;

	while (ascii_space(*s))
		s++;
	len = strlen(s);
	while (len > 0 && ascii_space(s[len - 1]))
		len--;
	s[len] = '\0';
	return s;
}

bool
str_has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}
