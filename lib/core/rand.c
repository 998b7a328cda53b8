/*
 * rand: cryptographic randomness (cookies, session ids, UIDVALIDITY
 * salts). Callers: auth, moatd, imap. No input; getrandom(2) blocks
 * until the kernel pool is initialised, and any failure is fatal because
 * a predictable cookie would let anyone start a session.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/rand.h"

void
rand_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = getrandom(p, len, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("getrandom: %m");
		}
		if (r == 0)
			log_fatal("getrandom returned no bytes");
		/* Large requests may be cut short (signal or > 32 MiB). */
		p += r;
		len -= (size_t)r;
	}
}

uint32_t
rand_u32(void)
{
	uint32_t v;

	rand_bytes(&v, sizeof(v));
	return v;
}
