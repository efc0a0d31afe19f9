/*
 * The fulfilment plugin (plugins/fulfilment) against the mock host, with
 * a supplier of the test's own behind the mock's http_async: an order is
 * costed, proposed as supplier.order with its total cost, and placed only
 * once approved, one supplier order per line with Idempotency-Key
 * ORDERID/SKU; once per order id however often the order or the decision
 * comes; rejected: refused and nothing ordered; the supplier down, 401 or
 * not JSON: nothing proposed, and the next delivery tries again; a failed
 * placing is placed on the decision's next delivery with the same keys.
 */
#define _GNU_SOURCE

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

#define KEY "sup-unit-SECRET"
#define BASE "http://127.0.0.1:8471/v1"

enum mode { SUP_OK, SUP_DOWN, SUP_401, SUP_BADJSON, SUP_ORDERS_DOWN };

struct supplier {
	enum mode mode;
	int       gets, posts, placed, bad_key;
	char      keys[8][96]; /* Idempotency-Keys placed */
	char      sent[8][96]; /* ... of every POST */
	int       nsent;
};

static const char *
header(const struct agentd_mock_http_call *c, const char *name)
{
	for (size_t i = 0; i < c->nheaders; i++)
		if (strcasecmp(c->headers[i].name, name) == 0)
			return c->headers[i].value;
	return NULL;
}

static void
answer(agentd_mock *m, size_t id, int code, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	agentd_mock_http_answer(m, id, code, NULL, 0, s, strlen(s));
	free(s);
	json_decref(j);
}

static int
on_http(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct supplier *s    = arg;
	const char      *path = c->url + strlen(BASE) + 1;
	const char      *auth = header(c, "Authorization");
	const char      *k    = header(c, "Idempotency-Key");

	if (auth == NULL || strcmp(auth, "Bearer " KEY) != 0)
		s->bad_key++;
	if (s->mode == SUP_DOWN)
		return AGENTD_EUNAVAIL;
	if (s->mode == SUP_401) {
		agentd_mock_http_answer(m, c->id, 401, NULL, 0, "{}", 2);
		return 0;
	}
	if (s->mode == SUP_BADJSON) {
		agentd_mock_http_answer(m, c->id, 200, NULL, 0, "cost: 12", 8);
		return 0;
	}
	if (strcmp(c->method, "GET") == 0
	    && strncmp(path, "products/", 9) == 0) {
		s->gets++;
		if (strcmp(path + 9, "LAMP-1") == 0)
			answer(m, c->id, 200,
			    json_pack("{s:s,s:f,s:f}", "sku", "LAMP-1", "cost",
			        12.0, "shipping", 3.0));
		else if (strcmp(path + 9, "CANDLE-2") == 0)
			answer(m, c->id, 200,
			    json_pack("{s:s,s:f,s:f}", "sku", "CANDLE-2",
			        "cost", 4.0, "shipping", 2.0));
		else if (strcmp(path + 9, "ESP-3") == 0)
			answer(m, c->id, 200,
			    json_pack("{s:s,s:f,s:f}", "sku", "ESP-3", "cost",
			        180.0, "shipping", 20.0));
		else
			answer(m, c->id, 404,
			    json_pack("{s:s}", "error", "no such product"));
		return 0;
	}
	if (strcmp(c->method, "POST") == 0 && strcmp(path, "orders") == 0) {
		int seen = 0;

		s->posts++;
		if (s->nsent < 8)
			snprintf(s->sent[s->nsent++], 96, "%s", k ? k : "");
		if (s->mode == SUP_ORDERS_DOWN)
			return AGENTD_EUNAVAIL;
		for (int i = 0; i < s->placed; i++)
			if (k != NULL && strcmp(s->keys[i], k) == 0)
				seen = 1;
		if (!seen && s->placed < 8)
			snprintf(s->keys[s->placed++], 96, "%s", k ? k : "");
		answer(m, c->id, seen ? 200 : 201,
		    json_pack(
		        "{s:s,s:s}", "order_id", "PO-7", "status", "placed"));
		return 0;
	}
	agentd_mock_http_answer(m, c->id, 404, NULL, 0, "{}", 2);
	return 0;
}

static char key_path[256];

static agentd_mock *
new_mock(struct supplier *s, int *loaded)
{
	agentd_mock *m;
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];

	snprintf(path, sizeof(path), "%s/fulfilment.so",
	    d != NULL ? d : "plugins/.libs");
	if (agentd_mock_new("fulfilment", &m) != 0)
		return NULL;
	agentd_mock_setting(m, "supplier_url", BASE);
	agentd_mock_setting(m, "api_key_file", key_path);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, on_http, s);
	*loaded = agentd_mock_load(m, path);
	return m;
}

/* The webhook's ORDER, as agentd publishes it: msgpack, the id a number. */
static void
order(agentd_mock *m, int64_t id, const char *sku1, int q1, const char *sku2,
    int q2)
{
	agentd_writer *w;
	const void    *b;
	size_t         l;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "id");
	agentd_write_int(w, id);
	agentd_write_str(w, "name");
	agentd_write_str(w, "#1001");
	agentd_write_str(w, "email");
	agentd_write_str(w, "a@example.com");
	agentd_write_str(w, "total_price");
	agentd_write_str(w, "45.60");
	agentd_write_str(w, "line_items");
	agentd_write_array(w, sku2 != NULL ? 2 : 1);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku1);
	agentd_write_str(w, "quantity");
	agentd_write_int(w, q1);
	agentd_write_str(w, "price");
	agentd_write_str(w, "22.80");
	if (sku2 != NULL) {
		agentd_write_map(w, 2);
		agentd_write_str(w, "sku");
		agentd_write_str(w, sku2);
		agentd_write_str(w, "quantity");
		agentd_write_int(w, q2);
	}
	b = agentd_writer_data(w, &l);
	agentd_mock_event(m, "shop.order.created", b, l);
	agentd_writer_free(w);
	while (agentd_mock_run(m) > 0)
		;
}

static size_t
count_of(agentd_mock *m, const char *what, int audits)
{
	size_t      n = 0;
	const char *t, *s;
	const void *b;
	size_t      l;

	if (audits) {
		for (size_t i = 0; i < agentd_mock_audit_count(m); i++)
			if (agentd_mock_audit(m, i, &t, &s, &b, &l) == 0
			    && strcmp(t, what) == 0)
				n++;
	} else {
		for (size_t i = 0; i < agentd_mock_published_count(m); i++)
			if (agentd_mock_published(m, i, &t, &b, &l) == 0
			    && strcmp(t, what) == 0)
				n++;
	}
	return n;
}

/* {"op": "get", "order": id}: the status ("" if none) into buf. */
static const char *
status_of(agentd_mock *m, int64_t id, char *buf, size_t size)
{
	agentd_writer *w;
	const void    *b, *r;
	size_t         l, rl;
	int            st = -1;
	agentd_doc    *doc;

	buf[0] = '\0';
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "get");
	agentd_write_str(w, "order");
	agentd_write_int(w, id);
	b = agentd_writer_data(w, &l);
	if (agentd_mock_request(m, b, l, &r, &rl, &st) == 0 && st == 0
	    && agentd_parse(r, rl, &doc) == 0) {
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "status"), buf, size);
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return buf;
}

/* The event order.fulfilled's total_cost and first supplier order. */
static double
fulfilled_total(agentd_mock *m, char *po, size_t size)
{
	const char *t;
	const void *b;
	size_t      l;
	agentd_doc *doc;
	double      total = -1;

	for (size_t i = 0; i < agentd_mock_published_count(m); i++)
		if (agentd_mock_published(m, i, &t, &b, &l) == 0
		    && strcmp(t, "order.fulfilled") == 0
		    && agentd_parse(b, l, &doc) == 0) {
			const agentd_value *r = agentd_doc_root(doc);

			agentd_get_double(
			    agentd_map_get(r, "total_cost"), &total);
			agentd_get_strcpy(
			    agentd_array_at(
			        agentd_map_get(r, "supplier_orders"), 0),
			    po, size);
			agentd_doc_free(doc);
		}
	return total;
}

static void
run(agentd_mock *m)
{
	while (agentd_mock_run(m) > 0)
		;
}

int
main(void)
{
	agentd_mock                *m;
	struct supplier             s;
	struct agentd_mock_decision d;
	char                        buf[64], po[32] = "";
	int                         loaded;
	FILE                       *f;

	snprintf(key_path, sizeof(key_path), "%s/fulfilment-key.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	close(mkstemp(key_path));
	f = fopen(key_path, "w");
	fprintf(f, "%s\n", KEY);
	fclose(f);

	/* ---- settings */
	memset(&s, 0, sizeof(s));
	{
		const char *dir = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/fulfilment.so",
		    dir != NULL ? dir : "plugins/.libs");
		agentd_mock_new("fulfilment", &m);
		agentd_mock_setting(m, "supplier_url", "supplier:8471");
		is_int(agentd_mock_load(m, path), AGENTD_EPLUGIN,
		    "a supplier_url that is not a URL: init fails");
		like(agentd_mock_last_log(m, NULL), "settings: supplier_url",
		    "in one line naming the setting");
		agentd_mock_free(m);
	}

	/* ---- LOW: costed, proposed, placed at once */
	m = new_mock(&s, &loaded);
	is_int(loaded, 0, "fulfilment loads");
	agentd_mock_policy(m, "supplier.order", "low");
	order(m, 450789469, "LAMP-1", 2, "CANDLE-2", 1);
	is_int(s.gets, 2, "each line's cost is asked of the supplier");
	is_int((int)agentd_mock_decisions(m), 1, "supplier.order is proposed");
	agentd_mock_decision(m, 0, &d);
	ok(strcmp(d.type, "supplier.order") == 0
	        && fabs(d.amount - 36) < 0.005,
	    "its amount is the total landed cost (2 x 15 + 1 x 6 = 36)");
	is_int(s.posts, 2, "approved: one supplier order per line");
	ok(strcmp(s.keys[0], "450789469/LAMP-1") == 0
	        && strcmp(s.keys[1], "450789469/CANDLE-2") == 0,
	    "with Idempotency-Key ORDERID/SKU");
	is_int(s.bad_key, 0, "every request carried the API key");
	is_str(status_of(m, 450789469, buf, sizeof(buf)), "placed",
	    "the order's record says placed");
	is_int((int)count_of(m, "fulfilment.placed", 1), 1,
	    "fulfilment.placed is audited");
	ok(fabs(fulfilled_total(m, po, sizeof(po)) - 36) < 0.005
	        && strcmp(po, "PO-7") == 0,
	    "order.fulfilled carries the total cost and the supplier's order");

	order(m, 450789469, "LAMP-1", 2, "CANDLE-2", 1);
	ok(agentd_mock_decisions(m) == 1 && s.gets == 2,
	    "the same order delivered again: not costed or proposed again");
	agentd_mock_redeliver(m, "1");
	run(m);
	ok(s.posts == 2 && count_of(m, "order.fulfilled", 0) == 1,
	    "the decision delivered again: nothing ordered twice");

	/* ---- HIGH: waits for a person; rejected: refused */
	agentd_mock_free(m);
	memset(&s, 0, sizeof(s));
	m = new_mock(&s, &loaded);
	order(m, 450789470, "ESP-3", 3, NULL, 0);
	agentd_mock_decision(m, 0, &d);
	ok(strcmp(d.state, "pending") == 0 && fabs(d.amount - 600) < 0.005,
	    "600 of cost is high (the mock's default): it waits");
	is_int(s.posts, 0, "nothing is ordered while it waits");
	is_str(status_of(m, 450789470, buf, sizeof(buf)), "proposed",
	    "the record says proposed");
	agentd_mock_reject(m, "1", "too many espresso machines");
	run(m);
	is_str(status_of(m, 450789470, buf, sizeof(buf)), "refused",
	    "rejected: refused");
	ok(count_of(m, "fulfilment.refused", 1) == 1 && s.posts == 0
	        && count_of(m, "order.fulfilled", 0) == 0,
	    "audited fulfilment.refused, nothing ordered, nothing published");
	agentd_mock_redeliver(m, "1");
	run(m);
	is_int((int)count_of(m, "fulfilment.refused", 1), 1,
	    "the rejection delivered again: refused once");

	/* ---- approved by a person */
	order(m, 450789471, "LAMP-1", 1, NULL, 0);
	agentd_mock_approve(m, "2", NULL);
	run(m);
	ok(s.posts == 1 && strcmp(s.keys[0], "450789471/LAMP-1") == 0,
	    "approved by a person: placed");
	agentd_mock_free(m);

	/* ---- the supplier down, 401, not JSON: nothing proposed */
	{
		static const struct {
			enum mode   mode;
			const char *name;
		} cases[] = {
			{ SUP_DOWN, "the supplier down" },
			{ SUP_401, "401" },
			{ SUP_BADJSON, "an answer not JSON" },
		};
		for (size_t i = 0; i < 3; i++) {
			char name[128];

			memset(&s, 0, sizeof(s));
			s.mode = cases[i].mode;
			m      = new_mock(&s, &loaded);
			agentd_mock_policy(m, "supplier.order", "low");
			order(m, 450789480, "LAMP-1", 1, NULL, 0);
			snprintf(name, sizeof(name),
			    "%s: nothing proposed, no record", cases[i].name);
			ok(agentd_mock_decisions(m) == 0
			        && status_of(m, 450789480, buf, sizeof(buf))[0]
			            == '\0',
			    name);
			s.mode = SUP_OK;
			order(m, 450789480, "LAMP-1", 1, NULL, 0);
			snprintf(name, sizeof(name),
			    "  the order's next delivery is placed");
			ok(s.posts == 1 && agentd_mock_decisions(m) == 1,
			    name);
			agentd_mock_free(m);
		}
	}
	/* An unknown SKU: nothing proposed. */
	memset(&s, 0, sizeof(s));
	m = new_mock(&s, &loaded);
	order(m, 450789490, "NOPE-1", 1, NULL, 0);
	is_int((int)agentd_mock_decisions(m), 0,
	    "a SKU the supplier does not know: nothing proposed");

	/* ---- placing fails: the decision's next delivery places, same key */
	agentd_mock_policy(m, "supplier.order", "low");
	s.mode = SUP_ORDERS_DOWN;
	order(m, 450789491, "LAMP-1", 1, NULL, 0);
	ok(strcmp(status_of(m, 450789491, buf, sizeof(buf)), "failed") == 0
	        && count_of(m, "fulfilment.failed", 1) == 1,
	    "the supplier down when ordering: failed, audited");
	s.mode = SUP_OK;
	agentd_mock_redeliver(m, "1");
	run(m);
	ok(strcmp(status_of(m, 450789491, buf, sizeof(buf)), "placed") == 0
	        && s.placed == 1,
	    "the decision delivered again: placed");
	ok(s.nsent >= 2 && strcmp(s.sent[0], s.sent[s.nsent - 1]) == 0,
	    "with the same Idempotency-Key as the failed attempts");
	agentd_mock_redeliver(m, "1");
	run(m);
	is_int(s.placed, 1, "and not again after that");

	/* ---- bad requests and events */
	{
		agentd_writer *w;
		const void    *b, *r;
		size_t         l, rl;
		int            st;

		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "op");
		agentd_write_str(w, "list");
		b = agentd_writer_data(w, &l);
		agentd_mock_request(m, b, l, &r, &rl, &st);
		is_int(st, AGENTD_EINVAL, "an unknown op: EINVAL");
		agentd_writer_reset(w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "get");
		agentd_write_str(w, "order");
		agentd_write_str(w, "999");
		b = agentd_writer_data(w, &l);
		agentd_mock_request(m, b, l, &r, &rl, &st);
		is_int(st, AGENTD_ENOENT, "an order never seen: ENOENT");
		agentd_writer_reset(w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "name");
		agentd_write_str(w, "#1");
		b = agentd_writer_data(w, &l);
		agentd_mock_event(m, "shop.order.created", b, l);
		run(m);
		is_int((int)agentd_mock_decisions(m), 1,
		    "an order without an id: ignored");
		agentd_writer_free(w);
	}
	agentd_mock_free(m);
	unlink(key_path);
	printf("1..%d\n", tap_run_);
	return done_testing();
}
