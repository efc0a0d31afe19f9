/*
 * concierge - the shop's assistant for its customers (doc/concierge.md).
 *
 * {"session": "s-1", "message": "...", "email": "..."} is one turn of a
 * customer's conversation.  The llm agent keeps the conversation (its
 * "conversation" is the session, with the llm agent's TTL) and is
 * offered four tools, each answered by a call to the catalog agent:
 *
 *   search_products {"query"}         {"op": "search", "query"}
 *   add_to_cart {"sku", "quantity"}   {"op": "cart.add", "cart", "sku",
 *                                      "quantity"}
 *   view_cart {}                      {"op": "cart.view", "cart"}
 *   checkout {"email"}                {"op": "checkout", "cart", "email"}
 *
 * (the cart is the session's).  A turn is a state machine: ASKING (the
 * model asked, with the user's message or the last round's results) ->
 * TOOLS (its calls run one after another at the catalog, each result,
 * or error, kept as a "tool" message) -> ASKING again, at most
 * max_tool_rounds rounds; past them the calls are answered "not run" in
 * one CLOSING request, whose text ends the turn.  The answer is
 * {"session", "text", "tools": [names called], "order": the order id or
 * null, "rounds", "style"}.
 *
 * The setting style ("plain" or "upsell") chooses the system prompt, so
 * two generations of the agent with two styles can be compared; each
 * checkout counts one conversion (count_conversion(), below).
 *
 * A conversation left with calls no result answers (the llm agent or the
 * catalog failing mid-turn, rounds spent twice) would be refused by a
 * provider on its next turn: the session then moves to a new conversation
 * ("s-1.1", "s-1.2"...), kept in "session/ID" with the turns and orders.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../jsonkit/jsonkit.h"
#include "../shopkit/sku.h"

#define SESSION_MAX 128
#define CALLS_MAX 8
#define TOOLS_MAX 32
#define ORDER_MAX 64

static const struct agentd_setting concierge_settings[] = {
	{ "style", AGENTD_SETTING_STRING, "plain",
	    "the system prompt: plain (answers what is asked) or upsell "
	    "(suggests more)" },
	{ "llm_agent", AGENTD_SETTING_STRING, "llm",
	    "the agent asked (calls = { } must name it)" },
	{ "llm_route", AGENTD_SETTING_STRING, "default",
	    "the llm agent's route" },
	{ "llm_timeout_ms", AGENTD_SETTING_INT, "30000",
	    "one answer of the model waited for at most this long" },
	{ "llm_max_tokens", AGENTD_SETTING_INT, "300",
	    "the longest answer asked of the model" },
	{ "catalog_agent", AGENTD_SETTING_STRING, "catalog",
	    "the agent answering the tools" },
	{ "catalog_timeout_ms", AGENTD_SETTING_INT, "10000",
	    "one tool call waited for at most this long" },
	{ "max_tool_rounds", AGENTD_SETTING_INT, "4",
	    "rounds of tool calls in one turn at most" },
	{ "session_ttl_ms", AGENTD_SETTING_INT, "3600000",
	    "a session's record is kept this long after its last turn (the "
	    "llm agent's conversation_ttl_ms)" },
	{ NULL, 0, NULL, NULL },
};

static const char prompt_plain[]
    = "You are the shop assistant of an online shop. Use the tools to "
      "find products and their prices, to add them to the customer's "
      "cart and to check out. Add to the cart and check out only when "
      "the customer asks to buy. Answer briefly, with the products' "
      "names, SKUs and prices as the tools give them.";
static const char prompt_upsell[]
    = "You are the shop assistant of an online shop. Use the tools to "
      "find products and their prices, to add them to the customer's "
      "cart and to check out. Add to the cart and check out only when "
      "the customer asks to buy. With each answer suggest one more "
      "product the customer may like, say what their cart holds, and "
      "invite them to check out.";

/* The tools offered, in OpenAI's shape (the llm agent translates). */
static const char tools_json[]
    = "[{\"type\":\"function\",\"function\":{\"name\":\"search_products\","
      "\"description\":\"Find the shop's products by words of their "
      "title\",\"parameters\":{\"type\":\"object\",\"properties\":"
      "{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"]}}},"
      "{\"type\":\"function\",\"function\":{\"name\":\"add_to_cart\","
      "\"description\":\"Put a product in the customer's cart\","
      "\"parameters\":{\"type\":\"object\",\"properties\":{\"sku\":"
      "{\"type\":\"string\"},\"quantity\":{\"type\":\"integer\"}},"
      "\"required\":[\"sku\"]}}},"
      "{\"type\":\"function\",\"function\":{\"name\":\"view_cart\","
      "\"description\":\"What the customer's cart holds\",\"parameters\":"
      "{\"type\":\"object\",\"properties\":{}}}},"
      "{\"type\":\"function\",\"function\":{\"name\":\"checkout\","
      "\"description\":\"Order what the cart holds\",\"parameters\":"
      "{\"type\":\"object\",\"properties\":{\"email\":{\"type\":"
      "\"string\"}}}}}]";

struct concierge {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *style, *prompt;
	const char               *llm_agent, *llm_route, *catalog_agent;
	int64_t                   llm_timeout_ms, llm_max_tokens;
	int64_t                   catalog_timeout_ms, max_tool_rounds;
	int64_t                   session_ttl_ms;
	agentd_writer            *tools; /* tools_json as msgpack */
	/* What status answers, since the instance started. */
	uint64_t turns, conversions, tool_calls, tool_errors, failed, stopped;
};

/* A session as state keeps it. */
struct session {
	int64_t turns, epoch, conversions;
	int64_t conv_turns;       /* turns of the current conversation */
	char    order[ORDER_MAX]; /* the last order placed, "" if none */
};

enum phase { ASKING, TOOLS, CLOSING };

/* A tool call of the model's, kept while it runs. */
struct call {
	char  id[128];
	char  name[64];
	char *args; /* JSON text */
};

/* One turn on its way. */
struct turn {
	struct concierge *c;
	agentd_request   *req;
	enum phase        phase;
	char              session[SESSION_MAX + 1];
	char              conv[SESSION_MAX + 24];
	char             *message, *email;
	struct session    s;
	int64_t           rounds;
	int               asked_tools; /* the model has asked for calls */
	struct call       calls[CALLS_MAX];
	size_t            ncalls, next;
	agentd_writer    *results; /* the round's tool messages */
	char              tools[TOOLS_MAX][64];
	size_t            ntools;
	char              order[ORDER_MAX];
};

static void ask_llm(struct turn *t);

/*
 * One checkout: one conversion.  Counted in the reply, the session and
 * status, and with host->count per generation: what an A/B canary of two
 * styles compares (doc/reload.md, "Canaries").  A host older than ABI 1.4
 * has no count; the conversion is still in the reply and status.
 */
static void
count_conversion(struct concierge *c)
{
	c->conversions++;
	if (AGENTD_HOST_HAS(c->host, count))
		c->host->count(c->ctx, "conversions", 1);
}

static char *
dup_str(const agentd_value *v)
{
	const char *s;
	size_t      len;
	char       *out;

	if (agentd_get_str(v, &s, &len) != 0 || memchr(s, '\0', len) != NULL
	    || (out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/* ---- sessions ----------------------------------------------------------- */

static void
session_key(const struct turn *t, char *key, size_t size)
{
	snprintf(key, size, "session/%s", t->session);
}

static void
session_load(struct turn *t)
{
	char        key[SESSION_MAX + 16];
	agentd_doc *doc;

	memset(&t->s, 0, sizeof(t->s));
	session_key(t, key, sizeof(key));
	if (agentd_state_get_map(t->c->host, t->c->ctx, key, &doc) == 0) {
		const agentd_value *m = agentd_doc_root(doc);

		agentd_get_int(agentd_map_get(m, "turns"), &t->s.turns);
		agentd_get_int(agentd_map_get(m, "epoch"), &t->s.epoch);
		agentd_get_int(
		    agentd_map_get(m, "conv_turns"), &t->s.conv_turns);
		agentd_get_int(
		    agentd_map_get(m, "conversions"), &t->s.conversions);
		agentd_get_strcpy(agentd_map_get(m, "order"), t->s.order,
		    sizeof(t->s.order));
		agentd_doc_free(doc);
	}
	if (t->s.epoch == 0)
		snprintf(t->conv, sizeof(t->conv), "%s", t->session);
	else
		snprintf(t->conv, sizeof(t->conv), "%s.%lld", t->session,
		    (long long)t->s.epoch);
}

static void
session_save(struct turn *t)
{
	char           key[SESSION_MAX + 16];
	agentd_writer *w;
	const void    *p;
	size_t         n;
	int            rv;

	session_key(t, key, sizeof(key));
	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "turns");
	agentd_write_int(w, t->s.turns);
	agentd_write_str(w, "conv_turns");
	agentd_write_int(w, t->s.conv_turns);
	agentd_write_str(w, "epoch");
	agentd_write_int(w, t->s.epoch);
	agentd_write_str(w, "conversions");
	agentd_write_int(w, t->s.conversions);
	agentd_write_str(w, "order");
	agentd_write_str(w, t->s.order);
	p  = agentd_writer_data(w, &n);
	rv = t->c->host->state_put_ttl(
	    t->c->ctx, key, strlen(key), p, n, (uint64_t)t->c->session_ttl_ms);
	if (rv != 0)
		t->c->host->log(t->c->ctx, AGENTD_LOG_WARN,
		    "concierge: session %s not kept: %s", t->session,
		    agentd_errname(rv));
	agentd_writer_free(w);
}

/* ---- the end of a turn -------------------------------------------------- */

static void
calls_clear(struct turn *t)
{
	for (size_t i = 0; i < t->ncalls; i++)
		free(t->calls[i].args);
	t->ncalls = t->next = 0;
}

static void
turn_free(struct turn *t)
{
	calls_clear(t);
	agentd_writer_free(t->results);
	free(t->message);
	free(t->email);
	free(t);
}

/* The next turn starts a new conversation: the model left calls in this
 * one that no result answers. */
static void
conv_abandon(struct turn *t)
{
	t->s.epoch++;
	t->s.conv_turns = 0;
}

/* The turn failed: its caller hears why; a conversation the model left
 * with calls unanswered is not continued. */
static void
turn_fail(struct turn *t, int err, const char *what)
{
	char line[400];

	t->c->failed++;
	if (t->asked_tools) {
		conv_abandon(t);
		session_save(t);
	}
	snprintf(
	    line, sizeof(line), "concierge: session %s: %s", t->session, what);
	t->c->host->log(t->c->ctx, AGENTD_LOG_WARN, "%s", line);
	t->c->host->reply_error(t->c->ctx, t->req, err, line);
	turn_free(t);
}

/* The turn's answer; stopped: its rounds were spent, unanswered: and the
 * model's last calls have no result. */
static void
turn_reply(
    struct turn *t, const char *text, size_t tlen, int stopped, int unanswered)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;

	t->c->turns++;
	t->s.turns++;
	t->s.conv_turns++;
	if (stopped)
		t->c->stopped++;
	if (unanswered)
		conv_abandon(t);
	session_save(t);
	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "session");
	agentd_write_str(w, t->session);
	agentd_write_str(w, "text");
	agentd_write_strn(w, text, tlen);
	agentd_write_str(w, "tools");
	agentd_write_array(w, (uint32_t)t->ntools);
	for (size_t i = 0; i < t->ntools; i++)
		agentd_write_str(w, t->tools[i]);
	agentd_write_str(w, "order");
	if (t->order[0] != '\0')
		agentd_write_str(w, t->order);
	else
		agentd_write_nil(w);
	agentd_write_str(w, "rounds");
	agentd_write_int(w, t->rounds);
	agentd_write_str(w, "style");
	agentd_write_str(w, t->c->style);
	agentd_write_str(w, "conversion");
	agentd_write_bool(w, t->order[0] != '\0');
	if (stopped) {
		agentd_write_str(w, "stopped");
		agentd_write_str(w, "max_tool_rounds");
	}
	agentd_write_map_end(w);
	p = agentd_writer_data(w, &n);
	t->c->host->reply(t->c->ctx, t->req, p, n);
	agentd_writer_free(w);
	turn_free(t);
}

/* ---- tools -------------------------------------------------------------- */

/* Keep the round's result of call k: a tool message whose content is
 * the catalog's answer (a msgpack value) or {"error": what}. */
static void
result_add(struct turn *t, const struct call *k, const void *val, size_t len,
    const char *error)
{
	agentd_writer *w = t->results;

	agentd_write_map(w, 3);
	agentd_write_str(w, "role");
	agentd_write_str(w, "tool");
	agentd_write_str(w, "tool_call_id");
	agentd_write_str(w, k->id);
	agentd_write_str(w, "content");
	if (error != NULL || agentd_write_raw(w, val, len) != 0) {
		agentd_write_map(w, 1);
		agentd_write_str(w, "error");
		agentd_write_str(w, error != NULL ? error : "a broken answer");
	}
}

static void run_next(struct turn *t);

/* A checkout's answer {"order_id", "total"}: the order, a conversion. */
static void
checked_out(struct turn *t, const void *reply, size_t len)
{
	agentd_doc         *doc;
	const agentd_value *id;
	int64_t             n;

	if (agentd_parse(reply, len, &doc) != 0)
		return;
	id = agentd_map_get(agentd_doc_root(doc), "order_id");
	if (agentd_get_int(id, &n) == 0)
		snprintf(t->order, sizeof(t->order), "%lld", (long long)n);
	else
		agentd_get_strcpy(id, t->order, sizeof(t->order));
	agentd_doc_free(doc);
	if (t->order[0] == '\0')
		return;
	snprintf(t->s.order, sizeof(t->s.order), "%s", t->order);
	t->s.conversions++;
	count_conversion(t->c);
}

static void
tool_done(void *arg, int status, const void *reply, size_t len)
{
	struct turn *t = arg;
	struct call *k = &t->calls[t->next];
	char         why[160];

	if (status != 0) {
		t->c->tool_errors++;
		snprintf(why, sizeof(why), "%s: %s", t->c->catalog_agent,
		    agentd_errname(status));
		result_add(t, k, NULL, 0, why);
	} else {
		result_add(t, k, reply, len, NULL);
		if (strcmp(k->name, "checkout") == 0)
			checked_out(t, reply, len);
	}
	t->next++;
	run_next(t);
}

/*
 * The catalog's request for call k, from its arguments; NULL with why
 * for a tool it does not know or arguments it cannot use.
 */
static agentd_writer *
tool_request(struct turn *t, const struct call *k, char *why, size_t wl)
{
	json_t        *a     = json_loads(k->args, 0, NULL);
	const char    *q     = json_string_value(json_object_get(a, "query"));
	const char    *sku   = json_string_value(json_object_get(a, "sku"));
	const char    *email = json_string_value(json_object_get(a, "email"));
	json_t        *qty   = json_object_get(a, "quantity");
	agentd_writer *w;

	if (!json_is_object(a)) {
		snprintf(why, wl, "the arguments are not a JSON object");
		json_decref(a);
		return NULL;
	}
	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "op");
	if (strcmp(k->name, "search_products") == 0 && q != NULL) {
		agentd_write_str(w, "search");
		agentd_write_str(w, "query");
		agentd_write_str(w, q);
	} else if (strcmp(k->name, "add_to_cart") == 0 && sku != NULL
	    && (qty == NULL || json_is_integer(qty))) {
		agentd_write_str(w, "cart.add");
		agentd_write_str(w, "cart");
		agentd_write_str(w, t->session);
		agentd_write_str(w, "sku");
		agentd_write_str(w, sku);
		agentd_write_str(w, "quantity");
		agentd_write_int(w, qty != NULL ? json_integer_value(qty) : 1);
	} else if (strcmp(k->name, "view_cart") == 0) {
		agentd_write_str(w, "cart.view");
		agentd_write_str(w, "cart");
		agentd_write_str(w, t->session);
	} else if (strcmp(k->name, "checkout") == 0) {
		agentd_write_str(w, "checkout");
		agentd_write_str(w, "cart");
		agentd_write_str(w, t->session);
		if (t->email != NULL || email != NULL) {
			agentd_write_str(w, "email");
			agentd_write_str(
			    w, t->email != NULL ? t->email : email);
		}
	} else {
		snprintf(
		    why, wl, "no tool %.60s with these arguments", k->name);
		agentd_writer_free(w);
		json_decref(a);
		return NULL;
	}
	agentd_write_map_end(w);
	json_decref(a);
	return w;
}

/* Run the round's next call at the catalog, or ask the model with the
 * round's results once all ran. */
static void
run_next(struct turn *t)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;
	char           why[160];
	int            rv;

	while (t->next < t->ncalls) {
		struct call *k = &t->calls[t->next];

		if (t->ntools < TOOLS_MAX)
			memcpy(t->tools[t->ntools++], k->name,
			    sizeof(t->tools[0])); /* both NUL-terminated */
		t->c->tool_calls++;
		if ((w = tool_request(t, k, why, sizeof(why))) == NULL) {
			t->c->tool_errors++;
			result_add(t, k, NULL, 0, why);
			t->next++;
			continue;
		}
		p  = agentd_writer_data(w, &n);
		rv = t->c->host->call_async(t->c->ctx, t->c->catalog_agent, p,
		    n, (int)t->c->catalog_timeout_ms, tool_done, t);
		agentd_writer_free(w);
		if (rv == 0)
			return; /* tool_done goes on */
		t->c->tool_errors++;
		snprintf(why, sizeof(why), "%s: %s", t->c->catalog_agent,
		    agentd_errname(rv));
		result_add(t, k, NULL, 0, why);
		t->next++;
	}
	t->phase = ASKING;
	ask_llm(t);
}

/* The calls past max_tool_rounds: answered, not run. */
static void
close_calls(struct turn *t)
{
	for (size_t i = 0; i < t->ncalls; i++)
		result_add(t, &t->calls[i], NULL, 0,
		    "not run: this turn's tool rounds are spent; answer "
		    "the customer with what you have");
	t->phase = CLOSING;
	ask_llm(t);
}

/* ---- the model ---------------------------------------------------------- */

/* Keep the reply's tool calls; -1 when one is not {"id", "name",
 * "arguments"}. */
static int
calls_keep(struct turn *t, const agentd_value *calls)
{
	calls_clear(t);
	for (size_t i = 0; i < agentd_len(calls) && i < CALLS_MAX; i++) {
		const agentd_value *c = agentd_array_at(calls, i);
		struct call        *k = &t->calls[t->ncalls];

		if (agentd_get_strcpy(
		        agentd_map_get(c, "id"), k->id, sizeof(k->id))
		        != 0
		    || agentd_get_strcpy(
		           agentd_map_get(c, "name"), k->name, sizeof(k->name))
		        != 0
		    || (k->args = dup_str(agentd_map_get(c, "arguments")))
		        == NULL)
			return -1;
		t->ncalls++;
	}
	return 0;
}

static void
llm_done(void *arg, int status, const void *reply, size_t len)
{
	struct turn        *t = arg;
	agentd_doc         *doc;
	const agentd_value *r, *calls;
	const char         *text = "";
	size_t              tlen = 0;
	char                why[160];

	if (status != 0) {
		snprintf(why, sizeof(why), "%s did not answer: %s",
		    t->c->llm_agent, agentd_errname(status));
		turn_fail(t, status, why);
		return;
	}
	if (agentd_parse(reply, len, &doc) != 0) {
		turn_fail(t, AGENTD_EPROTO, "the llm's reply is not msgpack");
		return;
	}
	r     = agentd_doc_root(doc);
	calls = agentd_map_get(r, "tool_calls");
	agentd_get_str(agentd_map_get(r, "text"), &text, &tlen);
	if (agentd_len(calls) == 0) {
		turn_reply(t, text, tlen, t->phase == CLOSING, 0);
		agentd_doc_free(doc);
		return;
	}
	t->asked_tools = 1;
	if (calls_keep(t, calls) != 0) {
		agentd_doc_free(doc);
		turn_fail(t, AGENTD_EPROTO,
		    "the llm's reply has a tool call without id, name or "
		    "arguments");
		return;
	}
	if (t->phase == CLOSING) {
		/* Rounds spent, and it still calls: its text, if any. */
		if (tlen == 0) {
			text = "Sorry, I could not finish that. Could you say "
			       "it another way?";
			tlen = strlen(text);
		}
		turn_reply(t, text, tlen, 1, 1);
		agentd_doc_free(doc);
		return;
	}
	agentd_doc_free(doc);
	agentd_writer_free(t->results);
	agentd_writer_new(&t->results);
	agentd_write_array_begin(t->results);
	if (t->rounds >= t->c->max_tool_rounds) {
		close_calls(t);
		return;
	}
	t->rounds++;
	t->phase = TOOLS;
	run_next(t);
}

/*
 * Ask the model: the first time in a turn with the system prompt and the
 * user's message, then with the round's tool messages.
 */
static void
ask_llm(struct turn *t)
{
	struct concierge *c = t->c;
	agentd_writer    *w;
	const void       *p;
	size_t            n;
	int               rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "route");
	agentd_write_str(w, c->llm_route);
	agentd_write_str(w, "conversation");
	agentd_write_str(w, t->conv);
	agentd_write_str(w, "max_tokens");
	agentd_write_int(w, c->llm_max_tokens);
	agentd_write_str(w, "tools");
	p = agentd_writer_data(c->tools, &n);
	agentd_write_raw(w, p, n);
	agentd_write_str(w, "messages");
	if (t->results != NULL) {
		agentd_write_array_end(t->results);
		p = agentd_writer_data(t->results, &n);
		agentd_write_raw(w, p, n);
		agentd_writer_free(t->results);
		t->results = NULL;
	} else {
		/* The prompt with every turn: the llm agent keeps one, the
		 * newest (this generation's style, whatever the conversation
		 * began with), and a conversation past its TTL has it again.
		 */
		agentd_write_array(w, 2);
		agentd_write_map(w, 2);
		agentd_write_str(w, "role");
		agentd_write_str(w, "system");
		agentd_write_str(w, "content");
		agentd_write_str(w, c->prompt);
		agentd_write_map(w, 2);
		agentd_write_str(w, "role");
		agentd_write_str(w, "user");
		agentd_write_str(w, "content");
		agentd_write_str(w, t->message);
	}
	p  = agentd_writer_data(w, &n);
	rv = c->host->call_async(
	    c->ctx, c->llm_agent, p, n, (int)c->llm_timeout_ms, llm_done, t);
	agentd_writer_free(w);
	if (rv != 0)
		turn_fail(t, rv, "the llm agent could not be called");
}

/* ---- requests ----------------------------------------------------------- */

static int
status_reply(struct concierge *c, agentd_request *req)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 8);
	agentd_write_str(w, "style");
	agentd_write_str(w, c->style);
	agentd_write_str(w, "turns");
	agentd_write_uint(w, c->turns);
	agentd_write_str(w, "conversions");
	agentd_write_uint(w, c->conversions);
	agentd_write_str(w, "tool_calls");
	agentd_write_uint(w, c->tool_calls);
	agentd_write_str(w, "tool_errors");
	agentd_write_uint(w, c->tool_errors);
	agentd_write_str(w, "failed");
	agentd_write_uint(w, c->failed);
	agentd_write_str(w, "stopped");
	agentd_write_uint(w, c->stopped);
	agentd_write_str(w, "max_tool_rounds");
	agentd_write_int(w, c->max_tool_rounds);
	p  = agentd_writer_data(w, &n);
	rv = c->host->reply(c->ctx, req, p, n);
	agentd_writer_free(w);
	return rv;
}

static int
concierge_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct concierge   *c = state;
	agentd_doc         *doc;
	const agentd_value *m;
	const char         *s;
	size_t              slen;
	char                op[16] = "";
	struct turn        *t;

	if (agentd_parse(body, len, &doc) != 0)
		return c->host->reply_error(c->ctx, req, AGENTD_EINVAL,
		    "concierge: the body is not msgpack");
	m = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	if (strcmp(op, "status") == 0) {
		agentd_doc_free(doc);
		return status_reply(c, req);
	}
	if (agentd_get_str(agentd_map_get(m, "session"), &s, &slen) != 0
	    || !shopkit_valid_id(s, slen, SESSION_MAX)
	    || agentd_type_of(agentd_map_get(m, "message")) != AGENTD_T_STR) {
		agentd_doc_free(doc);
		return c->host->reply_error(c->ctx, req, AGENTD_EINVAL,
		    "concierge: {\"session\": 1 to 128 of [A-Za-z0-9_.-], "
		    "\"message\": text}, or {\"op\": \"status\"}");
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	t->c   = c;
	t->req = req;
	memcpy(t->session, s, slen);
	t->message = dup_str(agentd_map_get(m, "message"));
	t->email   = dup_str(agentd_map_get(m, "email"));
	agentd_doc_free(doc);
	if (t->message == NULL) {
		turn_free(t);
		return c->host->reply_error(c->ctx, req, AGENTD_EINVAL,
		    "concierge: \"message\" holds a NUL byte");
	}
	session_load(t);
	ask_llm(t);
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

static int
concierge_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct concierge *c;
	json_t           *tools;

	if (!AGENTD_HOST_HAS(host, state_put_ttl)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "concierge: this host has no state_put_ttl (ABI 1.3 "
		    "needed)");
		return AGENTD_ENOTSUP;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AGENTD_ENOMEM;
	c->ctx  = ctx;
	c->host = host;
	host->setting_string(ctx, "style", &c->style);
	host->setting_string(ctx, "llm_agent", &c->llm_agent);
	host->setting_string(ctx, "llm_route", &c->llm_route);
	host->setting_string(ctx, "catalog_agent", &c->catalog_agent);
	host->setting_int(ctx, "llm_timeout_ms", &c->llm_timeout_ms);
	host->setting_int(ctx, "llm_max_tokens", &c->llm_max_tokens);
	host->setting_int(ctx, "catalog_timeout_ms", &c->catalog_timeout_ms);
	host->setting_int(ctx, "max_tool_rounds", &c->max_tool_rounds);
	host->setting_int(ctx, "session_ttl_ms", &c->session_ttl_ms);
	c->prompt = strcmp(c->style, "plain") == 0 ? prompt_plain
	    : strcmp(c->style, "upsell") == 0      ? prompt_upsell
	                                           : NULL;
	if (c->prompt == NULL || c->llm_agent[0] == '\0'
	    || c->llm_route[0] == '\0' || c->catalog_agent[0] == '\0'
	    || c->llm_timeout_ms < 1 || c->llm_timeout_ms > 600000
	    || c->catalog_timeout_ms < 1 || c->catalog_timeout_ms > 600000
	    || c->llm_max_tokens < 1 || c->max_tool_rounds < 1
	    || c->max_tool_rounds > 16 || c->session_ttl_ms < 1
	    || (uint64_t)c->session_ttl_ms > AGENTD_STATE_TTL_MAX) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "concierge: settings: style is plain or upsell (not "
		    "\"%.40s\"), the agents' names are not empty, the "
		    "timeouts 1 to 600000 ms, max_tool_rounds 1 to 16, "
		    "llm_max_tokens and session_ttl_ms above 0",
		    c->style);
		free(c);
		return AGENTD_ECONFIG;
	}
	tools = json_loads(tools_json, 0, NULL);
	agentd_writer_new(&c->tools);
	jsonkit_write(c->tools, tools); /* once */
	json_decref(tools);
	*state = c;
	return 0;
}

static void
concierge_fini(void *state)
{
	struct concierge *c = state;

	agentd_writer_free(c->tools);
	free(c);
}

/* What other agents find it by (host->find_agents). */
static const char *const concierge_capabilities[] = { "assistant", NULL };

AGENTD_PLUGIN(.name = "concierge", .version = "1.0.0",
    .description = "the shop's assistant: a customer's conversation through "
                   "the llm agent, its tools answered by the catalog",
    .settings = concierge_settings, .init = concierge_init,
    .on_request = concierge_request, .fini = concierge_fini,
    .capabilities = concierge_capabilities);
