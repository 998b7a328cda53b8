/*
 * arr: type-checked growable arrays.
 *
 *   ARRAY(struct conn *) conns = ARRAY_INIT;
 *   arr_push(&conns, c);            // type-checked: &conns.v[0] = c
 *   for (size_t i = 0; i < conns.n; i++) use(conns.v[i]);
 *   arr_free(&conns);
 *
 * The element type is part of the struct, so pushing the wrong type is
 * a compile error, not a bug. Growth is overflow-checked (xreallocarray).
 */
#ifndef MOAT_ARR_H
#define MOAT_ARR_H

#include <stddef.h>
#include <string.h>
#include "core/str.h"

#define ARRAY(T) struct { T *v; size_t n, cap; }
#define ARRAY_INIT { NULL, 0, 0 }

void arr_grow_(void **v, size_t *cap, size_t need, size_t elsize);

#define arr_reserve(a, need) \
	arr_grow_((void **)&(a)->v, &(a)->cap, (need), sizeof(*(a)->v))
/* The capacity check is inline: pushes in a loop of 100,000 messages
 * otherwise cost a call each. */
#define arr_push(a, x) do { \
	if ((a)->n >= (a)->cap) \
		arr_reserve((a), (a)->n + 1); \
	(a)->v[(a)->n++] = (x); \
} while (0)
/* Remove element i, moving the last one into its place (order not kept). */
#define arr_del_fast(a, i) do { \
	size_t arr_i_ = (i); \
	(a)->v[arr_i_] = (a)->v[--(a)->n]; \
} while (0)
/* Remove element i keeping order. */
#define arr_del(a, i) do { \
	size_t arr_i_ = (i); \
	memmove(&(a)->v[arr_i_], &(a)->v[arr_i_ + 1], \
		((a)->n - arr_i_ - 1) * sizeof(*(a)->v)); \
	(a)->n--; \
} while (0)
#define arr_free(a) do { free((a)->v); (a)->v = NULL; (a)->n = (a)->cap = 0; } while (0)

#endif
