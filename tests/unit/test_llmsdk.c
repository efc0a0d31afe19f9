/*
 * <agentd/llm.h>: requests encoded and read back with msg.h's reader,
 * field by field; replies built as plugins/llm/llm.c builds them, parsed;
 * bad arguments and replies not of the llm agent; and a plugin that asks
 * "llm" with call_async against the mock host and answers with the text.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/llm.h>
#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static const agentd_value *
get(const agentd_value *v, const char *k)
{
	return agentd_map_get(v, k);
}

static const char *
str(const agentd_value *v, char *buf, size_t size)
{
	if (agentd_get_strcpy(v, buf, size) != 0)
		snprintf(buf, size, "<not a string>");
	return buf;
}

static void
t_request(void)
{
	agentd_llm_request               *q;
	const struct agentd_llm_tool_call calls[] = {
		{ "call_1", "stock", "{\"sku\":\"A-1\"}" },
		{ "call_2", "price", "{}" },
	};
	const void         *body;
	size_t              len;
	agentd_doc         *doc;
	const agentd_value *r, *m, *t, *p;
	char                b[256];
	int64_t             i;
	double              d;

	is_int(agentd_llm_request_new("ideas", &q), 0, "request: new");
	is_int(agentd_llm_request_encode(q, &body, &len), AGENTD_EINVAL,
	    "encode: no message is EINVAL");
	agentd_llm_add_message(q, "system", "Be brief.");
	agentd_llm_add_message(q, "user", "Stock of A-1?");
	is_int(agentd_llm_add_assistant(q, NULL, calls, 2), 0,
	    "assistant with tool calls");
	is_int(agentd_llm_add_tool_result(q, "call_1", "{\"qty\":3}"), 0,
	    "tool result");
	is_int(agentd_llm_set_max_tokens(q, 150), 0, "max_tokens");
	is_int(agentd_llm_set_temperature(q, 0.25), 0, "temperature");
	is_int(agentd_llm_set_json(q, 1), 0, "json");
	is_int(agentd_llm_set_conversation(q, "c-42"), 0, "conversation");
	is_int(agentd_llm_add_tool(q, "stock", "Units in stock",
	           "{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":"
	           "\"string\",\"maxLength\":32,\"x\":[1.5,-2,true,false,"
	           "null,\"\\u00e9\\ud83d\\ude00\\n\"]}},\"required\":["
	           "\"sku\"]}"),
	    0, "tool declared");
	is_int(agentd_llm_request_encode(q, &body, &len), 0, "encode");
	is_int(
	    agentd_parse(body, len, &doc), 0, "the body is one msgpack value");
	r = agentd_doc_root(doc);
	is_int((int)agentd_len(r), 7, "7 keys");
	is_str(str(get(r, "route"), b, sizeof(b)), "ideas", "route");
	m = get(r, "messages");
	is_int((int)agentd_len(m), 4, "4 messages");
	is_str(str(get(agentd_array_at(m, 0), "role"), b, sizeof(b)), "system",
	    "message 0 role");
	is_str(str(get(agentd_array_at(m, 0), "content"), b, sizeof(b)),
	    "Be brief.", "message 0 content");
	is_str(str(get(agentd_array_at(m, 1), "role"), b, sizeof(b)), "user",
	    "message 1 role");
	is_str(str(get(agentd_array_at(m, 1), "content"), b, sizeof(b)),
	    "Stock of A-1?", "message 1 content");
	is_str(str(get(agentd_array_at(m, 2), "role"), b, sizeof(b)),
	    "assistant", "message 2 assistant");
	is_str(str(get(agentd_array_at(m, 2), "content"), b, sizeof(b)), "",
	    "its content \"\"");
	t = get(agentd_array_at(m, 2), "tool_calls");
	is_int((int)agentd_len(t), 2, "two tool calls");
	is_str(str(get(agentd_array_at(t, 0), "id"), b, sizeof(b)), "call_1",
	    "call id");
	is_str(str(get(agentd_array_at(t, 0), "name"), b, sizeof(b)), "stock",
	    "call name");
	is_str(str(get(agentd_array_at(t, 0), "arguments"), b, sizeof(b)),
	    "{\"sku\":\"A-1\"}", "call arguments as JSON text");
	is_str(str(get(agentd_array_at(t, 1), "id"), b, sizeof(b)), "call_2",
	    "second call id");
	is_int(
	    (int)agentd_len(agentd_array_at(m, 3)), 3, "tool result: 3 keys");
	is_str(str(get(agentd_array_at(m, 3), "role"), b, sizeof(b)), "tool",
	    "tool result role");
	is_str(str(get(agentd_array_at(m, 3), "tool_call_id"), b, sizeof(b)),
	    "call_1", "tool_call_id");
	is_str(str(get(agentd_array_at(m, 3), "content"), b, sizeof(b)),
	    "{\"qty\":3}", "tool result content");
	ok(agentd_get_int(get(r, "max_tokens"), &i) == 0 && i == 150,
	    "max_tokens 150");
	ok(agentd_get_double(get(r, "temperature"), &d) == 0 && d == 0.25,
	    "temperature 0.25");
	is_str(str(get(get(r, "response_format"), "type"), b, sizeof(b)),
	    "json_object", "response_format json_object");
	is_str(
	    str(get(r, "conversation"), b, sizeof(b)), "c-42", "conversation");
	t = get(r, "tools");
	is_int((int)agentd_len(t), 1, "one tool");
	is_str(str(get(agentd_array_at(t, 0), "type"), b, sizeof(b)),
	    "function", "tool type");
	t = get(agentd_array_at(t, 0), "function");
	is_str(str(get(t, "name"), b, sizeof(b)), "stock", "tool name");
	is_str(str(get(t, "description"), b, sizeof(b)), "Units in stock",
	    "tool description");
	p = get(t, "parameters");
	ok(agentd_type_of(p) == AGENTD_T_MAP, "parameters: a map");
	is_str(str(get(p, "type"), b, sizeof(b)), "object", "parameters.type");
	p = get(get(p, "properties"), "sku");
	ok(agentd_get_int(get(p, "maxLength"), &i) == 0 && i == 32,
	    "an integer stays an integer");
	t = get(p, "x");
	ok(agentd_get_double(agentd_array_at(t, 0), &d) == 0 && d == 1.5
	        && agentd_type_of(agentd_array_at(t, 0)) == AGENTD_T_DOUBLE,
	    "1.5 a double");
	ok(agentd_get_int(agentd_array_at(t, 1), &i) == 0 && i == -2, "-2");
	ok(agentd_type_of(agentd_array_at(t, 2)) == AGENTD_T_BOOL
	        && agentd_type_of(agentd_array_at(t, 4)) == AGENTD_T_NIL,
	    "true, null");
	is_str(str(agentd_array_at(t, 5), b, sizeof(b)),
	    "\xc3\xa9\xf0\x9f\x98\x80\n", "escapes and a surrogate pair");
	agentd_doc_free(doc);
	agentd_llm_request_free(q);

	/* The least: no route, one message; nothing else is sent. */
	agentd_llm_request_new(NULL, &q);
	agentd_llm_add_message(q, "user", "hi");
	agentd_llm_add_tool(q, "now", NULL, NULL);
	agentd_llm_request_encode(q, &body, &len);
	agentd_parse(body, len, &doc);
	r = agentd_doc_root(doc);
	ok(agentd_len(r) == 2 && get(r, "route") == NULL
	        && get(r, "max_tokens") == NULL,
	    "no route: messages and tools only");
	t = get(agentd_array_at(get(r, "tools"), 0), "function");
	ok(agentd_len(t) == 2 && get(t, "description") == NULL
	        && agentd_type_of(get(get(t, "parameters"), "properties"))
	            == AGENTD_T_MAP,
	    "a tool without description; parameters an empty object schema");
	agentd_doc_free(doc);
	agentd_llm_request_free(q);
}

static void
t_bad_request(void)
{
	agentd_llm_request         *q;
	struct agentd_llm_tool_call c = { "id", "n", NULL };
	const void                 *body;
	size_t                      len;
	agentd_doc                 *doc;

	is_int(agentd_llm_request_new("", &q), AGENTD_EINVAL, "empty route");
	ok(q == NULL, "*req NULL on failure");
	is_int(agentd_llm_request_new("r", NULL), AGENTD_EINVAL, "NULL req");
	agentd_llm_request_new("r", &q);
	is_int(agentd_llm_add_message(q, "tool", "x"), AGENTD_EINVAL,
	    "role tool needs add_tool_result");
	is_int(agentd_llm_add_message(q, "bot", "x"), AGENTD_EINVAL,
	    "unknown role");
	is_int(agentd_llm_add_message(q, "user", NULL), AGENTD_EINVAL,
	    "NULL content");
	is_int(agentd_llm_add_message(NULL, "user", "x"), AGENTD_EINVAL,
	    "NULL request");
	is_int(agentd_llm_add_assistant(q, "x", &c, 1), AGENTD_EINVAL,
	    "a call without arguments");
	is_int(agentd_llm_add_assistant(q, "x", &c, 0), AGENTD_EINVAL,
	    "no calls");
	is_int(agentd_llm_add_tool_result(q, "", "x"), AGENTD_EINVAL,
	    "empty tool_call_id");
	is_int(agentd_llm_set_max_tokens(q, 0), AGENTD_EINVAL, "max_tokens 0");
	is_int(agentd_llm_set_temperature(q, NAN), AGENTD_EINVAL,
	    "temperature NaN");
	is_int(agentd_llm_set_temperature(q, 2.5), AGENTD_EINVAL,
	    "temperature 2.5");
	is_int(agentd_llm_set_conversation(q, ""), AGENTD_EINVAL,
	    "empty conversation");
	is_int(agentd_llm_add_tool(q, "", NULL, NULL), AGENTD_EINVAL,
	    "tool without name");
	const char *bad[] = { "[]", "{", "{\"a\":}", "{\"a\":1,}",
		"{\"a\":01}", "{\"a\":\"\\x\"}", "{\"a\":tru}", "{} x",
		"{\"a\":\"\\udc00\"}", "{\"a\":\"\x01\"}", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[80];

		snprintf(name, sizeof(name), "parameters %zu are not JSON", i);
		is_int(agentd_llm_add_tool(q, "t", NULL, bad[i]),
		    AGENTD_EINVAL, name);
	}
	agentd_llm_add_message(q, "user", "still fine");
	agentd_llm_request_encode(q, &body, &len);
	ok(agentd_parse(body, len, &doc) == 0
	        && agentd_len(agentd_map_get(agentd_doc_root(doc), "messages"))
	            == 1
	        && agentd_map_get(agentd_doc_root(doc), "tools") == NULL,
	    "failed calls added nothing");
	agentd_doc_free(doc);
	agentd_llm_request_free(q);
	agentd_llm_request_free(NULL);
}

/* A reply as plugins/llm/llm.c writes it (reply_answer). */
static void
llm_reply(agentd_writer *w, const char *text, int with_calls)
{
	agentd_write_map(w, 9);
	agentd_write_str(w, "text");
	agentd_write_str(w, text);
	agentd_write_str(w, "tool_calls");
	if (with_calls) {
		agentd_write_array(w, 1);
		agentd_write_map(w, 3);
		agentd_write_str(w, "id");
		agentd_write_str(w, "call_9");
		agentd_write_str(w, "name");
		agentd_write_str(w, "stock");
		agentd_write_str(w, "arguments");
		agentd_write_str(w, "{\"sku\":\"A-1\"}");
	} else
		agentd_write_array(w, 0);
	agentd_write_str(w, "provider");
	agentd_write_str(w, "local");
	agentd_write_str(w, "model");
	agentd_write_str(w, "llama3.1");
	agentd_write_str(w, "usage");
	agentd_write_map(w, 2);
	agentd_write_str(w, "prompt_tokens");
	agentd_write_int(w, 12);
	agentd_write_str(w, "completion_tokens");
	agentd_write_int(w, 34);
	agentd_write_str(w, "finish_reason");
	agentd_write_str(w, with_calls ? "tool_calls" : "stop");
	agentd_write_str(w, "latency_ms");
	agentd_write_int(w, 56);
	agentd_write_str(w, "fallbacks");
	agentd_write_uint(w, 1);
	agentd_write_str(w, "route");
	agentd_write_str(w, "default");
}

static int
parse_w(agentd_writer *w, agentd_llm_reply **r)
{
	const void *p;
	size_t      n;

	p = agentd_writer_data(w, &n);
	return agentd_llm_reply_parse(p, n, r);
}

static void
t_reply(void)
{
	agentd_writer    *w;
	agentd_llm_reply *r;

	agentd_writer_new(&w);
	llm_reply(w, "Hello.", 0);
	is_int(parse_w(w, &r), 0, "reply: parsed");
	is_str(r->text, "Hello.", "text");
	is_str(r->provider, "local", "provider");
	is_str(r->model, "llama3.1", "model");
	is_str(r->finish_reason, "stop", "finish_reason");
	is_str(r->route, "default", "route");
	ok(r->prompt_tokens == 12 && r->completion_tokens == 34,
	    "usage 12 + 34");
	ok(r->latency_ms == 56 && r->fallbacks == 1, "latency, fallbacks");
	ok(r->ntool_calls == 0 && r->tool_calls == NULL, "no tool calls");
	agentd_llm_reply_free(r);

	agentd_writer_reset(w);
	llm_reply(w, "", 1);
	is_int(parse_w(w, &r), 0, "reply with a tool call");
	ok(r->ntool_calls == 1, "one call");
	is_str(r->tool_calls[0].id, "call_9", "call id");
	is_str(r->tool_calls[0].name, "stock", "call name");
	is_str(
	    r->tool_calls[0].arguments, "{\"sku\":\"A-1\"}", "call arguments");
	is_str(r->finish_reason, "tool_calls", "finish_reason tool_calls");
	{
		/* The next round: echo the calls, add the result. */
		agentd_llm_request *q;
		const void         *body;
		size_t              len;
		agentd_doc         *doc;
		char                b[64];

		agentd_llm_request_new(NULL, &q);
		agentd_llm_add_message(q, "user", "Stock of A-1?");
		is_int(agentd_llm_add_assistant(
		           q, r->text, r->tool_calls, r->ntool_calls),
		    0, "a reply's calls echoed as they are");
		agentd_llm_add_tool_result(q, r->tool_calls[0].id, "3");
		agentd_llm_request_encode(q, &body, &len);
		agentd_parse(body, len, &doc);
		is_str(
		    str(get(agentd_array_at(
		                get(agentd_array_at(
		                        get(agentd_doc_root(doc), "messages"),
		                        1),
		                    "tool_calls"),
		                0),
		            "id"),
		        b, sizeof(b)),
		    "call_9", "the echoed call's id");
		agentd_doc_free(doc);
		agentd_llm_request_free(q);
	}
	agentd_llm_reply_free(r);

	/* The least an llm agent may say: text only; the rest empty or 0. */
	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "text");
	agentd_write_str(w, "t");
	is_int(parse_w(w, &r), 0, "text only");
	ok(strcmp(r->provider, "") == 0 && strcmp(r->route, "") == 0
	        && r->prompt_tokens == 0 && r->ntool_calls == 0,
	    "missing fields are \"\" and 0");
	agentd_llm_reply_free(r);

	is_int(agentd_llm_reply_parse("\xc1", 1, &r), AGENTD_EPROTO,
	    "not msgpack");
	ok(r == NULL, "*reply NULL on failure");
	is_int(agentd_llm_reply_parse("\x91\x01", 2, &r), AGENTD_EPROTO,
	    "not a map");
	is_int(
	    agentd_llm_reply_parse("\x80", 1, &r), AGENTD_EPROTO, "no text");
	is_int(agentd_llm_reply_parse(NULL, 0, NULL), AGENTD_EINVAL,
	    "NULL reply");
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "text");
	agentd_write_str(w, "t");
	agentd_write_str(w, "latency_ms");
	agentd_write_str(w, "fast");
	is_int(parse_w(w, &r), AGENTD_EPROTO, "latency_ms a string");
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "text");
	agentd_write_strn(w, "a\0b", 3);
	agentd_write_str(w, "provider");
	agentd_write_str(w, "p");
	is_int(parse_w(w, &r), AGENTD_EPROTO, "a NUL inside text");
	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "text");
	agentd_write_str(w, "t");
	agentd_write_str(w, "tool_calls");
	agentd_write_array(w, 2);
	agentd_write_map(w, 1);
	agentd_write_str(w, "id");
	agentd_write_str(w, "x");
	agentd_write_int(w, 7);
	is_int(parse_w(w, &r), AGENTD_EPROTO, "a tool call that is not a map");
	agentd_writer_free(w);
}

/* ---- a plugin that asks llm and answers with the text ------------------ */

struct asker {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

struct pending {
	struct asker   *a;
	agentd_request *req;
};

static void
p_answered(void *arg, int status, const void *body, size_t len)
{
	struct pending   *p = arg;
	agentd_llm_reply *r;
	agentd_writer    *w;
	const void       *out;
	size_t            n;

	if (status != 0)
		p->a->host->reply_error(
		    p->a->ctx, p->req, status, "llm failed");
	else if (agentd_llm_reply_parse(body, len, &r) != 0)
		p->a->host->reply_error(
		    p->a->ctx, p->req, AGENTD_EPROTO, "not an llm reply");
	else {
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "answer");
		agentd_write_str(w, r->text);
		out = agentd_writer_data(w, &n);
		p->a->host->reply(p->a->ctx, p->req, out, n);
		agentd_writer_free(w);
		agentd_llm_reply_free(r);
	}
	free(p);
}

static int
p_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct asker *a = calloc(1, sizeof(*a));

	a->ctx  = ctx;
	a->host = host;
	*state  = a;
	return 0;
}

static void
p_fini(void *state)
{
	free(state);
}

static int
p_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct asker       *a = state;
	agentd_doc         *doc;
	char                question[512];
	agentd_llm_request *q;
	const void         *b;
	size_t              n;
	struct pending     *p;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	rv = agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "question"), question,
	    sizeof(question));
	agentd_doc_free(doc);
	if (rv != 0)
		return AGENTD_EINVAL;
	agentd_llm_request_new("default", &q);
	agentd_llm_add_message(q, "system", "Answer in one sentence.");
	agentd_llm_add_message(q, "user", question);
	agentd_llm_set_max_tokens(q, 100);
	agentd_llm_request_encode(q, &b, &n);
	p      = calloc(1, sizeof(*p));
	p->a   = a;
	p->req = req;
	rv = a->host->call_async(a->ctx, "llm", b, n, 30000, p_answered, p);
	agentd_llm_request_free(q);
	if (rv != 0)
		free(p);
	return rv;
}

static const struct agentd_plugin p_desc = { .magic = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "asker",
	.version    = "1",
	.init       = p_init,
	.on_request = p_request,
	.fini       = p_fini };

struct fake {
	char user[512];
	long max_tokens;
};

/* The llm agent, played by the mock: echoes the user's message. */
static int
fake_llm(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct fake        *f = arg;
	agentd_doc         *doc;
	const agentd_value *m;
	int64_t             mt = 0;
	char                text[600];

	(void)agent;
	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	m = agentd_map_get(agentd_doc_root(doc), "messages");
	agentd_get_strcpy(agentd_map_get(agentd_array_at(m, 1), "content"),
	    f->user, sizeof(f->user));
	agentd_get_int(
	    agentd_map_get(agentd_doc_root(doc), "max_tokens"), &mt);
	f->max_tokens = (long)mt;
	agentd_doc_free(doc);
	snprintf(text, sizeof(text), "You asked: %s", f->user);
	llm_reply(reply, text, 0);
	return 0;
}

static void
t_plugin(void)
{
	agentd_mock   *m;
	struct fake    f = { "", 0 };
	agentd_writer *w;
	const void    *q, *reply;
	size_t         qn, rn;
	int            status;
	agentd_doc    *doc;
	char           b[600];

	agentd_mock_new("asker", &m);
	agentd_mock_on_call(m, "llm", fake_llm, &f);
	is_int(agentd_mock_attach(m, &p_desc), 0, "plugin: attached");
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "question");
	agentd_write_str(w, "Why is the sky blue?");
	q = agentd_writer_data(w, &qn);
	is_int(agentd_mock_request(m, q, qn, &reply, &rn, &status), 0,
	    "plugin: answered");
	is_int(status, 0, "plugin: a reply, not an error");
	is_str(f.user, "Why is the sky blue?", "llm got the question");
	is_int((int)f.max_tokens, 100, "llm got max_tokens");
	ok(agentd_parse(reply, rn, &doc) == 0, "plugin reply parses");
	is_str(
	    str(agentd_map_get(agentd_doc_root(doc), "answer"), b, sizeof(b)),
	    "You asked: Why is the sky blue?", "the plugin answers the text");
	agentd_doc_free(doc);

	agentd_mock_on_call(m, "llm", NULL, NULL);
	agentd_mock_request(m, q, qn, &reply, &rn, &status);
	is_int(status, AGENTD_ENOENT,
	    "no llm agent: the error reaches the "
	    "caller");
	agentd_writer_free(w);
	agentd_mock_free(m);
}

int
main(void)
{
	plan(108);
	t_request();
	t_bad_request();
	t_reply();
	t_plugin();
	return done_testing();
}
