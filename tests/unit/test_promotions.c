/*
 * The promotions plugin (plugins/promotions) against the mock host, with
 * the llm agent played by a call handler: an idea asked as JSON on
 * stock.slow, promotion.create proposed and applied once on its decision
 * (promotion.started), promotion.pause on stock.low, and the failures:
 * llm down, an answer that is not the JSON asked for, a rejected
 * decision, events and outcomes delivered twice.  Linked as a plugin
 * author's test is.
 */
#define _GNU_SOURCE

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

/* How the llm agent answers. */
enum llm_mode { LLM_OK, LLM_DOWN, LLM_BAD, LLM_GREEDY };

struct llm {
	enum llm_mode mode;
	int           calls;
	int           asked_json; /* response_format and "promotion" */
	char          route[32];
};

static int
llm(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct llm         *l = arg;
	agentd_doc         *doc;
	const agentd_value *r, *sys;
	const char         *s;
	size_t              n;
	char                text[256];

	(void)agent;
	l->calls++;
	if (agentd_parse(body, len, &doc) == 0) {
		r   = agentd_doc_root(doc);
		sys = agentd_map_get(
		    agentd_array_at(agentd_map_get(r, "messages"), 0),
		    "content");
		agentd_get_strcpy(
		    agentd_map_get(r, "route"), l->route, sizeof(l->route));
		l->asked_json = agentd_map_get(r, "response_format") != NULL
		    && agentd_get_str(sys, &s, &n) == 0
		    && memmem(s, n, "promotion", 9) != NULL;
		agentd_doc_free(doc);
	}
	if (l->mode == LLM_DOWN)
		return AGENTD_EUNAVAIL;
	snprintf(text, sizeof(text), "%s",
	    l->mode == LLM_BAD ? "Sure! A spring sale would be great."
	        : l->mode == LLM_GREEDY
	        ? "{\"title\": \"Everything must go\", \"discount\": 0.9, "
	          "\"reason\": \"why not\"}"
	        : "{\"title\": \"Candle week\", \"discount\": 0.15, "
	          "\"reason\": \"40 candles have not sold for a week\"}");
	agentd_write_map(reply, 2);
	agentd_write_str(reply, "text");
	agentd_write_str(reply, text);
	agentd_write_str(reply, "provider");
	agentd_write_str(reply, "primary");
	return 0;
}

static agentd_mock *
load(struct llm *l, const char *risk)
{
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];
	agentd_mock *m;

	snprintf(path, sizeof(path), "%s/promotions.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("promotions", &m);
	agentd_mock_on_call(m, "llm", llm, l);
	agentd_mock_policy(m, "promotion", risk);
	if (agentd_mock_load(m, path) != 0)
		diag("load: %s", agentd_mock_errmsg(m));
	return m;
}

static void
stock_event(agentd_mock *m, const char *topic, const char *sku, int stock)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "stock");
	agentd_write_int(w, stock);
	agentd_write_str(
	    w, strcmp(topic, "stock.slow") == 0 ? "idle_ms" : "threshold");
	agentd_write_int(w, strcmp(topic, "stock.slow") == 0 ? 604800000 : 5);
	b = agentd_writer_data(w, &n);
	agentd_mock_event(m, topic, b, n);
	agentd_writer_free(w);
	agentd_mock_run(m);
}

static size_t
published_on(agentd_mock *m, const char *topic, agentd_doc **last)
{
	size_t      k = 0;
	const char *t;
	const void *b;
	size_t      l;

	for (size_t i = 0; i < agentd_mock_published_count(m); i++)
		if (agentd_mock_published(m, i, &t, &b, &l) == 0
		    && strcmp(t, topic) == 0) {
			k++;
			if (last != NULL) {
				agentd_doc_free(*last);
				*last = NULL;
				agentd_parse(b, l, last);
			}
		}
	return k;
}

static size_t
audits_of(agentd_mock *m, const char *kind)
{
	size_t      n = 0;
	const char *k, *s;
	const void *d;
	size_t      l;

	for (size_t i = 0; i < agentd_mock_audit_count(m); i++)
		if (agentd_mock_audit(m, i, &k, &s, &d, &l) == 0
		    && strcmp(k, kind) == 0)
			n++;
	return n;
}

/* {"op": "ideas", "sku", "stock", "propose"}; answer into *doc. */
static int
ideas(agentd_mock *m, const char *sku, int propose, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *b, *rep;
	size_t         n, rlen;
	int            st = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "op");
	agentd_write_str(w, "ideas");
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "stock");
	agentd_write_int(w, 40);
	agentd_write_str(w, "propose");
	agentd_write_bool(w, propose);
	b    = agentd_writer_data(w, &n);
	*doc = NULL;
	if (agentd_mock_request(m, b, n, &rep, &rlen, &st) == 0)
		agentd_parse(rep, rlen, doc);
	agentd_writer_free(w);
	return st;
}

/* The state of SKU's promotion in {"op": "list"}, or "" if none. */
static const char *
state_of(agentd_mock *m, const char *sku)
{
	static char    state[32];
	agentd_writer *w;
	const void    *b, *rep;
	size_t         n, rlen;
	int            st;
	agentd_doc    *doc;

	state[0] = '\0';
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "op");
	agentd_write_str(w, "list");
	b = agentd_writer_data(w, &n);
	if (agentd_mock_request(m, b, n, &rep, &rlen, &st) == 0 && st == 0
	    && agentd_parse(rep, rlen, &doc) == 0) {
		const agentd_value *l
		    = agentd_map_get(agentd_doc_root(doc), "promotions");
		for (size_t i = 0; i < agentd_len(l); i++) {
			char s[80] = "";

			agentd_get_strcpy(
			    agentd_map_get(agentd_array_at(l, i), "sku"), s,
			    sizeof(s));
			if (strcmp(s, sku) == 0)
				agentd_get_strcpy(
				    agentd_map_get(
				        agentd_array_at(l, i), "state"),
				    state, sizeof(state));
		}
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return state;
}

static double
num(agentd_doc *doc, const char *key)
{
	double v = NAN;

	agentd_get_double(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

int
main(void)
{
	struct llm                  l = { 0 };
	agentd_mock                *m;
	agentd_doc                 *doc = NULL;
	struct agentd_mock_decision d;
	char                        buf[128];

	plan(33);

	/* ---- settings refused at init */
	agentd_mock_new("promotions", &m);
	agentd_mock_setting(m, "max_discount", "1.5");
	{
		const char *dir = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/promotions.so",
		    dir != NULL ? dir : "plugins/.libs");
		is_int(agentd_mock_load(m, path), AGENTD_EPLUGIN,
		    "max_discount 1.5: init fails");
	}
	ok(strstr(agentd_mock_last_log(m, NULL), "max_discount") != NULL,
	    "...naming the setting in one line");
	agentd_mock_free(m);

	/* ---- stock.slow: an idea, proposed, medium: started */
	m = load(&l, "medium");
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	ok(l.calls == 1 && l.asked_json && strcmp(l.route, "ideas") == 0,
	    "stock.slow: llm asked (route ideas) for a promotion as JSON");
	is_int((int)agentd_mock_decisions(m), 1, "one proposal");
	agentd_mock_decision(m, 0, &d);
	ok(strcmp(d.type, "promotion.create") == 0
	        && fabs(d.amount - 0.15) < 1e-9
	        && strstr(d.title, "CANDLE-2") != NULL
	        && strstr(d.reasoning, "40 candles") != NULL,
	    "promotion.create, amount the discount share 0.15, title and "
	    "reasoning from the idea");
	ok(strcmp(d.state, "approved") == 0,
	    "medium by the shipped rule: approved at once");
	ok(published_on(m, "promotion.started", &doc) == 1
	        && fabs(num(doc, "discount") - 0.15) < 1e-9,
	    "promotion.started published with its discount");
	agentd_doc_free(doc);
	doc = NULL;
	is_int((int)audits_of(m, "promotion.started"), 1, "...and audited");
	is_str(state_of(m, "CANDLE-2"), "active", "list: the promotion runs");
	is_int(agentd_mock_redeliver(m, "1"), 0, "the outcome comes again");
	agentd_mock_run(m);
	ok(published_on(m, "promotion.started", NULL) == 1
	        && audits_of(m, "promotion.started") == 1,
	    "delivered twice: started once");
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	ok(l.calls == 1 && agentd_mock_decisions(m) == 1,
	    "stock.slow again while it runs: nothing asked, nothing proposed");

	/* ---- stock.low: a pause */
	stock_event(m, "stock.low", "CANDLE-2", 3);
	is_int((int)agentd_mock_decisions(m), 2, "stock.low: a proposal");
	agentd_mock_decision(m, 1, &d);
	ok(strcmp(d.type, "promotion.pause") == 0
	        && strcmp(d.state, "approved") == 0,
	    "promotion.pause, medium: approved");
	is_str(state_of(m, "CANDLE-2"), "paused", "the promotion is paused");
	is_int((int)audits_of(m, "promotion.paused"), 1, "...audited");
	stock_event(m, "stock.low", "CANDLE-2", 2);
	is_int((int)agentd_mock_decisions(m), 2,
	    "stock.low again: paused already, nothing proposed");
	stock_event(m, "stock.low", "LAMP-1", 2);
	is_int((int)agentd_mock_decisions(m), 2,
	    "stock.low of a SKU without a promotion: nothing to pause");

	/* ---- ideas on request */
	is_int(ideas(m, "MUG-9", 0, &doc), 0, "ideas, propose false");
	buf[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "title"), buf, sizeof(buf));
	ok(strcmp(buf, "Candle week") == 0 && agentd_mock_decisions(m) == 2,
	    "...answers the idea and proposes nothing");
	agentd_doc_free(doc);
	l.mode = LLM_GREEDY;
	is_int(ideas(m, "MUG-9", 1, &doc), 0, "ideas, proposed");
	ok(fabs(num(doc, "discount") - 0.5) < 1e-9
	        && agentd_mock_decisions(m) == 3,
	    "a discount of 0.9 is held at max_discount 0.5, and proposed");
	agentd_doc_free(doc);
	doc = NULL;
	agentd_mock_free(m);

	/* ---- the failures */
	l = (struct llm) { .mode = LLM_DOWN };
	m = load(&l, "high");
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	ok(l.calls == 1 && agentd_mock_decisions(m) == 0
	        && strstr(agentd_mock_last_log(m, NULL), "EUNAVAIL") != NULL,
	    "llm down: nothing proposed, logged with its error");
	is_int(ideas(m, "CANDLE-2", 1, &doc), AGENTD_EUNAVAIL,
	    "ideas with llm down: EUNAVAIL");
	agentd_doc_free(doc);
	l.mode = LLM_BAD;
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	ok(agentd_mock_decisions(m) == 0
	        && strstr(agentd_mock_last_log(m, NULL), "not {") != NULL,
	    "an answer that is not the JSON asked for: nothing proposed");
	is_int(ideas(m, "CANDLE-2", 1, &doc), AGENTD_EPROTO,
	    "...and ideas is EPROTO");
	agentd_doc_free(doc);
	doc = NULL;
	is_str(state_of(m, "CANDLE-2"), "",
	    "no state is left: the next stock.slow asks again");

	/* ---- rejected */
	l.mode = LLM_OK;
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	agentd_mock_decision(m, 0, &d);
	ok(agentd_mock_decisions(m) == 1 && strcmp(d.state, "pending") == 0,
	    "high: the proposal waits for a person");
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	is_int((int)agentd_mock_decisions(m), 1,
	    "stock.slow delivered again while it waits: proposed once");
	is_int(
	    agentd_mock_reject(m, "1", "not now"), 0, "a person rejects it");
	agentd_mock_run(m);
	ok(published_on(m, "promotion.started", NULL) == 0
	        && strcmp(state_of(m, "CANDLE-2"), "") == 0,
	    "rejected: not started, no promotion kept");
	agentd_mock_redeliver(m, "1");
	agentd_mock_run(m);
	stock_event(m, "stock.slow", "CANDLE-2", 40);
	is_int((int)agentd_mock_decisions(m), 2,
	    "the next stock.slow may propose again");
	{
		agentd_writer *w;
		const void    *p;
		size_t         plen;

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "CANDLE-2");
		agentd_write_str(w, "discount");
		agentd_write_double(w, 0.10);
		agentd_write_str(w, "title");
		agentd_write_str(w, "Candle days");
		p = agentd_writer_data(w, &plen);
		agentd_mock_modify(m, "2", p, plen, "less");
		agentd_writer_free(w);
	}
	agentd_mock_approve(m, "2", NULL);
	agentd_mock_run(m);
	ok(published_on(m, "promotion.started", &doc) == 1
	        && fabs(num(doc, "discount") - 0.10) < 1e-9,
	    "modified, then approved: started with the person's discount");
	agentd_doc_free(doc);
	agentd_mock_free(m);
	return done_testing();
}
