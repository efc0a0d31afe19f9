/*
 * fuzz_call_error - libFuzzer harness for the line a failed call's reply
 * becomes (sdk/contract.c, ad_call_error_text): the reply's bytes come
 * from another agent's plugin, and the line goes to the caller's
 * host->call_error() and into flow's run records and audit trail.
 *
 * What must hold for any bytes: the line is NUL-terminated within
 * AD_CALL_ERROR_MAX bytes and holds no control character (one line);
 * without an "error" string in a msgpack map, it is the fallback.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdk/contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char   out[AD_CALL_ERROR_MAX + 1];
	size_t n, i;

	memset(out, 'x', sizeof(out));
	ad_call_error_text(data, size, "fallback", out);
	n = strnlen(out, sizeof(out));
	if (n > AD_CALL_ERROR_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
	return 0;
}
