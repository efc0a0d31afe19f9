/*
 * fuzz_counters - libFuzzer harness for agentd's reading of a worker's
 * "counters" envelope body (sdk/counters.c, ad_counters_merge, as
 * supervisor/gen.c calls it): bytes a plugin's process writes.
 *
 * What must hold for any bytes: the merge answers 0 or an error, never
 * reads outside the input, and leaves a table whose names are valid and
 * in bytewise order, at most AGENTD_COUNTERS_MAX of them, whose values
 * never went below 0 (a counter only grows).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>

#include "sdk/counters.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ad_counters t; /* kept across inputs: sums grow */
	agentd_doc               *doc;
	size_t                    dropped = 0, i;

	if (agentd_parse(data, size, &doc) != 0)
		return 0;
	(void)ad_counters_merge(&t, agentd_doc_root(doc), &dropped);
	agentd_doc_free(doc);
	if (t.n > AGENTD_COUNTERS_MAX)
		abort();
	for (i = 0; i < t.n; i++) {
		if (ad_counter_name_check(t.c[i].name) != 0
		    || t.c[i].value < 0)
			abort();
		if (i > 0 && strcmp(t.c[i - 1].name, t.c[i].name) >= 0)
			abort();
	}
	return 0;
}
