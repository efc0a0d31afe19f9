/*
 * fuzz_llm_codec - libFuzzer harness for the llm agent's reading of a
 * provider's answer (plugins/llm/codec.c, llm_parse): bytes a server on
 * the network sent.  The first byte picks the API (OpenAI-compatible,
 * Ollama's /api/chat, Gemini), the rest is the body.
 *
 * What must hold for any bytes: the parse answers 0 or AGENTD_EPROTO,
 * with one line in err on EPROTO; on 0 the reply's strings are
 * NUL-terminated (read with strlen), its tool calls an array of objects
 * with string name and arguments, and the assistant message made from it
 * is a JSON object; everything frees cleanly.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/error.h>

#include "plugins/llm/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum llm_kind kinds[] = { LLM_OPENAI, LLM_OLLAMA, LLM_GEMINI };

static size_t
check_calls(const json_t *calls)
{
	const json_t *c;
	size_t        i, sum = 0;

	if (calls == NULL)
		return 0;
	if (!json_is_array(calls))
		abort();
	json_array_foreach(calls, i, c)
	{
		const char *name
		    = json_string_value(json_object_get(c, "name"));
		const char *args
		    = json_string_value(json_object_get(c, "arguments"));

		if (!json_is_object(c) || name == NULL || args == NULL)
			abort();
		sum += strlen(name) + strlen(args);
	}
	return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llm_reply r;
	json_t          *msg;
	char             err[512];
	size_t           sum = 0;
	int              rv;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	err[0] = '\0';
	rv     = llm_parse(
	        kinds[data[0] % 3], data + 1, size - 1, &r, err, sizeof(err));
	if (rv != 0) {
		if (rv != AGENTD_EPROTO || err[0] == '\0'
		    || strchr(err, '\n') != NULL)
			abort();
		llm_reply_clear(&r);
		return 0;
	}
	if (r.text == NULL)
		abort();
	sum += strlen(r.text);
	sum += r.model != NULL ? strlen(r.model) : 0;
	sum += r.finish_reason != NULL ? strlen(r.finish_reason) : 0;
	sum += check_calls(r.tool_calls);
	if ((msg = llm_assistant_message(&r)) == NULL || !json_is_object(msg))
		abort();
	json_decref(msg);
	llm_reply_clear(&r);
	return sum == (size_t)-1;
}
