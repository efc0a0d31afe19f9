/*
 * agentd/llm.h - ask the bundled llm agent (doc/llm.md) without writing
 * msgpack by hand.
 *
 * Build a request, encode it, send the bytes with host->call() or
 * host->call_async() to the llm agent, and read its reply body:
 *
 *   agentd_llm_request *q;
 *   const void         *body;
 *   size_t              len;
 *
 *   agentd_llm_request_new("default", &q);
 *   agentd_llm_add_message(q, "system", "Answer in one sentence.");
 *   agentd_llm_add_message(q, "user", question);
 *   agentd_llm_set_max_tokens(q, 200);
 *   if (agentd_llm_request_encode(q, &body, &len) == 0)
 *       host->call_async(ctx, "llm", body, len, 30000, answered, arg);
 *   agentd_llm_request_free(q);
 *
 *   static void answered(void *arg, int status, const void *r, size_t n)
 *   {
 *       agentd_llm_reply *a;
 *       if (status == 0 && agentd_llm_reply_parse(r, n, &a) == 0) {
 *           ... a->text ...
 *           agentd_llm_reply_free(a);
 *       }
 *   }
 *
 * Every function returns 0 or an agentd_error: AGENTD_EINVAL for a NULL
 * or bad argument (the request then holds what it held before the call),
 * AGENTD_EPROTO for a reply that is not the llm agent's.  Out of memory
 * aborts with one line on stderr, as the writers of msg.h do.
 */
#ifndef AGENTD_LLM_H
#define AGENTD_LLM_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One tool call the model asked for: NUL-terminated strings; arguments is
 * JSON text (an object).  In a reply they are owned by the reply; given to
 * agentd_llm_add_assistant() they are borrowed for the call. */
struct agentd_llm_tool_call {
	const char *id;
	const char *name;
	const char *arguments;
};

/* ---- the request -------------------------------------------------------- */

typedef struct agentd_llm_request agentd_llm_request;

/*
 * A request on route (NUL-terminated; NULL: no "route" key, the llm
 * agent's default).  *req: caller owns, free with
 * agentd_llm_request_free().  AGENTD_EINVAL for a NULL req or an empty
 * route.
 */
int  agentd_llm_request_new(const char *route, agentd_llm_request **req);
void agentd_llm_request_free(agentd_llm_request *req);

/*
 * Append {"role": role, "content": content} to the messages.  Strings
 * are copied.  role is "system", "user" or "assistant"; AGENTD_EINVAL for
 * another (a tool result has its own call, below) or a NULL argument.
 */
int agentd_llm_add_message(
    agentd_llm_request *req, const char *role, const char *content);

/*
 * Append an assistant message that asked for tools, as the llm agent
 * answered it: {"role": "assistant", "content": content, "tool_calls":
 * [{"id", "name", "arguments"}...]}.  content may be NULL (written as
 * ""); calls[0..n) are borrowed for the call and copied, and may be a
 * reply's tool_calls as they are.  AGENTD_EINVAL for n == 0, a NULL
 * calls, or a call with a NULL id, name or arguments.
 */
int agentd_llm_add_assistant(agentd_llm_request *req, const char *content,
    const struct agentd_llm_tool_call *calls, size_t n);

/*
 * Append a tool's result: {"role": "tool", "tool_call_id": id,
 * "content": content}.  AGENTD_EINVAL for a NULL or empty id, NULL
 * content.
 */
int agentd_llm_add_tool_result(
    agentd_llm_request *req, const char *tool_call_id, const char *content);

/* "max_tokens": 1 or more, else AGENTD_EINVAL. */
int agentd_llm_set_max_tokens(agentd_llm_request *req, int64_t max_tokens);
/* "temperature": 0 to 2, else AGENTD_EINVAL (NaN included). */
int agentd_llm_set_temperature(agentd_llm_request *req, double temperature);
/* Nonzero: "response_format": {"type": "json_object"}; 0: none. */
int agentd_llm_set_json(agentd_llm_request *req, int on);
/* "conversation": id (1 to 128 bytes, copied), so the llm agent keeps and
 * continues the conversation; NULL removes it. */
int agentd_llm_set_conversation(agentd_llm_request *req, const char *id);

/*
 * Declare a tool the model may call: {"type": "function", "function":
 * {"name", "description", "parameters"}}.  parameters is JSON text (a
 * JSON Schema object, e.g. "{\"type\":\"object\",\"properties\":{}}"),
 * sent as a map; NULL sends an empty object's schema.  description may be
 * NULL.  AGENTD_EINVAL for an empty name or parameters that are not one
 * JSON object.
 */
int agentd_llm_add_tool(agentd_llm_request *req, const char *name,
    const char *description, const char *parameters);

/*
 * Encode the request as the llm agent's msgpack body.  *body is borrowed,
 * valid until the next call on req or agentd_llm_request_free().
 * AGENTD_EINVAL for a request with no message.
 */
int agentd_llm_request_encode(
    agentd_llm_request *req, const void **body, size_t *len);

/* ---- the reply ---------------------------------------------------------- */

/*
 * The llm agent's reply.  Strings are NUL-terminated, never NULL ("" when
 * the reply left them out), owned by the reply: valid until
 * agentd_llm_reply_free().  Numbers the reply left out are 0.
 */
typedef struct agentd_llm_reply {
	char                        *text;
	char                        *provider;
	char                        *model;
	char                        *finish_reason; /* "stop", "length", ... */
	char                        *route;
	int64_t                      prompt_tokens;
	int64_t                      completion_tokens;
	int64_t                      latency_ms;
	uint64_t                     fallbacks;
	size_t                       ntool_calls;
	struct agentd_llm_tool_call *tool_calls; /* [ntool_calls] */
} agentd_llm_reply;

/*
 * Parse a reply body.  On success *reply: caller owns, free with
 * agentd_llm_reply_free(); body is not kept.  AGENTD_EPROTO when the body
 * is not msgpack, not a map, has no "text" string, or holds one of the
 * fields above with another type (a string with a NUL byte included);
 * AGENTD_EINVAL for a NULL argument.  *reply is NULL on failure.
 */
int agentd_llm_reply_parse(
    const void *body, size_t len, agentd_llm_reply **reply);
void agentd_llm_reply_free(agentd_llm_reply *reply);

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_LLM_H */
