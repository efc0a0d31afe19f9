/*
 * The inventory plugin (plugins/inventory) against the mock host: stock
 * from product.published and orders (once per order id), stock.low once
 * per crossing, stock.slow once per period, the shop's inventory levels
 * over http_async (its token, its failures), the requests.  Linked as a
 * plugin author's test is.
 */
#define _GNU_SOURCE

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static char token_path[256];

static agentd_mock *
load(const char *shop, const char *slow_ms)
{
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];
	agentd_mock *m;

	snprintf(path, sizeof(path), "%s/inventory.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("inventory", &m);
	if (shop != NULL) {
		agentd_mock_setting(m, "shop_url", shop);
		agentd_mock_setting(m, "token_file", token_path);
		agentd_mock_http_allow(m, "127.0.0.1");
	}
	if (slow_ms != NULL) {
		agentd_mock_setting(m, "slow_after_ms", slow_ms);
		agentd_mock_setting(m, "slow_min_stock", "10");
	}
	if (agentd_mock_load(m, path) != 0)
		diag("load: %s", agentd_mock_errmsg(m));
	return m;
}

/* {"op": op, "sku": sku, "stock": stock (>= 0), "threshold": t (>= 0)};
 * the answer into *doc (may be NULL); returns the status. */
static int
op(agentd_mock *m, const char *name, const char *sku, int stock, int t,
    agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            st = -1;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "op");
	agentd_write_str(w, name);
	if (sku != NULL) {
		agentd_write_str(w, "sku");
		agentd_write_str(w, sku);
	}
	if (stock >= 0) {
		agentd_write_str(w, "stock");
		agentd_write_int(w, stock);
	}
	if (t >= 0) {
		agentd_write_str(w, "threshold");
		agentd_write_int(w, t);
	}
	agentd_write_map_end(w);
	body = agentd_writer_data(w, &len);
	if (agentd_mock_request(m, body, len, &reply, &rlen, &st) == 0
	    && doc != NULL)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return st;
}

static int64_t
field(agentd_doc *doc, const char *key)
{
	int64_t v = -1;
	int     b;

	if (agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v) != 0
	    && agentd_get_bool(agentd_map_get(agentd_doc_root(doc), key), &b)
	        == 0)
		v = b;
	return v;
}

/* The stock of sku (-1 if not tracked). */
static int64_t
stock_of(agentd_mock *m, const char *sku)
{
	agentd_doc *doc = NULL;
	int64_t     v   = -1;

	if (op(m, "get", sku, -1, -1, &doc) == 0)
		v = field(doc, "stock");
	agentd_doc_free(doc);
	return v;
}

static void
published(agentd_mock *m, const char *sku, int stock, int item)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, "Desk lamp");
	agentd_write_str(w, "price");
	agentd_write_double(w, 22.80);
	agentd_write_str(w, "inventory_item_id");
	agentd_write_int(w, item);
	agentd_write_str(w, "stock");
	agentd_write_int(w, stock);
	b = agentd_writer_data(w, &n);
	agentd_mock_event(m, "product.published", b, n);
	agentd_writer_free(w);
}

/* The webhook's ORDER, as msgpack: {"id", "name", "line_items": [{"sku",
 * "quantity", "price"}]}. */
static void
order(agentd_mock *m, int64_t id, const char *sku, int qty)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "id");
	agentd_write_int(w, id);
	agentd_write_str(w, "name");
	agentd_write_str(w, "#1001");
	agentd_write_str(w, "line_items");
	agentd_write_array(w, 2);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "quantity");
	agentd_write_int(w, qty);
	agentd_write_str(w, "price");
	agentd_write_str(w, "22.80");
	agentd_write_map(w, 2);
	agentd_write_str(w, "sku");
	agentd_write_str(w, "UNKNOWN-1");
	agentd_write_str(w, "quantity");
	agentd_write_int(w, 1);
	b = agentd_writer_data(w, &n);
	agentd_mock_event(m, "shop.order.created", b, n);
	agentd_writer_free(w);
}

static size_t
events_on(agentd_mock *m, const char *topic, int64_t *last_stock)
{
	size_t      k = 0;
	const char *t;
	const void *b;
	size_t      l;
	agentd_doc *doc;

	for (size_t i = 0; i < agentd_mock_published_count(m); i++)
		if (agentd_mock_published(m, i, &t, &b, &l) == 0
		    && strcmp(t, topic) == 0) {
			k++;
			if (last_stock != NULL
			    && agentd_parse(b, l, &doc) == 0) {
				*last_stock = field(doc, "stock");
				agentd_doc_free(doc);
			}
		}
	return k;
}

/* The shop: checks the token and the items asked for, answers item 11 at
 * 2 (two locations: 1 + 1); with *arg 1, 500; 2, a body not JSON. */
static int
shop(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	static const char ok[]
	    = "{\"inventory_levels\":[{\"inventory_item_id\":11,"
	      "\"location_id\":1,\"available\":1},{\"inventory_item_id\":11,"
	      "\"location_id\":2,\"available\":1},{\"inventory_item_id\":99,"
	      "\"location_id\":1,\"available\":7}]}";
	int token = 0;

	for (size_t i = 0; i < c->nheaders; i++)
		if (strcasecmp(c->headers[i].name, "X-Shopify-Access-Token")
		        == 0
		    && strcmp(c->headers[i].value, "shpat_test") == 0)
			token = 1;
	if (arg != NULL && *(int *)arg == 1)
		return agentd_mock_http_answer(m, c->id, 500, NULL, 0, "x", 1);
	if (arg != NULL && *(int *)arg == 2)
		return agentd_mock_http_answer(
		    m, c->id, 200, NULL, 0, "<html>", 6);
	if (!token || strcmp(c->method, "GET") != 0
	    || strstr(c->url,
	           "/admin/api/2024-01/inventory_levels.json"
	           "?inventory_item_ids=11")
	        == NULL)
		return agentd_mock_http_answer(
		    m, c->id, 401, NULL, 0, "{}", 2);
	return agentd_mock_http_answer(m, c->id, 200, NULL, 0, ok, strlen(ok));
}

int
main(void)
{
	agentd_mock *m;
	agentd_doc  *doc = NULL;
	int64_t      last;
	char         dir[] = "/tmp/test_inventory.XXXXXX";
	FILE        *f;
	int          fail = 1;

	plan(32);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(token_path, sizeof(token_path), "%s/token", dir);
	f = fopen(token_path, "w");
	fputs("shpat_test\n", f);
	fclose(f);

	/* ---- settings refused at init, with one line */
	agentd_mock_new("inventory", &m);
	agentd_mock_setting(m, "shop_url", "http://127.0.0.1:8472/admin");
	{
		const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/inventory.so",
		    d != NULL ? d : "plugins/.libs");
		is_int(agentd_mock_load(m, path), AGENTD_EPLUGIN,
		    "a shop_url without token_file: init fails");
	}
	ok(agentd_mock_last_log(m, NULL) != NULL
	        && strstr(agentd_mock_last_log(m, NULL), "token_file") != NULL,
	    "...saying so in one line");
	agentd_mock_free(m);

	/* ---- published, then orders: stock.low once per crossing */
	m = load(NULL, NULL);
	published(m, "LAMP-1", 8, 11);
	is_int((int)stock_of(m, "LAMP-1"), 8, "product.published: stock 8");
	is_int((int)events_on(m, "stock.low", NULL), 0,
	    "8 is not under the threshold 5: no stock.low");
	order(m, 450789469, "LAMP-1", 4);
	is_int((int)stock_of(m, "LAMP-1"), 4, "an order of 4: stock 4");
	last = -1;
	ok(events_on(m, "stock.low", &last) == 1 && last == 4,
	    "under 5: stock.low {sku, stock 4, threshold}");
	order(m, 450789469, "LAMP-1", 4);
	is_int((int)stock_of(m, "LAMP-1"), 4,
	    "the same order delivered again: counted once");
	order(m, 450789470, "LAMP-1", 1);
	is_int((int)stock_of(m, "LAMP-1"), 3, "another order: 3");
	is_int((int)events_on(m, "stock.low", NULL), 1,
	    "still low: no second stock.low");
	is_int(op(m, "set", "LAMP-1", 10, -1, &doc), 0, "set stock 10");
	ok(field(doc, "low") == 0 && field(doc, "stock") == 10,
	    "...back over the threshold: no longer low");
	agentd_doc_free(doc);
	doc = NULL;
	order(m, 450789471, "LAMP-1", 12);
	ok(stock_of(m, "LAMP-1") == 0 && events_on(m, "stock.low", &last) == 2
	        && last == 0,
	    "a new crossing (an order of 12 leaves 0, never less): stock.low "
	    "again");
	op(m, "set", "MUG-9", 3, 2, &doc);
	ok(field(doc, "threshold") == 2 && field(doc, "low") == 0,
	    "set with a threshold of its own: 3 is not under 2");
	agentd_doc_free(doc);
	doc = NULL;
	op(m, "list", NULL, -1, -1, &doc);
	is_int((int)agentd_len(agentd_map_get(agentd_doc_root(doc), "items")),
	    2, "list: the two SKUs tracked");
	agentd_doc_free(doc);
	doc = NULL;
	is_int(op(m, "get", "NOPE-1", -1, -1, NULL), AGENTD_ENOENT,
	    "get of a SKU not tracked: ENOENT");
	is_int(op(m, "get", "bad sku!", -1, -1, NULL), AGENTD_EINVAL,
	    "a bad SKU: EINVAL");
	is_int(op(m, "set", "LAMP-1", -1, -1, NULL), AGENTD_EINVAL,
	    "set without a stock: EINVAL");
	is_int(op(m, "sell", NULL, -1, -1, NULL), AGENTD_EINVAL,
	    "another op: EINVAL");
	agentd_mock_free(m);

	/* ---- the shop's inventory levels */
	m = load("http://127.0.0.1:8472/admin/api/2024-01", NULL);
	agentd_mock_on_http(m, shop, NULL);
	published(m, "LAMP-1", 8, 11);
	is_int(op(m, "check", NULL, -1, -1, &doc), 0,
	    "check: the shop is asked with its token");
	ok(field(doc, "levels") == 1 && field(doc, "updated") == 1
	        && field(doc, "low") == 1,
	    "...its level (1 + 1 over two locations) replaces ours");
	agentd_doc_free(doc);
	doc = NULL;
	ok(stock_of(m, "LAMP-1") == 2 && events_on(m, "stock.low", &last) == 1
	        && last == 2,
	    "stock 2, under 5: stock.low");
	is_int(agentd_mock_tick(m), 0, "a tick");
	agentd_mock_run(m);
	ok(agentd_mock_http_count(m) == 2
	        && events_on(m, "stock.low", NULL) == 1,
	    "...checks again (check_every_ms): the same level, nothing new");
	agentd_mock_tick(m);
	agentd_mock_run(m);
	is_int((int)agentd_mock_http_count(m), 2,
	    "a tick before check_every_ms passed asks nothing");
	agentd_mock_on_http(m, shop, &fail);
	is_int(op(m, "check", NULL, -1, -1, NULL), AGENTD_EUNAVAIL,
	    "the shop answering 500: EUNAVAIL");
	is_int((int)stock_of(m, "LAMP-1"), 2, "...and the stock is kept");
	fail = 2;
	is_int(op(m, "check", NULL, -1, -1, NULL), AGENTD_EPROTO,
	    "the shop answering what is not its JSON: EPROTO");
	is_int((int)stock_of(m, "LAMP-1"), 2, "...and the stock is kept");
	agentd_mock_free(m);

	/* ---- slow SKUs */
	m = load(NULL, "50");
	published(m, "CANDLE-2", 40, 0);
	published(m, "FEW-1", 3, 0);
	op(m, "check", NULL, -1, -1, &doc);
	is_int((int)field(doc, "slow"), 0, "check at once: nothing is slow");
	agentd_doc_free(doc);
	doc = NULL;
	usleep(80 * 1000);
	op(m, "check", NULL, -1, -1, &doc);
	ok(field(doc, "slow") == 1 && events_on(m, "stock.slow", &last) == 1
	        && last == 40,
	    "no sale for slow_after_ms with 40 in stock: stock.slow (3 in "
	    "stock is under slow_min_stock)");
	agentd_doc_free(doc);
	doc = NULL;
	op(m, "check", NULL, -1, -1, NULL);
	is_int((int)events_on(m, "stock.slow", NULL), 1,
	    "once per period: not again at once");
	usleep(80 * 1000);
	op(m, "check", NULL, -1, -1, NULL);
	is_int((int)events_on(m, "stock.slow", NULL), 2,
	    "another period without a sale: stock.slow again");
	agentd_mock_free(m);

	unlink(token_path);
	rmdir(dir);
	return done_testing();
}
