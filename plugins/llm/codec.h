/*
 * codec.h - the llm plugin's provider codecs: a chat request in the
 * plugin's own form to each provider's JSON body and URL, each provider's
 * answer back to one reply; and msgpack <-> JSON, since agents speak
 * msgpack and providers JSON.  Pure functions, no host: the unit tests
 * run them against example answers of each API.
 */
#ifndef LLM_CODEC_H
#define LLM_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <agentd/msg.h>

#include "../jsonkit/jsonkit.h"

enum llm_kind {
	LLM_OPENAI = 1, /* POST BASE/chat/completions */
	LLM_OLLAMA,     /* POST BASE/api/chat */
	LLM_GEMINI,     /* POST BASE/models/MODEL:generateContent */
};

/* "openai", "ollama", "gemini" -> the kind; 0 for another word. */
enum llm_kind llm_kind_parse(const char *s);
const char   *llm_kind_name(enum llm_kind k);

/*
 * The messages of a request, as llm_messages_check() leaves them
 * (OpenAI's shapes, which the other codecs translate):
 *   {"role": "system" | "user", "content": str}
 *   {"role": "assistant", "content": str ("" with tool calls alone),
 *    "tool_calls": [{"id", "type": "function", "function": {"name",
 *    "arguments": JSON text of an object}}]}   (tool_calls optional)
 *   {"role": "tool", "tool_call_id": str, "name": str, "content": str}
 * A tool message answers a call of the assistant message before it (or
 * of the one before the tool messages before it); its name is that
 * call's, which Gemini and Ollama need.
 */

/*
 * Check the messages an agent sent (in), and return them in the form
 * above: caller owns, free with json_decref(); NULL with a line in why.
 * Accepted besides that form: a tool call as the llm agent's reply has
 * it ({"id", "name", "arguments"}), arguments as an object, a tool
 * message's content as any JSON value (kept as its text), content null
 * beside tool calls.
 */
json_t *llm_messages_check(const json_t *in, char *why, size_t whylen);

/*
 * Check that every tool message of msgs (in the form above) answers a
 * call of the assistant message before it, and fill its "name" from that
 * call.  0, or AGENTD_EINVAL with a line in why.
 */
int llm_messages_link(json_t *msgs, char *why, size_t whylen);

/*
 * A chat request as the codecs take it.  Every json_t is borrowed from
 * the caller.
 */
struct llm_req {
	json_t *messages;        /* the form above, non-empty, linked */
	int64_t max_tokens;      /* 0: the provider's default */
	double  temperature;     /* < 0: the provider's default */
	json_t *response_format; /* {"type": "json_object"} ..., or NULL */
	json_t *tools; /* [{"type": "function", "function": {...}}] or NULL */
};

/* A provider's answer.  Strings and json_t: caller owns, free with
 * llm_reply_clear(). */
struct llm_reply {
	char   *text;          /* the assistant's text, "" if none */
	json_t *tool_calls;    /* [{"id", "name", "arguments": str}] */
	char   *model;         /* the model that answered, as it says */
	char   *finish_reason; /* stop, length, tool_calls, ... */
	int64_t prompt_tokens, completion_tokens; /* -1: not said */
};
void llm_reply_clear(struct llm_reply *r);

/* The assistant message of a reply, in the form above: a new reference. */
json_t *llm_assistant_message(const struct llm_reply *r);

/* The request's URL into buf (base_url without its trailing '/');
 * AGENTD_ETOOBIG if it does not fit. */
int llm_url(enum llm_kind k, const char *base_url, const char *model,
    char *buf, size_t size);

/* The request's JSON body: caller owns, free with json_decref(). */
json_t *llm_body(enum llm_kind k, const char *model, const struct llm_req *q);

/*
 * Read a provider's 200 answer.  0 and *out filled, or AGENTD_EPROTO
 * with a line in err (malformed JSON, no choice or candidate, a missing
 * message), *out then empty.
 */
int llm_parse(enum llm_kind k, const void *body, size_t len,
    struct llm_reply *out, char *err, size_t errlen);

/* msgpack -> JSON (bins as strings; map keys must be strings): a new
 * reference, or NULL for what JSON cannot hold. */
json_t *llm_mp_to_json(const agentd_value *v);
/* JSON -> msgpack: jsonkit_write (plugins/jsonkit). */

#endif /* LLM_CODEC_H */
