/*
 * arr: growth for the type-checked ARRAY(T) macros in arr.h. Callers are
 * all modules; sizes come from our own code, but a count driven by a
 * peer (e.g. many connections) must still not overflow, so the growth
 * arithmetic is checked.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/arr.h"
#include "core/log.h"

void
arr_grow_(void **v, size_t *cap, size_t need, size_t elsize)
{
	size_t ncap;

	if (need <= *cap)
		return;
	ncap = *cap < 8 ? 8 : *cap;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			log_fatal("array growth overflow (%zu elements)", need);
		ncap *= 2;
	}
	/* xreallocarray checks ncap * elsize. */
	*v = xreallocarray(*v, ncap, elsize);
	*cap = ncap;
}
