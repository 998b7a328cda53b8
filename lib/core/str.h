/*
 * str: small string helpers that C lacks or gets wrong.
 */
#ifndef MOAT_STR_H
#define MOAT_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Allocation that never returns NULL (failure is fatal: a server out of
 * memory cannot answer anyone correctly). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* realloc with overflow-checked nmemb * size. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy src into dst of size dstsize, always NUL-terminated.
 * Returns 0, or -1 if src did not fit (dst then holds a truncated copy). */
int str_copy(char *dst, const char *src, size_t dstsize);
bool str_eq(const char *a, const char *b);
/* ASCII case-insensitive comparison (IMAP atoms are ASCII). */
bool str_eq_ci(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
/* ASCII uppercase in place. */
void str_upper(char *s);
/* explicit_bzero the string and free it; sets *s to NULL. NULL-safe. */
void str_free_wipe(char **s);
/* Constant-time comparison of n bytes; true when equal. */
bool str_ct_eq(const void *a, const void *b, size_t n);
/* Trim ASCII whitespace at both ends in place; returns s advanced. */
char *str_trim(char *s);
/* True if s holds an ASCII control character (0x00-0x1f or 0x7f) before
 * its NUL. Bytes >= 0x80 are not controls (UTF-8 names pass). Used to
 * refuse user names, homes and mail locations that could break a log
 * line or a protocol line. */
bool str_has_ctl(const char *s);

#endif
