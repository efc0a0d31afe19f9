/*
 * pricing - prices a product from its costs and a target margin, and sets
 * the price only through the policy gate.
 *
 * A request {"sku": S, "cost": F, "shipping": F, "current_price": F} (and
 * optionally "max_price": F, a ceiling such as a competitor's price)
 * computes the price that leaves target_margin of it once cost, shipping
 * and fees are paid:
 *
 *   price = (cost + shipping + fee_fixed) / (1 - fee_pct - target_margin)
 *
 * rounded up to the cent and held under max_price.  It proposes the
 * action "price.set" (or "price.set.low_margin" when the margin left at
 * that price is under min_margin, so that the operator's rules can tell
 * the two apart) with the change |price - current_price| as its amount,
 * and answers {"sku", "price", "current_price", "margin", "amount",
 * "type", "decision"} once agentd has committed the proposal.  A price
 * equal to the current one proposes nothing ("unchanged": true).
 *
 * The price is applied only when the decision's event "decision.<id>"
 * says approved, with the parameters it carries (a person may have
 * modified them): the new price is written in state ("price/<sku>")
 * together with "decision/<id>", so an outcome delivered twice is applied
 * once; then an audit record "price.set" and the event "price.changed"
 * {"sku", "price", "previous_price", "decision", "by"} follow.
 *
 * {"quote": true, "sku", "cost", "shipping", "max_price"} does the same
 * arithmetic and proposes nothing: {"sku", "price", "margin",
 * "low_margin", "held"} (held: max_price held the price under the one
 * the target margin gives).  The shop's CEO decides on it
 * (doc/shop-contracts.md).
 *
 * {"get": S} answers the price applied for SKU S: {"sku", "price",
 * "decision", "by", "applied"} (applied: how many decisions set it), or
 * ENOENT.
 *
 * Setting sample_product ("SKU:COST:SHIPPING:CURRENT_PRICE") is priced on
 * the first tick, once per state directory: the demo's way to have a
 * decision waiting for a person as soon as it starts.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../shopkit/sku.h"

#define SAMPLE_KEY "sample/proposed"

static const struct agentd_setting pricing_settings[] = {
	{ "target_margin", AGENTD_SETTING_DOUBLE, "0.30",
	    "share of the price left once cost, shipping and fees are paid" },
	{ "min_margin", AGENTD_SETTING_DOUBLE, "0.15",
	    "under this margin a proposal is price.set.low_margin" },
	{ "fee_pct", AGENTD_SETTING_DOUBLE, "0.029",
	    "payment fee, as a share of the price" },
	{ "fee_fixed", AGENTD_SETTING_DOUBLE, "0.30",
	    "payment fee per order, in money" },
	{ "sample_product", AGENTD_SETTING_STRING, "",
	    "SKU:COST:SHIPPING:CURRENT_PRICE priced once on the first tick" },
	{ NULL, 0, NULL, NULL },
};

struct pricing {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	double      target_margin, min_margin, fee_pct, fee_fixed;
	const char *sample;
	int         sample_state; /* 0 to do, 1 asked, 2 done */
};

/* One product to price. */
struct product {
	char   sku[SHOPKIT_SKU_MAX + 1];
	double cost, shipping, current, max_price; /* max_price 0: none */
};

/* A proposal on its way, and the request waiting for it (or NULL). */
struct pending {
	struct pricing *p;
	agentd_request *req;
	struct product  prod;
	double          price, margin, amount;
	const char     *type;
	int             sample;
	int             held; /* max_price held the price under the target */
};

static int
pricing_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct pricing *p;

	if (!AGENTD_HOST_HAS(host, propose_async)
	    || !AGENTD_HOST_HAS(host, audit_async))
		return AGENTD_ENOTSUP;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return AGENTD_ENOMEM;
	p->ctx  = ctx;
	p->host = host;
	host->setting_double(ctx, "target_margin", &p->target_margin);
	host->setting_double(ctx, "min_margin", &p->min_margin);
	host->setting_double(ctx, "fee_pct", &p->fee_pct);
	host->setting_double(ctx, "fee_fixed", &p->fee_fixed);
	host->setting_string(ctx, "sample_product", &p->sample);
	if (!(p->target_margin >= 0 && p->fee_pct >= 0 && p->fee_fixed >= 0
	        && p->min_margin >= 0)
	    || 1 - p->fee_pct - p->target_margin < 0.05) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "settings: target_margin and fee_pct must be 0 or more "
		    "and leave at least 0.05 of the price for the costs");
		free(p);
		return AGENTD_ECONFIG;
	}
	*state = p;
	return 0;
}

static void
pricing_fini(void *state)
{
	free(state);
}

/* The price for prod, its margin and the proposal's type and amount. */
static void
compute(const struct pricing *p, struct pending *pd)
{
	const struct product *prod = &pd->prod;
	double                price;

	price = (prod->cost + prod->shipping + p->fee_fixed)
	    / (1 - p->fee_pct - p->target_margin);
	price    = ceil(price * 100 - 1e-6) / 100;
	pd->held = prod->max_price > 0 && price > prod->max_price;
	if (pd->held)
		price = prod->max_price;
	pd->price  = price;
	pd->margin = (price * (1 - p->fee_pct) - prod->cost - prod->shipping
	                 - p->fee_fixed)
	    / price;
	pd->margin = round(pd->margin * 10000) / 10000;
	pd->amount = round(fabs(price - prod->current) * 100) / 100;
	pd->type   = pd->margin < p->min_margin ? "price.set.low_margin"
	                                        : "price.set";
}

/* A number field >= 0 (absent: def, or an error when def < 0). */
static int
num(const agentd_value *m, const char *key, double def, double *out)
{
	const agentd_value *v = agentd_map_get(m, key);

	if (v == NULL) {
		*out = def;
		return def < 0 ? AGENTD_EINVAL : 0;
	}
	if (agentd_get_double(v, out) != 0 || !isfinite(*out) || *out < 0)
		return AGENTD_EINVAL;
	return 0;
}

static void
reply_map_end(struct pricing *p, agentd_request *req, agentd_writer *w)
{
	const void *out;
	size_t      len;

	out = agentd_writer_data(w, &len);
	p->host->reply(p->ctx, req, out, len);
	agentd_writer_free(w);
}

static void
write_num(agentd_writer *w, const char *key, double v)
{
	agentd_write_str(w, key);
	agentd_write_double(w, v);
}

static void
proposed(void *arg, int status, const char *id)
{
	struct pending *pd = arg;
	struct pricing *p  = pd->p;
	agentd_writer  *w;

	if (pd->sample) {
		if (status == 0) {
			p->host->state_put(p->ctx, SAMPLE_KEY,
			    strlen(SAMPLE_KEY), id, strlen(id));
			p->sample_state = 2;
			p->host->log(p->ctx, AGENTD_LOG_INFO,
			    "sample product %s: proposed %s %.2f (decision "
			    "%s)",
			    pd->prod.sku, pd->type, pd->price, id);
		} else {
			p->sample_state = 0; /* the next tick tries again */
		}
	}
	if (pd->req != NULL) {
		if (status != 0) {
			p->host->reply_error(p->ctx, pd->req, status,
			    "the policy gate refused the proposal");
		} else {
			agentd_writer_new(&w);
			agentd_write_map(w, 7);
			agentd_write_str(w, "sku");
			agentd_write_str(w, pd->prod.sku);
			write_num(w, "price", pd->price);
			write_num(w, "current_price", pd->prod.current);
			write_num(w, "margin", pd->margin);
			write_num(w, "amount", pd->amount);
			agentd_write_str(w, "type");
			agentd_write_str(w, pd->type);
			agentd_write_str(w, "decision");
			agentd_write_str(w, id);
			reply_map_end(p, pd->req, w);
		}
	}
	free(pd);
}

/* Propose pd's price; pd passes to the callback on success. */
static int
propose(struct pricing *p, struct pending *pd)
{
	struct agentd_proposal prop;
	agentd_writer         *params;
	char                   title[160], reasoning[512];
	int                    rv;

	snprintf(title, sizeof(title),
	    "Set the price of %s to %.2f (now %.2f)", pd->prod.sku, pd->price,
	    pd->prod.current);
	snprintf(reasoning, sizeof(reasoning),
	    "cost %.2f + shipping %.2f + fees (%.1f%% + %.2f) at a target "
	    "margin of %.0f%% gives %.2f%s; the margin at that price is "
	    "%.1f%% (minimum %.0f%%).",
	    pd->prod.cost, pd->prod.shipping, p->fee_pct * 100, p->fee_fixed,
	    p->target_margin * 100, pd->price,
	    pd->prod.max_price > 0 && pd->price >= pd->prod.max_price
	        ? ", held at the ceiling max_price"
	        : "",
	    pd->margin * 100, p->min_margin * 100);
	if (agentd_writer_new(&params) != 0)
		return AGENTD_ENOMEM;
	agentd_write_map(params, 6);
	agentd_write_str(params, "sku");
	agentd_write_str(params, pd->prod.sku);
	write_num(params, "price", pd->price);
	write_num(params, "previous_price", pd->prod.current);
	write_num(params, "amount", pd->amount);
	write_num(params, "margin", pd->margin);
	write_num(params, "cost", pd->prod.cost + pd->prod.shipping);
	memset(&prop, 0, sizeof(prop));
	prop.type      = pd->type;
	prop.title     = title;
	prop.reasoning = reasoning;
	prop.amount    = pd->amount;
	/* Sure of the arithmetic; less so of a price a ceiling holds. */
	prop.confidence = pd->margin < p->target_margin - 0.005 ? 0.6 : 0.9;
	prop.params     = agentd_writer_data(params, &prop.params_len);
	rv              = p->host->propose_async(p->ctx, &prop, proposed, pd);
	agentd_writer_free(params);
	return rv;
}

static int
get_price(struct pricing *p, agentd_request *req, const agentd_value *skuv)
{
	const char *s;
	size_t      len;
	char        key[SHOPKIT_SKU_MAX + 8];
	void       *val;
	size_t      vallen;
	int         rv;

	if (agentd_get_str(skuv, &s, &len) != 0 || !shopkit_valid_sku(s, len))
		return p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "get: a SKU of 1 to 64 characters of [A-Za-z0-9_.-]");
	snprintf(key, sizeof(key), "price/%.*s", (int)len, s);
	rv = p->host->state_get(p->ctx, key, strlen(key), &val, &vallen);
	if (rv == AGENTD_ENOENT)
		return p->host->reply_error(
		    p->ctx, req, rv, "no price was set for this SKU");
	if (rv != 0)
		return p->host->reply_error(p->ctx, req, rv, "state_get");
	rv = p->host->reply(p->ctx, req, val, vallen);
	p->host->free(val);
	return rv;
}

/* {"quote": true, ...}: the arithmetic of a proposal, and no proposal. */
static int
quote(struct pricing *p, agentd_request *req, struct pending *pd)
{
	agentd_writer *w;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "sku");
	agentd_write_str(w, pd->prod.sku);
	write_num(w, "price", pd->price);
	write_num(w, "margin", pd->margin);
	agentd_write_str(w, "low_margin");
	agentd_write_bool(w, pd->margin < p->min_margin);
	agentd_write_str(w, "held");
	agentd_write_bool(w, pd->held);
	reply_map_end(p, req, w);
	return 0;
}

static int
pricing_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct pricing     *p = state;
	struct pending     *pd;
	agentd_doc         *doc;
	const agentd_value *m;
	const char         *s;
	size_t              slen;
	int                 rv, is_quote = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return p->host->reply_error(
		    p->ctx, req, AGENTD_EINVAL, "the body is not msgpack");
	m = agentd_doc_root(doc);
	if (agentd_map_get(m, "get") != NULL) {
		rv = get_price(p, req, agentd_map_get(m, "get"));
		agentd_doc_free(doc);
		return rv;
	}
	if ((pd = calloc(1, sizeof(*pd))) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	pd->p   = p;
	pd->req = req;
	if (agentd_map_get(m, "quote") != NULL
	    && agentd_get_bool(agentd_map_get(m, "quote"), &is_quote) != 0) {
		rv = p->host->reply_error(
		    p->ctx, req, AGENTD_EINVAL, "\"quote\": true or false");
		goto out;
	}
	if (agentd_get_str(agentd_map_get(m, "sku"), &s, &slen) != 0
	    || !shopkit_valid_sku(s, slen)) {
		rv = p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "\"sku\": 1 to 64 characters of [A-Za-z0-9_.-]");
		goto out;
	}
	memcpy(pd->prod.sku, s, slen);
	if (num(m, "cost", -1, &pd->prod.cost) != 0
	    || num(m, "shipping", 0, &pd->prod.shipping) != 0
	    || num(m, "current_price", 0, &pd->prod.current) != 0
	    || num(m, "max_price", 0, &pd->prod.max_price) != 0) {
		rv = p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "\"cost\" (required), \"shipping\", \"current_price\" and "
		    "\"max_price\" are numbers, 0 or more");
		goto out;
	}
	compute(p, pd);
	if (pd->price <= 0) {
		rv = p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "the price would be 0: give a cost");
		goto out;
	}
	if (is_quote) {
		rv = quote(p, req, pd);
		goto out;
	}
	if (pd->amount < 0.005) {
		agentd_writer *w;

		agentd_writer_new(&w);
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, pd->prod.sku);
		write_num(w, "price", pd->price);
		agentd_write_str(w, "unchanged");
		agentd_write_bool(w, 1);
		reply_map_end(p, req, w);
		rv = 0;
		goto out;
	}
	if ((rv = propose(p, pd)) == 0) {
		pd = NULL; /* the callback answers and frees it */
	} else {
		rv = p->host->reply_error(
		    p->ctx, req, rv, "the proposal was refused");
	}
out:
	free(pd);
	agentd_doc_free(doc);
	return rv;
}

/* ---- decisions' outcomes ------------------------------------------------ */

static double
stored_price(struct pricing *p, const char *key, int64_t *applied)
{
	void               *val;
	size_t              len;
	agentd_doc         *doc;
	double              price = 0;
	const agentd_value *m;

	*applied = 0;
	if (p->host->state_get(p->ctx, key, strlen(key), &val, &len) != 0)
		return 0;
	if (agentd_parse(val, len, &doc) == 0) {
		m = agentd_doc_root(doc);
		agentd_get_double(agentd_map_get(m, "price"), &price);
		agentd_get_int(agentd_map_get(m, "applied"), applied);
		agentd_doc_free(doc);
	}
	p->host->free(val);
	return price;
}

static void
apply(struct pricing *p, const char *id, const agentd_value *ev)
{
	const agentd_value *params = agentd_map_get(ev, "params");
	char sku[SHOPKIT_SKU_MAX + 1], by[128] = "", key[SHOPKIT_SKU_MAX + 8];
	char dkey[64], summary[256];
	const char            *s;
	size_t                 len;
	double                 price, previous;
	int64_t                applied;
	agentd_writer         *rec, *detail, *event;
	struct agentd_state_op ops[2];
	const void            *data;
	size_t                 dlen;

	snprintf(dkey, sizeof(dkey), "decision/%s", id);
	if (agentd_get_str(agentd_map_get(params, "sku"), &s, &len) != 0
	    || !shopkit_valid_sku(s, len)
	    || agentd_get_double(agentd_map_get(params, "price"), &price) != 0
	    || !isfinite(price) || price <= 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "decision %s approved with parameters that have no valid "
		    "sku and price: not applied",
		    id);
		p->host->state_put(
		    p->ctx, dkey, strlen(dkey), "invalid", strlen("invalid"));
		return;
	}
	memcpy(sku, s, len);
	sku[len] = '\0';
	agentd_get_strcpy(agentd_map_get(ev, "by"), by, sizeof(by));
	snprintf(key, sizeof(key), "price/%s", sku);
	previous = stored_price(p, key, &applied);
	if (previous == 0)
		agentd_get_double(
		    agentd_map_get(params, "previous_price"), &previous);

	agentd_writer_new(&rec);
	agentd_write_map(rec, 5);
	agentd_write_str(rec, "sku");
	agentd_write_str(rec, sku);
	write_num(rec, "price", price);
	agentd_write_str(rec, "decision");
	agentd_write_str(rec, id);
	agentd_write_str(rec, "by");
	agentd_write_str(rec, by);
	agentd_write_str(rec, "applied");
	agentd_write_int(rec, applied + 1);
	ops[0].key    = key;
	ops[0].keylen = strlen(key);
	ops[0].val    = agentd_writer_data(rec, &ops[0].vallen);
	ops[1].key    = dkey;
	ops[1].keylen = strlen(dkey);
	ops[1].val    = "applied";
	ops[1].vallen = strlen("applied");
	if (p->host->state_batch(p->ctx, ops, 2) != 0) {
		/* Not recorded: the outcome comes again to a new instance. */
		p->host->log(p->ctx, AGENTD_LOG_ERROR,
		    "decision %s: the price could not be stored", id);
		agentd_writer_free(rec);
		return;
	}
	agentd_writer_free(rec);

	agentd_writer_new(&detail);
	agentd_write_map(detail, 5);
	agentd_write_str(detail, "sku");
	agentd_write_str(detail, sku);
	write_num(detail, "price", price);
	write_num(detail, "previous_price", previous);
	agentd_write_str(detail, "decision");
	agentd_write_str(detail, id);
	agentd_write_str(detail, "by");
	agentd_write_str(detail, by);
	data = agentd_writer_data(detail, &dlen);
	snprintf(summary, sizeof(summary),
	    "price of %s set to %.2f (was %.2f), decision %s approved by %s",
	    sku, price, previous, id, by);
	p->host->audit_async(
	    p->ctx, "price.set", summary, data, dlen, NULL, NULL);
	/* The event's body is the record's detail. */
	agentd_writer_new(&event);
	agentd_write_raw(event, data, dlen);
	data = agentd_writer_data(event, &dlen);
	if (p->host->publish(p->ctx, "price.changed", data, dlen) != 0)
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "price.changed for %s not published (publish = { })", sku);
	agentd_writer_free(event);
	agentd_writer_free(detail);
}

static void
pricing_event(void *state, const char *topic, const void *body, size_t len)
{
	struct pricing     *p = state;
	agentd_doc         *doc;
	const agentd_value *ev;
	char                id[32], outcome[16] = "", dkey[64];
	void               *seen;
	size_t              seenlen;

	if (strncmp(topic, "decision.", 9) != 0)
		return;
	if (agentd_parse(body, len, &doc) != 0)
		return;
	ev = agentd_doc_root(doc);
	if (agentd_get_strcpy(agentd_map_get(ev, "id"), id, sizeof(id)) != 0)
		goto out;
	snprintf(dkey, sizeof(dkey), "decision/%s", id);
	if (p->host->state_get(p->ctx, dkey, strlen(dkey), &seen, &seenlen)
	    == 0) {
		p->host->free(seen); /* delivered again: taken already */
		goto out;
	}
	agentd_get_strcpy(
	    agentd_map_get(ev, "outcome"), outcome, sizeof(outcome));
	if (strcmp(outcome, "approved") == 0)
		apply(p, id, ev);
	else
		p->host->state_put(
		    p->ctx, dkey, strlen(dkey), outcome, strlen(outcome));
out:
	agentd_doc_free(doc);
}

/* ---- the sample product ------------------------------------------------- */

static int
parse_sample(const char *s, struct product *prod)
{
	const char *colon = strchr(s, ':');
	char        rest[128];

	memset(prod, 0, sizeof(*prod));
	if (colon == NULL || !shopkit_valid_sku(s, (size_t)(colon - s))
	    || strlen(colon + 1) >= sizeof(rest))
		return AGENTD_EINVAL;
	memcpy(prod->sku, s, (size_t)(colon - s));
	strcpy(rest, colon + 1);
	if (sscanf(rest, "%lf:%lf:%lf", &prod->cost, &prod->shipping,
	        &prod->current)
	        != 3
	    || !(prod->cost >= 0 && prod->shipping >= 0 && prod->current >= 0)
	    || !isfinite(prod->cost + prod->shipping + prod->current))
		return AGENTD_EINVAL;
	return 0;
}

static void
pricing_tick(void *state)
{
	struct pricing *p = state;
	struct pending *pd;
	void           *v;
	size_t          len;

	if (p->sample_state != 0 || p->sample[0] == '\0')
		return;
	if (p->host->state_get(
	        p->ctx, SAMPLE_KEY, strlen(SAMPLE_KEY), &v, &len)
	    == 0) {
		p->host->free(v);
		p->sample_state = 2;
		return;
	}
	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return;
	pd->p      = p;
	pd->sample = 1;
	if (parse_sample(p->sample, &pd->prod) != 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "sample_product \"%s\" is not SKU:COST:SHIPPING:PRICE",
		    p->sample);
		p->sample_state = 2;
		free(pd);
		return;
	}
	compute(p, pd);
	p->sample_state = 1;
	if (pd->amount < 0.005 || propose(p, pd) != 0) {
		p->sample_state = 2;
		free(pd);
	}
}

/* What other agents find it by (host->find_agents). */
static const char *const pricing_capabilities[] = { "pricing", NULL };

AGENTD_PLUGIN(.name = "pricing", .version = "1.0.0",
    .description = "prices products from cost, shipping, fees and a target "
                   "margin; sets prices through the policy gate",
    .settings = pricing_settings, .init = pricing_init,
    .on_request = pricing_request, .on_event = pricing_event,
    .on_tick = pricing_tick, .tick_ms = 1000, .fini = pricing_fini,
    .capabilities = pricing_capabilities);
