/*
 * num: safe number parsing. The whole string must be consumed, no sign,
 * no leading whitespace, no overflow; each function returns 0 or -1.
 */
#ifndef MOAT_NUM_H
#define MOAT_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, value <= max. */
int num_parse_u64(const char *s, uint64_t max, uint64_t *out);
int num_parse_uint(const char *s, unsigned int max, unsigned int *out);
/* Same, from a counted (not NUL-terminated) byte range. */
int num_parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Sizes with optional suffix k/K, m/M, g/G (powers of 1024): "64k". */
int num_parse_size(const char *s, uint64_t *out);
/* Durations with optional suffix ms, s, m, h (default seconds), result in
 * milliseconds: "30m" -> 1800000, "500ms" -> 500. */
int num_parse_duration_ms(const char *s, uint64_t *out);
/* "yes"/"no" (also "true"/"false", "1"/"0"). */
int num_parse_bool(const char *s, int *out);

#endif
