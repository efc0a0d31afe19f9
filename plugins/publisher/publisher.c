/*
 * publisher - puts a product on the shop (Shopify's Admin REST API), once
 * per SKU, and keeps its price there (doc/publisher.md).
 *
 * A request {"sku", "title", "description", "price", "stock"} (the flow
 * adds "idempotency_key", which the SKU makes needless) walks one job:
 *
 *   LOOKUP     GET products.json?handle=SKU-lowercased: a product there
 *              with a variant of this SKU is adopted, not created again
 *   CREATE     POST products.json, tried once: a POST the shop may have
 *              acted on is never sent twice
 *   LOCATION   GET locations.json, the first active one (asked once)
 *   INVENTORY  POST inventory_levels/set.json, available = stock
 *
 * then writes state "product/SKU", publishes product.published, audits
 * publisher.created and answers {"sku", "product_id", "variant_id",
 * "inventory_item_id", "handle", "price", "created"}.  A SKU with state is
 * answered from it (created false) without asking the shop.  Why no
 * duplicate is ever created: the state is written after the POST, so an
 * instance killed between the two leaves no state, and the next request's
 * LOOKUP finds the product by its handle; within one instance a request
 * for a SKU that has a job running waits on that job instead of starting
 * its own.  (Two instances would each look before they create: run one,
 * as the example configuration does.)
 *
 * On price.changed {"sku", "price"} for a SKU it published, the variant's
 * price is PUT (idempotent, retried) and the state's price updated.
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

static const struct agentd_setting publisher_settings[] = {
	{ "shop_url", AGENTD_SETTING_STRING, NULL,
	    "the Admin API's base URL, ending in /admin/api/2024-01" },
	{ "token_file", AGENTD_SETTING_STRING, NULL,
	    "file whose first line is the X-Shopify-Access-Token" },
	{ "vendor", AGENTD_SETTING_STRING, "Boutique",
	    "the vendor written on the products created" },
	{ "timeout_ms", AGENTD_SETTING_INT, "10000",
	    "each request to the shop at most this long" },
	{ NULL, 0, NULL, NULL },
};

enum step { LOOKUP, CREATE, LOCATION, INVENTORY };

struct publisher {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	struct shopkit_api        api; /* the shop's; secret: its token */
	const char               *vendor;
	int64_t                   location; /* 0: not asked yet */
	struct job               *jobs;     /* running, one per SKU */
};

/* One SKU being published, and the requests waiting for it. */
struct job {
	struct publisher *p;
	struct job       *next;
	enum step         step;
	char              sku[SHOPKIT_SKU_MAX + 1];
	char              handle[SHOPKIT_SKU_MAX + 1];
	char             *title, *description;
	double            price;
	int64_t           stock;
	int64_t           product_id, variant_id, item_id;
	char              shop_handle[256];
	int               created;
	agentd_request  **waiters;
	size_t            nwaiters;
};

static int
publisher_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct publisher *p;

	if (!AGENTD_HOST_HAS(host, http_async)
	    || !AGENTD_HOST_HAS(host, audit_async))
		return AGENTD_ENOTSUP;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return AGENTD_ENOMEM;
	p->ctx  = ctx;
	p->host = host;
	host->setting_string(ctx, "vendor", &p->vendor);
	if (shopkit_api_settings(
	        host, ctx, "shop_url", "token_file", 0, &p->api)
	    != 0) {
		free(p);
		return AGENTD_ECONFIG;
	}
	*state = p;
	return 0;
}

static void
job_free(struct job *j)
{
	free(j->title);
	free(j->description);
	free(j->waiters);
	free(j);
}

static void
publisher_fini(void *state)
{
	struct publisher *p = state;
	struct job       *j, *next;

	/* Outstanding requests ended (ECLOSED) before fini: none is left
	 * with waiters to answer; free what remains. */
	for (j = p->jobs; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	explicit_bzero(p->api.secret, sizeof(p->api.secret));
	free(p);
}

static void on_answer(void *arg, const struct agentd_http_response *r);

/* Send method path (under shop_url) with body (NULL: none) for job j. */
static int
send_shop(struct publisher *p, const char *method, const char *path,
    json_t *body, agentd_http_fn cb, void *arg)
{
	struct agentd_http_request req = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  h[3];
	char                       url[SHOPKIT_URL_MAX + 256];
	char                      *data = NULL;
	int                        rv;

	snprintf(url, sizeof(url), "%s/%s", p->api.base, path);
	h[0].name      = "X-Shopify-Access-Token";
	h[0].value     = p->api.secret;
	h[1].name      = "Accept";
	h[1].value     = "application/json";
	h[2].name      = "Content-Type";
	h[2].value     = "application/json";
	req.method     = method;
	req.url        = url;
	req.headers    = h;
	req.nheaders   = body != NULL ? 3 : 2;
	req.timeout_ms = p->api.timeout_ms;
	/* A POST that creates is tried once; the others are idempotent. */
	req.attempts
	    = strcmp(path, "products.json") == 0 && strcmp(method, "POST") == 0
	    ? 1
	    : 3;
	req.retry_on = AGENTD_HTTP_RETRY_DEFAULT;
	if (strcmp(path, "inventory_levels/set.json") == 0)
		req.retry_on |= AGENTD_HTTP_RETRY_UNSAFE; /* sets, not adds */
	if (body != NULL) {
		if ((data = json_dumps(body, JSON_COMPACT)) == NULL)
			return AGENTD_ENOMEM;
		req.body     = data;
		req.body_len = strlen(data);
	}
	rv = p->host->http_async(p->ctx, &req, cb, arg);
	free(data);
	return rv;
}

static void
unlink_job(struct job *j)
{
	struct job **pp;

	for (pp = &j->p->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

/* The reply to every waiter (the first one's "created" is the job's). */
static void
reply_done(struct job *j)
{
	struct publisher *p = j->p;
	agentd_writer    *w;
	char              price[32];

	snprintf(price, sizeof(price), "%.2f", j->price);
	for (size_t i = 0; i < j->nwaiters; i++) {
		agentd_writer_new(&w);
		agentd_write_map(w, 7);
		agentd_write_str(w, "sku");
		agentd_write_str(w, j->sku);
		agentd_write_str(w, "product_id");
		agentd_write_int(w, j->product_id);
		agentd_write_str(w, "variant_id");
		agentd_write_int(w, j->variant_id);
		agentd_write_str(w, "inventory_item_id");
		agentd_write_int(w, j->item_id);
		agentd_write_str(w, "handle");
		agentd_write_str(w, j->shop_handle);
		agentd_write_str(w, "price");
		agentd_write_double(w, j->price);
		agentd_write_str(w, "created");
		agentd_write_bool(w, i == 0 && j->created);
		shopkit_reply(p->host, p->ctx, j->waiters[i], w);
	}
}

static void
finish(struct job *j, int err, const char *msg)
{
	struct publisher *p = j->p;

	unlink_job(j);
	if (err != 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN, "%s: %s", j->sku, msg);
		for (size_t i = 0; i < j->nwaiters; i++)
			p->host->reply_error(p->ctx, j->waiters[i], err, msg);
	} else {
		reply_done(j);
	}
	job_free(j);
}

/* The state record, the event, the audit record: the product is on the
 * shop and its level set. */
static void
commit(struct job *j)
{
	struct publisher *p = j->p;
	agentd_writer    *w;
	const void       *data;
	size_t            len;
	char              key[SHOPKIT_SKU_MAX + 16], summary[512];

	agentd_writer_new(&w);
	agentd_write_map(w, 8);
	agentd_write_str(w, "sku");
	agentd_write_str(w, j->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, j->title);
	agentd_write_str(w, "price");
	agentd_write_double(w, j->price);
	agentd_write_str(w, "product_id");
	agentd_write_int(w, j->product_id);
	agentd_write_str(w, "variant_id");
	agentd_write_int(w, j->variant_id);
	agentd_write_str(w, "inventory_item_id");
	agentd_write_int(w, j->item_id);
	agentd_write_str(w, "handle");
	agentd_write_str(w, j->shop_handle);
	agentd_write_str(w, "stock");
	agentd_write_int(w, j->stock);
	data = agentd_writer_data(w, &len);
	snprintf(key, sizeof(key), "product/%s", j->sku);
	if (p->host->state_put(p->ctx, key, strlen(key), data, len) != 0) {
		/* The next request finds it by its handle and tries again. */
		agentd_writer_free(w);
		finish(j, AGENTD_EIO,
		    "on the shop, but its state could not be "
		    "written: ask again");
		return;
	}
	agentd_writer_reset(w);
	agentd_write_map(w, 6);
	agentd_write_str(w, "sku");
	agentd_write_str(w, j->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, j->title);
	agentd_write_str(w, "price");
	agentd_write_double(w, j->price);
	agentd_write_str(w, "product_id");
	agentd_write_int(w, j->product_id);
	agentd_write_str(w, "inventory_item_id");
	agentd_write_int(w, j->item_id);
	agentd_write_str(w, "stock");
	agentd_write_int(w, j->stock);
	data = agentd_writer_data(w, &len);
	if (p->host->publish(p->ctx, "product.published", data, len) != 0)
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "product.published for %s not published (publish = { })",
		    j->sku);
	snprintf(summary, sizeof(summary),
	    "%s %s on the shop as product %" PRId64
	    " (%s) at %.2f, stock %" PRId64,
	    j->sku, j->created ? "created" : "found", j->product_id,
	    j->shop_handle, j->price, j->stock);
	p->host->audit_async(
	    p->ctx, "publisher.created", summary, data, len, NULL, NULL);
	agentd_writer_free(w);
	finish(j, 0, NULL);
}

/* Take the ids of product pj's variant with j's SKU; 0 or -1. */
static int
take_product(struct job *j, const json_t *pj)
{
	const json_t *vs = json_object_get(pj, "variants"), *v;
	size_t        i;

	json_array_foreach(vs, i, v)
	{
		const char *sku = json_string_value(json_object_get(v, "sku"));

		if (sku == NULL || strcmp(sku, j->sku) != 0)
			continue;
		j->product_id = json_integer_value(json_object_get(pj, "id"));
		j->variant_id = json_integer_value(json_object_get(v, "id"));
		j->item_id    = json_integer_value(
		       json_object_get(v, "inventory_item_id"));
		snprintf(j->shop_handle, sizeof(j->shop_handle), "%s",
		    json_string_value(json_object_get(pj, "handle")) != NULL
		        ? json_string_value(json_object_get(pj, "handle"))
		        : j->handle);
		return j->product_id > 0 && j->variant_id > 0 && j->item_id > 0
		    ? 0
		    : -1;
	}
	return -1;
}

static int
ask_create(struct job *j)
{
	char    price[32];
	json_t *body;
	int     rv;

	snprintf(price, sizeof(price), "%.2f", j->price);
	body = json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:s}]}}",
	    "product", "title", j->title, "body_html", j->description,
	    "vendor", j->p->vendor, "product_type", "", "handle", j->handle,
	    "status", "active", "tags", "boutique", "variants", "sku", j->sku,
	    "price", price, "inventory_management", "shopify");
	if (body == NULL)
		return AGENTD_ENOMEM;
	j->step = CREATE;
	rv      = send_shop(j->p, "POST", "products.json", body, on_answer, j);
	json_decref(body);
	return rv;
}

static int
ask_level(struct job *j)
{
	json_t *body;
	int     rv;

	if (j->p->location == 0) {
		j->step = LOCATION;
		return send_shop(
		    j->p, "GET", "locations.json", NULL, on_answer, j);
	}
	body = json_pack("{s:I,s:I,s:I}", "location_id",
	    (json_int_t)j->p->location, "inventory_item_id",
	    (json_int_t)j->item_id, "available", (json_int_t)j->stock);
	if (body == NULL)
		return AGENTD_ENOMEM;
	j->step = INVENTORY;
	rv      = send_shop(
	         j->p, "POST", "inventory_levels/set.json", body, on_answer, j);
	json_decref(body);
	return rv;
}

/* The first active location's id, or 0. */
static int64_t
first_location(const json_t *top)
{
	const json_t *l;
	size_t        i;

	json_array_foreach(json_object_get(top, "locations"), i, l)
	{
		if (json_is_true(json_object_get(l, "active"))
		    && json_integer_value(json_object_get(l, "id")) > 0)
			return json_integer_value(json_object_get(l, "id"));
	}
	return 0;
}

static const char *const step_what[] = {
	[LOOKUP]    = "GET products.json?handle",
	[CREATE]    = "POST products.json",
	[LOCATION]  = "GET locations.json",
	[INVENTORY] = "POST inventory_levels/set.json",
};

/* The job's one transition: the answer to its current step. */
static void
on_answer(void *arg, const struct agentd_http_response *r)
{
	struct job   *j = arg;
	json_t       *top;
	const json_t *pj;
	char          msg[300];
	size_t        i;
	int           err, rv = 0;

	if ((err = shopkit_http_error(r, step_what[j->step], msg, sizeof(msg)))
	    != 0) {
		finish(j, err, msg);
		return;
	}
	if ((top = shopkit_json_body(r)) == NULL) {
		snprintf(msg, sizeof(msg), "%s: the shop's answer is not JSON",
		    step_what[j->step]);
		finish(j, AGENTD_EPROTO, msg);
		return;
	}
	switch (j->step) {
	case LOOKUP:
		json_array_foreach(json_object_get(top, "products"), i, pj)
		{
			if (take_product(j, pj) == 0)
				break;
		}
		rv = j->product_id > 0 ? ask_level(j) : ask_create(j);
		break;
	case CREATE:
		if (take_product(j, json_object_get(top, "product")) != 0) {
			json_decref(top);
			finish(j, AGENTD_EPROTO,
			    "POST products.json: the answer has no product "
			    "with a variant of this SKU");
			return;
		}
		j->created = 1;
		rv         = ask_level(j);
		break;
	case LOCATION:
		if ((j->p->location = first_location(top)) == 0) {
			json_decref(top);
			finish(j, AGENTD_EPROTO,
			    "GET locations.json: no active location");
			return;
		}
		rv = ask_level(j);
		break;
	case INVENTORY:
		json_decref(top);
		commit(j);
		return;
	}
	json_decref(top);
	if (rv != 0)
		finish(j, rv, "the shop could not be asked (http { allow })");
}

/* ---- requests ------------------------------------------------------------
 */

static struct job *
running(struct publisher *p, const char *sku)
{
	for (struct job *j = p->jobs; j != NULL; j = j->next)
		if (strcmp(j->sku, sku) == 0)
			return j;
	return NULL;
}

static int
add_waiter(struct job *j, agentd_request *req)
{
	agentd_request **w;

	w = realloc(j->waiters, (j->nwaiters + 1) * sizeof(*w));
	if (w == NULL)
		return AGENTD_ENOMEM;
	j->waiters                = w;
	j->waiters[j->nwaiters++] = req;
	return 0;
}

/* A SKU published already: answered from its state record. */
static int
reply_stored(struct publisher *p, agentd_request *req, const char *sku)
{
	char                key[SHOPKIT_SKU_MAX + 16];
	agentd_doc         *doc;
	const agentd_value *m;
	agentd_writer      *w;
	static const char  *keys[] = { "sku", "product_id", "variant_id",
		 "inventory_item_id", "handle", "price" };

	snprintf(key, sizeof(key), "product/%s", sku);
	if (agentd_state_get_map(p->host, p->ctx, key, &doc) != 0)
		return AGENTD_ENOENT;
	m = agentd_doc_root(doc);
	agentd_writer_new(&w);
	agentd_write_map(w, 7);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		agentd_write_str(w, keys[i]);
		if (agentd_map_get(m, keys[i]) != NULL)
			agentd_write_value(w, agentd_map_get(m, keys[i]));
		else
			agentd_write_nil(w);
	}
	agentd_write_str(w, "created");
	agentd_write_bool(w, 0);
	agentd_doc_free(doc);
	return shopkit_reply(p->host, p->ctx, req, w);
}

static char *
dup_str(const agentd_value *v, const char *def)
{
	const char *s;
	size_t      len;
	char       *out;

	if (agentd_get_str(v, &s, &len) != 0) {
		s   = def;
		len = strlen(def);
	}
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/* Check the request into a new job (not started). */
static int
parse_job(struct publisher *p, const agentd_value *m, struct job **out,
    const char **why)
{
	struct job *j;
	const char *s;
	size_t      len;
	double      price;
	int64_t     stock = 0;

	*why = NULL;
	if (agentd_get_str(agentd_map_get(m, "sku"), &s, &len) != 0
	    || !shopkit_valid_sku(s, len)) {
		*why = "\"sku\": 1 to 64 characters of [A-Za-z0-9_.-]";
		return AGENTD_EINVAL;
	}
	if (agentd_get_str(agentd_map_get(m, "title"), &s, &len) != 0
	    || len == 0 || len > 255) {
		*why = "\"title\": 1 to 255 bytes";
		return AGENTD_EINVAL;
	}
	if (agentd_get_double(agentd_map_get(m, "price"), &price) != 0
	    || !isfinite(price) || price <= 0 || price >= 1e9) {
		*why = "\"price\": a number over 0";
		return AGENTD_EINVAL;
	}
	if (agentd_map_get(m, "stock") != NULL
	    && (agentd_get_int(agentd_map_get(m, "stock"), &stock) != 0
	        || stock < 0 || stock > 1000000000)) {
		*why = "\"stock\": an integer, 0 or more";
		return AGENTD_EINVAL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return AGENTD_ENOMEM;
	j->p = p;
	agentd_get_strcpy(agentd_map_get(m, "sku"), j->sku, sizeof(j->sku));
	for (size_t i = 0; j->sku[i] != '\0'; i++)
		j->handle[i] = (char)tolower((unsigned char)j->sku[i]);
	j->price       = round(price * 100) / 100;
	j->stock       = stock;
	j->title       = dup_str(agentd_map_get(m, "title"), "");
	j->description = dup_str(agentd_map_get(m, "description"), "");
	if (j->title == NULL || j->description == NULL) {
		job_free(j);
		return AGENTD_ENOMEM;
	}
	*out = j;
	return 0;
}

static int
publisher_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct publisher *p = state;
	agentd_doc       *doc;
	struct job       *j, *other;
	const char       *why;
	char              path[SHOPKIT_SKU_MAX + 40];
	int               rv;

	if (agentd_parse(body, len, &doc) != 0)
		return p->host->reply_error(
		    p->ctx, req, AGENTD_EINVAL, "the body is not msgpack");
	rv = parse_job(p, agentd_doc_root(doc), &j, &why);
	agentd_doc_free(doc);
	if (rv != 0)
		return why != NULL ? p->host->reply_error(p->ctx, req, rv, why)
		                   : rv;
	if ((other = running(p, j->sku)) != NULL) {
		job_free(j); /* the running job answers this request too */
		return add_waiter(other, req);
	}
	if (reply_stored(p, req, j->sku) == 0) {
		job_free(j);
		return 0;
	}
	if ((rv = add_waiter(j, req)) != 0) {
		job_free(j);
		return rv;
	}
	snprintf(path, sizeof(path), "products.json?handle=%s", j->handle);
	j->step = LOOKUP;
	if ((rv = send_shop(p, "GET", path, NULL, on_answer, j)) != 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "%s: the shop could not be asked: %s", j->sku,
		    agentd_strerror(rv));
		job_free(j);
		return p->host->reply_error(p->ctx, req, rv,
		    "the shop could not be asked (http { allow })");
	}
	j->next = p->jobs;
	p->jobs = j;
	return 0;
}

/* ---- price.changed ---------------------------------------------------------
 */

struct reprice {
	struct publisher *p;
	char              sku[SHOPKIT_SKU_MAX + 1];
	double            price;
};

static void
repriced(void *arg, const struct agentd_http_response *r)
{
	struct reprice     *rp = arg;
	struct publisher   *p  = rp->p;
	char                key[SHOPKIT_SKU_MAX + 16], msg[300];
	agentd_doc         *doc;
	const agentd_value *m;
	agentd_writer      *w;
	const void         *data;
	size_t              len;

	if (shopkit_http_error(r, "PUT variants", msg, sizeof(msg)) != 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "price.changed %s %.2f not set on the shop: %s", rp->sku,
		    rp->price, msg);
		free(rp);
		return;
	}
	snprintf(key, sizeof(key), "product/%s", rp->sku);
	if (agentd_state_get_map(p->host, p->ctx, key, &doc) == 0) {
		m = agentd_doc_root(doc);
		agentd_writer_new(&w);
		agentd_write_map_begin(w);
		for (size_t i = 0; i < agentd_len(m); i++) {
			const agentd_value *k = agentd_map_key_at(m, i);
			const char         *ks;
			size_t              kl;

			if (agentd_get_str(k, &ks, &kl) == 0 && kl == 5
			    && memcmp(ks, "price", 5) == 0)
				continue;
			agentd_write_value(w, k);
			agentd_write_value(w, agentd_map_value_at(m, i));
		}
		agentd_write_str(w, "price");
		agentd_write_double(w, rp->price);
		agentd_write_map_end(w);
		data = agentd_writer_data(w, &len);
		p->host->state_put(p->ctx, key, strlen(key), data, len);
		agentd_writer_free(w);
		agentd_doc_free(doc);
	}
	p->host->log(p->ctx, AGENTD_LOG_INFO, "%s: price %.2f set on the shop",
	    rp->sku, rp->price);
	free(rp);
}

static void
publisher_event(void *state, const char *topic, const void *body, size_t len)
{
	struct publisher   *p = state;
	agentd_doc         *doc, *st;
	const agentd_value *ev;
	struct reprice     *rp;
	char                key[SHOPKIT_SKU_MAX + 16], path[64], price[32];
	int64_t             vid  = 0;
	double              have = 0;
	json_t             *put;

	if (strcmp(topic, "price.changed") != 0
	    || agentd_parse(body, len, &doc) != 0)
		return;
	ev = agentd_doc_root(doc);
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		goto out;
	rp->p = p;
	if (agentd_get_strcpy(
	        agentd_map_get(ev, "sku"), rp->sku, sizeof(rp->sku))
	        != 0
	    || !shopkit_valid_sku(rp->sku, strlen(rp->sku))
	    || agentd_get_double(agentd_map_get(ev, "price"), &rp->price) != 0
	    || !isfinite(rp->price) || rp->price <= 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "price.changed without a valid sku and price: ignored");
		goto out;
	}
	rp->price = round(rp->price * 100) / 100;
	snprintf(key, sizeof(key), "product/%s", rp->sku);
	if (agentd_state_get_map(p->host, p->ctx, key, &st) != 0)
		goto out; /* not a product this shop published */
	agentd_get_int(
	    agentd_map_get(agentd_doc_root(st), "variant_id"), &vid);
	agentd_get_double(agentd_map_get(agentd_doc_root(st), "price"), &have);
	agentd_doc_free(st);
	if (vid <= 0 || fabs(have - rp->price) < 0.005)
		goto out; /* delivered again, or nothing to change */
	snprintf(path, sizeof(path), "variants/%" PRId64 ".json", vid);
	snprintf(price, sizeof(price), "%.2f", rp->price);
	put = json_pack(
	    "{s:{s:I,s:s}}", "variant", "id", (json_int_t)vid, "price", price);
	if (put != NULL && send_shop(p, "PUT", path, put, repriced, rp) == 0)
		rp = NULL;
	json_decref(put);
out:
	free(rp);
	agentd_doc_free(doc);
}

/* What other agents find it by (host->find_agents). */
static const char *const publisher_capabilities[] = { "shop.publish", NULL };

AGENTD_PLUGIN(.name = "publisher", .version = "1.0.0",
    .description = "creates products on the shop (Shopify Admin API) once "
                   "per SKU and keeps their prices",
    .settings = publisher_settings, .init = publisher_init,
    .on_request = publisher_request, .on_event = publisher_event,
    .fini = publisher_fini, .capabilities = publisher_capabilities);
