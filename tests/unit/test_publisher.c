/*
 * The publisher plugin (plugins/publisher) against the mock host, with a
 * small Shopify of the test's own behind the mock's http_async: created
 * once per SKU (state, then the handle, then a POST), never twice however
 * it is asked (again, twice at once, after a POST whose answer was lost,
 * from a new instance with no state), the inventory level set, the event
 * and the audit record; the errors (shop down, 401, not JSON, a bad
 * request, a refused URL) answered and nothing stored; price.changed PUT
 * once.  Linked as a plugin author's test is.
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

#define TOKEN "shpat_unit-SECRET"
#define BASE "http://127.0.0.1:8472/admin/api/2024-01"

/* ---- the test's shop --------------------------------------------------- */

enum mode {
	SHOP_OK,
	SHOP_DOWN,
	SHOP_401,
	SHOP_BADJSON,
	SHOP_POST_LOST,
	SHOP_HOLD
};

struct shop {
	enum mode mode;
	json_t   *products;  /* array */
	int       creations; /* POSTs of products */
	int       gets, posts, levels, puts, bad_token;
	int64_t   next_id;
	int64_t   level; /* the last level set */
	char      put_price[32];
	size_t    held[4]; /* SHOP_HOLD: requests answered later */
	size_t    nheld;
	char      held_url[4][512];
	char      held_body[4][1024];
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
answer_json(agentd_mock *m, size_t id, int code, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	agentd_mock_http_answer(m, id, code, NULL, 0, s, strlen(s));
	free(s);
	json_decref(j);
}

/* The shop's answer to method url body. */
static void
serve(struct shop *s, agentd_mock *m, size_t id, const char *method,
    const char *url, const char *body, size_t body_len)
{
	const char *path = url + strlen(BASE) + 1;
	json_t *in = body_len > 0 ? json_loadb(body, body_len, 0, NULL) : NULL;
	json_t *p;
	size_t  i;

	if (strncmp(path, "products.json?handle=", 21) == 0) {
		json_t *found = json_array();

		s->gets++;
		json_array_foreach(s->products, i, p)
		{
			if (strcmp(json_string_value(
			               json_object_get(p, "handle")),
			        path + 21)
			    == 0)
				json_array_append(found, p);
		}
		answer_json(m, id, 200, json_pack("{s:o}", "products", found));
	} else if (strcmp(method, "POST") == 0
	    && strcmp(path, "products.json") == 0) {
		json_t *src = json_object_get(in, "product");
		json_t *v
		    = json_array_get(json_object_get(src, "variants"), 0);
		int64_t     pid = s->next_id++;
		const char *h
		    = json_string_value(json_object_get(src, "handle"));
		char handle[128];

		s->posts++;
		s->creations++;
		snprintf(handle, sizeof(handle), "%s%s", h,
		    s->creations > 1 ? "-1" : "");
		p = json_pack("{s:I,s:s,s:s,s:[{s:I,s:I,s:s,s:s,s:I}]}", "id",
		    (json_int_t)pid, "title",
		    json_string_value(json_object_get(src, "title")), "handle",
		    handle, "variants", "id", (json_int_t)(pid + 1000),
		    "product_id", (json_int_t)pid, "sku",
		    json_string_value(json_object_get(v, "sku")), "price",
		    json_string_value(json_object_get(v, "price")),
		    "inventory_item_id", (json_int_t)(pid + 2000));
		json_array_append(s->products, p);
		if (s->mode == SHOP_POST_LOST) {
			json_decref(
			    p); /* created, but the answer never came */
			agentd_mock_http_fail(m, id, AGENTD_ETIMEOUT);
		} else {
			answer_json(
			    m, id, 201, json_pack("{s:o}", "product", p));
		}
	} else if (strcmp(path, "locations.json") == 0) {
		answer_json(m, id, 200,
		    json_pack("{s:[{s:i,s:s,s:b}]}", "locations", "id", 1,
		        "name", "Warehouse", "active", 1));
	} else if (strcmp(path, "inventory_levels/set.json") == 0) {
		s->levels++;
		s->level
		    = json_integer_value(json_object_get(in, "available"));
		answer_json(
		    m, id, 200, json_pack("{s:O}", "inventory_level", in));
	} else if (strcmp(method, "PUT") == 0
	    && strncmp(path, "variants/", 9) == 0) {
		s->puts++;
		snprintf(s->put_price, sizeof(s->put_price), "%s",
		    json_string_value(json_object_get(
		        json_object_get(in, "variant"), "price")));
		answer_json(m, id, 200, json_pack("{s:O}", "variant", in));
	} else {
		agentd_mock_http_answer(m, id, 404, NULL, 0, "{}", 2);
	}
	json_decref(in);
}

static int
on_http(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	struct shop *s   = arg;
	const char  *tok = header(c, "X-Shopify-Access-Token");

	if (tok == NULL || strcmp(tok, TOKEN) != 0)
		s->bad_token++;
	switch (s->mode) {
	case SHOP_DOWN:
		return AGENTD_EUNAVAIL;
	case SHOP_401:
		agentd_mock_http_answer(m, c->id, 401, NULL, 0,
		    "{\"errors\":\"[API] Invalid API key\"}", 33);
		return 0;
	case SHOP_BADJSON:
		agentd_mock_http_answer(m, c->id, 200, NULL, 0, "<html>", 6);
		return 0;
	case SHOP_HOLD:
		if (s->nheld < 4) {
			snprintf(s->held_url[s->nheld], 512, "%s", c->url);
			snprintf(s->held_body[s->nheld], 1024, "%.*s",
			    (int)c->body_len, (const char *)c->body);
			s->held[s->nheld++] = c->id;
			return AGENTD_MOCK_HTTP_LATER;
		}
		return AGENTD_EUNAVAIL;
	default:
		serve(s, m, c->id, c->method, c->url, c->body, c->body_len);
		return 0;
	}
}

/* Answer the held requests, as the shop would have. */
static void
release(struct shop *s, agentd_mock *m)
{
	size_t n = s->nheld;

	s->nheld = 0;
	for (size_t i = 0; i < n; i++)
		serve(s, m, s->held[i], s->held_body[i][0] ? "POST" : "GET",
		    s->held_url[i], s->held_body[i], strlen(s->held_body[i]));
}

/* ---- the plugin --------------------------------------------------------- */

static char token_path[256];

static agentd_mock *
new_mock(struct shop *s, const char *token_file, int *loaded)
{
	agentd_mock *m;
	const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char         path[512];

	snprintf(path, sizeof(path), "%s/publisher.so",
	    d != NULL ? d : "plugins/.libs");
	if (agentd_mock_new("publisher", &m) != 0)
		return NULL;
	agentd_mock_setting(m, "shop_url", BASE);
	agentd_mock_setting(m, "token_file", token_file);
	agentd_mock_http_allow(m, "127.0.0.1");
	agentd_mock_on_http(m, on_http, s);
	*loaded = agentd_mock_load(m, path);
	return m;
}

static void
write_product(agentd_writer *w, const char *sku, double price, int stock)
{
	agentd_write_map(w, 6);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, "Brass desk lamp");
	agentd_write_str(w, "description");
	agentd_write_str(w, "An adjustable brass desk lamp.");
	agentd_write_str(w, "price");
	agentd_write_double(w, price);
	agentd_write_str(w, "stock");
	agentd_write_int(w, stock);
	agentd_write_str(w, "idempotency_key");
	agentd_write_str(w, "run-1/publish");
}

/* Publish sku; *doc the answer (caller frees); returns its status. */
static int
publish(agentd_mock *m, const char *sku, agentd_doc **doc)
{
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen;
	int            status = -1;

	agentd_writer_new(&w);
	write_product(w, sku, 22.8, 120);
	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) == 0)
		agentd_parse(reply, rlen, doc);
	agentd_writer_free(w);
	return status;
}

static int64_t
field_int(agentd_doc *doc, const char *key)
{
	int64_t v = -1;

	agentd_get_int(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

static int
field_bool(agentd_doc *doc, const char *key)
{
	int v = -1;

	agentd_get_bool(agentd_map_get(agentd_doc_root(doc), key), &v);
	return v;
}

static const char *
field_str(agentd_doc *doc, const char *key, char *buf, size_t size)
{
	buf[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), key), buf, size);
	return buf;
}

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
has_state(agentd_mock *m, const char *key)
{
	agentd_ctx               *ctx;
	const struct agentd_host *h = agentd_mock_host(m, &ctx);
	void                     *v;
	size_t                    l;

	if (h->state_get(ctx, key, strlen(key), &v, &l) != 0)
		return 0;
	h->free(v);
	return 1;
}

static void
price_changed(agentd_mock *m, const char *sku, double price)
{
	agentd_writer *w;
	const void    *b;
	size_t         l;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "price");
	agentd_write_double(w, price);
	agentd_write_str(w, "decision");
	agentd_write_str(w, "4");
	b = agentd_writer_data(w, &l);
	agentd_mock_event(m, "price.changed", b, l);
	agentd_writer_free(w);
	agentd_mock_run(m);
}

static struct shop *
new_shop(void)
{
	struct shop *s = calloc(1, sizeof(*s));

	s->products = json_array();
	s->next_id  = 632910392;
	return s;
}

static void
free_shop(struct shop *s)
{
	json_decref(s->products);
	free(s);
}

/* A reply or a log line that holds the token fails the test. */
static int
no_token_in(agentd_mock *m, const void *reply, size_t len)
{
	const char *last = agentd_mock_last_log(m, NULL);

	if (last != NULL && strstr(last, "SECRET") != NULL)
		return 0;
	return memmem(reply, len, "SECRET", 6) == NULL;
}

int
main(void)
{
	agentd_mock *m;
	agentd_doc  *doc;
	struct shop *s;
	char         buf[256];
	int          loaded, st;
	FILE        *f;

	snprintf(token_path, sizeof(token_path), "%s/publisher-token.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	close(mkstemp(token_path));
	f = fopen(token_path, "w");
	fprintf(f, "%s\n", TOKEN);
	fclose(f);

	/* ---- settings refused at init, in one line */
	s = new_shop();
	m = new_mock(s, "/nonexistent/token", &loaded);
	is_int(loaded, AGENTD_EPLUGIN,
	    "a token file that cannot be read: init fails");
	like(agentd_mock_last_log(m, NULL),
	    "token_file: cannot read /nonexistent/token",
	    "the log line names the setting and the file");
	agentd_mock_free(m);
	{
		agentd_mock *m2;
		const char  *d = getenv("AGENTD_BUNDLED_PLUGINS");
		char         path[512];

		snprintf(path, sizeof(path), "%s/publisher.so",
		    d != NULL ? d : "plugins/.libs");
		agentd_mock_new("publisher", &m2);
		agentd_mock_setting(m2, "shop_url", "ftp://shop");
		agentd_mock_setting(m2, "token_file", token_path);
		is_int(agentd_mock_load(m2, path), AGENTD_EPLUGIN,
		    "a shop_url that is not http(s): init fails");
		like(agentd_mock_last_log(m2, NULL), "settings: shop_url",
		    "saying which setting");
		agentd_mock_free(m2);
	}

	/* ---- created once; asked again, answered from state */
	m = new_mock(s, token_path, &loaded);
	is_int(loaded, 0, "publisher loads with shop_url and token_file");
	st = publish(m, "LAMP-1", &doc);
	is_int(st, 0, "a product is published");
	ok(field_bool(doc, "created") == 1, "created: true");
	ok(field_int(doc, "product_id") == 632910392
	        && field_int(doc, "variant_id") == 632911392
	        && field_int(doc, "inventory_item_id") == 632912392,
	    "with the shop's product, variant and inventory item ids");
	is_str(field_str(doc, "handle", buf, sizeof(buf)), "lamp-1",
	    "the handle is the SKU in lower case");
	agentd_doc_free(doc);
	ok(s->gets == 1 && s->posts == 1,
	    "it looked by handle, then POSTed once");
	ok(s->levels == 1 && s->level == 120,
	    "the inventory level is set to the stock");
	is_int(s->bad_token, 0, "every request carried the token");
	ok(has_state(m, "product/LAMP-1"), "state product/LAMP-1 is written");
	is_int((int)published_on(m, "product.published"), 1,
	    "product.published is published");
	is_int((int)audits_of(m, "publisher.created"), 1,
	    "publisher.created is audited");

	st = publish(m, "LAMP-1", &doc);
	ok(st == 0 && field_bool(doc, "created") == 0
	        && field_int(doc, "product_id") == 632910392,
	    "asked again: the same product, created false");
	agentd_doc_free(doc);
	ok(s->gets == 1 && s->creations == 1,
	    "from state: the shop is not asked");
	is_int((int)published_on(m, "product.published"), 1,
	    "nor published again");

	/* ---- price.changed: the variant's price PUT, once */
	price_changed(m, "LAMP-1", 24.5);
	ok(s->puts == 1 && strcmp(s->put_price, "24.50") == 0,
	    "price.changed PUTs the variant's price (24.50)");
	price_changed(m, "LAMP-1", 24.5);
	is_int(s->puts, 1, "the same event delivered again: not PUT again");
	price_changed(m, "NOPE-1", 9);
	is_int(s->puts, 1, "a SKU it did not publish: nothing sent");
	agentd_mock_free(m);

	/* ---- a new instance, no state: found by handle, not created again */
	m  = new_mock(s, token_path, &loaded);
	st = publish(m, "LAMP-1", &doc);
	ok(st == 0 && field_bool(doc, "created") == 0
	        && field_int(doc, "product_id") == 632910392,
	    "no state but on the shop: adopted by its handle, created false");
	agentd_doc_free(doc);
	is_int(s->creations, 1, "still one product for the SKU on the shop");
	is_int((int)published_on(m, "product.published"), 1,
	    "published once its state is written");
	agentd_mock_free(m);
	free_shop(s);

	/* ---- the POST's answer lost (killed, timed out): never twice */
	s       = new_shop();
	s->mode = SHOP_POST_LOST;
	m       = new_mock(s, token_path, &loaded);
	st      = publish(m, "MUG-9", &doc);
	agentd_doc_free(doc);
	ok(st != 0 && !has_state(m, "product/MUG-9"),
	    "the POST's answer never came: an error, no state");
	s->mode = SHOP_OK;
	st      = publish(m, "MUG-9", &doc);
	ok(st == 0 && field_bool(doc, "created") == 0,
	    "asked again: the product the lost POST made is found");
	agentd_doc_free(doc);
	is_int(s->creations, 1, "one creation on the shop, not two");
	agentd_mock_free(m);
	free_shop(s);

	/* ---- two requests at once for one SKU: one POST */
	s       = new_shop();
	s->mode = SHOP_HOLD;
	m       = new_mock(s, token_path, &loaded);
	{
		agentd_writer *w;
		const void    *b, *r1, *r2;
		size_t         l, id1, id2, rl1, rl2;
		int            st1 = -1, st2 = -1;

		agentd_writer_new(&w);
		write_product(w, "CANDLE-2", 12.5, 40);
		b = agentd_writer_data(w, &l);
		agentd_mock_send(m, b, l, &id1);
		agentd_mock_send(m, b, l, &id2);
		agentd_writer_free(w);
		is_int((int)s->nheld, 1, "two requests at once: one lookup");
		s->mode = SHOP_OK;
		release(s, m);
		while (agentd_mock_run(m) > 0)
			;
		agentd_mock_answer(m, id1, &r1, &rl1, &st1);
		agentd_mock_answer(m, id2, &r2, &rl2, &st2);
		ok(st1 == 0 && st2 == 0, "both are answered");
		is_int(s->creations, 1, "and one product is created");
	}
	agentd_mock_free(m);
	free_shop(s);

	/* ---- errors: nothing stored, the token never shown */
	s = new_shop();
	{
		static const struct {
			enum mode   mode;
			int         status;
			const char *name;
		} cases[] = {
			{ SHOP_DOWN, AGENTD_EUNAVAIL,
			    "the shop down: EUNAVAIL" },
			{ SHOP_401, AGENTD_EDENIED, "401: EDENIED" },
			{ SHOP_BADJSON, AGENTD_EPROTO,
			    "an answer not JSON: EPROTO" },
		};

		for (size_t i = 0; i < 3; i++) {
			const void    *r;
			size_t         rl, id;
			agentd_writer *w;
			const void    *b;
			size_t         l;

			s->mode = cases[i].mode;
			m       = new_mock(s, token_path, &loaded);
			agentd_writer_new(&w);
			write_product(w, "ESP-3", 449, 25);
			b = agentd_writer_data(w, &l);
			agentd_mock_request(m, b, l, &r, &rl, &st);
			agentd_writer_free(w);
			is_int(st, cases[i].status, cases[i].name);
			ok(!has_state(m, "product/ESP-3")
			        && published_on(m, "product.published") == 0,
			    "  and nothing stored or published");
			ok(no_token_in(m, r, rl),
			    "  the token is in no reply or log");
			(void)id;
			agentd_mock_free(m);
		}
	}
	s->mode = SHOP_OK;
	m       = new_mock(s, token_path, &loaded);
	st      = publish(m, "bad sku!", &doc);
	agentd_doc_free(doc);
	is_int(st, AGENTD_EINVAL, "a SKU with a space and ! is refused");
	{
		agentd_writer *w;
		const void    *b, *r;
		size_t         l, rl;

		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "sku");
		agentd_write_str(w, "LAMP-1");
		agentd_write_str(w, "price");
		agentd_write_double(w, -1);
		b = agentd_writer_data(w, &l);
		agentd_mock_request(m, b, l, &r, &rl, &st);
		agentd_writer_free(w);
		is_int(st, AGENTD_EINVAL,
		    "no title and a negative price: refused");
		is_int(s->gets + s->posts, 0, "  before anything is sent");
	}
	agentd_mock_free(m);
	/* http { allow } without the shop's host: refused at once. */
	{
		const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
		char        path[512];

		snprintf(path, sizeof(path), "%s/publisher.so",
		    d != NULL ? d : "plugins/.libs");
		agentd_mock_new("publisher", &m);
		agentd_mock_setting(m, "shop_url", BASE);
		agentd_mock_setting(m, "token_file", token_path);
		agentd_mock_on_http(m, on_http, s);
		agentd_mock_load(m, path);
		st = publish(m, "LAMP-1", &doc);
		agentd_doc_free(doc);
		is_int(st, AGENTD_EDENIED,
		    "the shop not in http { allow }: EDENIED");
		agentd_mock_free(m);
	}
	free_shop(s);
	unlink(token_path);
	printf("1..%d\n", tap_run_);
	return done_testing();
}
