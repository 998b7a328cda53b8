/* rand: cryptographic randomness from getrandom(2). Failure is fatal. */
#ifndef MOAT_RAND_H
#define MOAT_RAND_H
#include <stddef.h>
#include <stdint.h>
void rand_bytes(void *buf, size_t len);
uint32_t rand_u32(void);
#endif
