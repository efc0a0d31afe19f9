/*
 * vetting - checks a product's supplier before the shop sells it
 * (doc/vetting.md, doc/shop-contracts.md).
 *
 * {"product": PRODUCT} (scout's best) is a GET of
 * {supplier_url}/suppliers/SUPPLIER_ID through host->http_async, then
 * five checks, each failing one a sentence in "reasons":
 *
 *   the supplier's rating       >= min_rating     "rating 2.9 is under 4.0"
 *   ship_days (the slower of
 *     product's and supplier's) <= max_ship_days  "ship_days 35 is over 14"
 *   the product's stock         >= min_stock      "stock 3 is under 10"
 *   the cost's rise since the
 *     earliest price_history    <= max_cost_rise  "the cost rose 25% ..."
 *   the supplier's disputes_90d <= max_disputes   "disputes_90d 7 is over 2"
 *
 * The answer {"sku", "supplier_id", "passed", "reasons", "supplier":
 * SUPPLIER} comes once the audit record (vetting.passed or
 * vetting.failed) is committed; a failure is then published as
 * supplier.failed {"sku", "supplier_id", "reasons"}.
 *
 * The catalog down, a 5xx: EUNAVAIL; no such supplier (404): ENOENT;
 * another code than 200 or a body that is not a JSON object: EPROTO;
 * each with a message naming the URL and what came back.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../pipeline/supplier_api.h"

#define REASONS_MAX 5
#define REASON_LEN 160
#define URL_MAX (PL_BASE_MAX + PL_SKU_MAX + 16)

static const struct agentd_setting vetting_settings[] = {
	{ "supplier_url", AGENTD_SETTING_STRING, "http://127.0.0.1:8471/v1",
	    "the supplier catalog API's base URL, ending in /v1" },
	{ "api_key_file", AGENTD_SETTING_STRING, "",
	    "a file holding the catalog's API key (one line); empty: none" },
	{ "min_rating", AGENTD_SETTING_DOUBLE, "4.0",
	    "the lowest supplier rating (0..5) that passes" },
	{ "max_ship_days", AGENTD_SETTING_INT, "14",
	    "the most days to ship that pass" },
	{ "min_stock", AGENTD_SETTING_INT, "10",
	    "the least stock the product must have" },
	{ "max_cost_rise", AGENTD_SETTING_DOUBLE, "0.20",
	    "the largest rise of the cost over its price_history, as a "
	    "share (0.20: 20%)" },
	{ "max_disputes", AGENTD_SETTING_INT, "2",
	    "the most disputes in 90 days that pass" },
	{ "timeout_ms", AGENTD_SETTING_INT, "10000",
	    "one attempt of the supplier's GET, at most (two attempts)" },
	{ NULL, 0, NULL, NULL },
};

struct vetting {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	char                      base[PL_BASE_MAX];
	char                      key[PL_KEY_MAX];
	double                    min_rating, max_cost_rise;
	int64_t max_ship_days, min_stock, max_disputes, timeout_ms;
};

/* What the checks need of the product, and the request waiting. */
struct check {
	struct vetting *v;
	agentd_request *req;
	char            sku[PL_SKU_MAX + 1];
	char            supplier_id[PL_SKU_MAX + 1];
	double          stock, cost, ship_days; /* ship_days < 0: none */
	double          first_cost;             /* < 0: no history */
	char            first_date[32];
	char            url[URL_MAX];
	int             passed;
	size_t          nreasons;
	char            reasons[REASONS_MAX][REASON_LEN];
	agentd_writer  *reply; /* built before the audit, sent after it */
};

static int
vetting_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct vetting *v;
	const char     *url, *keyfile;
	char            why[PL_ERR_MAX], why2[PL_ERR_MAX - 32];

	if (!AGENTD_HOST_HAS(host, http_async)
	    || !AGENTD_HOST_HAS(host, audit_async))
		return AGENTD_ENOTSUP;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return AGENTD_ENOMEM;
	v->ctx  = ctx;
	v->host = host;
	host->setting_string(ctx, "supplier_url", &url);
	host->setting_string(ctx, "api_key_file", &keyfile);
	host->setting_double(ctx, "min_rating", &v->min_rating);
	host->setting_double(ctx, "max_cost_rise", &v->max_cost_rise);
	host->setting_int(ctx, "max_ship_days", &v->max_ship_days);
	host->setting_int(ctx, "min_stock", &v->min_stock);
	host->setting_int(ctx, "max_disputes", &v->max_disputes);
	host->setting_int(ctx, "timeout_ms", &v->timeout_ms);
	why[0] = '\0';
	if (shopkit_base_url(url, v->base, sizeof(v->base), why2, sizeof(why2))
	    != 0)
		snprintf(why, sizeof(why), "supplier_url %s", why2);
	else if (!(v->min_rating >= 0 && v->min_rating <= 5))
		snprintf(why, sizeof(why), "min_rating %g is not in 0..5",
		    v->min_rating);
	else if (!(v->max_cost_rise >= 0 && v->max_cost_rise <= 10))
		snprintf(why, sizeof(why), "max_cost_rise %g is not in 0..10",
		    v->max_cost_rise);
	else if (v->max_ship_days < 0 || v->min_stock < 0
	    || v->max_disputes < 0)
		snprintf(why, sizeof(why),
		    "max_ship_days, min_stock and max_disputes must be 0 or "
		    "more");
	else if (v->timeout_ms < 1 || v->timeout_ms > 600000)
		snprintf(why, sizeof(why),
		    "timeout_ms %lld is not in 1..600000",
		    (long long)v->timeout_ms);
	else if (keyfile[0] != '\0')
		if (shopkit_read_secret(
		        keyfile, v->key, sizeof(v->key), why2, sizeof(why2))
		    != 0)
			snprintf(why, sizeof(why), "api_key_file: %s", why2);
	if (why[0] != '\0') {
		host->log(ctx, AGENTD_LOG_ERROR, "settings: %s", why);
		free(v);
		return AGENTD_ECONFIG;
	}
	*state = v;
	return 0;
}

static void
vetting_fini(void *state)
{
	struct vetting *v = state;

	memset(v->key, 0, sizeof(v->key));
	free(v);
}

static void
check_free(struct check *c)
{
	agentd_writer_free(c->reply);
	free(c);
}

static void reason(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One failed check, as a sentence. */
static void
reason(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (c->nreasons < REASONS_MAX)
		vsnprintf(c->reasons[c->nreasons++], REASON_LEN, fmt, ap);
	va_end(ap);
	c->passed = 0;
}

/* The five checks against supplier s (a JSON object). */
static void
run_checks(struct check *c, const json_t *s)
{
	struct vetting *v        = c->v;
	double          rating   = pl_num(s, "rating", -1);
	double          disputes = pl_num(s, "disputes_90d", -1);
	double          days = fmax(c->ship_days, pl_num(s, "ship_days", -1));
	double          rise;

	c->passed = 1;
	if (rating < 0)
		reason(c, "the supplier has no rating");
	else if (rating < v->min_rating)
		reason(c, "rating %.1f is under %.1f", rating, v->min_rating);
	if (days < 0)
		reason(c,
		    "neither the product nor the supplier says its "
		    "ship_days");
	else if (days > (double)v->max_ship_days)
		reason(c, "ship_days %g is over %g", days,
		    (double)v->max_ship_days);
	if (c->stock < (double)v->min_stock)
		reason(
		    c, "stock %g is under %g", c->stock, (double)v->min_stock);
	if (c->first_cost > 0) {
		rise = (c->cost - c->first_cost) / c->first_cost;
		if (rise > v->max_cost_rise + 1e-9)
			reason(c,
			    "the cost rose %.0f%% since %s (%.2f to %.2f), "
			    "more than %.0f%%",
			    rise * 100, c->first_date, c->first_cost, c->cost,
			    v->max_cost_rise * 100);
	}
	if (disputes < 0)
		reason(c, "the supplier does not say its disputes_90d");
	else if (disputes > (double)v->max_disputes)
		reason(c, "disputes_90d %g is over %g", disputes,
		    (double)v->max_disputes);
}

static void
write_reasons(agentd_writer *w, const struct check *c)
{
	agentd_write_array(w, (uint32_t)c->nreasons);
	for (size_t i = 0; i < c->nreasons; i++)
		agentd_write_str(w, c->reasons[i]);
}

static void
publish_failed(struct check *c)
{
	struct vetting *v = c->v;
	agentd_writer  *w;
	const void     *data;
	size_t          len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "sku");
	agentd_write_str(w, c->sku);
	agentd_write_str(w, "supplier_id");
	agentd_write_str(w, c->supplier_id);
	agentd_write_str(w, "reasons");
	write_reasons(w, c);
	data = agentd_writer_data(w, &len);
	if (v->host->publish(v->ctx, "supplier.failed", data, len) != 0)
		v->host->log(v->ctx, AGENTD_LOG_WARN,
		    "supplier.failed for %s not published (publish = { })",
		    c->sku);
	agentd_writer_free(w);
}

/* The record is on disk: tell the others, then the caller. */
static void
audited(void *arg, int status, uint64_t seq)
{
	struct check   *c = arg;
	struct vetting *v = c->v;
	const void     *data;
	size_t          len;
	char            msg[128];

	(void)seq;
	if (status != 0) {
		snprintf(msg, sizeof(msg),
		    "vetting of %s not recorded in the audit trail: %s",
		    c->sku, agentd_errname(status));
		v->host->reply_error(v->ctx, c->req, status, msg);
	} else {
		if (!c->passed)
			publish_failed(c);
		data = agentd_writer_data(c->reply, &len);
		v->host->reply(v->ctx, c->req, data, len);
	}
	check_free(c);
}

static void
record(struct check *c, const json_t *supplier)
{
	struct vetting *v = c->v;
	agentd_writer  *d;
	const void     *data;
	size_t          len;
	char            summary[1024];
	size_t          o;
	int             rv;

	agentd_writer_new(&c->reply);
	agentd_write_map(c->reply, 5);
	agentd_write_str(c->reply, "sku");
	agentd_write_str(c->reply, c->sku);
	agentd_write_str(c->reply, "supplier_id");
	agentd_write_str(c->reply, c->supplier_id);
	agentd_write_str(c->reply, "passed");
	agentd_write_bool(c->reply, c->passed);
	agentd_write_str(c->reply, "reasons");
	write_reasons(c->reply, c);
	agentd_write_str(c->reply, "supplier");
	jsonkit_write(c->reply, supplier);

	agentd_writer_new(&d);
	agentd_write_map(d, 4);
	agentd_write_str(d, "sku");
	agentd_write_str(d, c->sku);
	agentd_write_str(d, "supplier_id");
	agentd_write_str(d, c->supplier_id);
	agentd_write_str(d, "passed");
	agentd_write_bool(d, c->passed);
	agentd_write_str(d, "reasons");
	write_reasons(d, c);
	data = agentd_writer_data(d, &len);
	o    = (size_t)snprintf(summary, sizeof(summary),
	       "%s %s vetting: supplier %s", c->sku,
            c->passed ? "passes" : "fails", c->supplier_id);
	for (size_t i = 0; i < c->nreasons && o < sizeof(summary); i++)
		o += (size_t)snprintf(summary + o, sizeof(summary) - o, "%s%s",
		    i == 0 ? ": " : "; ", c->reasons[i]);
	rv = v->host->audit_async(v->ctx,
	    c->passed ? "vetting.passed" : "vetting.failed", summary, data,
	    len, audited, c);
	agentd_writer_free(d);
	if (rv != 0) {
		v->host->reply_error(v->ctx, c->req, rv,
		    "the vetting could not be recorded in the audit trail");
		check_free(c);
	}
}

static void
supplier_answered(void *arg, const struct agentd_http_response *r)
{
	struct check   *c = arg;
	struct vetting *v = c->v;
	char            err[PL_ERR_MAX];
	json_t         *root;
	int             rv;

	rv = pl_answer_json(r, c->url, &root, err);
	if (rv == 0 && !json_is_object(root)) {
		snprintf(err, sizeof(err),
		    "GET %s: HTTP 200 but the answer is not a supplier object",
		    c->url);
		rv = AGENTD_EPROTO;
	}
	if (rv == AGENTD_ENOENT)
		snprintf(err, sizeof(err), "GET %s: HTTP 404, no supplier %s",
		    c->url, c->supplier_id);
	if (rv != 0) {
		v->host->log(v->ctx, AGENTD_LOG_WARN, "%s", err);
		v->host->reply_error(v->ctx, c->req, rv, err);
		check_free(c);
	} else {
		run_checks(c, root);
		record(c, root);
	}
	json_decref(root);
}

/* A string of the product of at most PL_SKU_MAX of the SKU's characters. */
static int
id_field(const agentd_value *p, const char *key, char *out)
{
	const char *s;
	size_t      len;

	if (agentd_get_str(agentd_map_get(p, key), &s, &len) != 0
	    || !pl_valid_sku(s, len))
		return AGENTD_EINVAL;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* The earliest entry of the price history (dates are ISO, so they sort
 * as strings). */
static void
earliest_cost(struct check *c, const agentd_value *hist)
{
	char   date[32];
	double cost;

	c->first_cost = -1;
	for (size_t i = 0; i < agentd_len(hist); i++) {
		const agentd_value *e = agentd_array_at(hist, i);

		if (agentd_get_strcpy(
		        agentd_map_get(e, "date"), date, sizeof(date))
		        != 0
		    || agentd_get_double(agentd_map_get(e, "cost"), &cost) != 0
		    || !(cost > 0 && isfinite(cost)))
			continue;
		if (c->first_cost < 0 || strcmp(date, c->first_date) < 0) {
			c->first_cost = cost;
			memcpy(c->first_date, date, sizeof(date));
		}
	}
}

static const char *
read_product(struct check *c, const agentd_value *p)
{
	const agentd_value *days = agentd_map_get(p, "ship_days");

	if (agentd_type_of(p) != AGENTD_T_MAP)
		return "send {\"product\": PRODUCT}, scout's best";
	if (id_field(p, "sku", c->sku) != 0)
		return "product.sku: 1 to 64 characters of [A-Za-z0-9_.-]";
	if (id_field(p, "supplier_id", c->supplier_id) != 0)
		return "product.supplier_id: 1 to 64 characters of "
		       "[A-Za-z0-9_.-]";
	if (agentd_get_double(agentd_map_get(p, "stock"), &c->stock) != 0
	    || !isfinite(c->stock))
		return "product.stock: a number";
	if (agentd_get_double(agentd_map_get(p, "cost"), &c->cost) != 0
	    || !(c->cost >= 0 && isfinite(c->cost)))
		return "product.cost: a number, 0 or more";
	c->ship_days = -1;
	if (days != NULL
	    && (agentd_get_double(days, &c->ship_days) != 0
	        || !isfinite(c->ship_days) || c->ship_days < 0))
		return "product.ship_days: a number, 0 or more";
	earliest_cost(c, agentd_map_get(p, "price_history"));
	return NULL;
}

static int
vetting_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct vetting *v = state;
	struct check   *c;
	agentd_doc     *doc;
	const char     *bad;
	char            err[PL_ERR_MAX];
	int             rv;

	if (agentd_parse(body, len, &doc) != 0) {
		return v->host->reply_error(v->ctx, req, AGENTD_EINVAL,
		    "send {\"product\": PRODUCT}, scout's best");
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	c->v   = v;
	c->req = req;
	bad = read_product(c, agentd_map_get(agentd_doc_root(doc), "product"));
	agentd_doc_free(doc);
	if (bad != NULL) {
		check_free(c);
		return v->host->reply_error(v->ctx, req, AGENTD_EINVAL, bad);
	}
	snprintf(c->url, sizeof(c->url), "%s/suppliers/%s", v->base,
	    c->supplier_id);
	rv = pl_get(v->host, v->ctx, c->url, v->key, (unsigned)v->timeout_ms,
	    supplier_answered, c);
	if (rv != 0) {
		snprintf(err, sizeof(err), "GET %s refused: %s%s", c->url,
		    agentd_errname(rv),
		    rv == AGENTD_EDENIED ? " (is its host in http { allow }?)"
		                         : "");
		check_free(c);
		return v->host->reply_error(v->ctx, req, rv, err);
	}
	return 0;
}

/* What other agents find it by (host->find_agents). */
static const char *const vetting_capabilities[] = { "supplier.vetting", NULL };

AGENTD_PLUGIN(.name = "vetting", .version = "1.0.0",
    .description = "checks a product's supplier: rating, shipping, stock, "
                   "cost rises, disputes",
    .settings = vetting_settings, .init = vetting_init,
    .on_request = vetting_request, .fini = vetting_fini,
    .capabilities = vetting_capabilities);
