/*
 * codec.c - the three provider APIs (codec.h).  What each expects and
 * answers, as far as this plugin uses them:
 *
 *   OpenAI-compatible  {"model", "messages", "max_tokens", "temperature",
 *                      "response_format", "tools"} -> {"model", "choices":
 *                      [{"message": {"content", "tool_calls"},
 *                      "finish_reason"}], "usage": {"prompt_tokens",
 *                      "completion_tokens"}}
 *   Ollama /api/chat   {"model", "messages", "stream": false, "options":
 *                      {"num_predict", "temperature"}, "format", "tools"}
 *                      -> {"model", "message": {"content", "tool_calls":
 *                      [{"function": {"name", "arguments": {}}}]},
 *                      "done_reason", "prompt_eval_count", "eval_count"}
 *   Gemini             {"contents": [{"role": "user" | "model", "parts":
 *                      [{"text"}]}], "systemInstruction", "generationConfig":
 *                      {"maxOutputTokens", "temperature",
 *                      "responseMimeType"}, "tools":
 * [{"functionDeclarations"}]}
 *                      -> {"candidates": [{"content": {"parts": [{"text"} |
 *                      {"functionCall": {"name", "args"}}]}, "finishReason"}],
 *                      "usageMetadata": {"promptTokenCount",
 *                      "candidatesTokenCount"}, "modelVersion"}
 *
 * Tool round trips (an assistant's tool_calls, then "tool" messages with
 * their results) are checked once, into OpenAI's shapes, and each body
 * translates them: Ollama's arguments as objects and "tool_name", Gemini's
 * functionCall and functionResponse parts.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

enum llm_kind
llm_kind_parse(const char *s)
{
	if (strcmp(s, "openai") == 0)
		return LLM_OPENAI;
	if (strcmp(s, "ollama") == 0)
		return LLM_OLLAMA;
	if (strcmp(s, "gemini") == 0)
		return LLM_GEMINI;
	return 0;
}

const char *
llm_kind_name(enum llm_kind k)
{
	return k == LLM_OPENAI ? "openai"
	    : k == LLM_OLLAMA  ? "ollama"
	    : k == LLM_GEMINI  ? "gemini"
	                       : "?";
}

void
llm_reply_clear(struct llm_reply *r)
{
	free(r->text);
	free(r->model);
	free(r->finish_reason);
	json_decref(r->tool_calls);
	memset(r, 0, sizeof(*r));
	r->prompt_tokens = r->completion_tokens = -1;
}

int
llm_url(enum llm_kind k, const char *base_url, const char *model, char *buf,
    size_t size)
{
	size_t b = strlen(base_url);
	int    n;

	while (b > 0 && base_url[b - 1] == '/')
		b--;
	if (k == LLM_OPENAI)
		n = snprintf(
		    buf, size, "%.*s/chat/completions", (int)b, base_url);
	else if (k == LLM_OLLAMA)
		n = snprintf(buf, size, "%.*s/api/chat", (int)b, base_url);
	else
		n = snprintf(buf, size, "%.*s/models/%s:generateContent",
		    (int)b, base_url, model);
	return n < 0 || (size_t)n >= size ? AGENTD_ETOOBIG : 0;
}

/* ---- messages ---------------------------------------------------------- */

static int
nonempty_str(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

/* A JSON value's text: strings as they are, anything else compact. */
static char *
text_of(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* One tool call, in OpenAI's shape or the llm agent's reply's, to
 * OpenAI's with arguments the text of an object; NULL if it is neither. */
static json_t *
call_check(const json_t *c)
{
	const json_t *f    = json_object_get(c, "function");
	const json_t *id   = json_object_get(c, "id");
	const json_t *name = json_object_get(f != NULL ? f : c, "name");
	const json_t *args = json_object_get(f != NULL ? f : c, "arguments");
	json_t       *obj, *out;
	char         *text;

	if (!nonempty_str(id) || !nonempty_str(name))
		return NULL;
	if (args == NULL)
		obj = json_object();
	else if (json_is_string(args))
		obj = json_loads(json_string_value(args), 0, NULL);
	else
		obj = json_incref((json_t *)args);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return NULL;
	out = json_pack("{sOss s{sOss}}", "id", id, "type", "function",
	    "function", "name", name, "arguments", text);
	free(text);
	return out;
}

json_t *
llm_messages_check(const json_t *in, char *why, size_t whylen)
{
	json_t       *out = json_array(), *m;
	const json_t *e;
	size_t        i;

	if (!json_is_array(in) || json_array_size(in) == 0) {
		snprintf(why, whylen,
		    "\"messages\" must be a non-empty list of {\"role\": ..., "
		    "\"content\": ...}");
		goto bad;
	}
	json_array_foreach(in, i, e)
	{
		const char *role
		    = json_string_value(json_object_get(e, "role"));
		const json_t *content = json_object_get(e, "content");
		const json_t *calls   = json_object_get(e, "tool_calls");

		if (role == NULL)
			role = "";
		if (strcmp(role, "system") == 0 || strcmp(role, "user") == 0) {
			if (!json_is_string(content)) {
				snprintf(why, whylen,
				    "messages[%zu]: a %s message's "
				    "\"content\" "
				    "is a string",
				    i, role);
				goto bad;
			}
			m = json_pack(
			    "{sssO}", "role", role, "content", content);
		} else if (strcmp(role, "assistant") == 0) {
			json_t       *cs = json_array(), *c;
			const json_t *x;
			size_t        k;

			if (calls != NULL && !json_is_null(calls)
			    && !json_is_array(calls)) {
				json_decref(cs);
				snprintf(why, whylen,
				    "messages[%zu]: \"tool_calls\" is a list",
				    i);
				goto bad;
			}
			json_array_foreach(calls, k, x)
			{
				if ((c = call_check(x)) == NULL) {
					json_decref(cs);
					snprintf(why, whylen,
					    "messages[%zu].tool_calls[%zu]: "
					    "{\"id\", \"name\", "
					    "\"arguments\": "
					    "an object or its JSON text}",
					    i, k);
					goto bad;
				}
				json_array_append_new(cs, c);
			}
			if (!json_is_string(content)
			    && !(json_array_size(cs) > 0
			        && (content == NULL
			            || json_is_null(content)))) {
				json_decref(cs);
				snprintf(why, whylen,
				    "messages[%zu]: an assistant message has "
				    "a "
				    "string \"content\", or \"tool_calls\"",
				    i);
				goto bad;
			}
			m = json_pack("{ssss}", "role", "assistant", "content",
			    json_is_string(content)
			        ? json_string_value(content)
			        : "");
			if (json_array_size(cs) > 0)
				json_object_set(m, "tool_calls", cs);
			json_decref(cs);
		} else if (strcmp(role, "tool") == 0) {
			const json_t *id = json_object_get(e, "tool_call_id");
			char         *text;

			if (!nonempty_str(id) || content == NULL) {
				snprintf(why, whylen,
				    "messages[%zu]: a tool message has "
				    "\"tool_call_id\" and \"content\"",
				    i);
				goto bad;
			}
			if ((text = text_of(content)) == NULL) {
				snprintf(
				    why, whylen, "messages[%zu]: content", i);
				goto bad;
			}
			m = json_pack("{sssOss}", "role", "tool",
			    "tool_call_id", id, "content", text);
			free(text);
		} else {
			snprintf(why, whylen,
			    "messages[%zu]: \"role\" is system, user, "
			    "assistant or tool",
			    i);
			goto bad;
		}
		if (m == NULL) {
			snprintf(
			    why, whylen, "messages[%zu]: out of memory", i);
			goto bad;
		}
		json_array_append_new(out, m);
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

int
llm_messages_link(json_t *msgs, char *why, size_t whylen)
{
	const json_t *calls = NULL, *c;
	json_t       *m;
	size_t        i, k;

	json_array_foreach(msgs, i, m)
	{
		const char *role
		    = json_string_value(json_object_get(m, "role"));
		const char *id
		    = json_string_value(json_object_get(m, "tool_call_id"));
		const char *name = NULL;

		if (role == NULL || strcmp(role, "tool") != 0) {
			calls = json_object_get(m, "tool_calls");
			continue;
		}
		json_array_foreach(calls, k, c)
		{
			const char *cid
			    = json_string_value(json_object_get(c, "id"));

			if (cid != NULL && id != NULL && strcmp(cid, id) == 0)
				name = json_string_value(json_object_get(
				    json_object_get(c, "function"), "name"));
		}
		if (name == NULL) {
			snprintf(why, whylen,
			    "messages[%zu]: tool_call_id \"%.64s\" answers no "
			    "tool call of the assistant message before it",
			    i, id != NULL ? id : "");
			return AGENTD_EINVAL;
		}
		json_object_set_new(m, "name", json_string(name));
	}
	return 0;
}

json_t *
llm_assistant_message(const struct llm_reply *r)
{
	json_t *m  = json_pack("{ssss}", "role", "assistant", "content",
                   r->text != NULL ? r->text : ""),
	       *cs = json_array();
	const json_t *c;
	size_t        i;

	json_array_foreach(r->tool_calls, i, c)
	{
		json_t *x = call_check(c);

		if (x != NULL)
			json_array_append_new(cs, x);
	}
	if (json_array_size(cs) > 0)
		json_object_set(m, "tool_calls", cs);
	json_decref(cs);
	return m;
}

/* ---- requests ---------------------------------------------------------- */

/* A call's arguments as an object (Ollama, Gemini): a new reference. */
static json_t *
call_args(const json_t *call)
{
	json_t *a
	    = json_loads(json_string_value(json_object_get(
	                     json_object_get(call, "function"), "arguments")),
	        0, NULL);

	if (!json_is_object(a)) {
		json_decref(a);
		a = json_object();
	}
	return a;
}

/* OpenAI's messages: content null beside tool calls alone, a tool
 * message without the name it does not take. */
static json_t *
openai_messages(const json_t *msgs)
{
	json_t       *out = json_array(), *x;
	const json_t *m;
	size_t        i;

	json_array_foreach(msgs, i, m)
	{
		const json_t *calls = json_object_get(m, "tool_calls");

		x = json_copy((json_t *)m);
		json_object_del(x, "name");
		if (calls != NULL
		    && json_string_length(json_object_get(m, "content")) == 0)
			json_object_set_new(x, "content", json_null());
		json_array_append_new(out, x);
	}
	return out;
}

static json_t *
openai_body(const char *model, const struct llm_req *q)
{
	json_t *b = json_pack("{ssso}", "model", model, "messages",
	    openai_messages(q->messages));

	if (q->max_tokens > 0)
		json_object_set_new(
		    b, "max_tokens", json_integer(q->max_tokens));
	if (q->temperature >= 0)
		json_object_set_new(
		    b, "temperature", json_real(q->temperature));
	if (q->response_format != NULL)
		json_object_set(b, "response_format", q->response_format);
	if (q->tools != NULL)
		json_object_set(b, "tools", q->tools);
	return b;
}

/* response_format's JSON schema, if it names one. */
static json_t *
format_schema(const json_t *rf)
{
	return json_object_get(json_object_get(rf, "json_schema"), "schema");
}

/* Ollama's messages: tool calls without ids, arguments as objects; a
 * tool message names its function (tool_name). */
static json_t *
ollama_messages(const json_t *msgs)
{
	json_t       *out = json_array(), *x;
	const json_t *m, *c;
	size_t        i, k;

	json_array_foreach(msgs, i, m)
	{
		const json_t *calls = json_object_get(m, "tool_calls");
		const char   *role
		    = json_string_value(json_object_get(m, "role"));

		x = json_pack("{sOsO}", "role", json_object_get(m, "role"),
		    "content", json_object_get(m, "content"));
		if (calls != NULL) {
			json_t *cs = json_array();

			json_array_foreach(calls, k, c) json_array_append_new(
			    cs,
			    json_pack("{s{sOso}}", "function", "name",
			        json_object_get(
			            json_object_get(c, "function"), "name"),
			        "arguments", call_args(c)));
			json_object_set_new(x, "tool_calls", cs);
		}
		if (role != NULL && strcmp(role, "tool") == 0
		    && json_object_get(m, "name") != NULL)
			json_object_set(
			    x, "tool_name", json_object_get(m, "name"));
		json_array_append_new(out, x);
	}
	return out;
}

static json_t *
ollama_body(const char *model, const struct llm_req *q)
{
	json_t *b   = json_pack("{sssosb}", "model", model, "messages",
	      ollama_messages(q->messages), "stream", 0);
	json_t *opt = json_object();

	if (q->max_tokens > 0)
		json_object_set_new(
		    opt, "num_predict", json_integer(q->max_tokens));
	if (q->temperature >= 0)
		json_object_set_new(
		    opt, "temperature", json_real(q->temperature));
	if (json_object_size(opt) > 0)
		json_object_set(b, "options", opt);
	json_decref(opt);
	if (q->response_format != NULL) {
		json_t *s = format_schema(q->response_format);

		if (s != NULL)
			json_object_set(b, "format", s);
		else
			json_object_set_new(b, "format", json_string("json"));
	}
	if (q->tools != NULL)
		json_object_set(b, "tools", q->tools);
	return b;
}

/* One message's text: content as a string, or "" (tool calls alone). */
static const char *
msg_text(const json_t *m)
{
	const char *s = json_string_value(json_object_get(m, "content"));

	return s != NULL ? s : "";
}

/* A user's or the model's turn: its text, then its calls as
 * functionCall parts. */
static json_t *
gemini_turn(const json_t *m, const char *role)
{
	int           model = role != NULL && strcmp(role, "assistant") == 0;
	json_t       *parts = json_array();
	const json_t *c;
	size_t        k;

	if (msg_text(m)[0] != '\0' || json_object_get(m, "tool_calls") == NULL)
		json_array_append_new(
		    parts, json_pack("{ss}", "text", msg_text(m)));
	json_array_foreach(json_object_get(m, "tool_calls"), k, c)
	    json_array_append_new(parts,
	        json_pack("{s{sOso}}", "functionCall", "name",
	            json_object_get(json_object_get(c, "function"), "name"),
	            "args", call_args(c)));
	return json_pack(
	    "{ssso}", "role", model ? "model" : "user", "parts", parts);
}

/*
 * A tool message as a functionResponse part {"name", "response": an
 * object}: its content when that is a JSON object, else {"content":
 * TEXT}.  The results of one turn's calls go in one user turn, as
 * Gemini expects them.
 */
static void
gemini_tool_result(json_t *contents, const json_t *m)
{
	json_t *last = json_array_get(contents, json_array_size(contents) - 1);
	json_t *resp = json_loads(msg_text(m), 0, NULL), *part;

	if (!json_is_object(resp)) {
		json_decref(resp);
		resp = json_pack("{ss}", "content", msg_text(m));
	}
	part = json_pack("{s{sOso}}", "functionResponse", "name",
	    json_object_get(m, "name"), "response", resp);
	if (last != NULL
	    && json_object_get(
	           json_array_get(json_object_get(last, "parts"), 0),
	           "functionResponse")
	        != NULL)
		json_array_append_new(json_object_get(last, "parts"), part);
	else
		json_array_append_new(contents,
		    json_pack("{sss[o]}", "role", "user", "parts", part));
}

static json_t *
gemini_body(const struct llm_req *q)
{
	json_t *b = json_object(), *contents = json_array(), *sys = NULL;
	json_t *gen = json_object(), *m;
	size_t  i;

	json_array_foreach(q->messages, i, m)
	{
		const char *role
		    = json_string_value(json_object_get(m, "role"));

		if (role != NULL && strcmp(role, "system") == 0) {
			if (sys == NULL)
				sys = json_array();
			json_array_append_new(
			    sys, json_pack("{ss}", "text", msg_text(m)));
			continue;
		}
		if (role != NULL && strcmp(role, "tool") == 0) {
			gemini_tool_result(contents, m);
			continue;
		}
		/* Gemini has two roles: the model's, and everyone else's. */
		json_array_append_new(contents, gemini_turn(m, role));
	}
	json_object_set_new(b, "contents", contents);
	if (sys != NULL)
		json_object_set_new(
		    b, "systemInstruction", json_pack("{so}", "parts", sys));
	if (q->max_tokens > 0)
		json_object_set_new(
		    gen, "maxOutputTokens", json_integer(q->max_tokens));
	if (q->temperature >= 0)
		json_object_set_new(
		    gen, "temperature", json_real(q->temperature));
	if (q->response_format != NULL) {
		json_t *s = format_schema(q->response_format);

		json_object_set_new(
		    gen, "responseMimeType", json_string("application/json"));
		if (s != NULL)
			json_object_set(gen, "responseSchema", s);
	}
	if (json_object_size(gen) > 0)
		json_object_set(b, "generationConfig", gen);
	json_decref(gen);
	if (q->tools != NULL) {
		json_t *decl = json_array(), *t;

		json_array_foreach(q->tools, i, t)
		{
			json_t *f = json_object_get(t, "function");

			if (f != NULL)
				json_array_append(decl, f);
		}
		json_object_set_new(b, "tools",
		    json_pack("[{so}]", "functionDeclarations", decl));
	}
	return b;
}

json_t *
llm_body(enum llm_kind k, const char *model, const struct llm_req *q)
{
	return k == LLM_OPENAI ? openai_body(model, q)
	    : k == LLM_OLLAMA  ? ollama_body(model, q)
	                       : gemini_body(q);
}

/* ---- answers ----------------------------------------------------------- */

static char *
dup_or(const json_t *s, const char *dflt)
{
	const char *v = json_string_value(s);

	return strdup(v != NULL ? v : dflt);
}

static int64_t
int_or(const json_t *v)
{
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* A tool call {"id", "name", "arguments": JSON text}; args a string (as
 * OpenAI sends them) or an object (Ollama, Gemini). */
static json_t *
tool_call(const char *id, const json_t *name, const json_t *args)
{
	char   *text = json_is_string(args) ? strdup(json_string_value(args))
	      : args != NULL                ? json_dumps(args, JSON_COMPACT)
	                                    : strdup("{}");
	json_t *c    = json_pack("{ssssss}", "id", id, "name",
            json_string_value(name) != NULL ? json_string_value(name) : "",
	       "arguments", text != NULL ? text : "{}");

	free(text);
	return c;
}

static int
openai_parse(const json_t *j, struct llm_reply *r, char *err, size_t errlen)
{
	const json_t *c   = json_array_get(json_object_get(j, "choices"), 0);
	const json_t *msg = json_object_get(c, "message"), *t;
	const json_t *u   = json_object_get(j, "usage");
	size_t        i;

	if (!json_is_object(msg)) {
		snprintf(err, errlen, "no choices[0].message in the answer");
		return AGENTD_EPROTO;
	}
	r->text              = dup_or(json_object_get(msg, "content"), "");
	r->model             = dup_or(json_object_get(j, "model"), "");
	r->finish_reason     = dup_or(json_object_get(c, "finish_reason"), "");
	r->prompt_tokens     = int_or(json_object_get(u, "prompt_tokens"));
	r->completion_tokens = int_or(json_object_get(u, "completion_tokens"));
	r->tool_calls        = json_array();
	json_array_foreach(json_object_get(msg, "tool_calls"), i, t)
	{
		const json_t *f  = json_object_get(t, "function");
		const char   *id = json_string_value(json_object_get(t, "id"));

		json_array_append_new(r->tool_calls,
		    tool_call(id != NULL ? id : "", json_object_get(f, "name"),
		        json_object_get(f, "arguments")));
	}
	return 0;
}

static int
ollama_parse(const json_t *j, struct llm_reply *r, char *err, size_t errlen)
{
	const json_t *msg = json_object_get(j, "message"), *t;
	char          id[32];
	size_t        i;

	if (!json_is_object(msg)) {
		snprintf(err, errlen, "no message in the answer");
		return AGENTD_EPROTO;
	}
	r->text          = dup_or(json_object_get(msg, "content"), "");
	r->model         = dup_or(json_object_get(j, "model"), "");
	r->finish_reason = dup_or(json_object_get(j, "done_reason"), "stop");
	r->prompt_tokens = int_or(json_object_get(j, "prompt_eval_count"));
	r->completion_tokens = int_or(json_object_get(j, "eval_count"));
	r->tool_calls        = json_array();
	json_array_foreach(json_object_get(msg, "tool_calls"), i, t)
	{
		const json_t *f = json_object_get(t, "function");

		snprintf(id, sizeof(id), "call_%zu", i);
		json_array_append_new(r->tool_calls,
		    tool_call(id, json_object_get(f, "name"),
		        json_object_get(f, "arguments")));
	}
	return 0;
}

/* Gemini's finishReason (STOP, MAX_TOKENS, SAFETY...) in OpenAI's words. */
static char *
gemini_reason(const json_t *v)
{
	const char *s = json_string_value(v);
	char       *out;

	if (s == NULL || strcmp(s, "STOP") == 0)
		return strdup("stop");
	if (strcmp(s, "MAX_TOKENS") == 0)
		return strdup("length");
	out = strdup(s);
	for (char *p = out; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

static int
gemini_parse(const json_t *j, struct llm_reply *r, char *err, size_t errlen)
{
	const json_t *c = json_array_get(json_object_get(j, "candidates"), 0);
	const json_t *parts
	    = json_object_get(json_object_get(c, "content"), "parts");
	const json_t *u = json_object_get(j, "usageMetadata"), *p;
	size_t        i, len = 0;
	char          id[32];

	if (!json_is_array(parts)) {
		snprintf(err, errlen,
		    "no candidates[0].content.parts in the answer");
		return AGENTD_EPROTO;
	}
	r->tool_calls = json_array();
	json_array_foreach(parts, i, p)
	{
		const char *t = json_string_value(json_object_get(p, "text"));
		const json_t *fc = json_object_get(p, "functionCall");

		if (t != NULL) {
			size_t n  = strlen(t);
			char  *nt = realloc(r->text, len + n + 1);

			if (nt == NULL)
				continue;
			memcpy(nt + len, t, n + 1);
			r->text = nt;
			len += n;
		} else if (fc != NULL) {
			snprintf(id, sizeof(id), "call_%zu", i);
			json_array_append_new(r->tool_calls,
			    tool_call(id, json_object_get(fc, "name"),
			        json_object_get(fc, "args")));
		}
	}
	if (r->text == NULL)
		r->text = strdup("");
	r->model         = dup_or(json_object_get(j, "modelVersion"), "");
	r->finish_reason = gemini_reason(json_object_get(c, "finishReason"));
	r->prompt_tokens = int_or(json_object_get(u, "promptTokenCount"));
	r->completion_tokens
	    = int_or(json_object_get(u, "candidatesTokenCount"));
	return 0;
}

/* err stays one line whatever the server sent: jansson's error text
 * quotes the input near the error, control characters and all. */
static void
one_line(char *err)
{
	for (unsigned char *p = (unsigned char *)err; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

int
llm_parse(enum llm_kind k, const void *body, size_t len, struct llm_reply *out,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t      *j;
	int          rv;

	memset(out, 0, sizeof(*out));
	out->prompt_tokens = out->completion_tokens = -1;
	j = json_loadb(body, len, 0, &je);
	if (!json_is_object(j)) {
		snprintf(err, errlen, "the answer is not a JSON object (%s)",
		    j == NULL ? je.text : "another JSON value");
		one_line(err);
		json_decref(j);
		return AGENTD_EPROTO;
	}
	rv = k == LLM_OPENAI  ? openai_parse(j, out, err, errlen)
	    : k == LLM_OLLAMA ? ollama_parse(j, out, err, errlen)
	                      : gemini_parse(j, out, err, errlen);
	if (rv != 0)
		one_line(err);
	json_decref(j);
	if (rv == 0 && json_array_size(out->tool_calls) > 0
	    && strcmp(out->finish_reason, "stop") == 0) {
		free(out->finish_reason);
		out->finish_reason = strdup("tool_calls");
	}
	if (rv == 0
	    && (out->text == NULL || out->model == NULL
	        || out->finish_reason == NULL))
		rv = AGENTD_ENOMEM;
	if (rv != 0)
		llm_reply_clear(out);
	return rv;
}

/* ---- msgpack <-> JSON --------------------------------------------------- */

json_t *
llm_mp_to_json(const agentd_value *v)
{
	const char *s;
	size_t      n;
	int64_t     i;
	uint64_t    u;
	double      d;
	int         b;
	json_t     *out, *e;

	switch (agentd_type_of(v)) {
	case AGENTD_T_NIL:
		return json_null();
	case AGENTD_T_BOOL:
		agentd_get_bool(v, &b);
		return json_boolean(b);
	case AGENTD_T_INT:
		if (agentd_get_int(v, &i) == 0)
			return json_integer(i);
		agentd_get_uint(v, &u);
		return json_real((double)u);
	case AGENTD_T_DOUBLE:
		agentd_get_double(v, &d);
		return json_real(d);
	case AGENTD_T_STR:
		agentd_get_str(v, &s, &n);
		return json_stringn(s, n);
	case AGENTD_T_BIN:
		agentd_get_bin(v, (const void **)&s, &n);
		return json_stringn(s, n);
	case AGENTD_T_ARRAY:
		out = json_array();
		for (size_t k = 0; k < agentd_len(v); k++) {
			if ((e = llm_mp_to_json(agentd_array_at(v, k)))
			    == NULL) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, e);
		}
		return out;
	case AGENTD_T_MAP:
		out = json_object();
		for (size_t k = 0; k < agentd_len(v); k++) {
			char key[256];

			if (agentd_get_strcpy(
			        agentd_map_key_at(v, k), key, sizeof(key))
			        != 0
			    || (e = llm_mp_to_json(agentd_map_value_at(v, k)))
			        == NULL) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, key, e);
		}
		return out;
	default:
		return NULL;
	}
}
