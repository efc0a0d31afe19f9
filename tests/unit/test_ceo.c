/*
 * The ceo plugin (plugins/ceo) against the mock host, on the contract's
 * scenarios with its numbers (doc/shop-contracts.md) and the shipped
 * settings: LAMP-1 approved, MUG-9 rejected for its margin, ESP-3
 * escalated for its price, CASE-7 rejected when its supplier fails
 * vetting (request and event); the rationale asked of the llm agent
 * (played by the mock's call handler) and its failure; the decision
 * audit records, the kept decisions, ceo.alert, and bad requests.
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

/* The llm agent: what it was asked, and whether it fails. */
struct llm {
	int  fail; /* an agentd_error to answer with */
	int  calls;
	char route[64], system[512], user[2048];
	long max_tokens;
};

static int
llm(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct llm         *l = arg;
	agentd_doc         *doc;
	const agentd_value *msgs;
	char                text[2200];
	int64_t             mt = 0;

	(void)agent;
	l->calls++;
	l->route[0] = l->system[0] = l->user[0] = '\0';
	if (agentd_parse(body, len, &doc) == 0) {
		msgs = agentd_map_get(agentd_doc_root(doc), "messages");
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "route"), l->route,
		    sizeof(l->route));
		agentd_get_strcpy(
		    agentd_map_get(agentd_array_at(msgs, 0), "content"),
		    l->system, sizeof(l->system));
		agentd_get_strcpy(
		    agentd_map_get(agentd_array_at(msgs, 1), "content"),
		    l->user, sizeof(l->user));
		agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "max_tokens"), &mt);
		agentd_doc_free(doc);
	}
	l->max_tokens = (long)mt;
	if (l->fail != 0)
		return l->fail;
	snprintf(text, sizeof(text), "Rationale: %s", l->user);
	agentd_write_map(reply, 2);
	agentd_write_str(reply, "text");
	agentd_write_str(reply, text);
	agentd_write_str(reply, "provider");
	agentd_write_str(reply, "fake");
	return 0;
}

static const char *
so_path(void)
{
	static char path[512];
	const char *d = getenv("AGENTD_BUNDLED_PLUGINS");

	snprintf(
	    path, sizeof(path), "%s/ceo.so", d != NULL ? d : "plugins/.libs");
	return path;
}

static int
load_with(const char *name, const char *value, char *log, size_t size)
{
	agentd_mock *m;
	const char  *l;
	int          rv;

	agentd_mock_new("ceo", &m);
	agentd_mock_setting(m, name, value);
	rv = agentd_mock_load(m, so_path());
	l  = agentd_mock_last_log(m, NULL);
	snprintf(log, size, "%s", l != NULL ? l : "");
	agentd_mock_free(m);
	return rv;
}

/* One evaluate request's parts; score NAN: none; reason NULL: none. */
struct ev {
	const char *sku;
	double      score;
	int         passed;
	const char *reason;
	double      price, margin;
	const char *quote_sku; /* NULL: the product's */
};

static int
send_map(agentd_mock *m, agentd_writer *w, agentd_doc **doc)
{
	const void *body, *reply;
	size_t      len, rlen;
	int         status = -1;

	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

static int
evaluate(agentd_mock *m, const struct ev *e, agentd_doc **doc)
{
	agentd_writer *w;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "op");
	agentd_write_str(w, "evaluate");
	agentd_write_str(w, "product");
	agentd_write_map_begin(w);
	agentd_write_str(w, "sku");
	agentd_write_str(w, e->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, "A product");
	if (!isnan(e->score)) {
		agentd_write_str(w, "score");
		agentd_write_double(w, e->score);
	}
	agentd_write_map_end(w);
	agentd_write_str(w, "vetting");
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, e->sku);
	agentd_write_str(w, "passed");
	agentd_write_bool(w, e->passed);
	agentd_write_str(w, "reasons");
	agentd_write_array(w, e->reason != NULL ? 1 : 0);
	if (e->reason != NULL)
		agentd_write_str(w, e->reason);
	agentd_write_str(w, "quote");
	agentd_write_map(w, 5);
	agentd_write_str(w, "sku");
	agentd_write_str(w, e->quote_sku != NULL ? e->quote_sku : e->sku);
	agentd_write_str(w, "price");
	agentd_write_double(w, e->price);
	agentd_write_str(w, "margin");
	agentd_write_double(w, e->margin);
	agentd_write_str(w, "low_margin");
	agentd_write_bool(w, e->margin < 0.15);
	agentd_write_str(w, "held");
	agentd_write_bool(w, 0);
	return send_map(m, w, doc);
}

static const agentd_value *
get(agentd_doc *doc, const char *key)
{
	return agentd_map_get(agentd_doc_root(doc), key);
}

static const char *
str(const agentd_value *v, char *buf, size_t size)
{
	buf[0] = '\0';
	agentd_get_strcpy(v, buf, size);
	return buf;
}

/* Has list v a string containing s? */
static int
has_reason(const agentd_value *v, const char *s)
{
	char buf[300];

	for (size_t i = 0; i < agentd_len(v); i++)
		if (strstr(str(agentd_array_at(v, i), buf, sizeof(buf)), s))
			return 1;
	return 0;
}

static int
says(agentd_doc *doc, const char *a)
{
	char msg[512];

	if (strstr(str(get(doc, "error"), msg, sizeof(msg)), a) == NULL) {
		diag("message: %s", msg);
		return 0;
	}
	return 1;
}

int
main(void)
{
	struct llm          l = { 0 };
	agentd_mock        *m;
	agentd_doc         *doc, *d;
	const agentd_value *ds;
	char                buf[2200];
	const char         *kind, *summary, *topic;
	const void         *detail, *body;
	size_t              dlen, blen;
	double              x;
	int                 st;
	struct ev lamp = { "LAMP-1", 0.812, 1, NULL, 22.81, 0.3002, NULL };
	struct ev mug  = { "MUG-9", 0.65, 1, NULL, 9.50, -0.0079, NULL };
	struct ev esp  = { "ESP-3", 0.55, 1, NULL, 298.51, 0.30, NULL };
	struct ev e;

	plan(69);

	/* ---- settings checked at init */
	is_int(load_with("min_margin", "1.5", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "min_margin 1.5: init fails");
	ok(strstr(buf, "min_margin 1.5") != NULL, "one line naming it");
	is_int(load_with("auto_approve_max_price", "0", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "auto_approve_max_price 0: init fails");
	is_int(load_with("llm_agent", "no such!", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "an llm_agent that is not a name: init fails");
	is_int(load_with("llm_route", "", buf, sizeof(buf)), AGENTD_EPLUGIN,
	    "an empty llm_route: init fails");
	ok(strstr(buf, "llm_route") != NULL, "and says so");

	agentd_mock_new("ceo", &m);
	agentd_mock_on_call(m, "llm", llm, &l);
	is_int(agentd_mock_load(m, so_path()), 0,
	    "ceo loads with its default settings");

	/* ---- LAMP-1: approved */
	st = evaluate(m, &lamp, &doc);
	is_int(st, 0, "LAMP-1 is evaluated");
	is_str(str(get(doc, "decision"), buf, sizeof(buf)), "approve",
	    "LAMP-1: approve (margin 0.30, 22.81, score 0.812)");
	is_str(str(get(doc, "risk"), buf, sizeof(buf)), "low", "risk low");
	agentd_get_double(get(doc, "price"), &x);
	ok(fabs(x - 22.81) < 1e-9, "price 22.81");
	agentd_get_double(get(doc, "expected_margin"), &x);
	ok(fabs(x - 0.3002) < 1e-9, "expected_margin 0.3002");
	ok(has_reason(get(doc, "reasons"), "the supplier passed vetting"),
	    "its reasons say why");
	str(get(doc, "rationale"), buf, sizeof(buf));
	ok(strncmp(buf, "Rationale: ", 11) == 0 && strstr(buf, "LAMP-1")
	        && strstr(buf, "decision: approve"),
	    "the rationale is the llm's text, about LAMP-1 and approve");
	agentd_doc_free(doc);
	is_int(l.calls, 1, "the llm agent was asked once");
	is_str(l.route, "default", "on llm_route (default)");
	ok(strstr(l.system, "You are the CEO") != NULL,
	    "its system message: You are the CEO ...");
	ok(strstr(l.user, "LAMP-1") && strstr(l.user, "decision: approve")
	        && strstr(l.user, "22.81"),
	    "its user message names the SKU, the decision, the price");
	ok(l.max_tokens == 200, "max_tokens 200 (llm_max_tokens)");
	is_int((int)agentd_mock_audit_count(m), 1, "one audit record");
	agentd_mock_audit(m, 0, &kind, &summary, &detail, &dlen);
	is_str(kind, "decision", "of kind decision");
	ok(strncmp(summary, "approve LAMP-1 at 22.81: ", 25) == 0,
	    "summary \"approve LAMP-1 at 22.81: ...\"");
	agentd_parse(detail, dlen, &d);
	ok(get(d, "sku") && get(d, "decision") && get(d, "reasons")
	        && get(d, "rationale") && get(d, "expected_margin")
	        && get(d, "risk") && get(d, "provider"),
	    "its detail: sku, decision, reasons, rationale, expected_margin, "
	    "risk, provider");
	is_str(str(get(d, "provider"), buf, sizeof(buf)), "fake",
	    "provider: the llm's");
	agentd_doc_free(d);

	/* ---- MUG-9: rejected, low margin */
	st = evaluate(m, &mug, &doc);
	is_str(str(get(doc, "decision"), buf, sizeof(buf)), "reject",
	    "MUG-9: reject (margin -0.0079 under 0.15)");
	is_str(str(get(doc, "risk"), buf, sizeof(buf)), "high", "risk high");
	ok(has_reason(
	       get(doc, "reasons"), "margin -0.8% is under the minimum 15.0%"),
	    "reason: margin -0.8% is under the minimum 15.0%");
	agentd_doc_free(doc);

	/* ---- ESP-3: escalated, price */
	st = evaluate(m, &esp, &doc);
	is_str(str(get(doc, "decision"), buf, sizeof(buf)), "escalate",
	    "ESP-3: escalate (298.51 over auto_approve_max_price 100)");
	is_str(str(get(doc, "risk"), buf, sizeof(buf)), "high", "risk high");
	ok(has_reason(get(doc, "reasons"), "price 298.51 is over 100.00"),
	    "reason: price 298.51 is over 100.00 ...");
	agentd_doc_free(doc);

	/* ---- vetting failed, score low or unknown, close to the limits */
	e        = lamp;
	e.sku    = "CASE-7";
	e.passed = 0;
	e.reason = "rating 2.9 is under 4.0";
	st       = evaluate(m, &e, &doc);
	ok(st == 0
	        && strcmp(
	               str(get(doc, "decision"), buf, sizeof(buf)), "reject")
	            == 0
	        && has_reason(get(doc, "reasons"),
	            "vetting failed: rating 2.9 is under 4.0"),
	    "vetting not passed: reject, with vetting's reasons");
	agentd_doc_free(doc);
	e       = lamp;
	e.sku   = "LOW-1";
	e.score = 0.2;
	evaluate(m, &e, &doc);
	ok(strcmp(str(get(doc, "decision"), buf, sizeof(buf)), "escalate") == 0
	        && has_reason(
	            get(doc, "reasons"), "demand score 0.200 is under 0.400"),
	    "a score under min_score: escalate");
	agentd_doc_free(doc);
	e       = lamp;
	e.sku   = "NOSCORE-1";
	e.score = NAN;
	evaluate(m, &e, &doc);
	ok(strcmp(str(get(doc, "decision"), buf, sizeof(buf)), "escalate")
	        == 0,
	    "no score: escalate");
	agentd_doc_free(doc);
	e        = lamp;
	e.sku    = "THIN-1";
	e.margin = 0.17;
	evaluate(m, &e, &doc);
	ok(strcmp(str(get(doc, "decision"), buf, sizeof(buf)), "approve") == 0
	        && strcmp(str(get(doc, "risk"), buf, sizeof(buf)), "medium")
	            == 0,
	    "a margin just over min_margin: approve, risk medium");
	agentd_doc_free(doc);

	/* ---- the llm fails: the decision stands */
	l.fail = AGENTD_EUNAVAIL;
	e      = lamp;
	e.sku  = "LAMP-1";
	st     = evaluate(m, &e, &doc);
	ok(st == 0
	        && strcmp(
	               str(get(doc, "decision"), buf, sizeof(buf)), "approve")
	            == 0,
	    "the llm agent unavailable: still approve");
	str(get(doc, "rationale"), buf, sizeof(buf));
	ok(strstr(buf, "llm") && strstr(buf, "EUNAVAIL"),
	    "the rationale says the llm failed (EUNAVAIL)");
	agentd_doc_free(doc);
	agentd_mock_audit(m, agentd_mock_audit_count(m) - 1, &kind, &summary,
	    &detail, &dlen);
	agentd_parse(detail, dlen, &d);
	ok(strstr(str(get(d, "rationale"), buf, sizeof(buf)), "EUNAVAIL")
	        && strcmp(str(get(d, "provider"), buf, sizeof(buf)), "") == 0,
	    "audited with that rationale, no provider");
	agentd_doc_free(d);
	l.fail = AGENTD_EBUSY;
	e.sku  = "BUDGET-1";
	evaluate(m, &e, &doc);
	ok(strstr(str(get(doc, "rationale"), buf, sizeof(buf)), "EBUSY")
	        != NULL,
	    "a spent budget (EBUSY): said in the rationale");
	agentd_doc_free(doc);
	l.fail = 0;
	agentd_mock_on_call(m, "llm", NULL, NULL);
	e.sku = "NOLLM-1";
	st    = evaluate(m, &e, &doc);
	ok(st == 0
	        && strstr(
	            str(get(doc, "rationale"), buf, sizeof(buf)), "ENOENT"),
	    "no llm agent at all (ENOENT): decided, said");
	agentd_doc_free(doc);
	agentd_mock_on_call(m, "llm", llm, &l);

	/* ---- bad requests */
	l.calls = 0;
	e       = lamp;
	e.sku   = "bad sku";
	st      = evaluate(m, &e, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "product.sku"),
	    "a bad product.sku: EINVAL naming it");
	agentd_doc_free(doc);
	e       = lamp;
	e.price = 0;
	st      = evaluate(m, &e, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "quote.price"),
	    "a quote price of 0: EINVAL naming quote.price");
	agentd_doc_free(doc);
	e       = lamp;
	e.score = 1.5;
	st      = evaluate(m, &e, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "product.score"),
	    "a score of 1.5: EINVAL");
	agentd_doc_free(doc);
	e           = lamp;
	e.quote_sku = "MUG-9";
	st          = evaluate(m, &e, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "sku"),
	    "a quote of another SKU: EINVAL");
	agentd_doc_free(doc);
	{
		agentd_writer *w;

		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "evaluate");
		agentd_write_str(w, "product");
		agentd_write_map(w, 1);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "X-1");
		st = send_map(m, w, &doc);
		ok(st == AGENTD_EINVAL && says(doc, "vetting.passed"),
		    "no vetting: EINVAL naming vetting.passed");
		agentd_doc_free(doc);
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "op");
		agentd_write_str(w, "hire");
		st = send_map(m, w, &doc);
		ok(st == AGENTD_EINVAL && says(doc, "evaluate"),
		    "an unknown op: EINVAL listing the ops");
		agentd_doc_free(doc);
		agentd_writer_new(&w);
		agentd_write_map(w, 0);
		st = send_map(m, w, &doc);
		ok(st == AGENTD_EINVAL, "no op: EINVAL");
		agentd_doc_free(doc);
	}
	is_int(l.calls, 0, "bad requests ask the llm nothing");

	/* ---- supplier.failed: a reject audited and kept, then ceo.alert */
	{
		agentd_writer *w;
		size_t         before = agentd_mock_audit_count(m);
		size_t         events = agentd_mock_published_count(m);

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "CASE-7");
		agentd_write_str(w, "supplier_id");
		agentd_write_str(w, "S-SHADY");
		agentd_write_str(w, "reasons");
		agentd_write_array(w, 2);
		agentd_write_str(w, "rating 2.9 is under 4.0");
		agentd_write_str(w, "ship_days 35 is over 14");
		body = agentd_writer_data(w, &blen);
		is_int(agentd_mock_event(m, "supplier.failed", body, blen), 0,
		    "supplier.failed for CASE-7 (S-SHADY)");
		agentd_writer_free(w);
		is_int((int)agentd_mock_published_count(m), (int)events,
		    "no alert before the record is committed");
		agentd_mock_run(m);
		is_int((int)(agentd_mock_audit_count(m) - before), 1,
		    "one audit record");
		agentd_mock_audit(m, before, &kind, &summary, &detail, &dlen);
		is_str(kind, "decision", "decision");
		ok(strncmp(
		       summary, "reject CASE-7: rating 2.9 is under 4.0", 38)
		        == 0,
		    "reject CASE-7 with the vetting reasons");
		agentd_parse(detail, dlen, &d);
		ok(strcmp(str(get(d, "decision"), buf, sizeof(buf)), "reject")
		            == 0
		        && agentd_len(get(d, "reasons")) == 2
		        && agentd_type_of(get(d, "expected_margin"))
		            == AGENTD_T_NIL,
		    "detail: reject, the two reasons, no margin");
		agentd_doc_free(d);
		is_int((int)(agentd_mock_published_count(m) - events), 1,
		    "then one event");
		agentd_mock_published(m, events, &topic, &body, &blen);
		is_str(topic, "ceo.alert", "ceo.alert");
		agentd_parse(body, blen, &d);
		ok(strcmp(str(get(d, "sku"), buf, sizeof(buf)), "CASE-7") == 0
		        && strstr(str(get(d, "reason"), buf, sizeof(buf)),
		            "supplier S-SHADY failed vetting (rating 2.9"),
		    "{\"sku\": \"CASE-7\", \"reason\": \"... supplier S-SHADY "
		    "failed vetting (rating 2.9 ...\"}");
		agentd_doc_free(d);
	}

	/* ---- stock.low: ceo.alert */
	{
		agentd_writer *w;
		size_t         events = agentd_mock_published_count(m);

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "CANDLE-2");
		agentd_write_str(w, "stock");
		agentd_write_int(w, 3);
		agentd_write_str(w, "threshold");
		agentd_write_int(w, 5);
		body = agentd_writer_data(w, &blen);
		agentd_mock_event(m, "stock.low", body, blen);
		agentd_writer_free(w);
		is_int((int)(agentd_mock_published_count(m) - events), 1,
		    "stock.low: one event");
		agentd_mock_published(m, events, &topic, &body, &blen);
		agentd_parse(body, blen, &d);
		ok(strcmp(topic, "ceo.alert") == 0
		        && strcmp(str(get(d, "reason"), buf, sizeof(buf)),
		               "stock of CANDLE-2 is 3, under its threshold 5")
		            == 0,
		    "ceo.alert: stock of CANDLE-2 is 3, under its threshold "
		    "5");
		agentd_doc_free(d);
		agentd_mock_event(m, "stock.low", "\xc1", 1);
		is_int((int)(agentd_mock_published_count(m) - events), 1,
		    "a stock.low that is not msgpack: ignored");
	}

	/* ---- the decisions kept: the latest per SKU, newest first */
	{
		agentd_writer *w;
		int            lamps = 0;
		int64_t        seq0 = 0, seq1 = 0;

		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "op");
		agentd_write_str(w, "decisions");
		st = send_map(m, w, &doc);
		is_int(st, 0, "{\"op\": \"decisions\"}");
		ds = get(doc, "decisions");
		/* LAMP-1 MUG-9 ESP-3 CASE-7 LOW-1 NOSCORE-1 THIN-1
		 * BUDGET-1 NOLLM-1 */
		is_int((int)agentd_len(ds), 9,
		    "nine SKUs decided, one entry each");
		is_str(str(agentd_map_get(agentd_array_at(ds, 0), "sku"), buf,
		           sizeof(buf)),
		    "CASE-7", "the newest first: CASE-7 (the event's)");
		is_str(str(agentd_map_get(agentd_array_at(ds, 0), "decision"),
		           buf, sizeof(buf)),
		    "reject", "rejected");
		for (size_t i = 0; i < agentd_len(ds); i++) {
			const agentd_value *one = agentd_array_at(ds, i);

			if (strcmp(str(agentd_map_get(one, "sku"), buf,
			               sizeof(buf)),
			        "LAMP-1")
			    == 0) {
				lamps++;
				ok(strstr(str(agentd_map_get(one, "rationale"),
				              buf, sizeof(buf)),
				       "EUNAVAIL")
				        != NULL,
				    "LAMP-1's entry is its latest decision "
				    "(the one without the llm)");
			}
		}
		is_int(lamps, 1, "LAMP-1 listed once");
		agentd_get_int(
		    agentd_map_get(agentd_array_at(ds, 0), "audit_seq"),
		    &seq0);
		agentd_get_int(
		    agentd_map_get(agentd_array_at(ds, 1), "audit_seq"),
		    &seq1);
		ok(seq0 > seq1 && seq1 > 0,
		    "entries carry their audit_seq, newest first");
		agentd_doc_free(doc);

		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "decisions");
		agentd_write_str(w, "limit");
		agentd_write_int(w, 2);
		st = send_map(m, w, &doc);
		is_int(
		    (int)agentd_len(get(doc, "decisions")), 2, "limit 2: two");
		agentd_doc_free(doc);
		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "decisions");
		agentd_write_str(w, "limit");
		agentd_write_int(w, 0);
		st = send_map(m, w, &doc);
		is_int(st, AGENTD_EINVAL, "limit 0: EINVAL");
		agentd_doc_free(doc);
	}
	agentd_mock_free(m);

	/* ---- llm_agent empty: no rationale asked */
	agentd_mock_new("ceo", &m);
	agentd_mock_setting(m, "llm_agent", "");
	agentd_mock_on_call(m, "llm", llm, &l);
	agentd_mock_load(m, so_path());
	l.calls = 0;
	st      = evaluate(m, &lamp, &doc);
	ok(st == 0 && l.calls == 0
	        && strstr(str(get(doc, "rationale"), buf, sizeof(buf)),
	            "llm_agent is empty"),
	    "llm_agent \"\": decided without asking, said in the rationale");
	agentd_doc_free(doc);
	agentd_mock_free(m);

	return done_testing();
}
