/*
 * fuzz_mp_to_json - libFuzzer harness for msgpack to JSON
 * (common/json_mp.c), which shows agentctl and the HTTP API any message
 * body, state value or audit record.
 *
 * What must hold for any bytes: ad_mp_to_json() answers 0 or an error
 * and never crashes; what it accepts converts back to msgpack and again
 * to the same JSON (one conversion reaches JSON's form: bins become
 * strings or {"$base64"}, other map keys their JSON text, big unsigned
 * integers reals), and its text reads back as msgpack.  One form cannot
 * go back: bytes at the deepest level AGENTD_MSG_MAX_DEPTH allows become
 * an object {"$base64"} one level deeper, which ad_json_to_mp() refuses
 * as nested too deep (EINVAL) -- the answer agentctl gives for it.
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

/* How many containers deep j is. */
static unsigned
depth_of(const json_t *j)
{
	const char *key;
	json_t     *v;
	size_t      i;
	unsigned    d, max = 0;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v) if ((d = depth_of(v)) > max) max
		    = d;
		return max + 1;
	}
	if (json_is_object(j)) {
		json_object_foreach(
		    (json_t *)j, key, v) if ((d = depth_of(v)) > max) max
		    = d;
		return max + 1;
	}
	return 0;
}

/* j converted to msgpack and back is j, unless it is too deep for that. */
static void
check_value(const json_t *j)
{
	agentd_writer *w;
	json_t        *again = NULL;
	const void    *mp;
	size_t         len;
	int            rc;

	if (agentd_writer_new(&w) != 0)
		abort();
	rc = ad_json_to_mp(j, w);
	if (rc == AGENTD_EINVAL && depth_of(j) > AGENTD_MSG_MAX_DEPTH) {
		agentd_writer_free(w);
		return;
	}
	if (rc != 0)
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
 * agentctl's input, refuses; and one too deep, as above.
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
	        || strstr(err, "\\u0000") == NULL)
	    && (depth_of(j) <= AGENTD_MSG_MAX_DEPTH
	        || strstr(err, "nested deeper") == NULL))
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
