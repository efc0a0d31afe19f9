/*
 * fulfilment - orders the supplier's stock for each shop order, through
 * the policy gate (doc/fulfilment.md).
 *
 * On shop.order.created (the webhook's ORDER: {"id", "name", "email",
 * "line_items": [{"sku", "quantity"}...]}), once per order id, an order
 * moves through these states, kept in state "order/ID":
 *
 *   (none)     costing: GET /v1/products/SKU per line, for the landed
 *              cost (cost + shipping) of each; a failure leaves no state,
 *              so the order's next delivery starts again
 *   proposed   supplier.order proposed (amount: the total cost); the
 *              decision's params carry everything placing needs
 *   placing    approved: POST /v1/orders per line, Idempotency-Key
 *              ORDERID/SKU, so a retry or a second delivery of the
 *              decision never orders twice
 *   placed     every line placed: audit fulfilment.placed, event
 *              order.fulfilled {"order_id", "supplier_orders",
 *              "total_cost"}
 *   failed     a line could not be placed (audit fulfilment.failed); the
 *              decision's next delivery tries again with the same keys
 *   refused    rejected or expired: audit fulfilment.refused
 *
 * {"op": "get", "order": ID} answers the order's record.  Orders being
 * costed or placed are kept in memory too, so that a second delivery
 * arriving meanwhile is not started twice.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../shopkit/shopkit.h"

#define LINES_MAX 50
#define ID_MAX 32

static const struct agentd_setting fulfilment_settings[] = {
	{ "supplier_url", AGENTD_SETTING_STRING, NULL,
	    "the supplier API's base URL, ending in /v1" },
	{ "api_key_file", AGENTD_SETTING_STRING, "",
	    "file whose first line is the supplier's API key (Bearer); "
	    "empty: none" },
	{ "timeout_ms", AGENTD_SETTING_INT, "10000",
	    "each request to the supplier at most this long" },
	{ NULL, 0, NULL, NULL },
};

struct fulfilment {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	struct shopkit_api        api;  /* the supplier's; secret: its key */
	struct job               *jobs; /* being costed or placed */
};

struct line {
	char    sku[SHOPKIT_SKU_MAX + 1];
	int64_t quantity;
	double  unit_cost;
	char    po[64]; /* the supplier's order id once placed */
};

enum phase { COSTING, PLACING };

/* One order being costed or placed. */
struct job {
	struct fulfilment *f;
	struct job        *next;
	enum phase         phase;
	char               order_id[ID_MAX];
	char               name[64];
	char               email[256];
	char               decision[ID_MAX];
	char               by[128];
	struct line        lines[LINES_MAX];
	size_t             nlines, at; /* the line being asked about */
	size_t             failed;
	char               error[300];
};

static int
fulfilment_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct fulfilment *f;

	if (!AGENTD_HOST_HAS(host, http_async)
	    || !AGENTD_HOST_HAS(host, propose_async)
	    || !AGENTD_HOST_HAS(host, audit_async))
		return AGENTD_ENOTSUP;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return AGENTD_ENOMEM;
	f->ctx  = ctx;
	f->host = host;
	if (shopkit_api_settings(
	        host, ctx, "supplier_url", "api_key_file", 1, &f->api)
	    != 0) {
		free(f);
		return AGENTD_ECONFIG;
	}
	*state = f;
	return 0;
}

static void
fulfilment_fini(void *state)
{
	struct fulfilment *f = state;
	struct job        *j, *next;

	for (j = f->jobs; j != NULL; j = next) {
		next = j->next;
		free(j);
	}
	explicit_bzero(f->api.secret, sizeof(f->api.secret));
	free(f);
}

/* The job of order_id in phase (any phase: -1), or NULL.  A decision's
 * outcome may come while its costing job waits for propose's callback:
 * that one must not stop the placing. */
static struct job *
running(struct fulfilment *f, const char *order_id, int phase)
{
	for (struct job *j = f->jobs; j != NULL; j = j->next)
		if (strcmp(j->order_id, order_id) == 0
		    && (phase < 0 || (int)j->phase == phase))
			return j;
	return NULL;
}

static void
drop(struct job *j)
{
	struct job **pp;

	for (pp = &j->f->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	free(j);
}

static int
send_supplier(struct fulfilment *f, const char *method, const char *path,
    const char *idem_key, json_t *body, agentd_http_fn cb, void *arg)
{
	struct agentd_http_request req = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  h[4];
	char                       url[SHOPKIT_URL_MAX + 128];
	char                       auth[SHOPKIT_SECRET_MAX + 8];
	char                      *data = NULL;
	size_t                     n    = 0;
	int                        rv;

	snprintf(url, sizeof(url), "%s/%s", f->api.base, path);
	h[n].name    = "Accept";
	h[n++].value = "application/json";
	if (f->api.secret[0] != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", f->api.secret);
		h[n].name    = "Authorization";
		h[n++].value = auth;
	}
	if (idem_key != NULL) {
		h[n].name    = "Idempotency-Key";
		h[n++].value = idem_key;
	}
	if (body != NULL) {
		h[n].name    = "Content-Type";
		h[n++].value = "application/json";
		if ((data = json_dumps(body, JSON_COMPACT)) == NULL)
			return AGENTD_ENOMEM;
		req.body     = data;
		req.body_len = strlen(data);
	}
	req.method     = method;
	req.url        = url;
	req.headers    = h;
	req.nheaders   = n;
	req.timeout_ms = f->api.timeout_ms;
	req.attempts   = 3;
	/* The Idempotency-Key makes a POST safe to send again. */
	req.retry_on = AGENTD_HTTP_RETRY_DEFAULT | AGENTD_HTTP_RETRY_UNSAFE;
	rv           = f->host->http_async(f->ctx, &req, cb, arg);
	explicit_bzero(auth, sizeof(auth));
	free(data);
	return rv;
}

/* ---- the order's record ------------------------------------------------ */

static double
total_cost(const struct job *j)
{
	double t = 0;

	for (size_t i = 0; i < j->nlines; i++)
		t += j->lines[i].unit_cost * (double)j->lines[i].quantity;
	return round(t * 100) / 100;
}

static void
write_lines(agentd_writer *w, const struct job *j, int with_po)
{
	agentd_write_array(w, (uint32_t)j->nlines);
	for (size_t i = 0; i < j->nlines; i++) {
		agentd_write_map(w, with_po ? 4 : 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, j->lines[i].sku);
		agentd_write_str(w, "quantity");
		agentd_write_int(w, j->lines[i].quantity);
		agentd_write_str(w, "unit_cost");
		agentd_write_double(w, j->lines[i].unit_cost);
		if (with_po) {
			agentd_write_str(w, "supplier_order");
			agentd_write_str(w, j->lines[i].po);
		}
	}
}

static void
write_supplier_orders(agentd_writer *w, const struct job *j)
{
	agentd_write_array(w, (uint32_t)j->nlines);
	for (size_t i = 0; i < j->nlines; i++)
		agentd_write_str(w, j->lines[i].po);
}

/* Write order/ID: {"order_id", "status", "decision", "lines",
 * "total_cost", "supplier_orders"?, "error"?}. */
static int
put_record(struct job *j, const char *status)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	char           key[ID_MAX + 8];
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "order_id");
	agentd_write_str(w, j->order_id);
	agentd_write_str(w, "name");
	agentd_write_str(w, j->name);
	agentd_write_str(w, "status");
	agentd_write_str(w, status);
	agentd_write_str(w, "decision");
	agentd_write_str(w, j->decision);
	agentd_write_str(w, "lines");
	write_lines(w, j, strcmp(status, "placed") == 0);
	agentd_write_str(w, "total_cost");
	agentd_write_double(w, total_cost(j));
	if (strcmp(status, "placed") == 0) {
		agentd_write_str(w, "supplier_orders");
		write_supplier_orders(w, j);
	}
	if (j->error[0] != '\0') {
		agentd_write_str(w, "error");
		agentd_write_str(w, j->error);
	}
	agentd_write_map_end(w);
	data = agentd_writer_data(w, &len);
	snprintf(key, sizeof(key), "order/%s", j->order_id);
	rv = j->f->host->state_put(j->f->ctx, key, strlen(key), data, len);
	agentd_writer_free(w);
	if (rv != 0)
		j->f->host->log(j->f->ctx, AGENTD_LOG_ERROR,
		    "order %s: its record could not be written (%s)",
		    j->order_id, agentd_strerror(rv));
	return rv;
}

/* The status of order/ID ("" if none) into buf. */
static void
record_status(
    struct fulfilment *f, const char *order_id, char *buf, size_t size)
{
	char        key[ID_MAX + 8];
	agentd_doc *doc;

	buf[0] = '\0';
	snprintf(key, sizeof(key), "order/%s", order_id);
	if (agentd_state_get_map(f->host, f->ctx, key, &doc) == 0) {
		if (agentd_get_strcpy(
		        agentd_map_get(agentd_doc_root(doc), "status"), buf,
		        size)
		    != 0)
			snprintf(buf, size, "unknown");
		agentd_doc_free(doc);
	}
}

/* ---- costing and the proposal ---------------------------------------------
 */

static void costed(void *arg, const struct agentd_http_response *r);

static int
ask_cost(struct job *j)
{
	char path[SHOPKIT_SKU_MAX + 16];

	snprintf(path, sizeof(path), "products/%s", j->lines[j->at].sku);
	return send_supplier(j->f, "GET", path, NULL, NULL, costed, j);
}

static void
proposed(void *arg, int status, const char *id)
{
	struct job        *j = arg;
	struct fulfilment *f = j->f;
	char               have[16];

	if (status != 0) {
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "order %s: the policy gate refused supplier.order: %s",
		    j->order_id, agentd_strerror(status));
		drop(j);
		return;
	}
	snprintf(j->decision, sizeof(j->decision), "%s", id);
	/* A low decision's outcome may have come first and moved it on. */
	record_status(f, j->order_id, have, sizeof(have));
	if (have[0] == '\0')
		put_record(j, "proposed");
	drop(j);
}

static void
propose(struct job *j)
{
	struct fulfilment     *f = j->f;
	struct agentd_proposal prop;
	agentd_writer         *w;
	char                   title[200], reasoning[512];
	double                 total = total_cost(j);
	int                    rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 6);
	agentd_write_str(w, "order_id");
	agentd_write_str(w, j->order_id);
	agentd_write_str(w, "name");
	agentd_write_str(w, j->name);
	agentd_write_str(w, "email");
	agentd_write_str(w, j->email);
	agentd_write_str(w, "lines");
	write_lines(w, j, 0);
	agentd_write_str(w, "total_cost");
	agentd_write_double(w, total);
	agentd_write_str(w, "amount");
	agentd_write_double(w, total);
	snprintf(title, sizeof(title),
	    "Order %zu line(s) from the supplier for shop order %s (cost "
	    "%.2f)",
	    j->nlines, j->name[0] ? j->name : j->order_id, total);
	snprintf(reasoning, sizeof(reasoning),
	    "Shop order %s was paid; its lines cost %.2f at the supplier "
	    "(cost and shipping of each, GET /v1/products/SKU). Placed with "
	    "Idempotency-Key %s/SKU.",
	    j->order_id, total, j->order_id);
	memset(&prop, 0, sizeof(prop));
	prop.type       = "supplier.order";
	prop.title      = title;
	prop.reasoning  = reasoning;
	prop.amount     = total;
	prop.confidence = 0.9;
	prop.params     = agentd_writer_data(w, &prop.params_len);
	rv              = f->host->propose_async(f->ctx, &prop, proposed, j);
	agentd_writer_free(w);
	if (rv != 0) {
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "order %s: supplier.order not proposed: %s", j->order_id,
		    agentd_strerror(rv));
		drop(j);
	}
}

static void
costed(void *arg, const struct agentd_http_response *r)
{
	struct job        *j = arg;
	struct fulfilment *f = j->f;
	json_t            *top;
	char               msg[300], what[SHOPKIT_SKU_MAX + 32];
	double             cost, ship;
	int                err;

	snprintf(what, sizeof(what), "GET products/%s", j->lines[j->at].sku);
	err = shopkit_http_error(r, what, msg, sizeof(msg));
	top = err == 0 ? shopkit_json_body(r) : NULL;
	if (err == 0 && top == NULL) {
		snprintf(msg, sizeof(msg), "%s: the answer is not JSON", what);
		err = AGENTD_EPROTO;
	}
	if (err == 0) {
		cost = shopkit_json_money(json_object_get(top, "cost"), -1);
		ship = shopkit_json_money(json_object_get(top, "shipping"), 0);
		json_decref(top);
		if (!(cost >= 0 && ship >= 0 && isfinite(cost + ship))) {
			snprintf(msg, sizeof(msg), "%s: no cost", what);
			err = AGENTD_EPROTO;
		}
	}
	if (err != 0) {
		/* No record: the order's next delivery costs it again. */
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "order %s: not proposed: %s", j->order_id, msg);
		drop(j);
		return;
	}
	j->lines[j->at].unit_cost = round((cost + ship) * 100) / 100;
	if (++j->at < j->nlines) {
		if ((err = ask_cost(j)) != 0) {
			f->host->log(f->ctx, AGENTD_LOG_WARN,
			    "order %s: the supplier could not be asked: %s",
			    j->order_id, agentd_strerror(err));
			drop(j);
		}
		return;
	}
	propose(j);
}

/* Read lines (an ORDER's line_items, or a proposal's lines) into j. */
static int
read_lines(struct job *j, const agentd_value *items, int with_cost)
{
	size_t n = agentd_len(items);

	if (agentd_type_of(items) != AGENTD_T_ARRAY || n == 0 || n > LINES_MAX)
		return AGENTD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const agentd_value *it = agentd_array_at(items, i);
		struct line        *l  = &j->lines[i];

		if (agentd_get_strcpy(
		        agentd_map_get(it, "sku"), l->sku, sizeof(l->sku))
		        != 0
		    || !shopkit_valid_sku(l->sku, strlen(l->sku))
		    || agentd_get_int(
		           agentd_map_get(it, "quantity"), &l->quantity)
		        != 0
		    || l->quantity < 1 || l->quantity > 100000)
			return AGENTD_EINVAL;
		if (with_cost
		    && (agentd_get_double(
		            agentd_map_get(it, "unit_cost"), &l->unit_cost)
		            != 0
		        || !(l->unit_cost >= 0)))
			return AGENTD_EINVAL;
	}
	j->nlines = n;
	return 0;
}

static void
on_order(struct fulfilment *f, const agentd_value *order)
{
	struct job *j;
	char        id[ID_MAX], have[16];
	int         rv;

	if (shopkit_get_id(agentd_map_get(order, "id"), id, sizeof(id)) != 0) {
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "shop.order.created without an order id: ignored");
		return;
	}
	record_status(f, id, have, sizeof(have));
	if (have[0] != '\0' || running(f, id, -1) != NULL)
		return; /* delivered again: taken already */
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->f     = f;
	j->phase = COSTING;
	snprintf(j->order_id, sizeof(j->order_id), "%s", id);
	agentd_get_strcpy(
	    agentd_map_get(order, "name"), j->name, sizeof(j->name));
	agentd_get_strcpy(
	    agentd_map_get(order, "email"), j->email, sizeof(j->email));
	if (read_lines(j, agentd_map_get(order, "line_items"), 0) != 0) {
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "order %s: line_items are not 1 to %d of {sku, quantity}: "
		    "ignored",
		    id, LINES_MAX);
		free(j);
		return;
	}
	j->next = f->jobs;
	f->jobs = j;
	if ((rv = ask_cost(j)) != 0) {
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "order %s: the supplier could not be asked: %s", id,
		    agentd_strerror(rv));
		drop(j);
	}
}

/* ---- the decision and the placing ------------------------------------------
 */

static void placed(void *arg, const struct agentd_http_response *r);

static int
place(struct job *j)
{
	struct line *l = &j->lines[j->at];
	char         key[ID_MAX + SHOPKIT_SKU_MAX + 2];
	json_t      *body;
	int          rv;

	snprintf(key, sizeof(key), "%s/%s", j->order_id, l->sku);
	body = json_pack("{s:s,s:I,s:s,s:{s:s,s:s}}", "sku", l->sku,
	    "quantity", (json_int_t)l->quantity, "reference", j->order_id,
	    "ship_to", "email", j->email, "order", j->name);
	if (body == NULL)
		return AGENTD_ENOMEM;
	rv = send_supplier(j->f, "POST", "orders", key, body, placed, j);
	json_decref(body);
	return rv;
}

static void
audit_outcome(struct job *j, const char *kind, const char *summary)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "order_id");
	agentd_write_str(w, j->order_id);
	agentd_write_str(w, "decision");
	agentd_write_str(w, j->decision);
	agentd_write_str(w, "by");
	agentd_write_str(w, j->by);
	agentd_write_str(w, "lines");
	write_lines(w, j, strcmp(kind, "fulfilment.placed") == 0);
	agentd_write_str(w, "total_cost");
	agentd_write_double(w, total_cost(j));
	if (j->error[0] != '\0') {
		agentd_write_str(w, "error");
		agentd_write_str(w, j->error);
	}
	agentd_write_map_end(w);
	data = agentd_writer_data(w, &len);
	j->f->host->audit_async(
	    j->f->ctx, kind, summary, data, len, NULL, NULL);
	agentd_writer_free(w);
}

static void
placing_done(struct job *j)
{
	struct fulfilment *f = j->f;
	agentd_writer     *w;
	const void        *data;
	size_t             len;
	char               summary[512];

	if (j->failed > 0) {
		put_record(j, "failed");
		snprintf(summary, sizeof(summary),
		    "order %s: %zu of %zu supplier order(s) not placed: %s",
		    j->order_id, j->failed, j->nlines, j->error);
		audit_outcome(j, "fulfilment.failed", summary);
		f->host->log(f->ctx, AGENTD_LOG_WARN, "%s", summary);
		drop(j);
		return;
	}
	if (put_record(j, "placed") != 0) {
		drop(j); /* the next delivery places again: same keys */
		return;
	}
	snprintf(summary, sizeof(summary),
	    "order %s: %zu supplier order(s) placed for %.2f (decision %s by "
	    "%s)",
	    j->order_id, j->nlines, total_cost(j), j->decision, j->by);
	audit_outcome(j, "fulfilment.placed", summary);
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "order_id");
	agentd_write_str(w, j->order_id);
	agentd_write_str(w, "supplier_orders");
	write_supplier_orders(w, j);
	agentd_write_str(w, "total_cost");
	agentd_write_double(w, total_cost(j));
	data = agentd_writer_data(w, &len);
	if (f->host->publish(f->ctx, "order.fulfilled", data, len) != 0)
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "order.fulfilled for %s not published (publish = { })",
		    j->order_id);
	agentd_writer_free(w);
	drop(j);
}

static void
placed(void *arg, const struct agentd_http_response *r)
{
	struct job  *j = arg;
	struct line *l = &j->lines[j->at];
	json_t      *top;
	char         msg[300], what[SHOPKIT_SKU_MAX + 32];
	const char  *po;
	int          err, rv;

	snprintf(what, sizeof(what), "POST orders %s", l->sku);
	err = shopkit_http_error(r, what, msg, sizeof(msg));
	top = err == 0 ? shopkit_json_body(r) : NULL;
	po  = json_string_value(json_object_get(top, "order_id"));
	if (err == 0 && po == NULL) {
		snprintf(
		    msg, sizeof(msg), "%s: no order_id in the answer", what);
		err = AGENTD_EPROTO;
	}
	if (err != 0) {
		j->failed++;
		snprintf(j->error, sizeof(j->error), "%s", msg);
	} else {
		snprintf(l->po, sizeof(l->po), "%s", po);
	}
	json_decref(top);
	while (++j->at < j->nlines) {
		if ((rv = place(j)) == 0)
			return;
		j->failed++;
		snprintf(j->error, sizeof(j->error), "POST orders %s: %s",
		    j->lines[j->at].sku, agentd_strerror(rv));
	}
	placing_done(j);
}

static void
on_decision(struct fulfilment *f, const agentd_value *ev)
{
	const agentd_value *params = agentd_map_get(ev, "params");
	struct job         *j;
	char                type[64] = "", outcome[16] = "", have[16];
	char                summary[512], note[256]    = "";
	int                 rv;

	agentd_get_strcpy(agentd_map_get(ev, "type"), type, sizeof(type));
	if (strcmp(type, "supplier.order") != 0)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->f     = f;
	j->phase = PLACING;
	if (shopkit_get_id(agentd_map_get(params, "order_id"), j->order_id,
	        sizeof(j->order_id))
	        != 0
	    || read_lines(j, agentd_map_get(params, "lines"), 1) != 0) {
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "a supplier.order decision without an order_id and lines: "
		    "ignored");
		free(j);
		return;
	}
	agentd_get_strcpy(
	    agentd_map_get(ev, "id"), j->decision, sizeof(j->decision));
	agentd_get_strcpy(agentd_map_get(ev, "by"), j->by, sizeof(j->by));
	agentd_get_strcpy(agentd_map_get(ev, "note"), note, sizeof(note));
	agentd_get_strcpy(
	    agentd_map_get(params, "name"), j->name, sizeof(j->name));
	agentd_get_strcpy(
	    agentd_map_get(params, "email"), j->email, sizeof(j->email));
	agentd_get_strcpy(
	    agentd_map_get(ev, "outcome"), outcome, sizeof(outcome));
	record_status(f, j->order_id, have, sizeof(have));
	/* Taken already (placed, refused) or being placed: once per order;
	 * a failed placing is tried again with the same keys. */
	if (strcmp(have, "placed") == 0 || strcmp(have, "refused") == 0
	    || running(f, j->order_id, PLACING) != NULL) {
		free(j);
		return;
	}
	j->next = f->jobs;
	f->jobs = j;
	if (strcmp(outcome, "approved") != 0) {
		snprintf(j->error, sizeof(j->error), "%s by %s%s%s", outcome,
		    j->by, note[0] ? ": " : "", note);
		put_record(j, "refused");
		snprintf(summary, sizeof(summary),
		    "order %s: supplier.order %s, nothing ordered (decision "
		    "%s)",
		    j->order_id, j->error, j->decision);
		audit_outcome(j, "fulfilment.refused", summary);
		drop(j);
		return;
	}
	put_record(j, "placing");
	j->at = 0;
	while (j->at < j->nlines) {
		if ((rv = place(j)) == 0)
			return;
		j->failed++;
		snprintf(j->error, sizeof(j->error), "POST orders %s: %s",
		    j->lines[j->at].sku, agentd_strerror(rv));
		j->at++;
	}
	placing_done(j);
}

static void
fulfilment_event(void *state, const char *topic, const void *body, size_t len)
{
	struct fulfilment *f = state;
	agentd_doc        *doc;

	if (agentd_parse(body, len, &doc) != 0) {
		f->host->log(f->ctx, AGENTD_LOG_WARN,
		    "%s: a body that is not msgpack: ignored", topic);
		return;
	}
	if (strcmp(topic, "shop.order.created") == 0)
		on_order(f, agentd_doc_root(doc));
	else if (strncmp(topic, "decision.", 9) == 0)
		on_decision(f, agentd_doc_root(doc));
	agentd_doc_free(doc);
}

static int
fulfilment_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct fulfilment  *f = state;
	agentd_doc         *doc;
	const agentd_value *m;
	char                op[16] = "", id[ID_MAX], key[ID_MAX + 8];
	void               *val;
	size_t              vallen;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return f->host->reply_error(
		    f->ctx, req, AGENTD_EINVAL, "the body is not msgpack");
	m = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	if (strcmp(op, "get") != 0
	    || shopkit_get_id(agentd_map_get(m, "order"), id, sizeof(id))
	        != 0) {
		agentd_doc_free(doc);
		return f->host->reply_error(f->ctx, req, AGENTD_EINVAL,
		    "{\"op\": \"get\", \"order\": ORDER_ID}");
	}
	agentd_doc_free(doc);
	snprintf(key, sizeof(key), "order/%s", id);
	rv = f->host->state_get(f->ctx, key, strlen(key), &val, &vallen);
	if (rv == AGENTD_ENOENT)
		return f->host->reply_error(
		    f->ctx, req, rv, "no such order was seen");
	if (rv != 0)
		return f->host->reply_error(f->ctx, req, rv, "state_get");
	rv = f->host->reply(f->ctx, req, val, vallen);
	f->host->free(val);
	return rv;
}

/* What other agents find it by (host->find_agents). */
static const char *const fulfilment_capabilities[] = { "fulfilment", NULL };

AGENTD_PLUGIN(.name = "fulfilment", .version = "1.0.0",
    .description = "orders the supplier's stock for each shop order, "
                   "through the policy gate",
    .settings = fulfilment_settings, .init = fulfilment_init,
    .on_request = fulfilment_request, .on_event = fulfilment_event,
    .fini = fulfilment_fini, .capabilities = fulfilment_capabilities);
