/*
 * catalog - the products the shop sells, and the customers' carts
 * (doc/catalog.md).
 *
 * Products come from events: product.published {"sku", "title", "price",
 * "product_id", "inventory_item_id", "stock"} writes state "product/SKU",
 * price.changed {"sku", "price"} changes its price.  Carts are state
 * "cart/ID" {"lines": [{"sku", "quantity"}]}, kept cart_ttl_ms after
 * their last change.  Requests, each {"op": ...}:
 *
 *   search    {"query"}                → {"products": [{"sku", "title",
 *                                         "price", "stock"}]}: every word
 *                                         in the title or the SKU
 *   get       {"sku"}                  → the product, or ENOENT
 *   cart.add  {"cart", "sku", "quantity"} → the cart, as cart.view
 *   cart.view {"cart"}                 → {"cart", "lines": [{"sku",
 *                                         "title", "quantity", "price"}],
 *                                         "total"}
 *   checkout  {"cart", "email"}        → POST orders.json to the shop →
 *                                         {"order_id", "name", "total"};
 *                                         the cart is emptied
 *
 * A checkout's POST is sent once (an order is not idempotent); a second
 * checkout of a cart while its first is on its way is EBUSY.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../shopkit/shopkit.h"

#define CART_LINES_MAX 50
#define QUERY_MAX 256
#define RESULTS_MAX 50

static const struct agentd_setting catalog_settings[] = {
	{ "shop_url", AGENTD_SETTING_STRING, NULL,
	    "the Admin API's base URL, ending in /admin/api/2024-01" },
	{ "token_file", AGENTD_SETTING_STRING, NULL,
	    "file whose first line is the X-Shopify-Access-Token" },
	{ "cart_ttl_ms", AGENTD_SETTING_INT, "86400000",
	    "a cart is forgotten this long after its last change" },
	{ "timeout_ms", AGENTD_SETTING_INT, "10000",
	    "a checkout's request to the shop at most this long" },
	{ NULL, 0, NULL, NULL },
};

struct catalog {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	struct shopkit_api        api; /* the shop's; secret: its token */
	int64_t                   cart_ttl_ms;
	struct checkout          *checkouts; /* on their way */
};

struct line {
	char    sku[SHOPKIT_SKU_MAX + 1];
	int64_t quantity;
};

struct cart {
	char        id[SHOPKIT_SKU_MAX + 1];
	struct line lines[CART_LINES_MAX];
	size_t      n;
};

struct checkout {
	struct catalog  *c;
	struct checkout *next;
	agentd_request  *req;
	char             cart[SHOPKIT_SKU_MAX + 1];
};

static int
catalog_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct catalog *c;

	if (!AGENTD_HOST_HAS(host, http_async)
	    || !AGENTD_HOST_HAS(host, state_put_ttl))
		return AGENTD_ENOTSUP;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AGENTD_ENOMEM;
	c->ctx  = ctx;
	c->host = host;
	host->setting_int(ctx, "cart_ttl_ms", &c->cart_ttl_ms);
	if (shopkit_api_settings(
	        host, ctx, "shop_url", "token_file", 0, &c->api)
	    != 0)
		goto fail;
	if (c->cart_ttl_ms < 1000
	    || (uint64_t)c->cart_ttl_ms > AGENTD_STATE_TTL_MAX) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "settings: cart_ttl_ms %" PRId64 " is not 1000 to %llu",
		    c->cart_ttl_ms, (unsigned long long)AGENTD_STATE_TTL_MAX);
		goto fail;
	}
	*state = c;
	return 0;
fail:
	explicit_bzero(c->api.secret, sizeof(c->api.secret));
	free(c);
	return AGENTD_ECONFIG;
}

static void
catalog_fini(void *state)
{
	struct catalog  *c = state;
	struct checkout *k, *next;

	for (k = c->checkouts; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	explicit_bzero(c->api.secret, sizeof(c->api.secret));
	free(c);
}

static int
fail(struct catalog *c, agentd_request *req, int err, const char *msg)
{
	return c->host->reply_error(c->ctx, req, err, msg);
}

/* A string field that is a SKU or a cart id, into buf; 0 or EINVAL. */
static int
get_name(const agentd_value *m, const char *key, char *buf, size_t size)
{
	if (agentd_get_strcpy(agentd_map_get(m, key), buf, size) != 0
	    || !shopkit_valid_sku(buf, strlen(buf)))
		return AGENTD_EINVAL;
	return 0;
}

/* ---- products ------------------------------------------------------------
 */

struct product {
	char    sku[SHOPKIT_SKU_MAX + 1];
	char    title[256];
	double  price;
	int64_t stock;
};

static int
load_product(struct catalog *c, const char *sku, struct product *p)
{
	char                key[SHOPKIT_SKU_MAX + 9];
	agentd_doc         *doc;
	const agentd_value *m;
	int                 rv;

	if (strlen(sku) > SHOPKIT_SKU_MAX)
		return AGENTD_EINVAL;
	snprintf(key, sizeof(key), "product/%s", sku); /* sku may be p->sku */
	if ((rv = agentd_state_get_map(c->host, c->ctx, key, &doc)) != 0)
		return rv;
	m = agentd_doc_root(doc);
	memset(p, 0, sizeof(*p));
	memcpy(p->sku, key + 8, strlen(key + 8) + 1); /* after "product/" */
	agentd_get_strcpy(
	    agentd_map_get(m, "title"), p->title, sizeof(p->title));
	agentd_get_double(agentd_map_get(m, "price"), &p->price);
	agentd_get_int(agentd_map_get(m, "stock"), &p->stock);
	agentd_doc_free(doc);
	return 0;
}

static int
store_product(struct catalog *c, const struct product *p)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	char           key[SHOPKIT_SKU_MAX + 16];
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "sku");
	agentd_write_str(w, p->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, p->title);
	agentd_write_str(w, "price");
	agentd_write_double(w, p->price);
	agentd_write_str(w, "stock");
	agentd_write_int(w, p->stock);
	data = agentd_writer_data(w, &len);
	snprintf(key, sizeof(key), "product/%s", p->sku);
	rv = c->host->state_put(c->ctx, key, strlen(key), data, len);
	agentd_writer_free(w);
	return rv;
}

static void
write_product(agentd_writer *w, const struct product *p)
{
	agentd_write_map(w, 4);
	agentd_write_str(w, "sku");
	agentd_write_str(w, p->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, p->title);
	agentd_write_str(w, "price");
	agentd_write_double(w, p->price);
	agentd_write_str(w, "stock");
	agentd_write_int(w, p->stock);
}

static void
catalog_event(void *state, const char *topic, const void *body, size_t len)
{
	struct catalog     *c = state;
	agentd_doc         *doc;
	const agentd_value *ev;
	struct product      p;
	double              price;

	if (agentd_parse(body, len, &doc) != 0)
		return;
	ev = agentd_doc_root(doc);
	memset(&p, 0, sizeof(p));
	if (get_name(ev, "sku", p.sku, sizeof(p.sku)) != 0
	    || agentd_get_double(agentd_map_get(ev, "price"), &price) != 0
	    || !isfinite(price) || price <= 0) {
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "%s without a valid sku and price: ignored", topic);
		goto out;
	}
	if (strcmp(topic, "product.published") == 0) {
		agentd_get_strcpy(
		    agentd_map_get(ev, "title"), p.title, sizeof(p.title));
		agentd_get_int(agentd_map_get(ev, "stock"), &p.stock);
		p.price = price;
		store_product(c, &p);
	} else if (strcmp(topic, "price.changed") == 0
	    && load_product(c, p.sku, &p) == 0) {
		p.price = price; /* a product not published here is ignored */
		store_product(c, &p);
	}
out:
	agentd_doc_free(doc);
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Every word of the query (split on spaces) is in the title or the SKU,
 * whatever their case. */
static int
matches(const char *query, const struct product *p)
{
	char q[QUERY_MAX + 1], *save = NULL, *word;
	char hay[sizeof(p->title) + sizeof(p->sku) + 2];

	snprintf(q, sizeof(q), "%s", query);
	snprintf(hay, sizeof(hay), "%s %s", p->title, p->sku);
	lower(q);
	lower(hay);
	for (word = strtok_r(q, " \t", &save); word != NULL;
	     word = strtok_r(NULL, " \t", &save))
		if (strstr(hay, word) == NULL)
			return 0;
	return 1;
}

struct search {
	struct catalog *c;
	const char     *query;
	agentd_writer  *w;
	size_t          n;
};

static int
search_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct search      *s = arg;
	agentd_doc         *doc;
	const agentd_value *m;
	struct product      p;

	(void)key;
	(void)keylen;
	if (agentd_parse(val, vallen, &doc) != 0)
		return 0;
	m = agentd_doc_root(doc);
	memset(&p, 0, sizeof(p));
	agentd_get_strcpy(agentd_map_get(m, "sku"), p.sku, sizeof(p.sku));
	agentd_get_strcpy(
	    agentd_map_get(m, "title"), p.title, sizeof(p.title));
	agentd_get_double(agentd_map_get(m, "price"), &p.price);
	agentd_get_int(agentd_map_get(m, "stock"), &p.stock);
	agentd_doc_free(doc);
	if (matches(s->query, &p)) {
		write_product(s->w, &p);
		s->n++;
	}
	return s->n >= RESULTS_MAX;
}

static int
op_search(struct catalog *c, agentd_request *req, const agentd_value *m)
{
	struct search s                    = { c, "", NULL, 0 };
	char          query[QUERY_MAX + 1] = "";
	int           rv;

	if (agentd_map_get(m, "query") != NULL
	    && agentd_get_strcpy(
	           agentd_map_get(m, "query"), query, sizeof(query))
	        != 0)
		return fail(c, req, AGENTD_EINVAL,
		    "\"query\": a string of at most 256 bytes");
	s.query = query;
	agentd_writer_new(&s.w);
	agentd_write_map(s.w, 1);
	agentd_write_str(s.w, "products");
	agentd_write_array_begin(s.w);
	rv = c->host->state_scan(
	    c->ctx, "product/", strlen("product/"), search_one, &s);
	agentd_write_array_end(s.w);
	if (rv != 0) {
		agentd_writer_free(s.w);
		return fail(c, req, rv, "state_scan");
	}
	return shopkit_reply(c->host, c->ctx, req, s.w);
}

static int
op_get(struct catalog *c, agentd_request *req, const agentd_value *m)
{
	struct product p;
	char           sku[SHOPKIT_SKU_MAX + 1];
	agentd_writer *w;

	if (get_name(m, "sku", sku, sizeof(sku)) != 0)
		return fail(c, req, AGENTD_EINVAL,
		    "\"sku\": 1 to 64 characters of [A-Za-z0-9_.-]");
	if (load_product(c, sku, &p) != 0)
		return fail(c, req, AGENTD_ENOENT, "no such product");
	agentd_writer_new(&w);
	write_product(w, &p);
	return shopkit_reply(c->host, c->ctx, req, w);
}

/* ---- carts ----------------------------------------------------------------
 */

static int
load_cart(struct catalog *c, const char *id, struct cart *cart)
{
	char                key[SHOPKIT_SKU_MAX + 8];
	agentd_doc         *doc;
	const agentd_value *lines;

	memset(cart, 0, sizeof(*cart));
	snprintf(cart->id, sizeof(cart->id), "%s", id);
	snprintf(key, sizeof(key), "cart/%s", id);
	if (agentd_state_get_map(c->host, c->ctx, key, &doc) != 0)
		return 0; /* a cart never written is empty */
	lines = agentd_map_get(agentd_doc_root(doc), "lines");
	for (size_t i = 0; i < agentd_len(lines) && cart->n < CART_LINES_MAX;
	     i++) {
		const agentd_value *l  = agentd_array_at(lines, i);
		struct line        *to = &cart->lines[cart->n];

		if (get_name(l, "sku", to->sku, sizeof(to->sku)) == 0
		    && agentd_get_int(
		           agentd_map_get(l, "quantity"), &to->quantity)
		        == 0)
			cart->n++;
	}
	agentd_doc_free(doc);
	return 0;
}

static int
store_cart(struct catalog *c, const struct cart *cart)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	char           key[SHOPKIT_SKU_MAX + 8];
	int            rv;

	snprintf(key, sizeof(key), "cart/%s", cart->id);
	if (cart->n == 0) { /* emptied: forgotten (never written: fine) */
		rv = c->host->state_del(c->ctx, key, strlen(key));
		return rv == AGENTD_ENOENT ? 0 : rv;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "lines");
	agentd_write_array(w, (uint32_t)cart->n);
	for (size_t i = 0; i < cart->n; i++) {
		agentd_write_map(w, 2);
		agentd_write_str(w, "sku");
		agentd_write_str(w, cart->lines[i].sku);
		agentd_write_str(w, "quantity");
		agentd_write_int(w, cart->lines[i].quantity);
	}
	data = agentd_writer_data(w, &len);
	rv   = c->host->state_put_ttl(
	      c->ctx, key, strlen(key), data, len, (uint64_t)c->cart_ttl_ms);
	agentd_writer_free(w);
	return rv;
}

static int
reply_cart(struct catalog *c, agentd_request *req, const struct cart *cart)
{
	agentd_writer *w;
	struct product p;
	double         total = 0;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "cart");
	agentd_write_str(w, cart->id);
	agentd_write_str(w, "lines");
	agentd_write_array(w, (uint32_t)cart->n);
	for (size_t i = 0; i < cart->n; i++) {
		if (load_product(c, cart->lines[i].sku, &p) != 0) {
			memset(&p, 0, sizeof(p)); /* withdrawn since */
			snprintf(
			    p.sku, sizeof(p.sku), "%s", cart->lines[i].sku);
		}
		agentd_write_map(w, 4);
		agentd_write_str(w, "sku");
		agentd_write_str(w, p.sku);
		agentd_write_str(w, "title");
		agentd_write_str(w, p.title);
		agentd_write_str(w, "quantity");
		agentd_write_int(w, cart->lines[i].quantity);
		agentd_write_str(w, "price");
		agentd_write_double(w, p.price);
		total += p.price * (double)cart->lines[i].quantity;
	}
	agentd_write_str(w, "total");
	agentd_write_double(w, round(total * 100) / 100);
	return shopkit_reply(c->host, c->ctx, req, w);
}

static int
op_cart_add(struct catalog *c, agentd_request *req, const agentd_value *m)
{
	struct cart    cart;
	struct product p;
	char           id[SHOPKIT_SKU_MAX + 1], sku[SHOPKIT_SKU_MAX + 1];
	char           msg[128];
	int64_t        q = 1, have = 0;
	size_t         i;
	int            rv;

	if (get_name(m, "cart", id, sizeof(id)) != 0
	    || get_name(m, "sku", sku, sizeof(sku)) != 0)
		return fail(c, req, AGENTD_EINVAL,
		    "\"cart\" and \"sku\": 1 to 64 characters of "
		    "[A-Za-z0-9_.-]");
	if (agentd_map_get(m, "quantity") != NULL
	    && (agentd_get_int(agentd_map_get(m, "quantity"), &q) != 0 || q < 1
	        || q > 1000))
		return fail(c, req, AGENTD_EINVAL, "\"quantity\": 1 to 1000");
	if (load_product(c, sku, &p) != 0)
		return fail(c, req, AGENTD_ENOENT, "no such product");
	load_cart(c, id, &cart);
	for (i = 0; i < cart.n && strcmp(cart.lines[i].sku, sku) != 0; i++)
		;
	if (i < cart.n)
		have = cart.lines[i].quantity;
	if (have + q > p.stock) {
		snprintf(msg, sizeof(msg), "only %" PRId64 " of %s in stock",
		    p.stock, sku);
		return fail(c, req, AGENTD_EBUSY, msg);
	}
	if (i == cart.n) {
		if (cart.n == CART_LINES_MAX)
			return fail(c, req, AGENTD_ETOOBIG,
			    "a cart holds at most 50 lines");
		snprintf(
		    cart.lines[i].sku, sizeof(cart.lines[i].sku), "%s", sku);
		cart.n++;
	}
	cart.lines[i].quantity = have + q;
	if ((rv = store_cart(c, &cart)) != 0)
		return fail(c, req, rv, "the cart could not be stored");
	return reply_cart(c, req, &cart);
}

static int
op_cart_view(struct catalog *c, agentd_request *req, const agentd_value *m)
{
	struct cart cart;
	char        id[SHOPKIT_SKU_MAX + 1];

	if (get_name(m, "cart", id, sizeof(id)) != 0)
		return fail(c, req, AGENTD_EINVAL,
		    "\"cart\": 1 to 64 characters of [A-Za-z0-9_.-]");
	load_cart(c, id, &cart);
	return reply_cart(c, req, &cart);
}

/* ---- checkout
 * ---------------------------------------------------------------- */

static void
checkout_free(struct checkout *k)
{
	struct checkout **pp;

	for (pp = &k->c->checkouts; *pp != NULL; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	free(k);
}

static void
ordered(void *arg, const struct agentd_http_response *r)
{
	struct checkout *k = arg;
	struct catalog  *c = k->c;
	json_t          *top, *o;
	agentd_writer   *w;
	struct cart      empty;
	char             msg[300];
	int              err;

	if ((err = shopkit_http_error(r, "POST orders.json", msg, sizeof(msg)))
	    != 0) {
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "checkout of cart %s: %s", k->cart, msg);
		fail(c, k->req, err, msg);
		checkout_free(k);
		return;
	}
	top = shopkit_json_body(r);
	o   = json_object_get(top, "order");
	if (json_integer_value(json_object_get(o, "id")) <= 0) {
		json_decref(top);
		fail(c, k->req, AGENTD_EPROTO,
		    "POST orders.json: the answer has no order id");
		checkout_free(k);
		return;
	}
	memset(&empty, 0, sizeof(empty));
	snprintf(empty.id, sizeof(empty.id), "%s", k->cart);
	store_cart(c, &empty);
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "order_id");
	agentd_write_int(w, json_integer_value(json_object_get(o, "id")));
	agentd_write_str(w, "name");
	agentd_write_str(w,
	    json_string_value(json_object_get(o, "name")) != NULL
	        ? json_string_value(json_object_get(o, "name"))
	        : "");
	agentd_write_str(w, "total");
	agentd_write_double(
	    w, shopkit_json_money(json_object_get(o, "total_price"), 0));
	json_decref(top);
	shopkit_reply(c->host, c->ctx, k->req, w);
	checkout_free(k);
}

static int
op_checkout(struct catalog *c, agentd_request *req, const agentd_value *m)
{
	struct agentd_http_request hr = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  h[3];
	struct checkout           *k;
	struct cart                cart;
	char                       id[SHOPKIT_SKU_MAX + 1], email[256] = "";
	char                       url[SHOPKIT_URL_MAX + 32];
	json_t                    *body, *items;
	char                      *data;
	int                        rv;

	if (get_name(m, "cart", id, sizeof(id)) != 0)
		return fail(c, req, AGENTD_EINVAL,
		    "\"cart\": 1 to 64 characters of [A-Za-z0-9_.-]");
	if (agentd_map_get(m, "email") != NULL
	    && agentd_get_strcpy(
	           agentd_map_get(m, "email"), email, sizeof(email))
	        != 0)
		return fail(c, req, AGENTD_EINVAL, "\"email\": a string");
	for (k = c->checkouts; k != NULL; k = k->next)
		if (strcmp(k->cart, id) == 0)
			return fail(c, req, AGENTD_EBUSY,
			    "this cart's checkout is on its way");
	load_cart(c, id, &cart);
	if (cart.n == 0)
		return fail(c, req, AGENTD_EINVAL, "the cart is empty");
	items = json_array();
	for (size_t i = 0; i < cart.n; i++)
		json_array_append_new(items,
		    json_pack("{s:s,s:I}", "sku", cart.lines[i].sku,
		        "quantity", (json_int_t)cart.lines[i].quantity));
	body = json_pack(
	    "{s:{s:s,s:o}}", "order", "email", email, "line_items", items);
	data = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (data == NULL)
		return fail(c, req, AGENTD_ENOMEM, "out of memory");
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		free(data);
		return fail(c, req, AGENTD_ENOMEM, "out of memory");
	}
	k->c   = c;
	k->req = req;
	snprintf(k->cart, sizeof(k->cart), "%s", id);
	snprintf(url, sizeof(url), "%s/orders.json", c->api.base);
	h[0].name     = "X-Shopify-Access-Token";
	h[0].value    = c->api.secret;
	h[1].name     = "Content-Type";
	h[1].value    = "application/json";
	h[2].name     = "Accept";
	h[2].value    = "application/json";
	hr.method     = "POST";
	hr.url        = url;
	hr.headers    = h;
	hr.nheaders   = 3;
	hr.body       = data;
	hr.body_len   = strlen(data);
	hr.timeout_ms = c->api.timeout_ms;
	hr.attempts   = 1; /* an order sent twice is two orders */
	rv            = c->host->http_async(c->ctx, &hr, ordered, k);
	free(data);
	if (rv != 0) {
		free(k);
		return fail(c, req, rv,
		    "the shop could not be asked (http { allow })");
	}
	k->next      = c->checkouts;
	c->checkouts = k;
	return 0;
}

static int
catalog_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct catalog     *c = state;
	agentd_doc         *doc;
	const agentd_value *m;
	char                op[16] = "";
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return fail(c, req, AGENTD_EINVAL, "the body is not msgpack");
	m = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	if (strcmp(op, "search") == 0)
		rv = op_search(c, req, m);
	else if (strcmp(op, "get") == 0)
		rv = op_get(c, req, m);
	else if (strcmp(op, "cart.add") == 0)
		rv = op_cart_add(c, req, m);
	else if (strcmp(op, "cart.view") == 0)
		rv = op_cart_view(c, req, m);
	else if (strcmp(op, "checkout") == 0)
		rv = op_checkout(c, req, m);
	else
		rv = fail(c, req, AGENTD_EINVAL,
		    "\"op\": search, get, cart.add, cart.view or checkout");
	agentd_doc_free(doc);
	return rv;
}

/* What other agents find it by (host->find_agents). */
static const char *const catalog_capabilities[]
    = { "catalog", "checkout", NULL };

AGENTD_PLUGIN(.name = "catalog", .version = "1.0.0",
    .description = "the products the shop sells, carts, and checkout "
                   "through the shop's orders API",
    .settings = catalog_settings, .init = catalog_init,
    .on_request = catalog_request, .on_event = catalog_event,
    .fini = catalog_fini, .capabilities = catalog_capabilities);
