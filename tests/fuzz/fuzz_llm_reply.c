/*
 * fuzz_llm_reply - libFuzzer harness for <agentd/llm.h>'s reading of the
 * llm agent's reply (sdk/llm.c, agentd_llm_reply_parse): bytes another
 * agent's process wrote, read inside a plugin.
 *
 * What must hold for any bytes: the parse answers 0, AGENTD_EPROTO or
 * AGENTD_EINVAL, never reads outside the input, and on 0 every string of
 * the reply is NUL-terminated (read with strlen) and every tool call has
 * its three strings; the reply frees cleanly.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/llm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agentd_llm_reply *r = NULL;
	size_t                   i, sum = 0;
	int                      rv;

	rv = agentd_llm_reply_parse(data, size, &r);
	if (rv != 0) {
		if (rv != AGENTD_EPROTO && rv != AGENTD_EINVAL)
			abort();
		return 0;
	}
	sum += strlen(r->text) + strlen(r->provider) + strlen(r->model)
	    + strlen(r->finish_reason) + strlen(r->route);
	for (i = 0; i < r->ntool_calls; i++)
		sum += strlen(r->tool_calls[i].id)
		    + strlen(r->tool_calls[i].name)
		    + strlen(r->tool_calls[i].arguments);
	agentd_llm_reply_free(r);
	return sum == (size_t)-1;
}
