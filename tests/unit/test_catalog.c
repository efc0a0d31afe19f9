/*
 * The catalog plugin (plugins/catalog) against the mock host: products
 * from product.published and price.changed (delivered again: the same),
 * search by every word, carts held to the stock and forgotten after
 * cart_ttl_ms, and checkout as one POST orders.json to a shop of the
 * test's own behind the mock's http_async: answered with the shop's
 * order, the cart emptied; the shop down, 401, an answer not JSON: an
 * error and the cart kept; a second checkout of a cart on its way: EBUSY.
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

#define TOKEN "shpat_cat-SECRET"
#define BASE "http://127.0.0.1:8472/admin/api/2024-01"

enum mode { SHOP_OK, SHOP_DOWN, SHOP_401, SHOP_BADJSON, SHOP_HOLD };

struct shop {
	enum mode mode;
	int       posts, bad_token;
	char      body[1024];
	size_t    held;
};

static int
on_http(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct shop *s   = arg;
	const char  *tok = NULL;
	const char  *ok  = "{\"order\":{\"id\":450789469,\"name\":\"#1001\","
	                   "\"total_price\":\"45.60\",\"currency\":\"EUR\"}}";

	for (size_t i = 0; i < c->nheaders; i++)
		if (strcasecmp(c->headers[i].name, "X-Shopify-Access-Token")
		    == 0)
			tok = c->headers[i].value;
	if (tok == NULL || strcmp(tok, TOKEN) != 0)
		s->bad_token++;
	s->posts++;
	snprintf(s->body, sizeof(s->body), "%.*s", (int)c->body_len,
	    (const char *)c->body);
	if (strcmp(c->method, "POST") != 0
	    || strcmp(c->url, BASE "/orders.json") != 0) {
		agentd_mock_http_answer(m, c->id, 404, NULL, 0, "{}", 2);
		return 0;
	}
	switch (s->mode) {
	case SHOP_DOWN:
		return AGENTD_EUNAVAIL;
	case SHOP_401:
		agentd_mock_http_answer(m, c->id, 401, NULL, 0, "{}", 2);
		return 0;
	case SHOP_BADJSON:
		agentd_mock_http_answer(m, c->id, 201, NULL, 0, "ok", 2);
		return 0;
	case SHOP_HOLD:
		s->held = c->id;
		return AGENTD_MOCK_HTTP_LATER;
	default:
		agentd_mock_http_answer(
		    m, c->id, 201, NULL, 0, ok, strlen(ok));
		return 0;
	}
}

static char token_path[256];

/* The catalog loaded in a mock host; key = val set over the others
 * unless key is NULL. */
static agentd_mock *
new_mock(struct shop *s, const char *token_file, const char *key,
    const char *val, int *loaded)
{
	agentd_mock *m;
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];

	snprintf(path, sizeof(path), "%s/catalog.so",
	    d != NULL ? d : "plugins/.libs");
	agentd_mock_new("catalog", &m);
	agentd_mock_setting(m, "shop_url", BASE);
	agentd_mock_setting(m, "token_file", token_file);
	agentd_mock_setting(m, "cart_ttl_ms", "60000");
	if (key != NULL)
		agentd_mock_setting(m, key, val);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, on_http, s);
	*loaded = agentd_mock_load(m, path);
	return m;
}

static void
published(agentd_mock *m, const char *topic, const char *sku,
    const char *title, double price, int stock)
{
	agentd_writer *w;
	const void    *b;
	size_t         l;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "price");
	agentd_write_double(w, price);
	if (title != NULL) {
		agentd_write_str(w, "title");
		agentd_write_str(w, title);
		agentd_write_str(w, "stock");
		agentd_write_int(w, stock);
		agentd_write_str(w, "product_id");
		agentd_write_int(w, 632910392);
	}
	agentd_write_map_end(w);
	b = agentd_writer_data(w, &l);
	agentd_mock_event(m, topic, b, l);
	agentd_writer_free(w);
}

/*
 * A request from a JSON text (converted to msgpack here: strings, ints,
 * doubles); *doc the answer (caller frees).  Returns the status.
 */
static void
to_mp(agentd_writer *w, json_t *j)
{
	const char *k;
	json_t     *v;

	if (json_is_object(j)) {
		agentd_write_map(w, (uint32_t)json_object_size(j));
		json_object_foreach(j, k, v)
		{
			agentd_write_str(w, k);
			to_mp(w, v);
		}
	} else if (json_is_string(j)) {
		agentd_write_str(w, json_string_value(j));
	} else if (json_is_integer(j)) {
		agentd_write_int(w, json_integer_value(j));
	} else if (json_is_real(j)) {
		agentd_write_double(w, json_real_value(j));
	} else {
		agentd_write_nil(w);
	}
}

static int
ask(agentd_mock *m, const char *json, agentd_doc **doc)
{
	agentd_writer *w;
	json_t        *j = json_loads(json, 0, NULL);
	const void    *b, *r;
	size_t         l, rl;
	int            st = -1;

	agentd_writer_new(&w);
	to_mp(w, j);
	json_decref(j);
	b    = agentd_writer_data(w, &l);
	*doc = NULL;
	if (agentd_mock_request(m, b, l, &r, &rl, &st) == 0 && st == 0)
		agentd_parse(r, rl, doc);
	agentd_writer_free(w);
	return st;
}

static int
ask_st(agentd_mock *m, const char *json)
{
	agentd_doc *doc;
	int         st = ask(m, json, &doc);

	agentd_doc_free(doc);
	return st;
}

static double
num(agentd_doc *doc, const char *key)
{
	double v = NAN;

	agentd_get_double(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

static size_t
nproducts(agentd_mock *m, const char *query)
{
	char        json[128];
	agentd_doc *doc;
	size_t      n;

	snprintf(
	    json, sizeof(json), "{\"op\":\"search\",\"query\":\"%s\"}", query);
	if (ask(m, json, &doc) != 0)
		return (size_t)-1;
	n = agentd_len(agentd_map_get(agentd_doc_root(doc), "products"));
	agentd_doc_free(doc);
	return n;
}

static double
cart_total(agentd_mock *m, const char *cart, size_t *lines)
{
	char        json[128];
	agentd_doc *doc;
	double      t;

	snprintf(json, sizeof(json), "{\"op\":\"cart.view\",\"cart\":\"%s\"}",
	    cart);
	if (ask(m, json, &doc) != 0)
		return -1;
	t      = num(doc, "total");
	*lines = agentd_len(agentd_map_get(agentd_doc_root(doc), "lines"));
	agentd_doc_free(doc);
	return t;
}

static int
near(double a, double b)
{
	return fabs(a - b) < 0.005;
}

int
main(void)
{
	agentd_mock *m;
	agentd_doc  *doc;
	struct shop  s;
	size_t       lines;
	int          loaded, st;
	FILE        *f;

	snprintf(token_path, sizeof(token_path), "%s/catalog-token.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	close(mkstemp(token_path));
	f = fopen(token_path, "w");
	fprintf(f, "%s\r\n", TOKEN);
	fclose(f);
	memset(&s, 0, sizeof(s));

	m = new_mock(&s, "", NULL, NULL, &loaded);
	is_int(loaded, AGENTD_EPLUGIN, "no token_file: init fails");
	like(agentd_mock_last_log(m, NULL), "settings: token_file",
	    "in one line naming the setting");
	agentd_mock_free(m);

	/* The settings shopkit_api_settings checks for every shop client,
	 * and the catalog's own. */
	{
		static const char *bad[][3] = {
			{ "timeout_ms", "50",
			    "settings: timeout_ms 50 is not 100 "
			    "to 600000" },
			{ "shop_url", "shop:8470", "settings: shop_url" },
			{ "cart_ttl_ms", "10",
			    "settings: cart_ttl_ms 10 is not "
			    "1000 to" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char name[128];

			m = new_mock(
			    &s, token_path, bad[i][0], bad[i][1], &loaded);
			snprintf(name, sizeof(name), "%s = %s: init fails",
			    bad[i][0], bad[i][1]);
			is_int(loaded, AGENTD_EPLUGIN, name);
			like(agentd_mock_last_log(m, NULL), bad[i][2],
			    "in one line naming the setting");
			agentd_mock_free(m);
		}
	}

	m = new_mock(&s, token_path, NULL, NULL, &loaded);
	is_int(loaded, 0, "catalog loads (a token file ending in CRLF)");

	/* ---- products from events */
	published(
	    m, "product.published", "LAMP-1", "Brass desk lamp", 22.8, 3);
	published(m, "product.published", "CANDLE-2", "Fig scented candle",
	    12.5, 40);
	published(
	    m, "product.published", "LAMP-1", "Brass desk lamp", 22.8, 3);
	is_int((int)nproducts(m, ""), 2,
	    "two products published (one delivered twice): two products");
	is_int((int)nproducts(m, "desk lamp"), 1, "\"desk lamp\" finds one");
	is_int((int)nproducts(m, "DESK"), 1, "whatever its case");
	is_int((int)nproducts(m, "candle-2"), 1, "the SKU is searched too");
	is_int((int)nproducts(m, "lamp candle"), 0, "every word must match");
	st = ask(m, "{\"op\":\"get\",\"sku\":\"LAMP-1\"}", &doc);
	ok(st == 0 && near(num(doc, "price"), 22.8)
	        && near(num(doc, "stock"), 3),
	    "get: price 22.80, stock 3");
	agentd_doc_free(doc);
	published(m, "price.changed", "LAMP-1", NULL, 24.5, 0);
	st = ask(m, "{\"op\":\"get\",\"sku\":\"LAMP-1\"}", &doc);
	ok(st == 0 && near(num(doc, "price"), 24.5),
	    "price.changed: the new price (24.50)");
	agentd_doc_free(doc);
	published(m, "price.changed", "NOPE-1", NULL, 3, 0);
	is_int(ask_st(m, "{\"op\":\"get\",\"sku\":\"NOPE-1\"}"), AGENTD_ENOENT,
	    "price.changed of a product never published: not a product");

	/* ---- carts */
	st = ask(m,
	    "{\"op\":\"cart.add\",\"cart\":\"c-1\",\"sku\":\"LAMP-1\","
	    "\"quantity\":2}",
	    &doc);
	ok(st == 0 && near(num(doc, "total"), 49),
	    "cart.add: 2 x 24.50 = 49.00");
	agentd_doc_free(doc);
	is_int(ask_st(m,
	           "{\"op\":\"cart.add\",\"cart\":\"c-1\",\"sku\":\"LAMP-1\","
	           "\"quantity\":2}"),
	    AGENTD_EBUSY, "more than the stock (3): EBUSY");
	is_int(
	    ask_st(m,
	        "{\"op\":\"cart.add\",\"cart\":\"c-1\",\"sku\":\"NOPE-1\"}"),
	    AGENTD_ENOENT, "a product not in the catalog: ENOENT");
	is_int(
	    ask_st(m,
	        "{\"op\":\"cart.add\",\"cart\":\"c 1\",\"sku\":\"LAMP-1\"}"),
	    AGENTD_EINVAL, "a cart id with a space: EINVAL");
	is_int(
	    ask_st(m,
	        "{\"op\":\"cart.add\",\"cart\":\"c-1\",\"sku\":\"CANDLE-2\"}"),
	    0, "another line (quantity 1 by default)");
	ok(near(cart_total(m, "c-1", &lines), 61.5) && lines == 2,
	    "cart.view: two lines, 61.50");

	/* ---- checkout */
	st = ask(m,
	    "{\"op\":\"checkout\",\"cart\":\"c-1\",\"email\":\"a@example."
	    "com\"}",
	    &doc);
	is_int(st, 0, "checkout");
	ok(doc != NULL && near(num(doc, "order_id"), 450789469)
	        && near(num(doc, "total"), 45.6),
	    "answers the shop's order id and total");
	agentd_doc_free(doc);
	ok(s.posts == 1
	        && strstr(s.body, "\"sku\":\"LAMP-1\",\"quantity\":2") != NULL
	        && strstr(s.body, "\"email\":\"a@example.com\"") != NULL,
	    "one POST orders.json with the cart's lines and the email");
	is_int(s.bad_token, 0, "with the token");
	ok(near(cart_total(m, "c-1", &lines), 0) && lines == 0,
	    "the cart is empty after");
	is_int(ask_st(m, "{\"op\":\"checkout\",\"cart\":\"c-1\"}"),
	    AGENTD_EINVAL, "an empty cart's checkout: EINVAL");
	is_int(s.posts, 1, "  and nothing sent");

	/* ---- errors: the cart kept */
	{
		static const struct {
			enum mode   mode;
			int         st;
			const char *name;
		} cases[] = {
			{ SHOP_DOWN, AGENTD_EUNAVAIL,
			    "the shop down: EUNAVAIL" },
			{ SHOP_401, AGENTD_EDENIED, "401: EDENIED" },
			{ SHOP_BADJSON, AGENTD_EPROTO,
			    "an answer not JSON: EPROTO" },
		};
		ask_st(m,
		    "{\"op\":\"cart.add\",\"cart\":\"c-2\",\"sku\":\"CANDLE-"
		    "2\"}");
		for (size_t i = 0; i < 3; i++) {
			s.mode = cases[i].mode;
			is_int(ask_st(m,
			           "{\"op\":\"checkout\",\"cart\":\"c-2\"}"),
			    cases[i].st, cases[i].name);
		}
		ok(near(cart_total(m, "c-2", &lines), 12.5) && lines == 1,
		    "the cart is kept after a failed checkout");
	}

	/* ---- one checkout of a cart at a time */
	s.mode = SHOP_HOLD;
	{
		agentd_writer *w;
		const void    *b, *r;
		size_t         l, id, rl;
		int            st2 = -1;
		json_t        *j   = json_loads(
		             "{\"op\":\"checkout\",\"cart\":\"c-2\"}", 0, NULL);

		agentd_writer_new(&w);
		to_mp(w, j);
		json_decref(j);
		b = agentd_writer_data(w, &l);
		agentd_mock_send(m, b, l, &id);
		agentd_writer_free(w);
		is_int(ask_st(m, "{\"op\":\"checkout\",\"cart\":\"c-2\"}"),
		    AGENTD_EBUSY,
		    "a second checkout while the first is on its way: EBUSY");
		{
			const char *late
			    = "{\"order\":{\"id\":7,\"name\":"
			      "\"#1002\",\"total_price\":\"12.50\"}}";

			agentd_mock_http_answer(
			    m, s.held, 201, NULL, 0, late, strlen(late));
		}
		while (agentd_mock_run(m) > 0)
			;
		ok(agentd_mock_answer(m, id, &r, &rl, &st2) == 0 && st2 == 0,
		    "the first one is answered");
	}
	s.mode = SHOP_OK;

	/* ---- a cart is forgotten after cart_ttl_ms */
	ask_st(
	    m, "{\"op\":\"cart.add\",\"cart\":\"c-3\",\"sku\":\"CANDLE-2\"}");
	agentd_mock_clock_advance(m, 60001);
	ok(near(cart_total(m, "c-3", &lines), 0) && lines == 0,
	    "a cart untouched for cart_ttl_ms is forgotten");

	is_int(ask_st(m, "{\"op\":\"list\"}"), AGENTD_EINVAL,
	    "an unknown op: EINVAL");
	agentd_mock_free(m);
	unlink(token_path);
	printf("1..%d\n", tap_run_);
	return done_testing();
}
