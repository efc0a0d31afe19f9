/*
 * fuzz_json_to_mp - libFuzzer harness for JSON text to msgpack
 * (common/json_mp.c), which turns agentctl's and the HTTP API's bodies
 * into messages.
 *
 * What must hold for any text: ad_json_text_to_mp() answers 0 or
 * AGENTD_EINVAL with a message; what it accepts is one msgpack value that
 * agentd_parse() accepts, and that converts back to JSON equal to what
 * jansson read (JSON strings are UTF-8, so none becomes {"$base64"}).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>
#include <jansson.h>

#include "common/json_mp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_back(const char *text, const void *mp, size_t len)
{
	json_t *want, *got = NULL;

	want = json_loads(text, JSON_DECODE_ANY, NULL);
	if (want == NULL || ad_mp_to_json(mp, len, &got) != 0
	    || !json_equal(want, got))
		abort();
	json_decref(got);
	json_decref(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agentd_writer *w;
	const void    *mp;
	char          *text;
	char           err[256];
	size_t         len;
	int            rv;

	/* The API hands over NUL-terminated text. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (agentd_writer_new(&w) != 0)
		abort();
	err[0] = '\0';
	rv     = ad_json_text_to_mp(text, w, err, sizeof(err));
	if (rv == 0) {
		mp = agentd_writer_data(w, &len);
		check_back(text, mp, len);
	} else if (rv != AGENTD_EINVAL || err[0] == '\0') {
		abort();
	}
	agentd_writer_free(w);
	free(text);
	return 0;
}
