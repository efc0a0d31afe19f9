/*
 * The scout plugin (plugins/scout) against the mock host: the catalog's
 * GET it makes (URL, key), the demand scores and the best candidate of
 * the contract's desk lamp (doc/shop-contracts.md), product.found, and
 * every way a request or the catalog can fail.  The catalog is played by
 * the mock's http_async handler with canned answers.
 */
#define _GNU_SOURCE

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

/* The desk lamp of tests/tools/catalog.json (the contract's LAMP-1), and
 * a lamp that sells little. */
#define LAMP1                                                                 \
	"{\"sku\": \"LAMP-1\", \"title\": \"Brass desk lamp\", "              \
	"\"description\": \"Adjustable.\", \"tags\": [\"desk\", \"lamp\"], "  \
	"\"supplier_id\": \"S-GOOD\", \"cost\": 12, \"shipping\": 3, "        \
	"\"ship_days\": 5, \"stock\": 80, \"orders_30d\": 120, "              \
	"\"views_30d\": 2400, \"reviews\": 310, \"rating\": 4.6, "            \
	"\"market_price\": 34, \"price_history\": [{\"date\": "               \
	"\"2026-10-01\", \"cost\": 11.5}, {\"date\": \"2026-11-01\", "        \
	"\"cost\": 12}]}"
#define LAMP2                                                                 \
	"{\"sku\": \"LAMP-2\", \"title\": \"Plain desk lamp\", "              \
	"\"supplier_id\": \"S-GOOD\", \"cost\": 7, \"shipping\": 3, "         \
	"\"stock\": 20, \"orders_30d\": 8, \"views_30d\": 900, "              \
	"\"reviews\": 12, \"rating\": 3.9}"

/* What the catalog answers, and what it saw. */
struct catalog {
	int         fail; /* an agentd_error: no connection */
	int         code; /* else this HTTP code */
	const char *body; /* and this body */
	int         calls;
	char        url[2048];
	char        auth[256];
};

static int
catalog(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct catalog *k = arg;

	k->calls++;
	snprintf(k->url, sizeof(k->url), "%s", c->url);
	k->auth[0] = '\0';
	for (size_t i = 0; i < c->nheaders; i++)
		if (strcasecmp(c->headers[i].name, "Authorization") == 0)
			snprintf(k->auth, sizeof(k->auth), "%s",
			    c->headers[i].value);
	if (k->fail != 0)
		return k->fail;
	return agentd_mock_http_answer(
	    m, c->id, k->code, NULL, 0, k->body, strlen(k->body));
}

static agentd_mock *
new_scout(struct catalog *k, const char *keyfile)
{
	agentd_mock *m;
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];

	snprintf(path, sizeof(path), "%s/scout.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("scout", &m);
	if (keyfile != NULL)
		agentd_mock_setting(m, "api_key_file", keyfile);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, catalog, k);
	if (agentd_mock_load(m, path) != 0) {
		diag("%s", agentd_mock_errmsg(m));
		agentd_mock_free(m);
		return NULL;
	}
	return m;
}

/* Load scout with one setting; the load's result and its last log line. */
static int
load_with(const char *name, const char *value, char *log, size_t size)
{
	agentd_mock *m;
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS"), *l;
	char         path[512];
	int          rv;

	snprintf(path, sizeof(path), "%s/scout.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("scout", &m);
	agentd_mock_setting(m, name, value);
	rv = agentd_mock_load(m, path);
	l  = agentd_mock_last_log(m, NULL);
	snprintf(log, size, "%s", l != NULL ? l : "");
	agentd_mock_free(m);
	return rv;
}

/* A request from JSON-ish parts: query (NULL: none), limit (< -1000:
 * none; -1000 .. : that integer). *doc is the answer (caller frees). */
static int
search(agentd_mock *m, const char *query, long limit, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	if (query != NULL) {
		agentd_write_str(w, "query");
		agentd_write_str(w, query);
	}
	if (limit >= -1000) {
		agentd_write_str(w, "limit");
		agentd_write_int(w, limit);
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

static void
str_of(const agentd_value *v, char *buf, size_t size)
{
	buf[0] = '\0';
	agentd_get_strcpy(v, buf, size);
}

static double
num_of(const agentd_value *v)
{
	double d = NAN;

	agentd_get_double(v, &d);
	return d;
}

/* The error message of an error answer. */
static int
says(agentd_doc *doc, const char *a, const char *b)
{
	char msg[2048];

	str_of(get(doc, "error"), msg, sizeof(msg));
	if (strstr(msg, a) == NULL || (b != NULL && strstr(msg, b) == NULL)) {
		diag("message: %s", msg);
		return 0;
	}
	return 1;
}

int
main(void)
{
	struct catalog      k = { 0 };
	agentd_mock        *m;
	agentd_doc         *doc;
	const agentd_value *c, *best;
	char                buf[256], dir[] = "/tmp/test_scout.XXXXXX";
	char                keyfile[300];
	const char         *topic;
	const void         *ev;
	size_t              evlen;
	agentd_doc         *evdoc;
	FILE               *f;
	int                 st;

	plan(47);

	/* ---- settings checked at init, one clear line each */
	is_int(load_with("catalog_url", "ftp://x/v1", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "a catalog_url that is not http: init fails");
	ok(strstr(buf, "catalog_url") != NULL && strstr(buf, "ftp://x/v1"),
	    "its log line names the setting and the value");
	is_int(load_with("min_score", "1.5", buf, sizeof(buf)), AGENTD_EPLUGIN,
	    "min_score 1.5: init fails");
	ok(strstr(buf, "min_score") != NULL, "and says so");
	is_int(load_with("limit", "0", buf, sizeof(buf)), AGENTD_EPLUGIN,
	    "limit 0: init fails");
	is_int(load_with("api_key_file", "/nonexistent/key", buf, sizeof(buf)),
	    AGENTD_EPLUGIN, "an api_key_file that cannot be read: init fails");
	ok(strstr(buf, "/nonexistent/key") != NULL, "the line names the file");
	is_int(load_with("catalog_url", "http://u:secret@supplier/v1", buf,
	           sizeof(buf)),
	    AGENTD_EPLUGIN, "credentials in catalog_url: init fails");
	ok(strstr(buf, "credentials") != NULL,
	    "its line says why (the key goes in api_key_file)");

	/* ---- the happy path: the contract's desk lamp */
	k.code = 200;
	k.body = "{\"products\": [" LAMP2 ", " LAMP1 "]}";
	m      = new_scout(&k, NULL);
	ok(m != NULL, "scout loads with its default settings");
	st = search(m, "desk lamp", -2000, &doc);
	is_int(st, 0, "{\"query\": \"desk lamp\"} is answered");
	is_str(k.url, "http://127.0.0.1:8471/v1/products?q=desk+lamp&limit=10",
	    "GET {catalog_url}/products?q=desk+lamp&limit=10 (the default)");
	is_str(k.auth, "", "no Authorization without api_key_file");
	str_of(get(doc, "query"), buf, sizeof(buf));
	is_str(buf, "desk lamp", "the reply names the query");
	ok(num_of(get(doc, "found")) == 2, "found: 2");
	c = get(doc, "candidates");
	ok(agentd_len(c) == 2, "two candidates");
	str_of(agentd_map_get(agentd_array_at(c, 0), "sku"), buf, sizeof(buf));
	is_str(buf, "LAMP-1", "highest score first: LAMP-1");
	/* 0.5*120/170 + 0.2*1 + 0.3*(4.6/5)*(310/330) = 0.812 */
	ok(fabs(num_of(agentd_map_get(agentd_array_at(c, 0), "score")) - 0.812)
	        < 1e-9,
	    "LAMP-1 scores 0.812 (doc/scout.md's formula)");
	/* 0.5*8/58 + 0.2*(8/900/0.05) + 0.3*(3.9/5)*(12/32) = 0.192 */
	ok(fabs(num_of(agentd_map_get(agentd_array_at(c, 1), "score")) - 0.192)
	        < 1e-9,
	    "LAMP-2 scores 0.192");
	best = get(doc, "best");
	str_of(agentd_map_get(best, "sku"), buf, sizeof(buf));
	is_str(buf, "LAMP-1", "best is LAMP-1");
	ok(num_of(agentd_map_get(best, "cost")) == 12
	        && num_of(agentd_map_get(best, "market_price")) == 34
	        && num_of(agentd_map_get(best, "score")) == 0.812,
	    "best is the whole PRODUCT plus its score");
	ok(agentd_len(agentd_map_get(best, "price_history")) == 2,
	    "with its price_history");
	str_of(agentd_map_get(best, "supplier_id"), buf, sizeof(buf));
	is_str(buf, "S-GOOD", "and its supplier_id");
	agentd_doc_free(doc);
	is_int((int)agentd_mock_published_count(m), 1, "one event published");
	agentd_mock_published(m, 0, &topic, &ev, &evlen);
	is_str(topic, "product.found", "product.found");
	agentd_parse(ev, evlen, &evdoc);
	str_of(get(evdoc, "sku"), buf, sizeof(buf));
	ok(strcmp(buf, "LAMP-1") == 0 && num_of(get(evdoc, "score")) == 0.812,
	    "for LAMP-1 with its score");
	str_of(get(evdoc, "query"), buf, sizeof(buf));
	is_str(buf, "desk lamp", "and the query");
	str_of(get(evdoc, "title"), buf, sizeof(buf));
	is_str(buf, "Brass desk lamp", "and the title");
	agentd_doc_free(evdoc);

	/* ---- a query escaped, a limit given */
	st = search(m, "lamp & shade/50%", 3, &doc);
	agentd_doc_free(doc);
	is_str(k.url,
	    "http://127.0.0.1:8471/v1/products?q=lamp+%26+shade%2F50%25&"
	    "limit=3",
	    "the query is escaped, the request's limit used");

	/* ---- nothing at min_score: best is nil, nothing published */
	k.body = "{\"products\": [" LAMP2 "]}";
	st     = search(m, "plain lamp", -2000, &doc);
	ok(st == 0 && agentd_type_of(get(doc, "best")) == AGENTD_T_NIL
	        && agentd_len(get(doc, "candidates")) == 1,
	    "a candidate under min_score: listed, best is nil");
	agentd_doc_free(doc);
	k.body = "{\"products\": []}";
	st     = search(m, "unicorn", -2000, &doc);
	ok(st == 0 && num_of(get(doc, "found")) == 0
	        && agentd_type_of(get(doc, "best")) == AGENTD_T_NIL,
	    "nothing found: found 0, best nil");
	agentd_doc_free(doc);
	is_int((int)agentd_mock_published_count(m), 2,
	    "product.found only when there is a best (the escaped query's "
	    "LAMP-1)");

	/* ---- bad requests */
	k.calls = 0;
	st      = search(m, NULL, 5, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "query", NULL),
	    "no query: EINVAL naming it");
	agentd_doc_free(doc);
	st = search(m, "", -2000, &doc);
	ok(st == AGENTD_EINVAL, "an empty query: EINVAL");
	agentd_doc_free(doc);
	st = search(m, "lamp", 0, &doc);
	ok(st == AGENTD_EINVAL && says(doc, "limit", NULL),
	    "limit 0: EINVAL naming it");
	agentd_doc_free(doc);
	st = search(m, "lamp", 101, &doc);
	ok(st == AGENTD_EINVAL, "limit 101: EINVAL");
	agentd_doc_free(doc);
	st = search(m, "desk\nlamp", -2000, &doc);
	ok(st == AGENTD_EINVAL, "a control character in the query: EINVAL");
	agentd_doc_free(doc);
	{
		const void *reply;
		size_t      rlen;

		agentd_mock_request(m, "\x91\x01", 2, &reply, &rlen, &st);
		is_int(st, AGENTD_EINVAL, "a body that is not a map: EINVAL");
	}
	is_int(k.calls, 0, "none of them reached the catalog");

	/* ---- the catalog fails */
	k.fail = AGENTD_EUNAVAIL;
	st     = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EUNAVAIL
	        && says(doc, "http://127.0.0.1:8471/v1/products?q=desk+lamp",
	            "no answer"),
	    "the catalog down: EUNAVAIL naming the URL");
	agentd_doc_free(doc);
	k.fail = 0;
	k.code = 503;
	k.body = "busy";
	st     = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EUNAVAIL && says(doc, "/v1/products", "HTTP 503"),
	    "a 503 (after the retry): EUNAVAIL with the URL and the status");
	agentd_doc_free(doc);
	k.code = 401;
	k.body = "{\"error\": \"unauthorized\"}";
	st     = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EPROTO && says(doc, "HTTP 401", "api_key_file"),
	    "a 401: EPROTO, the status and a hint at api_key_file");
	agentd_doc_free(doc);
	k.code = 200;
	k.body = "{\"products\": [";
	st     = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EPROTO && says(doc, "/v1/products", "not JSON"),
	    "a body that is not JSON: EPROTO naming the URL");
	agentd_doc_free(doc);
	k.body = "{\"items\": []}";
	st     = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EPROTO && says(doc, "\"products\"", NULL),
	    "JSON without a products list: EPROTO");
	agentd_doc_free(doc);
	agentd_mock_free(m);

	/* ---- the key, and a host outside http { allow } */
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	f = fopen(keyfile, "w");
	fputs("sup-SECRET-1\n", f);
	fclose(f);
	k.code = 200;
	k.body = "{\"products\": [" LAMP1 "]}";
	m      = new_scout(&k, keyfile);
	st     = search(m, "desk lamp", -2000, &doc);
	agentd_doc_free(doc);
	ok(st == 0 && strcmp(k.auth, "Bearer sup-SECRET-1") == 0,
	    "api_key_file: Authorization: Bearer KEY, its newline removed");
	agentd_mock_free(m);
	unlink(keyfile);
	rmdir(dir);

	/* ---- the limit setting, when a request gives none */
	agentd_mock_new("scout", &m);
	agentd_mock_setting(m, "limit", "5");
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, catalog, &k);
	{
		const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/scout.so",
		    d != NULL ? d : "plugins/.libs");
		agentd_mock_load(m, path);
	}
	st = search(m, "desk lamp", -2000, &doc);
	agentd_doc_free(doc);
	ok(st == 0 && strstr(k.url, "&limit=5") != NULL,
	    "setting limit = 5: the catalog is asked for 5");
	agentd_mock_free(m);

	agentd_mock_new("scout", &m);
	agentd_mock_setting(m, "catalog_url", "http://supplier.example/v1/");
	{
		const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/scout.so",
		    d != NULL ? d : "plugins/.libs");
		agentd_mock_load(m, path);
	}
	st = search(m, "desk lamp", -2000, &doc);
	ok(st == AGENTD_EDENIED
	        && says(doc, "http://supplier.example/v1/products?",
	            "http { allow }"),
	    "a host not allowed: EDENIED, the URL (trailing / dropped) and "
	    "the hint");
	agentd_doc_free(doc);
	agentd_mock_free(m);

	return done_testing();
}
