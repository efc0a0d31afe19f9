/*
 * inventory - the shop's stock per SKU (doc/inventory.md).
 *
 * State "stock/SKU" holds {"sku", "stock", "threshold",
 * "inventory_item_id", "last_sale_ms", "slow_ms", "low"}, from
 *   - product.published: the stock the publisher set, and the SKU's
 *     inventory item on the shop;
 *   - shop.order.created (the shop's ORDER): each line's quantity off its
 *     SKU, once per order id ("order/ID" written in the same state batch
 *     as the stock, so an order delivered again changes nothing);
 *   - every check_every_ms, the shop's inventory levels (GET
 *     SHOP/inventory_levels.json?inventory_item_ids=..., with the
 *     X-Shopify-Access-Token of token_file), which replace what it held.
 * A SKU's stock going under its threshold publishes stock.low {"sku",
 * "stock", "threshold"} once per crossing ("low" remembers it until the
 * stock is back at the threshold or over); no sale for slow_after_ms
 * with at least slow_min_stock in stock publishes stock.slow {"sku",
 * "stock", "idle_ms"}, once per slow_after_ms ("slow_ms").
 *
 * Requests: {"op": "get", "sku"}, {"op": "list"}, {"op": "set", "sku",
 * "stock", "threshold"}, {"op": "check"} (the check now, answered when
 * it is done).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../shopkit/sku.h"

#define ORDER_LINES_MAX 64
#define TOKEN_MAX 512

static const struct agentd_setting inventory_settings[] = {
	{ "shop_url", AGENTD_SETTING_STRING, "",
	    "the shop's Admin API base, ending in /admin/api/2024-01 (\"\": "
	    "no check of its inventory levels)" },
	{ "token_file", AGENTD_SETTING_STRING, "",
	    "the file holding the shop's X-Shopify-Access-Token" },
	{ "low_threshold", AGENTD_SETTING_INT, "5",
	    "under this stock a SKU is low (unless set per SKU)" },
	{ "slow_after_ms", AGENTD_SETTING_INT, "604800000",
	    "no sale for this long makes a SKU slow" },
	{ "slow_min_stock", AGENTD_SETTING_INT, "10",
	    "a SKU is slow only with at least this many in stock" },
	{ "check_every_ms", AGENTD_SETTING_INT, "60000",
	    "the shop's levels and slow SKUs checked this often (0: on "
	    "request only)" },
	{ NULL, 0, NULL, NULL },
};

struct inventory {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *shop_url;
	char                      token[TOKEN_MAX + 1];
	int64_t                   low_threshold, slow_after_ms, slow_min_stock;
	int64_t                   check_every_ms, next_check_ms;
	int                       checking; /* a periodic check on its way */
};

/* One SKU's record, as state holds it. */
struct rec {
	char    sku[SHOPKIT_SKU_MAX + 1];
	int64_t stock, threshold, item, last_sale_ms, slow_ms;
	int     low;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An integer field, whole doubles too (JSON numbers); -1 if absent. */
static int
get_count(const agentd_value *v, int64_t *out)
{
	double d;

	if (agentd_get_int(v, out) == 0)
		return 0;
	if (agentd_get_double(v, &d) == 0 && d >= -9e15 && d <= 9e15
	    && d == (double)(int64_t)d) {
		*out = (int64_t)d;
		return 0;
	}
	return -1;
}

/* ---- records ------------------------------------------------------------ */

static void
rec_write(agentd_writer *w, const struct rec *r)
{
	agentd_write_map(w, 7);
	agentd_write_str(w, "sku");
	agentd_write_str(w, r->sku);
	agentd_write_str(w, "stock");
	agentd_write_int(w, r->stock);
	agentd_write_str(w, "threshold");
	agentd_write_int(w, r->threshold);
	agentd_write_str(w, "inventory_item_id");
	agentd_write_int(w, r->item);
	agentd_write_str(w, "last_sale_ms");
	agentd_write_int(w, r->last_sale_ms);
	agentd_write_str(w, "slow_ms");
	agentd_write_int(w, r->slow_ms);
	agentd_write_str(w, "low");
	agentd_write_bool(w, r->low);
}

static int
rec_read(const agentd_value *m, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	if (shopkit_get_sku(agentd_map_get(m, "sku"), r->sku) != 0)
		return -1;
	agentd_get_int(agentd_map_get(m, "stock"), &r->stock);
	agentd_get_int(agentd_map_get(m, "threshold"), &r->threshold);
	agentd_get_int(agentd_map_get(m, "inventory_item_id"), &r->item);
	agentd_get_int(agentd_map_get(m, "last_sale_ms"), &r->last_sale_ms);
	agentd_get_int(agentd_map_get(m, "slow_ms"), &r->slow_ms);
	agentd_get_bool(agentd_map_get(m, "low"), &r->low);
	return 0;
}

static void
rec_key(const char *sku, char *key, size_t size)
{
	snprintf(key, size, "stock/%s", sku);
}

/* 0 and *r, or AGENTD_ENOENT. */
static int
rec_get(struct inventory *inv, const char *sku, struct rec *r)
{
	char        key[SHOPKIT_SKU_MAX + 8];
	agentd_doc *doc;
	int         rv;

	rec_key(sku, key, sizeof(key));
	if ((rv = agentd_state_get_map(inv->host, inv->ctx, key, &doc)) != 0)
		return rv;
	rv = rec_read(agentd_doc_root(doc), r) == 0 ? 0 : AGENTD_EPROTO;
	agentd_doc_free(doc);
	return rv;
}

/* A new SKU's record. */
static void
rec_new(struct inventory *inv, const char *sku, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->sku, sizeof(r->sku), "%s", sku);
	r->threshold = inv->low_threshold;
	/* The wait for a first sale starts when the SKU is first seen. */
	r->last_sale_ms = wall_ms();
}

/* The stock changed: 1 when it just crossed under the threshold (publish
 * stock.low), 0 otherwise; back at the threshold re-arms it. */
static int
rec_crossed(struct rec *r)
{
	if (r->stock < r->threshold && !r->low) {
		r->low = 1;
		return 1;
	}
	if (r->stock >= r->threshold)
		r->low = 0;
	return 0;
}

/* Write several records (and one more op, e.g. an order's mark) in one
 * batch. */
static int
recs_save(struct inventory *inv, const struct rec *rs, size_t n,
    const struct agentd_state_op *extra)
{
	struct agentd_state_op ops[ORDER_LINES_MAX + 1] = { { 0 } };
	agentd_writer         *w[ORDER_LINES_MAX];
	char                   keys[ORDER_LINES_MAX][SHOPKIT_SKU_MAX + 8];
	size_t                 k = 0;
	int                    rv;

	if (n > ORDER_LINES_MAX)
		return AGENTD_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		agentd_writer_new(&w[i]);
		rec_write(w[i], &rs[i]);
		rec_key(rs[i].sku, keys[i], sizeof(keys[i]));
		ops[k].key    = keys[i];
		ops[k].keylen = strlen(keys[i]);
		ops[k].val    = agentd_writer_data(w[i], &ops[k].vallen);
		k++;
	}
	if (extra != NULL)
		ops[k++] = *extra;
	rv = inv->host->state_batch(inv->ctx, ops, k);
	for (size_t i = 0; i < n; i++)
		agentd_writer_free(w[i]);
	if (rv != 0)
		inv->host->log(inv->ctx, AGENTD_LOG_ERROR,
		    "inventory: the stock could not be stored: %s",
		    agentd_errname(rv));
	return rv;
}

static void
publish_low(struct inventory *inv, const struct rec *r)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, r->sku);
	agentd_write_str(w, "stock");
	agentd_write_int(w, r->stock);
	agentd_write_str(w, "threshold");
	agentd_write_int(w, r->threshold);
	p = agentd_writer_data(w, &n);
	if (inv->host->publish(inv->ctx, "stock.low", p, n) != 0)
		inv->host->log(inv->ctx, AGENTD_LOG_WARN,
		    "inventory: stock.low for %s not published (publish = { "
		    "})",
		    r->sku);
	agentd_writer_free(w);
}

static void
publish_slow(struct inventory *inv, const struct rec *r, int64_t idle)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, r->sku);
	agentd_write_str(w, "stock");
	agentd_write_int(w, r->stock);
	agentd_write_str(w, "idle_ms");
	agentd_write_int(w, idle);
	p = agentd_writer_data(w, &n);
	if (inv->host->publish(inv->ctx, "stock.slow", p, n) != 0)
		inv->host->log(inv->ctx, AGENTD_LOG_WARN,
		    "inventory: stock.slow for %s not published (publish = { "
		    "})",
		    r->sku);
	agentd_writer_free(w);
}

/* r's stock is now stock: stored, and stock.low published if it crossed. */
static int
rec_set_stock(struct inventory *inv, struct rec *r, int64_t stock)
{
	int crossed, rv;

	r->stock = stock < 0 ? 0 : stock;
	crossed  = rec_crossed(r);
	if ((rv = recs_save(inv, r, 1, NULL)) == 0 && crossed)
		publish_low(inv, r);
	return rv;
}

/* ---- events ------------------------------------------------------------- */

static void
on_published(struct inventory *inv, const agentd_value *ev)
{
	struct rec r;
	char       sku[SHOPKIT_SKU_MAX + 1];
	int64_t    stock = 0, item = 0;

	if (shopkit_get_sku(agentd_map_get(ev, "sku"), sku) != 0) {
		inv->host->log(inv->ctx, AGENTD_LOG_WARN,
		    "inventory: product.published without a valid sku");
		return;
	}
	if (rec_get(inv, sku, &r) != 0)
		rec_new(inv, sku, &r);
	if (get_count(agentd_map_get(ev, "inventory_item_id"), &item) == 0)
		r.item = item;
	if (get_count(agentd_map_get(ev, "stock"), &stock) != 0)
		stock = r.stock;
	rec_set_stock(inv, &r, stock);
}

/* The ORDER's id as text ("450789469"), or -1. */
static int
order_id(const agentd_value *v, char *buf, size_t size)
{
	int64_t id;

	if (agentd_get_int(v, &id) == 0) {
		snprintf(buf, size, "%lld", (long long)id);
		return 0;
	}
	if (agentd_get_strcpy(v, buf, size) == 0 && buf[0] != '\0')
		return 0;
	return -1;
}

static void
on_order(struct inventory *inv, const agentd_value *ev)
{
	const agentd_value    *lines = agentd_map_get(ev, "line_items");
	struct rec             rs[ORDER_LINES_MAX];
	int                    crossed[ORDER_LINES_MAX];
	size_t                 n = 0;
	char                   id[64], okey[80], sku[SHOPKIT_SKU_MAX + 1];
	void                  *seen;
	size_t                 seenlen;
	int64_t                now = wall_ms();
	struct agentd_state_op mark;

	if (order_id(agentd_map_get(ev, "id"), id, sizeof(id)) != 0) {
		inv->host->log(inv->ctx, AGENTD_LOG_WARN,
		    "inventory: shop.order.created without an id");
		return;
	}
	snprintf(okey, sizeof(okey), "order/%s", id);
	if (inv->host->state_get(inv->ctx, okey, strlen(okey), &seen, &seenlen)
	    == 0) {
		inv->host->free(seen); /* delivered again: counted already */
		return;
	}
	for (size_t i = 0; i < agentd_len(lines) && n < ORDER_LINES_MAX; i++) {
		const agentd_value *l = agentd_array_at(lines, i);
		int64_t             qty;
		size_t              k;

		if (shopkit_get_sku(agentd_map_get(l, "sku"), sku) != 0
		    || get_count(agentd_map_get(l, "quantity"), &qty) != 0
		    || qty <= 0)
			continue;
		for (k = 0; k < n && strcmp(rs[k].sku, sku) != 0; k++)
			;
		if (k == n) { /* a SKU's first line in this order */
			if (rec_get(inv, sku, &rs[n]) != 0) {
				inv->host->log(inv->ctx, AGENTD_LOG_INFO,
				    "inventory: order %s: %s is not tracked",
				    id, sku);
				continue;
			}
			n++;
		}
		rs[k].stock        = rs[k].stock > qty ? rs[k].stock - qty : 0;
		rs[k].last_sale_ms = now;
		rs[k].slow_ms      = 0;
	}
	for (size_t k = 0; k < n; k++)
		crossed[k] = rec_crossed(&rs[k]);
	mark = (struct agentd_state_op) { okey, strlen(okey), "counted", 7 };
	if (recs_save(inv, rs, n, &mark) != 0)
		return; /* not marked: counted when it comes again */
	for (size_t k = 0; k < n; k++)
		if (crossed[k])
			publish_low(inv, &rs[k]);
}

/* ---- the check ---------------------------------------------------------- */

/* A check on its way: the records it looks at, what it did. */
struct check {
	struct inventory *inv;
	agentd_request   *req;      /* {"op": "check"}'s, or NULL */
	int               periodic; /* the tick's */
	struct rec       *rs;
	size_t            n, cap;
	unsigned          levels, updated, low, slow;
};

static int
collect(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct check *c = arg;
	agentd_doc   *doc;
	struct rec   *grown;

	(void)key;
	(void)keylen;
	if (c->n == c->cap) {
		c->cap = c->cap > 0 ? c->cap * 2 : 16;
		if ((grown = realloc(c->rs, c->cap * sizeof(*grown))) == NULL)
			return 1;
		c->rs = grown;
	}
	if (agentd_parse(val, vallen, &doc) == 0) {
		if (rec_read(agentd_doc_root(doc), &c->rs[c->n]) == 0)
			c->n++;
		agentd_doc_free(doc);
	}
	return 0;
}

/* Slow SKUs: no sale for slow_after_ms, stock at slow_min_stock or over,
 * not said in this period yet. */
static void
check_slow(struct check *c)
{
	struct inventory *inv = c->inv;
	int64_t           now = wall_ms();

	for (size_t i = 0; i < c->n; i++) {
		struct rec *r    = &c->rs[i];
		int64_t     idle = now - r->last_sale_ms;

		if (idle < inv->slow_after_ms || r->stock < inv->slow_min_stock
		    || (r->slow_ms != 0
		        && now - r->slow_ms < inv->slow_after_ms))
			continue;
		r->slow_ms = now;
		if (recs_save(inv, r, 1, NULL) == 0) {
			publish_slow(inv, r, idle);
			c->slow++;
		}
	}
}

static void
check_end(struct check *c)
{
	struct inventory *inv = c->inv;
	agentd_writer    *w;
	const void       *p;
	size_t            n;

	check_slow(c);
	if (c->req != NULL) {
		agentd_writer_new(&w);
		agentd_write_map(w, 5);
		agentd_write_str(w, "skus");
		agentd_write_uint(w, c->n);
		agentd_write_str(w, "levels");
		agentd_write_uint(w, c->levels);
		agentd_write_str(w, "updated");
		agentd_write_uint(w, c->updated);
		agentd_write_str(w, "low");
		agentd_write_uint(w, c->low);
		agentd_write_str(w, "slow");
		agentd_write_uint(w, c->slow);
		p = agentd_writer_data(w, &n);
		inv->host->reply(inv->ctx, c->req, p, n);
		agentd_writer_free(w);
	}
	if (c->periodic)
		inv->checking = 0;
	free(c->rs);
	free(c);
}

/* The shop did not answer: said, and the slow SKUs checked anyway. */
static void
check_fail(struct check *c, int err, const char *what)
{
	char line[256];

	snprintf(line, sizeof(line),
	    "inventory: the shop's inventory levels: %s", what);
	c->inv->host->log(c->inv->ctx, AGENTD_LOG_WARN, "%s", line);
	if (c->req != NULL) {
		c->inv->host->reply_error(c->inv->ctx, c->req, err, line);
		c->req = NULL;
	}
	check_end(c);
}

/* Record r's level, summed over the locations of levels; -1 if none. */
static int64_t
level_of(const json_t *levels, const struct rec *r)
{
	const json_t *e;
	size_t        i;
	int64_t       total = -1;

	json_array_foreach(levels, i, e)
	{
		const json_t *id = json_object_get(e, "inventory_item_id");
		const json_t *av = json_object_get(e, "available");

		if (json_is_integer(id) && json_integer_value(id) == r->item
		    && json_is_integer(av))
			total
			    = (total < 0 ? 0 : total) + json_integer_value(av);
	}
	return total;
}

/* The shop's answer: {"inventory_levels": [{"inventory_item_id",
 * "available"}...]}; the shop's count replaces ours. */
static void
levels_got(void *arg, const struct agentd_http_response *hr)
{
	struct check *c = arg;
	json_t       *j, *lv;
	char          what[128];

	if (hr->status != 0 || hr->http_code != 200) {
		if (hr->status != 0)
			snprintf(what, sizeof(what), "%s",
			    agentd_errname(hr->status));
		else
			snprintf(what, sizeof(what), "HTTP %d", hr->http_code);
		check_fail(c, AGENTD_EUNAVAIL, what);
		return;
	}
	j  = json_loadb(hr->body, hr->body_len, 0, NULL);
	lv = json_object_get(j, "inventory_levels");
	if (!json_is_array(lv)) {
		json_decref(j);
		check_fail(c, AGENTD_EPROTO,
		    "the answer is not {\"inventory_levels\": [...]}");
		return;
	}
	for (size_t k = 0; k < c->n; k++) {
		struct rec *r = &c->rs[k];
		int64_t     level;
		int         crossed;

		if ((level = level_of(lv, r)) < 0)
			continue;
		c->levels++;
		if (level == r->stock)
			continue;
		r->stock = level;
		crossed  = rec_crossed(r);
		if (recs_save(c->inv, r, 1, NULL) != 0)
			continue;
		c->updated++;
		if (crossed) {
			publish_low(c->inv, r);
			c->low++;
		}
	}
	json_decref(j);
	check_end(c);
}

/* Start a check: the levels of every tracked item from the shop (when
 * there is one), then the slow SKUs.  req (may be NULL) is answered when
 * it ends. */
static int
check_start(struct inventory *inv, agentd_request *req, int periodic)
{
	struct agentd_http_request hr = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  hd[2];
	struct check              *c;
	char                      *url;
	size_t                     len, off;
	int                        rv, items = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AGENTD_ENOMEM;
	c->inv      = inv;
	c->req      = req;
	c->periodic = periodic;
	if (periodic)
		inv->checking = 1;
	inv->host->state_scan(inv->ctx, "stock/", 6, collect, c);
	for (size_t k = 0; k < c->n; k++)
		items += c->rs[k].item > 0;
	if (inv->shop_url[0] == '\0' || items == 0) {
		check_end(c);
		return 0;
	}
	len = strlen(inv->shop_url) + 64 + (size_t)items * 21;
	if ((url = malloc(len)) == NULL) {
		check_end(c);
		return 0;
	}
	off = (size_t)snprintf(url, len,
	    "%s/inventory_levels.json?inventory_item_ids=", inv->shop_url);
	for (size_t k = 0, first = 1; k < c->n; k++)
		if (c->rs[k].item > 0) {
			off += (size_t)snprintf(url + off, len - off, "%s%lld",
			    first ? "" : ",", (long long)c->rs[k].item);
			first = 0;
		}
	hd[0] = (struct agentd_http_header) { "X-Shopify-Access-Token",
		inv->token };
	hd[1] = (struct agentd_http_header) { "Accept", "application/json" };
	hr.method     = "GET";
	hr.url        = url;
	hr.headers    = hd;
	hr.nheaders   = 2;
	hr.timeout_ms = 10000;
	hr.attempts   = 3;
	rv            = inv->host->http_async(inv->ctx, &hr, levels_got, c);
	free(url);
	if (rv != 0)
		check_fail(c, rv, agentd_errname(rv));
	return 0;
}

static void
inventory_tick(void *state)
{
	struct inventory *inv = state;
	int64_t           now = wall_ms();

	if (inv->check_every_ms == 0 || inv->checking
	    || now < inv->next_check_ms)
		return;
	inv->next_check_ms = now + inv->check_every_ms;
	check_start(inv, NULL, 1);
}

/* ---- requests ----------------------------------------------------------- */

static int
reply_rec(struct inventory *inv, agentd_request *req, const struct rec *r)
{
	agentd_writer *w;
	const void    *p;
	size_t         n;
	int            rv;

	agentd_writer_new(&w);
	rec_write(w, r);
	p  = agentd_writer_data(w, &n);
	rv = inv->host->reply(inv->ctx, req, p, n);
	agentd_writer_free(w);
	return rv;
}

static int
op_list(struct inventory *inv, agentd_request *req)
{
	struct check   c = { .inv = inv };
	agentd_writer *w;
	const void    *p;
	size_t         n;
	int            rv;

	inv->host->state_scan(inv->ctx, "stock/", 6, collect, &c);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "items");
	agentd_write_array(w, (uint32_t)c.n);
	for (size_t i = 0; i < c.n; i++)
		rec_write(w, &c.rs[i]);
	p  = agentd_writer_data(w, &n);
	rv = inv->host->reply(inv->ctx, req, p, n);
	agentd_writer_free(w);
	free(c.rs);
	return rv;
}

static int
op_set(struct inventory *inv, agentd_request *req, const agentd_value *m,
    const char *sku)
{
	struct rec r;
	int64_t    stock, threshold;

	if (get_count(agentd_map_get(m, "stock"), &stock) != 0 || stock < 0)
		return inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "inventory: set: \"stock\" is a count, 0 or more");
	if (rec_get(inv, sku, &r) != 0)
		rec_new(inv, sku, &r);
	if (agentd_map_get(m, "threshold") != NULL) {
		if (get_count(agentd_map_get(m, "threshold"), &threshold) != 0
		    || threshold < 0)
			return inv->host->reply_error(inv->ctx, req,
			    AGENTD_EINVAL,
			    "inventory: set: \"threshold\" is a count, 0 or "
			    "more");
		r.threshold = threshold;
	}
	if (rec_set_stock(inv, &r, stock) != 0)
		return inv->host->reply_error(inv->ctx, req, AGENTD_EIO,
		    "inventory: the stock could not be stored");
	return reply_rec(inv, req, &r);
}

static int
inventory_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct inventory   *inv = state;
	agentd_doc         *doc;
	const agentd_value *m;
	char                op[16] = "", sku[SHOPKIT_SKU_MAX + 1];
	struct rec          r;
	int                 rv, has_sku;

	if (agentd_parse(body, len, &doc) != 0)
		return inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "inventory: the body is not msgpack");
	m       = agentd_doc_root(doc);
	has_sku = shopkit_get_sku(agentd_map_get(m, "sku"), sku) == 0;
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	if (strcmp(op, "list") == 0)
		rv = op_list(inv, req);
	else if (strcmp(op, "check") == 0)
		rv = check_start(inv, req, 0);
	else if ((strcmp(op, "get") == 0 || strcmp(op, "set") == 0)
	    && !has_sku)
		rv = inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "inventory: \"sku\": 1 to 64 characters of "
		    "[A-Za-z0-9_.-]");
	else if (strcmp(op, "set") == 0)
		rv = op_set(inv, req, m, sku);
	else if (strcmp(op, "get") == 0) {
		if ((rv = rec_get(inv, sku, &r)) == 0)
			rv = reply_rec(inv, req, &r);
		else
			rv = inv->host->reply_error(inv->ctx, req, rv,
			    "inventory: this SKU is not tracked");
	} else
		rv = inv->host->reply_error(inv->ctx, req, AGENTD_EINVAL,
		    "inventory: \"op\" is get, list, set or check");
	agentd_doc_free(doc);
	return rv;
}

static void
inventory_event(void *state, const char *topic, const void *body, size_t len)
{
	struct inventory *inv = state;
	agentd_doc       *doc;

	if (agentd_parse(body, len, &doc) != 0) {
		inv->host->log(inv->ctx, AGENTD_LOG_WARN,
		    "inventory: %s: the body is not msgpack", topic);
		return;
	}
	if (strcmp(topic, "product.published") == 0)
		on_published(inv, agentd_doc_root(doc));
	else if (strcmp(topic, "shop.order.created") == 0)
		on_order(inv, agentd_doc_root(doc));
	agentd_doc_free(doc);
}

/* ---- life cycle --------------------------------------------------------- */

/* The token in path, trailing white space cut; 0 or an errno-like line. */
static int
read_token(const char *path, char *buf, size_t size, char *why, size_t wl)
{
	FILE  *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		snprintf(why, wl, "token_file %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n > 0
	    && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '
	        || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || n >= size - 1 || strchr(buf, '\n') != NULL
	    || strlen(buf) != n) {
		snprintf(why, wl,
		    "token_file %s: one line of at most %zu bytes", path,
		    size - 2);
		memset(buf, 0, size);
		return -1;
	}
	return 0;
}

static int
inventory_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct inventory *inv;
	const char       *token_file;
	char              why[600] = "";

	if (!AGENTD_HOST_HAS(host, http_async)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "inventory: this host has no http_async (ABI 1.3 needed)");
		return AGENTD_ENOTSUP;
	}
	if ((inv = calloc(1, sizeof(*inv))) == NULL)
		return AGENTD_ENOMEM;
	inv->ctx  = ctx;
	inv->host = host;
	host->setting_string(ctx, "shop_url", &inv->shop_url);
	host->setting_string(ctx, "token_file", &token_file);
	host->setting_int(ctx, "low_threshold", &inv->low_threshold);
	host->setting_int(ctx, "slow_after_ms", &inv->slow_after_ms);
	host->setting_int(ctx, "slow_min_stock", &inv->slow_min_stock);
	host->setting_int(ctx, "check_every_ms", &inv->check_every_ms);
	if (inv->low_threshold < 0 || inv->slow_after_ms < 1
	    || inv->slow_min_stock < 0 || inv->check_every_ms < 0)
		snprintf(why, sizeof(why),
		    "low_threshold and slow_min_stock must be 0 or more, "
		    "slow_after_ms above 0, check_every_ms 0 (on request "
		    "only) or more");
	else if (inv->shop_url[0] != '\0'
	    && strncmp(inv->shop_url, "http://", 7) != 0
	    && strncmp(inv->shop_url, "https://", 8) != 0)
		snprintf(why, sizeof(why),
		    "shop_url \"%.200s\" is not an http:// or https:// URL",
		    inv->shop_url);
	else if (inv->shop_url[0] != '\0' && token_file[0] == '\0')
		snprintf(why, sizeof(why),
		    "shop_url needs token_file (the X-Shopify-Access-Token)");
	else if (token_file[0] != '\0')
		read_token(token_file, inv->token, sizeof(inv->token), why,
		    sizeof(why));
	if (why[0] != '\0') {
		host->log(
		    ctx, AGENTD_LOG_ERROR, "inventory: settings: %s", why);
		free(inv);
		return AGENTD_ECONFIG;
	}
	*state = inv;
	return 0;
}

static void
inventory_fini(void *state)
{
	struct inventory *inv = state;

	memset(inv->token, 0, sizeof(inv->token));
	free(inv);
}

/* What other agents find it by (host->find_agents). */
static const char *const inventory_capabilities[] = { "inventory", NULL };

AGENTD_PLUGIN(.name = "inventory", .version = "1.0.0",
    .description = "the shop's stock per SKU: stock.low once per crossing, "
                   "stock.slow, the shop's inventory levels checked",
    .settings = inventory_settings, .init = inventory_init,
    .on_request = inventory_request, .on_event = inventory_event,
    .on_tick = inventory_tick, .tick_ms = 1000, .fini = inventory_fini,
    .capabilities = inventory_capabilities);
