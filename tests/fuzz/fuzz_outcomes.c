/*
 * fuzz_outcomes - libFuzzer harness for the worker's reading of agentd's
 * "decisions" control message (worker/outcomes.c): the outcomes it hands
 * to the plugin's on_event.
 *
 * What must hold for any bytes: the reading answers 0 or AGENTD_EPROTO,
 * calls back only with 0 and never reads outside the input; each
 * outcome handed on has a topic that is a NUL-terminated string shorter
 * than AD_TARGET_MAX and a body that lies inside the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>

#include "bus/envelope.h"
#include "worker/outcomes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t         len;
	size_t         calls;
};

static void
outcome(void *arg, const char *topic, const void *body, size_t len)
{
	struct input        *in = arg;
	const unsigned char *b  = body;

	if (topic == NULL || strnlen(topic, AD_TARGET_MAX) >= AD_TARGET_MAX)
		abort();
	if (len > 0
	    && (b < in->p || b > in->p + in->len || len > in->len
	        || (size_t)(b - in->p) > in->len - len))
		abort();
	in->calls++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size, 0 };
	int          rv = ad_outcomes_each(data, size, outcome, &in);

	if (rv != 0 && (rv != AGENTD_EPROTO || in.calls != 0))
		abort();
	return 0;
}
