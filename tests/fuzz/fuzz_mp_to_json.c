/*
 * fuzz_mp_to_json - libFuzzer harness for msgpack to JSON
 * (common/json_mp.c), which shows agentctl and the HTTP API any message
 * body, state value or audit record.
 *
 * What must hold for any bytes: ad_mp_to_json() answers 0 or an error
 * and never crashes; what it accepts converts back to msgpack and again
 * to the same JSON (one conversion reaches JSON's form: bins become
 * strings or {"$base64"}, other map keys their JSON text, big unsigned
 * integers reals), and its text reads back as msgpack.
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

/* j converted to msgpack and back is j. */
static void
check_value(const json_t *j)
{
	agentd_writer *w;
	json_t        *again = NULL;
	const void    *mp;
	size_t         len;

	if (agentd_writer_new(&w) != 0 || ad_json_to_mp(j, w) != 0)
		abort();
	mp = agentd_writer_data(w, &len);
	if (ad_mp_to_json(mp, len, &again) != 0 || !json_equal(j, again))
		abort();
	json_decref(again);
	agentd_writer_free(w);
}

/*
 * j's text reads back as msgpack, but for one known gap: a string with a
 * NUL prints as "\u0000", which jansson (without JSON_ALLOW_NUL), and so
 * agentctl's input, refuses.
 */
static void
check_text(const json_t *j)
{
	agentd_writer *w;
	char          *text;
	char           err[256];

	text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	if (text == NULL || agentd_writer_new(&w) != 0)
		abort();
	if (ad_json_text_to_mp(text, w, err, sizeof(err)) != 0
	    && (strstr(text, "\\u0000") == NULL
	        || strstr(err, "\\u0000") == NULL))
		abort();
	agentd_writer_free(w);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = NULL;

	if (ad_mp_to_json(data, size, &j) == 0) {
		if (j == NULL)
			abort();
		check_value(j);
		check_text(j);
		json_decref(j);
	}
	return 0;
}
