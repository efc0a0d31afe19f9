/*
 * The vetting plugin (plugins/vetting) against the mock host: the
 * contract's LAMP-1 (supplier S-GOOD) passes, CASE-7 (S-SHADY: rating
 * 2.9, ship_days 35, disputes) fails with its reasons as sentences, each
 * check on its own, the audit records and supplier.failed, and every way
 * a request or the supplier API can fail.  The API is played by the
 * mock's http_async handler with canned answers.
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

#define S_GOOD                                                                \
	"{\"id\": \"S-GOOD\", \"name\": \"Good Goods Ltd\", \"rating\": "     \
	"4.8, "                                                               \
	"\"on_time_rate\": 0.97, \"ship_days\": 5, \"years_active\": 9, "     \
	"\"disputes_90d\": 0}"
#define S_SHADY                                                               \
	"{\"id\": \"S-SHADY\", \"name\": \"Shady Deals\", \"rating\": 2.9, "  \
	"\"on_time_rate\": 0.61, \"ship_days\": 35, \"years_active\": 1, "    \
	"\"disputes_90d\": 7}"

/* What the supplier API answers, and what it saw. */
struct api {
	int         fail; /* an agentd_error: no connection */
	int         code; /* else, when not 0, this code and body */
	const char *body;
	int         calls;
	char        url[1024];
};

static int
api(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct api *a    = arg;
	const char *body = "{\"error\": \"no such supplier\"}";
	int         code = 404;

	a->calls++;
	snprintf(a->url, sizeof(a->url), "%s", c->url);
	if (a->fail != 0)
		return a->fail;
	if (a->code != 0) {
		code = a->code;
		body = a->body;
	} else if (strstr(c->url, "/v1/suppliers/S-GOOD") != NULL) {
		code = 200;
		body = S_GOOD;
	} else if (strstr(c->url, "/v1/suppliers/S-SHADY") != NULL) {
		code = 200;
		body = S_SHADY;
	}
	return agentd_mock_http_answer(
	    m, c->id, code, NULL, 0, body, strlen(body));
}

static const char *
so_path(void)
{
	static char path[512];
	const char *d = getenv("AGENTD_BUNDLED_PLUGINS");

	snprintf(path, sizeof(path), "%s/vetting.so",
	    d != NULL ? d : "plugins/.libs");
	return path;
}

static agentd_mock *
new_vetting(struct api *a)
{
	agentd_mock *m;

	agentd_mock_new("vetting", &m);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, api, a);
	if (agentd_mock_load(m, so_path()) != 0) {
		diag("%s", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return NULL;
	}
	return m;
}

static int
load_with(const char *name, const char *value, char *log, size_t size)
{
	agentd_mock *m;
	const char  *l;
	int          rv;

	agentd_mock_new("vetting", &m);
	agentd_mock_setting(m, name, value);
	rv = agentd_mock_load(m, so_path());
	l  = agentd_mock_last_log(m, NULL);
	snprintf(log, size, "%s", l != NULL ? l : "");
	agentd_mock_free(m);
	return rv;
}

/* A product as scout's best: sku, supplier, stock, cost, ship_days (< 0:
 * absent), and a price_history from first_cost (< 0: none) to cost. */
struct prod {
	const char *sku, *supplier;
	double      stock, cost, ship_days, first_cost;
};

static int
vet(agentd_mock *m, const struct prod *p, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "product");
	agentd_write_map_begin(w);
	if (p->sku != NULL) {
		agentd_write_str(w, "sku");
		agentd_write_str(w, p->sku);
	}
	if (p->supplier != NULL) {
		agentd_write_str(w, "supplier_id");
		agentd_write_str(w, p->supplier);
	}
	agentd_write_str(w, "title");
	agentd_write_str(w, "A thing");
	agentd_write_str(w, "stock");
	agentd_write_double(w, p->stock);
	agentd_write_str(w, "cost");
	agentd_write_double(w, p->cost);
	if (p->ship_days >= 0) {
		agentd_write_str(w, "ship_days");
		agentd_write_double(w, p->ship_days);
	}
	if (p->first_cost >= 0) {
		agentd_write_str(w, "price_history");
		agentd_write_array(w, 2);
		/* the later entry first: the earliest is found by date */
		agentd_write_map(w, 2);
		agentd_write_str(w, "date");
		agentd_write_str(w, "2026-11-01");
		agentd_write_str(w, "cost");
		agentd_write_double(w, p->cost);
		agentd_write_map(w, 2);
		agentd_write_str(w, "date");
		agentd_write_str(w, "2026-09-01");
		agentd_write_str(w, "cost");
		agentd_write_double(w, p->first_cost);
	}
	agentd_write_map_end(w);
	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

static const agentd_value *
get(agentd_doc *doc, const char *key)
{
	return agentd_map_get(agentd_doc_root(doc), key);
}

static int
passed(agentd_doc *doc)
{
	int b = -1;

	agentd_get_bool(get(doc, "passed"), &b);
	return b;
}

/* Reason i of list v, or "". */
static const char *
reason_at(const agentd_value *v, size_t i, char *buf, size_t size)
{
	buf[0] = '\0';
	agentd_get_strcpy(agentd_array_at(v, i), buf, size);
	return buf;
}

static int
says(agentd_doc *doc, const char *a, const char *b)
{
	char msg[2048] = "";

	agentd_get_strcpy(get(doc, "error"), msg, sizeof(msg));
	if (strstr(msg, a) == NULL || (b != NULL && strstr(msg, b) == NULL)) {
		diag("message: %s", msg);
		return 0;
	}
	return 1;
}

int
main(void)
{
	struct api          a = { 0 };
	agentd_mock        *m;
	agentd_doc         *doc, *d;
	const agentd_value *r;
	char                buf[256];
	const char         *kind, *summary, *topic;
	const void         *detail, *ev;
	size_t              dlen, evlen;
	int                 st;
	struct prod         lamp  = { "LAMP-1", "S-GOOD", 80, 12, 5, 11.5 };
	struct prod         case7 = { "CASE-7", "S-SHADY", 200, 1.2, -1, -1 };
	struct prod         p;

	plan(45);

	/* ---- settings checked at init */
	is_int(
	    load_with("supplier_url", "127.0.0.1:8471/v1", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "a supplier_url without http://: init fails");
	ok(strstr(buf, "supplier_url") != NULL, "with a line naming it");
	is_int(load_with("min_rating", "6", buf, sizeof(buf)), AGENTD_EPLUGIN,
	    "min_rating 6: init fails");
	ok(strstr(buf, "min_rating 6") != NULL, "and says so");
	is_int(load_with("max_ship_days", "-1", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "max_ship_days -1: init fails");
	is_int(load_with("api_key_file", "/nonexistent/k", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "an api_key_file that is not there: init fails");

	/* ---- LAMP-1 passes */
	m = new_vetting(&a);
	ok(m != NULL, "vetting loads with its default settings");
	st = vet(m, &lamp, &doc);
	is_int(st, 0, "LAMP-1 is vetted");
	is_str(a.url, "http://127.0.0.1:8471/v1/suppliers/S-GOOD",
	    "GET {supplier_url}/suppliers/S-GOOD");
	is_int(passed(doc), 1, "passed: true");
	is_int((int)agentd_len(get(doc, "reasons")), 0, "no reasons");
	agentd_get_strcpy(get(doc, "sku"), buf, sizeof(buf));
	is_str(buf, "LAMP-1", "the reply names the SKU");
	agentd_get_strcpy(get(doc, "supplier_id"), buf, sizeof(buf));
	is_str(buf, "S-GOOD", "and the supplier");
	agentd_get_strcpy(
	    agentd_map_get(get(doc, "supplier"), "name"), buf, sizeof(buf));
	is_str(buf, "Good Goods Ltd", "and holds the SUPPLIER record");
	agentd_doc_free(doc);
	is_int((int)agentd_mock_audit_count(m), 1, "one audit record");
	agentd_mock_audit(m, 0, &kind, &summary, &detail, &dlen);
	is_str(kind, "vetting.passed", "vetting.passed");
	ok(strstr(summary, "LAMP-1 passes vetting") != NULL, "its summary");
	agentd_parse(detail, dlen, &d);
	ok(agentd_map_get(agentd_doc_root(d), "passed") != NULL
	        && agentd_map_get(agentd_doc_root(d), "reasons") != NULL,
	    "its detail holds passed and reasons");
	agentd_doc_free(d);
	is_int((int)agentd_mock_published_count(m), 0,
	    "passing publishes nothing");

	/* ---- CASE-7 fails, its reasons as sentences */
	st = vet(m, &case7, &doc);
	is_int(st, 0, "CASE-7 is vetted");
	is_int(passed(doc), 0, "passed: false");
	r = get(doc, "reasons");
	is_int((int)agentd_len(r), 3, "three reasons");
	is_str(reason_at(r, 0, buf, sizeof(buf)), "rating 2.9 is under 4.0",
	    "rating 2.9 is under 4.0");
	is_str(reason_at(r, 1, buf, sizeof(buf)), "ship_days 35 is over 14",
	    "ship_days 35 is over 14");
	is_str(reason_at(r, 2, buf, sizeof(buf)), "disputes_90d 7 is over 2",
	    "disputes_90d 7 is over 2");
	agentd_doc_free(doc);
	agentd_mock_audit(m, 1, &kind, &summary, &detail, &dlen);
	is_str(kind, "vetting.failed", "audited as vetting.failed");
	ok(strstr(
	       summary, "CASE-7 fails vetting: supplier S-SHADY: rating 2.9")
	        != NULL,
	    "its summary names the SKU, supplier and reasons");
	is_int((int)agentd_mock_published_count(m), 1, "one event");
	agentd_mock_published(m, 0, &topic, &ev, &evlen);
	is_str(topic, "supplier.failed", "supplier.failed");
	agentd_parse(ev, evlen, &d);
	agentd_get_strcpy(agentd_map_get(agentd_doc_root(d), "supplier_id"),
	    buf, sizeof(buf));
	ok(strcmp(buf, "S-SHADY") == 0
	        && agentd_len(agentd_map_get(agentd_doc_root(d), "reasons"))
	            == 3,
	    "with the supplier and the reasons");
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(d), "sku"), buf, sizeof(buf));
	is_str(buf, "CASE-7", "and the SKU");
	agentd_doc_free(d);

	/* ---- each of the product's checks on its own */
	p       = lamp;
	p.stock = 3;
	vet(m, &p, &doc);
	ok(passed(doc) == 0
	        && strcmp(reason_at(get(doc, "reasons"), 0, buf, sizeof(buf)),
	               "stock 3 is under 10")
	            == 0,
	    "stock 3: \"stock 3 is under 10\"");
	agentd_doc_free(doc);
	p            = lamp;
	p.first_cost = 9.6; /* 12 / 9.6 = +25% */
	vet(m, &p, &doc);
	reason_at(get(doc, "reasons"), 0, buf, sizeof(buf));
	ok(passed(doc) == 0
	        && strcmp(buf,
	               "the cost rose 25% since 2026-09-01 (9.60 to 12.00), "
	               "more than 20%")
	            == 0,
	    "a cost up 25% since the earliest price: failed, said so");
	if (passed(doc) != 0)
		diag("reason: %s", buf);
	agentd_doc_free(doc);
	p           = lamp;
	p.ship_days = 21; /* the product's own days, slower than S-GOOD's */
	vet(m, &p, &doc);
	reason_at(get(doc, "reasons"), 0, buf, sizeof(buf));
	is_str(buf, "ship_days 21 is over 14",
	    "the slower of the product's and the supplier's ship_days");
	agentd_doc_free(doc);

	/* ---- bad requests */
	a.calls = 0;
	p       = lamp;
	p.sku   = "bad sku!";
	st      = vet(m, &p, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "product.sku", NULL),
	    "a bad SKU: EINVAL naming product.sku");
	agentd_doc_free(doc);
	p          = lamp;
	p.supplier = NULL;
	st         = vet(m, &p, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "supplier_id", NULL),
	    "no supplier_id: EINVAL naming it");
	agentd_doc_free(doc);
	p          = lamp;
	p.supplier = "../admin";
	st         = vet(m, &p, &doc);
	ok(st == AGENTD_EINVAL, "a supplier_id that is a path: EINVAL");
	agentd_doc_free(doc);
	{
		const void *reply;
		size_t      rlen;

		agentd_mock_request(m, "\x81\xa1x\x01", 4, &reply, &rlen, &st);
		is_int(st, AGENTD_EINVAL, "no product: EINVAL");
	}
	is_int(a.calls, 0, "none of them reached the API");

	/* ---- the API fails */
	p          = lamp;
	p.supplier = "S-NONE";
	st         = vet(m, &p, &doc);
	ok(st == AGENTD_ENOENT
	        && says(doc, "/v1/suppliers/S-NONE", "no supplier S-NONE"),
	    "an unknown supplier (404): ENOENT naming the URL");
	agentd_doc_free(doc);
	a.fail = AGENTD_ETIMEOUT;
	st     = vet(m, &lamp, &doc);
	ok(st == AGENTD_EUNAVAIL
	        && says(doc, "/v1/suppliers/S-GOOD", "ETIMEOUT"),
	    "no answer: EUNAVAIL naming the URL and why");
	agentd_doc_free(doc);
	a.fail = 0;
	a.code = 500;
	a.body = "oops";
	st     = vet(m, &lamp, &doc);
	ok(st == AGENTD_EUNAVAIL
	        && says(doc, "/v1/suppliers/S-GOOD", "HTTP 500"),
	    "a 500: EUNAVAIL with the status");
	agentd_doc_free(doc);
	a.code = 200;
	a.body = "<html>";
	st     = vet(m, &lamp, &doc);
	ok(st == AGENTD_EPROTO
	        && says(doc, "/v1/suppliers/S-GOOD", "not JSON"),
	    "a body that is not JSON: EPROTO");
	agentd_doc_free(doc);
	a.body = "[1, 2]";
	st     = vet(m, &lamp, &doc);
	ok(st == AGENTD_EPROTO && says(doc, "not a supplier", NULL),
	    "JSON that is not an object: EPROTO");
	agentd_doc_free(doc);
	is_int((int)agentd_mock_audit_count(m), 5,
	    "failed requests audit nothing (5 vettings so far)");
	agentd_mock_free(m);

	return done_testing();
}
