/*
 * fuzz-config: libFuzzer harness for lib/core/config.c. The input bytes
 * are a whole moat.conf (not NUL-terminated, as config_parse allows);
 * parsing must never crash, read out of bounds or leak, whatever it
 * decides. Run: ./fuzz/fuzz-config -dict=../fuzz/fuzz-config.dict
 */
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moat_config *c = NULL;
	char err[256];

	if (config_parse("fuzz.conf", (const char *)data, size, &c, err,
			 sizeof(err)) == 0 && c == NULL)
		__builtin_trap();
	config_free(&c);
	return 0;
}
