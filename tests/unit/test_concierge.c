/*
 * The concierge plugin (plugins/concierge) against the mock host: the llm
 * agent played by a script of answers (tool calls or text), the catalog
 * by a handler.  A purchase in three tool rounds (search, add, checkout:
 * a conversion), what reaches the model each round (the system prompt of
 * the style and the message, then only the turn's new messages: the
 * conversation is the llm agent's), and the failures: llm down, at
 * the start and mid-turn, arguments that are not JSON, the catalog
 * failing, too many tool rounds.  Linked as a plugin author's test is.
 */
#define _GNU_SOURCE

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

#define KEEP 16

/* One answer of the model: a text, or one tool call; down: EUNAVAIL. */
struct answer {
	const char *text, *call, *args;
	int         down;
};

struct script {
	const struct answer *answers;
	size_t               n, next;
	void                *bodies[KEEP]; /* the requests, as sent */
	size_t               lens[KEEP], kept;
};

static void
keep(struct script *s, const void *body, size_t len)
{
	if (s->kept < KEEP) {
		s->bodies[s->kept] = malloc(len);
		memcpy(s->bodies[s->kept], body, len);
		s->lens[s->kept++] = len;
	}
}

static void
script_reset(struct script *s, const struct answer *a, size_t n)
{
	for (size_t i = 0; i < s->kept; i++)
		free(s->bodies[i]);
	memset(s, 0, sizeof(*s));
	s->answers = a;
	s->n       = n;
}

static int
llm(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct script       *s = arg;
	const struct answer *a;
	char                 id[16];

	(void)agent;
	keep(s, body, len);
	a = &s->answers[s->next < s->n ? s->next : s->n - 1];
	s->next++;
	if (a->down)
		return AGENTD_EUNAVAIL;
	snprintf(id, sizeof(id), "c%zu", s->next);
	agentd_write_map(reply, 3);
	agentd_write_str(reply, "text");
	agentd_write_str(reply, a->text != NULL ? a->text : "");
	agentd_write_str(reply, "tool_calls");
	if (a->call == NULL) {
		agentd_write_array(reply, 0);
	} else {
		agentd_write_array(reply, 1);
		agentd_write_map(reply, 3);
		agentd_write_str(reply, "id");
		agentd_write_str(reply, id);
		agentd_write_str(reply, "name");
		agentd_write_str(reply, a->call);
		agentd_write_str(reply, "arguments");
		agentd_write_str(reply, a->args != NULL ? a->args : "{}");
	}
	agentd_write_str(reply, "provider");
	agentd_write_str(reply, "primary");
	return 0;
}

/* The catalog: search, cart.add, cart.view, checkout; *arg non-zero:
 * down. */
struct catalog {
	int  down, calls;
	char ops[256];
	char email[64], cart[64];
};

static int
catalog(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct catalog     *c = arg;
	agentd_doc         *doc;
	const agentd_value *m;
	char                op[32] = "";

	(void)agent;
	c->calls++;
	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	m = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	snprintf(c->ops + strlen(c->ops), sizeof(c->ops) - strlen(c->ops),
	    "%s%s", c->ops[0] != '\0' ? "," : "", op);
	agentd_get_strcpy(agentd_map_get(m, "cart"), c->cart, sizeof(c->cart));
	agentd_get_strcpy(
	    agentd_map_get(m, "email"), c->email, sizeof(c->email));
	agentd_doc_free(doc);
	if (c->down)
		return AGENTD_EUNAVAIL;
	if (strcmp(op, "search") == 0) {
		agentd_write_map(reply, 1);
		agentd_write_str(reply, "products");
		agentd_write_array(reply, 1);
		agentd_write_map(reply, 4);
		agentd_write_str(reply, "sku");
		agentd_write_str(reply, "LAMP-1");
		agentd_write_str(reply, "title");
		agentd_write_str(reply, "Desk lamp");
		agentd_write_str(reply, "price");
		agentd_write_double(reply, 22.80);
		agentd_write_str(reply, "stock");
		agentd_write_int(reply, 8);
	} else if (strcmp(op, "checkout") == 0) {
		agentd_write_map(reply, 2);
		agentd_write_str(reply, "order_id");
		agentd_write_int(reply, 1001);
		agentd_write_str(reply, "total");
		agentd_write_double(reply, 22.80);
	} else {
		agentd_write_map(reply, 1);
		agentd_write_str(reply, "cart");
		agentd_write_str(reply, "s-1");
	}
	return 0;
}

static agentd_mock *
load(
    struct script *s, struct catalog *c, const char *style, const char *rounds)
{
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];
	agentd_mock *m;

	snprintf(path, sizeof(path), "%s/concierge.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("concierge", &m);
	agentd_mock_on_call(m, "llm", llm, s);
	agentd_mock_on_call(m, "catalog", catalog, c);
	if (style != NULL)
		agentd_mock_setting(m, "style", style);
	if (rounds != NULL)
		agentd_mock_setting(m, "max_tool_rounds", rounds);
	if (agentd_mock_load(m, path) != 0)
		diag("load: %s", agentd_mock_errmsg(m));
	return m;
}

/* One turn: {"session", "message", "email"}; the answer into *doc. */
static int
say(agentd_mock *m, const char *session, const char *message, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *b, *rep;
	size_t         n, rlen;
	int            st = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "session");
	agentd_write_str(w, session);
	agentd_write_str(w, "message");
	agentd_write_str(w, message);
	agentd_write_str(w, "email");
	agentd_write_str(w, "ann@example.com");
	b    = agentd_writer_data(w, &n);
	*doc = NULL;
	if (agentd_mock_request(m, b, n, &rep, &rlen, &st) == 0)
		agentd_parse(rep, rlen, doc);
	agentd_writer_free(w);
	return st;
}

static const char *
str(agentd_doc *doc, const char *key)
{
	static char buf[256];

	buf[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), key), buf, sizeof(buf));
	return buf;
}

static int64_t
num(agentd_doc *doc, const char *key)
{
	int64_t v = -1;

	agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

/* The names in the reply's "tools", joined by commas. */
static const char *
tools_of(agentd_doc *doc)
{
	static char         buf[256];
	const agentd_value *t = agentd_map_get(agentd_doc_root(doc), "tools");

	buf[0] = '\0';
	for (size_t i = 0; i < agentd_len(t); i++) {
		char name[64] = "";

		agentd_get_strcpy(agentd_array_at(t, i), name, sizeof(name));
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		    i > 0 ? "," : "", name);
	}
	return buf;
}

/*
 * Request i the model got, in words: "CONV: ROLE,ROLE..." with a tool
 * message as "tool(ID)" and a system message as "system(style)" where
 * the upsell prompt's "suggest" is in it.
 */
static const char *
asked(struct script *s, size_t i)
{
	static char         buf[512];
	agentd_doc         *doc;
	const agentd_value *r, *ms;
	char                conv[64] = "";

	buf[0] = '\0';
	if (i >= s->kept || agentd_parse(s->bodies[i], s->lens[i], &doc) != 0)
		return buf;
	r  = agentd_doc_root(doc);
	ms = agentd_map_get(r, "messages");
	agentd_get_strcpy(
	    agentd_map_get(r, "conversation"), conv, sizeof(conv));
	snprintf(buf, sizeof(buf), "%s%s:", conv,
	    agentd_len(agentd_map_get(r, "tools")) == 4 ? "" : "(no tools)");
	for (size_t k = 0; k < agentd_len(ms); k++) {
		const agentd_value *e        = agentd_array_at(ms, k);
		char                role[16] = "", id[16] = "";
		const char         *c;
		size_t              cl;

		agentd_get_strcpy(
		    agentd_map_get(e, "role"), role, sizeof(role));
		agentd_get_strcpy(
		    agentd_map_get(e, "tool_call_id"), id, sizeof(id));
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		    k > 0 ? "," : "", role);
		if (id[0] != '\0')
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			    "(%s%s)", id,
			    agentd_map_get(
			        agentd_map_get(e, "content"), "error")
			            != NULL
			        ? ":error"
			        : "");
		if (strcmp(role, "system") == 0
		    && agentd_get_str(agentd_map_get(e, "content"), &c, &cl)
		        == 0)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			    "(%s)",
			    memmem(c, cl, "suggest", 7) != NULL ? "upsell"
			                                        : "plain");
	}
	agentd_doc_free(doc);
	return buf;
}

static const struct answer buy[] = {
	{ NULL, "search_products", "{\"query\": \"lamp\"}", 0 },
	{ NULL, "add_to_cart", "{\"sku\": \"LAMP-1\", \"quantity\": 1}", 0 },
	{ NULL, "checkout", "{}", 0 },
	{ "Your order 1001 is placed. [turns 1]", NULL, NULL, 0 },
	{ "You are welcome. [turns 2]", NULL, NULL, 0 },
};
static const struct answer look[] = {
	{ NULL, "search_products", "{\"query\": \"lamp\"}", 0 },
	{ "Sorry, the catalog is closed. [turns 1]", NULL, NULL, 0 },
};
static const struct answer bad_args[] = {
	{ NULL, "add_to_cart", "{\"sku\": LAMP", 0 },
	{ "Which product? [turns 1]", NULL, NULL, 0 },
};
static const struct answer loop[] = {
	{ NULL, "search_products", "{\"query\": \"lamp\"}", 0 },
};
static const struct answer down[]     = { { NULL, NULL, NULL, 1 } };
static const struct answer mid_down[] = {
	{ NULL, "search_products", "{\"query\": \"lamp\"}", 0 },
	{ NULL, NULL, NULL, 1 },
	{ "Hello again. [turns 1]", NULL, NULL, 0 },
};

int
main(void)
{
	struct script  s = { 0 };
	struct catalog c = { 0 };
	agentd_mock   *m;
	agentd_doc    *doc;
	int            st;

	plan(34);

	/* ---- settings refused at init */
	m = load(&s, &c, "loud", NULL);
	ok(agentd_mock_last_log(m, NULL) != NULL
	        && strstr(agentd_mock_last_log(m, NULL), "loud") != NULL,
	    "style \"loud\": init refuses it, naming it in one line");
	agentd_mock_free(m);

	/* ---- a purchase */
	script_reset(&s, buy, 5);
	m  = load(&s, &c, NULL, NULL);
	st = say(m, "s-1", "I want to buy a desk lamp", &doc);
	is_int(st, 0, "a turn that buys");
	is_str(str(doc, "text"), "Your order 1001 is placed. [turns 1]",
	    "the model's last text is the answer");
	is_str(tools_of(doc), "search_products,add_to_cart,checkout",
	    "the tools called, in order");
	ok(strcmp(str(doc, "order"), "1001") == 0 && num(doc, "rounds") == 3,
	    "the order placed, in three tool rounds");
	is_str(str(doc, "style"), "plain", "the style that answered");
	agentd_doc_free(doc);
	is_str(asked(&s, 0), "s-1:system(plain),user",
	    "the model is asked first with the plain prompt and the "
	    "message, conversation = session, the four tools");
	is_str(asked(&s, 1), "s-1:tool(c1)",
	    "then with only the round's result: the llm agent keeps the "
	    "rest");
	is_str(asked(&s, 3), "s-1:tool(c3)", "...each round");
	ok(strcmp(c.ops, "search,cart.add,checkout") == 0
	        && strcmp(c.cart, "s-1") == 0
	        && strcmp(c.email, "ann@example.com") == 0,
	    "the catalog got search, cart.add and checkout for the "
	    "session's cart and the customer's email");
	st = say(m, "s-1", "thanks", &doc);
	ok(st == 0
	        && strcmp(str(doc, "text"), "You are welcome. [turns 2]") == 0
	        && agentd_type_of(
	               agentd_map_get(agentd_doc_root(doc), "order"))
	            == AGENTD_T_NIL,
	    "the next turn: no tools, no order");
	agentd_doc_free(doc);
	is_str(asked(&s, 4), "s-1:system(plain),user",
	    "...its prompt sent again with the message (the llm agent keeps "
	    "one)");
	{
		agentd_writer *w;
		const void    *b, *rep;
		size_t         n, rlen;

		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "op");
		agentd_write_str(w, "status");
		b = agentd_writer_data(w, &n);
		agentd_mock_request(m, b, n, &rep, &rlen, &st);
		agentd_parse(rep, rlen, &doc);
		agentd_writer_free(w);
	}
	ok(num(doc, "conversions") == 1 && num(doc, "turns") == 2
	        && num(doc, "tool_calls") == 3,
	    "status: one conversion in two turns, three tool calls");
	agentd_doc_free(doc);
	{
		agentd_ctx               *ctx;
		const struct agentd_host *h = agentd_mock_host(m, &ctx);
		void                     *v;
		size_t                    vl;
		agentd_doc               *sd;
		int64_t                   conv = -1;

		if (h->state_get(ctx, "session/s-1", 11, &v, &vl) == 0) {
			agentd_parse(v, vl, &sd);
			agentd_get_int(
			    agentd_map_get(agentd_doc_root(sd), "conversions"),
			    &conv);
			agentd_doc_free(sd);
			h->free(v);
		}
		is_int((int)conv, 1, "the session keeps its conversions");
	}
	{
		int exists = 0;

		ok(agentd_mock_counter(m, "conversions", &exists) == 1 && exists,
		    "host->count: one conversion for the generation");
	}
	agentd_mock_free(m);

	/* ---- the other style */
	script_reset(&s, buy + 4, 1);
	m = load(&s, &c, "upsell", NULL);
	say(m, "s-2", "hello", &doc);
	is_str(str(doc, "style"), "upsell", "style upsell answers");
	agentd_doc_free(doc);
	is_str(asked(&s, 0), "s-2:system(upsell),user",
	    "...with its own system prompt");
	agentd_mock_free(m);

	/* ---- the catalog down */
	script_reset(&s, look, 2);
	memset(&c, 0, sizeof(c));
	c.down = 1;
	m      = load(&s, &c, NULL, NULL);
	st     = say(m, "s-3", "a lamp?", &doc);
	ok(st == 0
	        && strcmp(str(doc, "text"),
	               "Sorry, the catalog is closed. [turns 1]")
	            == 0
	        && strcmp(tools_of(doc), "search_products") == 0,
	    "the catalog failing: the model is told, and answers");
	agentd_doc_free(doc);
	is_str(asked(&s, 1), "s-3:tool(c1:error)",
	    "...the tool's result is an error");
	agentd_mock_free(m);

	/* ---- arguments that are not JSON */
	script_reset(&s, bad_args, 2);
	memset(&c, 0, sizeof(c));
	m  = load(&s, &c, NULL, NULL);
	st = say(m, "s-4", "add it", &doc);
	ok(st == 0 && c.calls == 0
	        && strcmp(str(doc, "text"), "Which product? [turns 1]") == 0,
	    "a call whose arguments are not JSON: not sent to the catalog");
	agentd_doc_free(doc);
	is_str(asked(&s, 1), "s-4:tool(c1:error)",
	    "...answered to the model as an error");
	agentd_mock_free(m);

	/* ---- too many rounds */
	script_reset(&s, loop, 1);
	memset(&c, 0, sizeof(c));
	m  = load(&s, &c, NULL, "2");
	st = say(m, "s-5", "lamps lamps lamps", &doc);
	ok(st == 0 && num(doc, "rounds") == 2 && c.calls == 2,
	    "a model that keeps calling: two rounds run (max_tool_rounds)");
	is_str(
	    str(doc, "stopped"), "max_tool_rounds", "...the answer says so");
	ok(strlen(str(doc, "text")) > 0, "...with a text for the customer");
	agentd_doc_free(doc);
	is_str(asked(&s, 3), "s-5:tool(c3:error)",
	    "the third round's call is answered \"not run\"");
	script_reset(&s, buy + 4, 1);
	say(m, "s-5", "hello?", &doc);
	agentd_doc_free(doc);
	is_str(asked(&s, 0), "s-5.1:system(plain),user",
	    "its calls left unanswered, the next turn starts a new "
	    "conversation");
	agentd_mock_free(m);

	/* ---- llm down */
	script_reset(&s, down, 1);
	memset(&c, 0, sizeof(c));
	m  = load(&s, &c, NULL, NULL);
	st = say(m, "s-6", "hello", &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EUNAVAIL, "llm down: EUNAVAIL");
	ok(strstr(agentd_mock_last_log(m, NULL), "llm did not answer") != NULL,
	    "...logged");
	agentd_mock_free(m);

	script_reset(&s, mid_down, 3);
	m  = load(&s, &c, NULL, NULL);
	st = say(m, "s-7", "a lamp", &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EUNAVAIL, "llm down in the middle of a turn");
	st = say(m, "s-7", "hello", &doc);
	ok(st == 0 && strcmp(str(doc, "text"), "Hello again. [turns 1]") == 0,
	    "the next turn is answered");
	agentd_doc_free(doc);
	is_str(asked(&s, 2), "s-7.1:system(plain),user",
	    "...in a new conversation: the old one holds a call without "
	    "its result");
	agentd_mock_free(m);

	/* ---- bad requests */
	script_reset(&s, down, 1);
	m = load(&s, &c, NULL, NULL);
	{
		agentd_writer *w;
		const void    *b, *rep;
		size_t         n, rlen;

		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "message");
		agentd_write_str(w, "hi");
		b = agentd_writer_data(w, &n);
		agentd_mock_request(m, b, n, &rep, &rlen, &st);
		agentd_writer_free(w);
	}
	is_int(st, AGENTD_EINVAL, "a turn without a session: EINVAL");
	st = say(m, "bad session!", "hi", &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EINVAL, "a session with a space and !: EINVAL");
	is_int((int)s.kept, 0, "...and the model is not asked");
	agentd_mock_free(m);
	script_reset(&s, NULL, 0);
	return done_testing();
}
