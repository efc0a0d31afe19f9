/*
 * The pricing plugin (plugins/pricing) against the mock host: the price
 * it computes, what it proposes, that it applies a price only once its
 * decision is approved (with the approved, possibly modified, parameters)
 * and once per decision id, and the sample product proposed on the first
 * tick.  Linked as a plugin author's test is.
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

static int
load(agentd_mock *m)
{
	const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char        path[512];

	snprintf(path, sizeof(path), "%s/pricing.so",
	    d != NULL ? d : "plugins/.libs");
	return agentd_mock_load(m, path);
}

static agentd_mock *
new_mock(void)
{
	agentd_mock *m;

	if (agentd_mock_new("pricing", &m) != 0)
		return NULL;
	return m;
}

/*
 * Ask for a price: sku, cost, shipping, current price, max_price (< 0:
 * absent).  *doc (caller frees) is the answer; returns the status.
 */
static int
ask_price(agentd_mock *m, const char *sku, double cost, double shipping,
    double current, double max_price, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, max_price >= 0 ? 5 : 4);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "cost");
	agentd_write_double(w, cost);
	agentd_write_str(w, "shipping");
	agentd_write_double(w, shipping);
	agentd_write_str(w, "current_price");
	agentd_write_double(w, current);
	if (max_price >= 0) {
		agentd_write_str(w, "max_price");
		agentd_write_double(w, max_price);
	}
	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

/* {"quote": true, "sku", "cost", "shipping", "max_price" (< 0: absent)};
 * *doc is the answer (caller frees); returns the status. */
static int
ask_quote(agentd_mock *m, const char *sku, double cost, double shipping,
    double max_price, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "quote");
	agentd_write_bool(w, 1);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	if (cost >= 0) {
		agentd_write_str(w, "cost");
		agentd_write_double(w, cost);
	}
	agentd_write_str(w, "shipping");
	agentd_write_double(w, shipping);
	if (max_price >= 0) {
		agentd_write_str(w, "max_price");
		agentd_write_double(w, max_price);
	}
	agentd_write_map_end(w);
	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

static int
field_bool(agentd_doc *doc, const char *key)
{
	int b = -1;

	agentd_get_bool(agentd_map_get(agentd_doc_root(doc), key), &b);
	return b;
}

/* {"get": sku}: the applied price (0 if none) and its applied count. */
static double
applied_price(agentd_mock *m, const char *sku, int64_t *applied)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;
	double         price  = 0;
	agentd_doc    *doc;

	*applied = 0;
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "get");
	agentd_write_str(w, sku);
	body = agentd_writer_data(w, &len);
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0
	    && status == 0 && agentd_parse(reply, rlen, &doc) == 0) {
		agentd_get_double(
		    agentd_map_get(agentd_doc_root(doc), "price"), &price);
		agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "applied"), applied);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return price;
}

static double
field_num(agentd_doc *doc, const char *key)
{
	double v = NAN;

	agentd_get_double(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

static void
field_str(agentd_doc *doc, const char *key, char *buf, size_t size)
{
	buf[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), key), buf, size);
}

/* Events published on topic. */
static size_t
published_on(agentd_mock *m, const char *topic)
{
	size_t      n = 0;
	const char *t;
	const void *b;
	size_t      l;

	for (size_t i = 0; i < agentd_mock_published_count(m); i++)
		if (agentd_mock_published(m, i, &t, &b, &l) == 0
		    && strcmp(t, topic) == 0)
			n++;
	return n;
}

/* Audit records of kind. */
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

static int
near(double a, double b)
{
	return fabs(a - b) < 0.0051;
}

int
main(void)
{
	agentd_mock                *m;
	agentd_doc                 *doc;
	struct agentd_mock_decision d;
	char                        buf[128];
	int64_t                     applied;
	int                         st;

	plan(57);

	/* ---- settings refused at init */
	m = new_mock();
	agentd_mock_setting(m, "target_margin", "0.99");
	is_int(load(m), AGENTD_EPLUGIN,
	    "a target margin that leaves nothing for the costs: init fails");
	agentd_mock_free(m);

	/* ---- a HIGH proposal waits; approval applies it once */
	m = new_mock();
	is_int(load(m), 0, "pricing loads with its default settings");
	st = ask_price(m, "MUG-1", 6.40, 3.10, 12.00, -1, &doc);
	is_int(st, 0, "a request with cost, shipping and current price");
	/* (6.40 + 3.10 + 0.30) / (1 - 0.029 - 0.30) = 14.605 -> 14.61 */
	ok(near(field_num(doc, "price"), 14.61),
	    "the price leaves the target margin after fees (14.61)");
	ok(near(field_num(doc, "amount"), 2.61),
	    "the amount is the change from the current price (2.61)");
	field_str(doc, "type", buf, sizeof(buf));
	is_str(buf, "price.set", "the margin is the target: type price.set");
	field_str(doc, "decision", buf, sizeof(buf));
	is_str(buf, "1", "the reply names the decision");
	agentd_doc_free(doc);
	is_int(
	    (int)agentd_mock_decisions(m), 1, "one proposal reached the gate");
	agentd_mock_decision(m, 0, &d);
	is_str(d.state, "pending",
	    "by the mock's default rule it is high: pending");
	ok(strstr(d.title, "MUG-1") != NULL
	        && strstr(d.title, "14.61") != NULL,
	    "its title names the SKU and the price");
	ok(strstr(d.reasoning, "margin") != NULL, "its reasoning explains it");
	ok(near(d.amount, 2.61) && near(d.confidence, 0.9),
	    "amount 2.61, confidence 0.9");
	agentd_mock_run(m);
	applied_price(m, "MUG-1", &applied);
	is_int((int)applied, 0, "nothing is applied while it is pending");
	is_int((int)published_on(m, "price.changed"), 0, "nor published");

	is_int(agentd_mock_approve(m, "1", "ok"), 0, "a person approves it");
	agentd_mock_run(m);
	ok(near(applied_price(m, "MUG-1", &applied), 14.61),
	    "approved: the price is applied");
	is_int((int)applied, 1, "once");
	is_int((int)published_on(m, "price.changed"), 1,
	    "price.changed is published");
	is_int((int)audits_of(m, "price.set"), 1, "a price.set audit record");
	is_int(agentd_mock_redeliver(m, "1"), 0, "the outcome comes again");
	agentd_mock_run(m);
	applied_price(m, "MUG-1", &applied);
	is_int((int)applied, 1, "delivered twice, applied once");
	is_int((int)published_on(m, "price.changed"), 1, "published once");
	is_int((int)audits_of(m, "price.set"), 1, "audited once");

	/* ---- modified: the modified parameters are applied */
	st = ask_price(m, "CUP-2", 2.00, 1.00, 5.00, -1, &doc);
	agentd_doc_free(doc);
	is_int(st, 0, "a second product");
	{
		agentd_writer *w;
		const void    *p;
		size_t         plen;

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "CUP-2");
		agentd_write_str(w, "price");
		agentd_write_double(w, 6.49);
		agentd_write_str(w, "amount");
		agentd_write_double(w, 1.49);
		p = agentd_writer_data(w, &plen);
		is_int(agentd_mock_modify(m, "2", p, plen, "rounder"), 0,
		    "a person modifies the price to 6.49");
		agentd_writer_free(w);
	}
	agentd_mock_run(m);
	applied_price(m, "CUP-2", &applied);
	is_int((int)applied, 0, "modified but still high: not applied yet");
	is_int(agentd_mock_approve(m, "2", NULL), 0, "then approves it");
	agentd_mock_run(m);
	ok(near(applied_price(m, "CUP-2", &applied), 6.49),
	    "the modified price is the one applied (6.49)");

	/* ---- rejected: nothing applied */
	st = ask_price(m, "BAG-3", 10.00, 2.00, 15.00, -1, &doc);
	agentd_doc_free(doc);
	is_int(
	    agentd_mock_reject(m, "3", "too dear"), 0, "a third is rejected");
	agentd_mock_run(m);
	applied_price(m, "BAG-3", &applied);
	is_int((int)applied, 0, "rejected: not applied");
	is_int((int)published_on(m, "price.changed"), 2, "nor published");

	/* ---- low margin: a ceiling holds the price */
	st = ask_price(m, "MUG-1", 6.40, 3.10, 14.61, 11.00, &doc);
	is_int(st, 0, "a ceiling under the computed price");
	ok(near(field_num(doc, "price"), 11.00), "the price is held at it");
	field_str(doc, "type", buf, sizeof(buf));
	is_str(buf, "price.set.low_margin",
	    "the margin left is under min_margin: price.set.low_margin");
	agentd_doc_free(doc);
	agentd_mock_decision(m, 3, &d);
	ok(near(d.confidence, 0.6), "with a lower confidence (0.6)");

	/* ---- unchanged: nothing proposed */
	st = ask_price(m, "MUG-1", 6.40, 3.10, 14.61, -1, &doc);
	ok(st == 0
	        && agentd_type_of(
	               agentd_map_get(agentd_doc_root(doc), "unchanged"))
	            == AGENTD_T_BOOL,
	    "the price it has already: unchanged");
	agentd_doc_free(doc);
	is_int((int)agentd_mock_decisions(m), 4, "and no proposal");

	/* ---- bad requests */
	st = ask_price(m, "bad sku!", 1, 1, 1, -1, &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EINVAL, "a SKU with a space and ! is refused");
	st = ask_price(m, "X", -1, 1, 1, -1, &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EINVAL, "a negative cost is refused");

	/* ---- quotes: the arithmetic, no proposal (doc/shop-contracts.md) */
	st = ask_quote(m, "LAMP-1", 12, 3, 34, &doc);
	is_int(st, 0,
	    "a quote for the contract's LAMP-1 (cost 12 + 3, market 34)");
	/* (12 + 3 + 0.30) / 0.671 = 22.8018 -> 22.81 (up to the cent);
	 * (22.81 * 0.971 - 15.30) / 22.81 = 0.3002 */
	ok(fabs(field_num(doc, "price") - 22.81) < 1e-9
	        && fabs(field_num(doc, "margin") - 0.3002) < 1e-9,
	    "LAMP-1: 22.81 at a margin of 0.3002");
	ok(field_bool(doc, "low_margin") == 0 && field_bool(doc, "held") == 0,
	    "LAMP-1: not low_margin, not held");
	field_str(doc, "sku", buf, sizeof(buf));
	is_str(buf, "LAMP-1", "the quote names its SKU");
	agentd_doc_free(doc);
	st = ask_quote(m, "MUG-9", 6, 3, 9.50, &doc);
	/* 13.86 held at 9.50: (9.50 * 0.971 - 9.30) / 9.50 = -0.0079 */
	ok(st == 0 && near(field_num(doc, "price"), 9.50)
	        && fabs(field_num(doc, "margin") + 0.0079) < 1e-9,
	    "MUG-9: market_price 9.50 holds the price, margin -0.0079");
	ok(field_bool(doc, "low_margin") == 1 && field_bool(doc, "held") == 1,
	    "MUG-9: low_margin and held");
	agentd_doc_free(doc);
	st = ask_quote(m, "ESP-3", 180, 20, -1, &doc);
	/* (180 + 20 + 0.30) / 0.671 = 298.5097 -> 298.51 */
	ok(st == 0 && near(field_num(doc, "price"), 298.51)
	        && field_bool(doc, "held") == 0,
	    "ESP-3: 298.51, no ceiling");
	agentd_doc_free(doc);
	st = ask_quote(m, "ESP-3", -1, 20, -1, &doc);
	is_int(st, AGENTD_EINVAL, "a quote without a cost: EINVAL");
	agentd_doc_free(doc);
	{
		agentd_writer *w;
		const void    *body, *reply;
		size_t         len, rlen;

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "quote");
		agentd_write_str(w, "yes");
		agentd_write_str(w, "sku");
		agentd_write_str(w, "A");
		agentd_write_str(w, "cost");
		agentd_write_int(w, 1);
		body = agentd_writer_data(w, &len);
		agentd_mock_request(m, body, len, &reply, &rlen, &st);
		agentd_parse(reply, rlen, &doc);
		field_str(doc, "error", buf, sizeof(buf));
		ok(st == AGENTD_EINVAL && strstr(buf, "\"quote\"") != NULL,
		    "\"quote\" that is not a boolean: EINVAL naming it");
		agentd_doc_free(doc);
		agentd_writer_free(w);
	}
	is_int((int)agentd_mock_decisions(m), 4, "quotes propose nothing");

	/* ---- LOW: applied at once */
	agentd_mock_policy(m, "price.set.low_margin", "high");
	agentd_mock_policy(m, "price.set", "low");
	st = ask_price(m, "PEN-4", 1.00, 0.50, 2.00, -1, &doc);
	agentd_doc_free(doc);
	is_int(st, 0, "a low-risk proposal");
	agentd_mock_run(m);
	/* (1.00 + 0.50 + 0.30) / 0.671 = 2.6825 -> 2.69 */
	ok(near(applied_price(m, "PEN-4", &applied), 2.69),
	    "low: applied at once, without a person (2.69)");
	is_int((int)applied, 1, "once");
	agentd_mock_free(m);

	/* ---- the sample product, on the first tick, once */
	m = new_mock();
	agentd_mock_setting(m, "sample_product", "DEMO-MUG:6.40:3.10:12.00");
	is_int(load(m), 0, "pricing loads with a sample product");
	is_int(agentd_mock_tick(m), 0, "a tick");
	agentd_mock_run(m);
	agentd_mock_tick(m);
	agentd_mock_run(m);
	is_int((int)agentd_mock_decisions(m), 1,
	    "the sample product is proposed once, however many ticks");
	agentd_mock_decision(m, 0, &d);
	ok(strcmp(d.state, "pending") == 0
	        && strstr(d.title, "DEMO-MUG") != NULL,
	    "a pending decision about it");
	agentd_mock_free(m);

	m = new_mock();
	agentd_mock_setting(m, "sample_product", "DEMO-MUG:6.40:3.10:12.00");
	load(m);
	{
		agentd_ctx               *ctx;
		const struct agentd_host *h = agentd_mock_host(m, &ctx);

		h->state_put(ctx, "sample/proposed", 15, "7", 1);
	}
	agentd_mock_tick(m);
	agentd_mock_run(m);
	is_int((int)agentd_mock_decisions(m), 0,
	    "not again once its state says it was proposed (a restart)");
	agentd_mock_free(m);

	return done_testing();
}
