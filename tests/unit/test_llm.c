/*
 * test_llm - plugins/llm: its codecs against example requests and
 * answers of each API (written for this test from the APIs' documented
 * shapes), and the plugin in the mock host: fallback, the breaker,
 * conversations on the mock's clock, budgets.  The plugin's sources are
 * linked into this program; the mock is the installed archive's.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/mock.h>

#include "../../plugins/llm/codec.h"
#include "tap.h"

extern const struct agentd_plugin agentd_plugin_v1;

static const char openai_answer[]
    = "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion\",\"model\":"
      "\"gpt-4o-mini-2024\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
      "\"assistant\",\"content\":\"Try a bundle.\"},\"finish_reason\":"
      "\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,"
      "\"total_tokens\":16}}";
static const char openai_tools[]
    = "{\"model\":\"m\",\"choices\":[{\"message\":{\"role\":\"assistant\","
      "\"content\":null,\"tool_calls\":[{\"id\":\"call_7\",\"type\":"
      "\"function\",\"function\":{\"name\":\"price\",\"arguments\":"
      "\"{\\\"sku\\\":\\\"B-2\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}";
static const char ollama_answer[]
    = "{\"model\":\"llama3.1\",\"created_at\":\"2024-07-01T10:00:00Z\","
      "\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\","
      "\"tool_calls\":[{\"function\":{\"name\":\"stock\",\"arguments\":"
      "{\"sku\":\"C-3\"}}}]},\"done\":true,\"done_reason\":\"stop\","
      "\"prompt_eval_count\":26,\"eval_count\":3}";
static const char gemini_answer[]
    = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":"
      "\"Spring \"},{\"text\":\"sale.\"}]},\"finishReason\":\"MAX_TOKENS\"}],"
      "\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":2,"
      "\"totalTokenCount\":11},\"modelVersion\":\"gemini-1.5-flash-002\"}";

static void
test_parse(void)
{
	struct llm_reply r;
	char             err[256];

	is_int(llm_parse(LLM_OPENAI, openai_answer, strlen(openai_answer), &r,
	           err, sizeof(err)),
	    0, "openai: an answer parses");
	ok(strcmp(r.text, "Try a bundle.") == 0
	        && strcmp(r.model, "gpt-4o-mini-2024") == 0
	        && strcmp(r.finish_reason, "stop") == 0
	        && r.prompt_tokens == 12 && r.completion_tokens == 4,
	    "openai: text, model, finish reason, usage");
	llm_reply_clear(&r);
	llm_parse(LLM_OPENAI, openai_tools, strlen(openai_tools), &r, err,
	    sizeof(err));
	ok(json_array_size(r.tool_calls) == 1
	        && strcmp(json_string_value(json_object_get(
	                      json_array_get(r.tool_calls, 0), "arguments")),
	               "{\"sku\":\"B-2\"}")
	            == 0
	        && strcmp(r.text, "") == 0 && r.prompt_tokens == -1,
	    "openai: a tool call, null content, no usage");
	llm_reply_clear(&r);
	llm_parse(LLM_OLLAMA, ollama_answer, strlen(ollama_answer), &r, err,
	    sizeof(err));
	ok(strcmp(r.text, "Hello.") == 0 && r.prompt_tokens == 26
	        && r.completion_tokens == 3
	        && strcmp(r.finish_reason, "tool_calls") == 0
	        && strcmp(json_string_value(json_object_get(
	                      json_array_get(r.tool_calls, 0), "arguments")),
	               "{\"sku\":\"C-3\"}")
	            == 0,
	    "ollama: text, counts, a tool call with object arguments");
	llm_reply_clear(&r);
	llm_parse(LLM_GEMINI, gemini_answer, strlen(gemini_answer), &r, err,
	    sizeof(err));
	ok(strcmp(r.text, "Spring sale.") == 0
	        && strcmp(r.finish_reason, "length") == 0
	        && strcmp(r.model, "gemini-1.5-flash-002") == 0
	        && r.prompt_tokens == 9 && r.completion_tokens == 2,
	    "gemini: parts joined, MAX_TOKENS is length, usageMetadata");
	llm_reply_clear(&r);
	is_int(
	    llm_parse(LLM_OPENAI, "{\"choices\": [", 13, &r, err, sizeof(err)),
	    AGENTD_EPROTO, "malformed JSON is EPROTO");
	is_int(llm_parse(LLM_GEMINI, "{\"candidates\":[]}", 17, &r, err,
	           sizeof(err)),
	    AGENTD_EPROTO, "an answer without a candidate is EPROTO");
	ok(strstr(err, "candidates") != NULL, "...and says what is missing");
	/* Found by fuzz_llm_codec: jansson's error quotes the input. */
	is_int(llm_parse(
	           LLM_OPENAI, "{\"a\": \"\\\n\"}", 10, &r, err, sizeof(err)),
	    AGENTD_EPROTO, "a bad escape before a newline is EPROTO");
	ok(strchr(err, '\n') == NULL && strstr(err, "invalid escape") != NULL,
	    "...said in one line, whatever the server sent");
}

static void
test_bodies(void)
{
	json_t *msgs = json_loads("[{\"role\":\"system\",\"content\":\"S\"},"
	                          "{\"role\":\"user\",\"content\":\"U\"},"
	                          "{\"role\":\"assistant\",\"content\":"
	                          "\"A\"}]",
	    0, NULL);
	json_t *rf   = json_loads("{\"type\":\"json_object\"}", 0, NULL);
	struct llm_req q = { msgs, 100, 0.5, rf, NULL };
	json_t        *b;
	char          *s, url[256];

	b = llm_body(LLM_OPENAI, "gpt", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s, "\"max_tokens\":100") && strstr(s, "\"model\":\"gpt\"")
	        && strstr(s, "\"response_format\":{\"type\":\"json_object\"}")
	        && strstr(s, "\"temperature\":0.5"),
	    "openai body: model, max_tokens, temperature, response_format");
	free(s);
	json_decref(b);
	b = llm_body(LLM_OLLAMA, "llama", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s, "\"format\":\"json\"") && strstr(s, "\"stream\":false")
	        && strstr(s,
	            "\"options\":{\"num_predict\":100,"
	            "\"temperature\":0.5}"),
	    "ollama body: stream false, options, format");
	free(s);
	json_decref(b);
	b = llm_body(LLM_GEMINI, "g", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s, "\"systemInstruction\":{\"parts\":[{\"text\":\"S\"}]}")
	        && strstr(
	            s, "{\"parts\":[{\"text\":\"A\"}],\"role\":\"model\"}")
	        && strstr(s, "\"maxOutputTokens\":100")
	        && strstr(s, "\"responseMimeType\":\"application/json\""),
	    "gemini body: systemInstruction, model role, generationConfig");
	free(s);
	json_decref(b);
	llm_url(LLM_GEMINI, "https://g.example/v1beta/", "gem-1", url,
	    sizeof(url));
	ok(strcmp(url, "https://g.example/v1beta/models/gem-1:generateContent")
	        == 0,
	    "gemini URL");
	llm_url(LLM_OLLAMA, "http://127.0.0.1:11434", "x", url, sizeof(url));
	ok(strcmp(url, "http://127.0.0.1:11434/api/chat") == 0, "ollama URL");
	json_decref(msgs);
	json_decref(rf);
}

/* Tool round trips: the messages checked and linked, then each API's
 * shapes for an assistant's calls and the results sent back. */
static void
test_tool_messages(void)
{
	json_t *in = json_loads(
	    "[{\"role\":\"user\",\"content\":\"find a lamp\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
	    "{\"id\":\"c1\",\"name\":\"search\",\"arguments\":"
	    "\"{\\\"q\\\":\\\"lamp\\\"}\"},"
	    "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"cart\",\"arguments\":{\"sku\":\"L-1\"}}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":"
	    "{\"products\":[\"L-1\"]}},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"ok\"}]",
	    0, NULL);
	json_t        *msgs, *b, *bad;
	char           why[256], *s;
	struct llm_req q = { NULL, 0, -1, NULL, NULL };

	msgs = llm_messages_check(in, why, sizeof(why));
	ok(msgs != NULL && llm_messages_link(msgs, why, sizeof(why)) == 0,
	    "tools: an assistant's calls (both shapes) and their results "
	    "check and link");
	s = json_dumps(msgs, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s,
	       "{\"function\":{\"arguments\":\"{\\\"q\\\":\\\"lamp\\\"}\","
	       "\"name\":\"search\"},\"id\":\"c1\",\"type\":\"function\"}")
	        && strstr(s,
	            "\"arguments\":\"{\\\"sku\\\":\\\"L-1\\\"}\",\"name\":"
	            "\"cart\"")
	        && strstr(s,
	            "{\"content\":\"{\\\"products\\\":[\\\"L-1\\\"]}\","
	            "\"name\":\"search\",\"role\":\"tool\","
	            "\"tool_call_id\":\"c1\"}"),
	    "tools: calls in OpenAI's shape, arguments as text, a result "
	    "named after its call");
	free(s);
	q.messages = msgs;

	b = llm_body(LLM_OPENAI, "gpt", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s,
	       "{\"content\":null,\"role\":\"assistant\","
	       "\"tool_calls\":[{\"function\"")
	        && strstr(s,
	            "{\"content\":\"ok\",\"role\":\"tool\","
	            "\"tool_call_id\":\"c2\"}"),
	    "openai body: content null beside the calls; role tool with "
	    "tool_call_id");
	free(s);
	json_decref(b);

	b = llm_body(LLM_OLLAMA, "llama", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s,
	       "\"tool_calls\":[{\"function\":{\"arguments\":"
	       "{\"q\":\"lamp\"},\"name\":\"search\"}}")
	        && strstr(s,
	            "{\"content\":\"ok\",\"role\":\"tool\","
	            "\"tool_name\":\"cart\"}")
	        && !strstr(s, "tool_call_id"),
	    "ollama body: arguments as objects; role tool with tool_name");
	free(s);
	json_decref(b);

	b = llm_body(LLM_GEMINI, "g", &q);
	s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	ok(strstr(s,
	       "{\"parts\":[{\"functionCall\":{\"args\":{\"q\":"
	       "\"lamp\"},\"name\":\"search\"}},{\"functionCall\":"
	       "{\"args\":{\"sku\":\"L-1\"},\"name\":\"cart\"}}],"
	       "\"role\":\"model\"}")
	        && strstr(s,
	            "{\"parts\":[{\"functionResponse\":{\"name\":\"search\","
	            "\"response\":{\"products\":[\"L-1\"]}}},"
	            "{\"functionResponse\":{\"name\":\"cart\",\"response\":"
	            "{\"content\":\"ok\"}}}],\"role\":\"user\"}"),
	    "gemini body: functionCall parts in the model's turn, both "
	    "functionResponse parts in one user turn");
	free(s);
	json_decref(b);
	json_decref(msgs);
	json_decref(in);

	bad  = json_loads("[{\"role\":\"user\",\"content\":\"x\"},"
	                   "{\"role\":\"tool\",\"tool_call_id\":\"c9\","
	                   "\"content\":\"r\"}]",
	     0, NULL);
	msgs = llm_messages_check(bad, why, sizeof(why));
	ok(msgs != NULL && llm_messages_link(msgs, why, sizeof(why)) != 0
	        && strstr(why, "c9") != NULL,
	    "tools: a result answering no call is refused, naming its id");
	json_decref(msgs);
	json_decref(bad);
	bad = json_loads("[{\"role\":\"tool\",\"content\":\"r\"}]", 0, NULL);
	ok(llm_messages_check(bad, why, sizeof(why)) == NULL
	        && strstr(why, "tool_call_id") != NULL,
	    "tools: a tool message without tool_call_id is refused");
	json_decref(bad);
	bad = json_loads("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
	                 "\"c\",\"name\":\"f\",\"arguments\":\"[1]\"}]}]",
	    0, NULL);
	ok(llm_messages_check(bad, why, sizeof(why)) == NULL,
	    "tools: arguments that are not an object are refused");
	json_decref(bad);
	bad = json_loads("[{\"role\":\"wizard\",\"content\":\"x\"}]", 0, NULL);
	ok(llm_messages_check(bad, why, sizeof(why)) == NULL
	        && strstr(why, "role") != NULL,
	    "an unknown role is refused");
	json_decref(bad);
}

/* ---- the plugin in the mock host ---------------------------------------- */

/* The server: URLs with "/fail/" answer 503, others an OpenAI answer
 * that counts the messages it was sent. */
static int
server(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	char    out[256];
	json_t *req = json_loadb(c->body, c->body_len, 0, NULL);
	int     n   = (int)json_array_size(json_object_get(req, "messages"));

	(*(int *)arg)++;
	if (strstr(c->url, "/tools/") != NULL) {
		json_t     *ms   = json_object_get(req, "messages"), *e;
		const char *last = json_string_value(json_object_get(
		    json_array_get(ms, json_array_size(ms) - 1), "role"));
		size_t      i, o = 0;
		char        roles[128] = "";

		json_array_foreach(ms, i, e) o += (size_t)snprintf(roles + o,
		    o < sizeof(roles) ? sizeof(roles) - o : 0, "%s%s",
		    i > 0 ? "," : "",
		    json_string_value(json_object_get(e, "role")));
		if (last != NULL && strcmp(last, "user") == 0)
			snprintf(out, sizeof(out),
			    "{\"choices\":[{\"message\":{\"content\":null,"
			    "\"tool_calls\":[{\"id\":\"call_9\",\"type\":"
			    "\"function\",\"function\":{\"name\":\"find\","
			    "\"arguments\":\"{}\"}}]},\"finish_reason\":"
			    "\"tool_calls\"}]}");
		else
			snprintf(out, sizeof(out),
			    "{\"choices\":[{\"message\":{\"content\":"
			    "\"%s\"},\"finish_reason\":\"stop\"}]}",
			    roles);
		json_decref(req);
		return agentd_mock_http_answer(
		    m, c->id, 200, NULL, 0, out, strlen(out));
	}
	json_decref(req);
	if (strstr(c->url, "/fail/") != NULL)
		return agentd_mock_http_answer(
		    m, c->id, 503, NULL, 0, "no", 2);
	snprintf(out, sizeof(out),
	    "{\"model\":\"m\",\"choices\":[{\"message\":{\"content\":"
	    "\"n=%d\"},\"finish_reason\":\"stop\"}],\"usage\":"
	    "{\"prompt_tokens\":3,\"completion_tokens\":2}}",
	    n);
	return agentd_mock_http_answer(
	    m, c->id, 200, NULL, 0, out, strlen(out));
}

/* Send {"route": R, "messages": [{"role": "user", "content": "x"}],
 * "conversation": C (if any)}; the reply parsed into *doc. */
static int
ask(agentd_mock *m, const char *route, const char *conv, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *p, *rep;
	size_t         n, rlen;
	int            st = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, conv != NULL ? 3 : 2);
	agentd_write_str(w, "route");
	agentd_write_str(w, route);
	agentd_write_str(w, "messages");
	agentd_write_array(w, 1);
	agentd_write_map(w, 2);
	agentd_write_str(w, "role");
	agentd_write_str(w, "user");
	agentd_write_str(w, "content");
	agentd_write_str(w, "x");
	if (conv != NULL) {
		agentd_write_str(w, "conversation");
		agentd_write_str(w, conv);
	}
	p = agentd_writer_data(w, &n);
	agentd_mock_request(m, p, n, &rep, &rlen, &st);
	agentd_parse(rep, rlen, doc);
	agentd_writer_free(w);
	return st;
}

static int
answered_by(agentd_doc *d, const char *provider, const char *text)
{
	const agentd_value *r     = agentd_doc_root(d);
	char                p[64] = "", t[64] = "";

	agentd_get_strcpy(agentd_map_get(r, "provider"), p, sizeof(p));
	agentd_get_strcpy(agentd_map_get(r, "text"), t, sizeof(t));
	agentd_doc_free(d);
	return strcmp(p, provider) == 0
	    && (text == NULL || strcmp(t, text) == 0);
}

static void
test_plugin(void)
{
	char         dir[] = "/tmp/test_llm.XXXXXX", path[256], key[256];
	agentd_mock *m;
	agentd_doc  *d;
	FILE        *f;
	int          calls = 0, st;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(key, sizeof(key), "%s/key", dir);
	f = fopen(key, "w");
	fputs("sk-unit-SECRET\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/llm.json", dir);
	f = fopen(path, "w");
	fprintf(f,
	    "{\"providers\": ["
	    "{\"name\": \"a\", \"kind\": \"openai\", \"base_url\": "
	    "\"http://127.0.0.1/fail/v1\", \"model\": \"m\", \"attempts\": 1, "
	    "\"api_key_file\": \"%s\"},"
	    "{\"name\": \"b\", \"kind\": \"openai\", \"base_url\": "
	    "\"http://127.0.0.1/ok/v1\", \"model\": \"m\"}],"
	    " \"routes\": {\"default\": [\"a\", \"b\"], \"only_a\": [\"a\"]},"
	    " \"budgets\": {\"tight\": {\"requests_per_minute\": 1}}}",
	    key);
	fclose(f);

	agentd_mock_new("llm", &m);
	agentd_mock_setting(m, "config", path);
	agentd_mock_setting(m, "breaker_failures", "2");
	agentd_mock_setting(m, "conversation_ttl_ms", "60000");
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, server, &calls);
	is_int(agentd_mock_attach(m, &agentd_plugin_v1), 0, "mock: llm loads");
	if (agentd_mock_errmsg(m)[0] != '\0')
		diag("  %s", agentd_mock_errmsg(m));

	st = ask(m, "default", NULL, &d);
	ok(st == 0 && answered_by(d, "b", "n=1"),
	    "mock: a 503 from a falls back to b");
	ok(agentd_mock_audit_count(m) == 1, "mock: the fallback is audited");
	ask(m, "default", NULL, &d);
	agentd_doc_free(d);
	calls = 0;
	st    = ask(m, "default", NULL, &d);
	ok(st == 0 && answered_by(d, "b", NULL) && calls == 1,
	    "mock: after 2 failures a's breaker is open: only b is asked");
	st = ask(m, "only_a", NULL, &d);
	agentd_doc_free(d);
	is_int(st, AGENTD_EUNAVAIL, "mock: a route of only a: EUNAVAIL");

	st = ask(m, "default", "c-1", &d);
	ok(st == 0 && answered_by(d, "b", "n=1"),
	    "mock: a conversation starts");
	ask(m, "default", "c-1", &d);
	ok(answered_by(d, "b", "n=3"), "mock: ...and continues (3 messages)");
	agentd_mock_clock_advance(m, 60000);
	ask(m, "default", "c-1", &d);
	ok(answered_by(d, "b", "n=1"), "mock: ...and is gone after its TTL");

	agentd_mock_caller(m, "tight");
	ask(m, "default", NULL, &d);
	agentd_doc_free(d);
	st = ask(m, "default", NULL, &d);
	agentd_doc_free(d);
	is_int(
	    st, AGENTD_EBUSY, "mock: a caller past its requests per minute");
	ok(strstr(agentd_mock_last_log(m, NULL) != NULL
	           ? agentd_mock_last_log(m, NULL)
	           : "",
	       "SECRET")
	        == NULL,
	    "mock: the key is not logged");
	agentd_mock_free(m);
	unlink(key);
	unlink(path);
	rmdir(dir);
}

/* Send the request written as JSON text; the reply's text into text. */
static int
ask_json(agentd_mock *m, const char *json, char *text, size_t size)
{
	json_t        *j = json_loads(json, 0, NULL);
	agentd_writer *w;
	agentd_doc    *doc;
	const void    *p, *rep;
	size_t         n, rlen;
	int            st = -1;

	text[0] = '\0';
	agentd_writer_new(&w);
	jsonkit_write(w, j);
	p = agentd_writer_data(w, &n);
	agentd_mock_request(m, p, n, &rep, &rlen, &st);
	if (agentd_parse(rep, rlen, &doc) == 0) {
		const agentd_value *r = agentd_doc_root(doc);

		if (agentd_get_strcpy(agentd_map_get(r, "text"), text, size)
		        != 0
		    || text[0] == '\0')
			agentd_get_strcpy(
			    agentd_map_get(
			        agentd_array_at(
			            agentd_map_get(r, "tool_calls"), 0),
			        "id"),
			    text, size);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	json_decref(j);
	return st;
}

/* A mock llm whose only provider is the server's /tools/ one, keeping
 * conversations of `window` messages. */
static agentd_mock *
tools_mock(
    const char *path, const char *window, const char *tokens, int *calls)
{
	agentd_mock *m;

	agentd_mock_new("llm", &m);
	agentd_mock_setting(m, "config", path);
	agentd_mock_setting(m, "conversation_messages", window);
	agentd_mock_setting(m, "conversation_tokens", tokens);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, server, calls);
	if (agentd_mock_attach(m, &agentd_plugin_v1) != 0)
		diag("  %s", agentd_mock_errmsg(m));
	return m;
}

static void
test_plugin_tools(void)
{
	char         dir[] = "/tmp/test_llm.XXXXXX", path[256], t[128];
	agentd_mock *m;
	FILE        *f;
	int          calls = 0, st;
	const char  *turn1 = "{\"conversation\":\"s-1\",\"messages\":[{"
	                     "\"role\":\"user\",\"content\":\"a lamp\"}]}";
	const char  *turn2 = "{\"conversation\":\"s-1\",\"messages\":[{"
	                     "\"role\":\"tool\",\"tool_call_id\":\"call_9\","
	                     "\"content\":\"{\\\"products\\\":[]}\"}]}";

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/llm.json", dir);
	f = fopen(path, "w");
	fputs("{\"providers\": [{\"name\": \"t\", \"kind\": \"openai\", "
	      "\"base_url\": \"http://127.0.0.1/tools/v1\", \"model\": \"m\"},"
	      "{\"name\": \"ok\", \"kind\": \"openai\", \"base_url\": "
	      "\"http://127.0.0.1/ok/v1\", \"model\": \"m\"}],"
	      " \"routes\": {\"default\": [\"t\"], \"plain\": [\"ok\"]}}",
	    f);
	fclose(f);

	m  = tools_mock(path, "20", "0", &calls);
	st = ask_json(m, turn1, t, sizeof(t));
	ok(st == 0 && strcmp(t, "call_9") == 0,
	    "mock tools: the first turn answers a tool call");
	st = ask_json(m, turn2, t, sizeof(t));
	ok(st == 0 && strcmp(t, "user,assistant,tool") == 0,
	    "mock tools: its result alone continues the conversation: the "
	    "provider gets the user's message, the call and the result");
	st = ask_json(m,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":"
	    "\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"r\"}]}",
	    t, sizeof(t));
	is_int(st, AGENTD_EINVAL,
	    "mock tools: a result whose call is not before it: EINVAL");
	ask_json(m,
	    "{\"route\":\"plain\",\"conversation\":\"c-sys\",\"messages\":"
	    "[{\"role\":\"system\",\"content\":\"S1\"},{\"role\":\"user\","
	    "\"content\":\"a\"}]}",
	    t, sizeof(t));
	ask_json(m,
	    "{\"route\":\"plain\",\"conversation\":\"c-sys\",\"messages\":"
	    "[{\"role\":\"system\",\"content\":\"S2\"},{\"role\":\"user\","
	    "\"content\":\"b\"}]}",
	    t, sizeof(t));
	is_str(t, "n=4",
	    "mock: a system message sent with every turn replaces the "
	    "conversation's (system, user, assistant, user)");
	agentd_mock_free(m);

	m = tools_mock(path, "1", "0", &calls);
	ask_json(m, turn1, t, sizeof(t));
	st = ask_json(m, turn2, t, sizeof(t));
	ok(st == 0 && strcmp(t, "assistant,tool") == 0,
	    "mock tools: a window of 1 message keeps the call with its "
	    "result");
	agentd_mock_free(m);
	m = tools_mock(path, "20", "1", &calls);
	ask_json(m, turn1, t, sizeof(t));
	st = ask_json(m, turn2, t, sizeof(t));
	ok(st == 0 && strcmp(t, "assistant,tool") == 0,
	    "mock tools: a window of about 1 token drops the user's message, "
	    "never the call from its result");
	agentd_mock_free(m);
	unlink(path);
	rmdir(dir);
}

/* jsonkit_write, which llm, concierge, scout and vetting share. */
static void
test_jsonkit(void)
{
	json_t *j = json_loads(
	    "{\"r\": 0.5, \"i\": -3, \"s\": \"a\\u0000b\", \"t\": true, "
	    "\"n\": null, \"a\": [1, {\"k\": \"v\"}]}",
	    JSON_ALLOW_NUL, NULL);
	agentd_writer      *w;
	agentd_doc         *doc;
	const agentd_value *r;
	const void         *p;
	const char         *str = NULL;
	size_t              n, slen = 0;
	double              d      = 0;
	int64_t             i      = 0;
	int                 t      = 0;
	char                buf[8] = "";

	agentd_writer_new(&w);
	jsonkit_write(w, j);
	p = agentd_writer_data(w, &n);
	ok(agentd_parse(p, n, &doc) == 0, "jsonkit: one msgpack value");
	r = agentd_doc_root(doc);
	ok(agentd_type_of(agentd_map_get(r, "r")) == AGENTD_T_DOUBLE
	        && agentd_get_double(agentd_map_get(r, "r"), &d) == 0
	        && d == 0.5,
	    "jsonkit: a real is a double");
	ok(agentd_get_int(agentd_map_get(r, "i"), &i) == 0 && i == -3,
	    "jsonkit: an integer is an integer");
	ok(agentd_get_str(agentd_map_get(r, "s"), &str, &slen) == 0
	        && slen == 3 && memcmp(str, "a\0b", 3) == 0,
	    "jsonkit: a string keeps its NUL and what follows");
	ok(agentd_get_bool(agentd_map_get(r, "t"), &t) == 0 && t == 1
	        && agentd_type_of(agentd_map_get(r, "n")) == AGENTD_T_NIL,
	    "jsonkit: true and null");
	agentd_get_strcpy(
	    agentd_map_get(agentd_array_at(agentd_map_get(r, "a"), 1), "k"),
	    buf, sizeof(buf));
	ok(strcmp(buf, "v") == 0, "jsonkit: nested arrays and objects");
	agentd_doc_free(doc);
	agentd_writer_free(w);
	json_decref(j);
}

int
main(void)
{
	plan(46);
	test_jsonkit();
	test_parse();
	test_bodies();
	test_tool_messages();
	test_plugin();
	test_plugin_tools();
	return done_testing();
}
