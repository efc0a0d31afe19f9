/*
 * promotions - promotions for the shop's slow and low stock, through the
 * policy gate (doc/promotions.md).
 *
 * A SKU's promotion moves through these states, kept in "promo/SKU":
 *
 *   (none)    stock.slow {"sku", "stock", "idle_ms"}: the llm agent is
 *             asked (route llm_route, a JSON answer) for {"title",
 *             "discount", "reason"}; a failure or an answer that is not
 *             one leaves no state, so the next stock.slow asks again
 *   proposed  promotion.create {"sku", "discount", "title", "reason"}
 *             proposed (amount: the discount share); written before the
 *             proposal, so a second stock.slow meanwhile proposes nothing
 *   active    approved (decision.<id>): audit promotion.started, event
 *             promotion.started {"sku", "discount", "title", "reason",
 *             "decision", "by"}
 *   pausing   stock.low {"sku", "stock", "threshold"} of an active (or
 *             proposed) promotion: promotion.pause {"sku", "stock"}
 *   paused    approved: audit promotion.paused
 * A rejected or expired create goes back to none (the next stock.slow may
 * try again), a rejected pause back to active.  "decision/ID" written in
 * the same state batch as the new state makes an outcome delivered twice
 * apply once; the decision's params (a person may have modified them)
 * are what is applied.
 *
 * {"op": "list"} answers every promotion; {"op": "ideas", "sku", "stock"}
 * asks the model now and answers the idea, proposed unless "propose":
 * false.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../shopkit/sku.h"

#define TITLE_MAX 120
#define REASON_MAX 600

static const struct agentd_setting promotions_settings[] = {
	{ "llm_agent", AGENTD_SETTING_STRING, "llm",
	    "the agent asked for ideas (calls = { } must name it)" },
	{ "llm_route", AGENTD_SETTING_STRING, "ideas",
	    "the llm agent's route for ideas" },
	{ "llm_timeout_ms", AGENTD_SETTING_INT, "30000",
	    "an idea waited for at most this long" },
	{ "llm_max_tokens", AGENTD_SETTING_INT, "200",
	    "the longest answer asked of the model" },
	{ "max_discount", AGENTD_SETTING_DOUBLE, "0.5",
	    "a discount the model suggests is held at this share" },
	{ NULL, 0, NULL, NULL },
};

struct promotions {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *llm_agent, *llm_route;
	int64_t                   llm_timeout_ms, llm_max_tokens;
	double                    max_discount;
};

/* A promotion as state holds it. */
struct promo {
	char   sku[SHOPKIT_SKU_MAX + 1];
	char   state[16];
	char   title[TITLE_MAX + 1], reason[REASON_MAX + 1];
	char   decision[32], by[128];
	double discount;
};

/* A proposal on its way: the promotion as it was written before it. */
struct pending {
	struct promotions *p;
	struct promo       r;
};

/* An idea on its way from the model; req (may be NULL) waits for it. */
struct ask {
	struct promotions *p;
	agentd_request    *req;
	char               sku[SHOPKIT_SKU_MAX + 1];
	int64_t            stock;
	int                propose;
};

/* A string field into buf, cut to fit; "" if absent. */
static void
get_text(const agentd_value *v, char *buf, size_t size)
{
	const char *s;
	size_t      len;

	buf[0] = '\0';
	if (agentd_get_str(v, &s, &len) == 0) {
		if (len >= size)
			len = size - 1;
		memcpy(buf, s, len);
		buf[len] = '\0';
	}
}

/* ---- state -------------------------------------------------------------- */

static void
promo_write(agentd_writer *w, const struct promo *r)
{
	agentd_write_map(w, 7);
	agentd_write_str(w, "sku");
	agentd_write_str(w, r->sku);
	agentd_write_str(w, "state");
	agentd_write_str(w, r->state);
	agentd_write_str(w, "discount");
	agentd_write_double(w, r->discount);
	agentd_write_str(w, "title");
	agentd_write_str(w, r->title);
	agentd_write_str(w, "reason");
	agentd_write_str(w, r->reason);
	agentd_write_str(w, "decision");
	agentd_write_str(w, r->decision);
	agentd_write_str(w, "by");
	agentd_write_str(w, r->by);
}

static void
promo_read(const agentd_value *m, struct promo *r)
{
	memset(r, 0, sizeof(*r));
	get_text(agentd_map_get(m, "sku"), r->sku, sizeof(r->sku));
	get_text(agentd_map_get(m, "state"), r->state, sizeof(r->state));
	agentd_get_double(agentd_map_get(m, "discount"), &r->discount);
	get_text(agentd_map_get(m, "title"), r->title, sizeof(r->title));
	get_text(agentd_map_get(m, "reason"), r->reason, sizeof(r->reason));
	get_text(
	    agentd_map_get(m, "decision"), r->decision, sizeof(r->decision));
	get_text(agentd_map_get(m, "by"), r->by, sizeof(r->by));
}

/* 0 and *r, or AGENTD_ENOENT. */
static int
promo_get(struct promotions *p, const char *sku, struct promo *r)
{
	char        key[SHOPKIT_SKU_MAX + 8];
	agentd_doc *doc;
	int         rv;

	snprintf(key, sizeof(key), "promo/%s", sku);
	if ((rv = agentd_state_get_map(p->host, p->ctx, key, &doc)) != 0)
		return rv;
	promo_read(agentd_doc_root(doc), r);
	agentd_doc_free(doc);
	return 0;
}

/*
 * Write r (NULL: delete SKU sku's promotion), with "decision/ID" =
 * outcome when id is not NULL, in one batch.
 */
static int
promo_put(struct promotions *p, const char *sku, const struct promo *r,
    const char *id, const char *outcome)
{
	struct agentd_state_op ops[2];
	agentd_writer         *w;
	char                   key[SHOPKIT_SKU_MAX + 8], dkey[48];
	size_t                 n = 1;
	int                    rv;

	snprintf(key, sizeof(key), "promo/%s", sku);
	agentd_writer_new(&w);
	ops[0] = (struct agentd_state_op) { key, strlen(key), NULL, 0 };
	if (r != NULL) {
		promo_write(w, r);
		ops[0].val = agentd_writer_data(w, &ops[0].vallen);
	}
	if (id != NULL) {
		snprintf(dkey, sizeof(dkey), "decision/%s", id);
		ops[n++] = (struct agentd_state_op) { dkey, strlen(dkey),
			outcome, strlen(outcome) };
	}
	rv = p->host->state_batch(p->ctx, ops, n);
	agentd_writer_free(w);
	if (rv != 0)
		p->host->log(p->ctx, AGENTD_LOG_ERROR,
		    "promotions: %s: the state could not be written: %s", sku,
		    agentd_errname(rv));
	return rv;
}

/* An outcome taken that changes no promotion: remembered all the same. */
static void
mark_decision(struct promotions *p, const char *id, const char *outcome)
{
	char dkey[48];

	snprintf(dkey, sizeof(dkey), "decision/%s", id);
	p->host->state_put(
	    p->ctx, dkey, strlen(dkey), outcome, strlen(outcome));
}

/* ---- proposals ---------------------------------------------------------- */

static void
proposed(void *arg, int status, const char *id)
{
	struct pending    *pd = arg;
	struct promotions *p  = pd->p;
	struct promo      *r  = &pd->r;
	struct promo       now;

	if (status != 0) {
		/* Refused (max_pending): back to where it was, so the next
		 * event may try again. */
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "promotions: %s: the proposal was refused: %s", r->sku,
		    agentd_errname(status));
		if (promo_get(p, r->sku, &now) == 0
		    && strcmp(now.state, r->state) == 0) {
			if (strcmp(r->state, "pausing") == 0) {
				snprintf(
				    now.state, sizeof(now.state), "active");
				promo_put(p, r->sku, &now, NULL, NULL);
			} else {
				promo_put(p, r->sku, NULL, NULL, NULL);
			}
		}
	} else if (promo_get(p, r->sku, &now) == 0
	    && strcmp(now.state, r->state) == 0 && now.decision[0] == '\0') {
		/* The decision's id, unless its outcome came first. */
		snprintf(now.decision, sizeof(now.decision), "%s", id);
		promo_put(p, r->sku, &now, NULL, NULL);
	}
	free(pd);
}

/*
 * Propose type for r (its state already written as proposed or pausing):
 * 0, or the error with the state put back by the caller.
 */
static int
propose(struct promotions *p, const char *type, const struct promo *r,
    int64_t stock)
{
	struct agentd_proposal prop;
	agentd_writer         *params;
	char                   title[AGENTD_PROPOSAL_TITLE_MAX + 1];
	struct pending        *pd;
	int                    create = strcmp(type, "promotion.create") == 0;
	int                    rv;

	if ((pd = malloc(sizeof(*pd))) == NULL)
		return AGENTD_ENOMEM;
	pd->p = p;
	pd->r = *r;
	agentd_writer_new(&params);
	agentd_write_map_begin(params);
	agentd_write_str(params, "sku");
	agentd_write_str(params, r->sku);
	if (create) {
		agentd_write_str(params, "discount");
		agentd_write_double(params, r->discount);
		agentd_write_str(params, "title");
		agentd_write_str(params, r->title);
		agentd_write_str(params, "reason");
		agentd_write_str(params, r->reason);
		snprintf(title, sizeof(title),
		    "Promote %s: %.0f%% off (%.100s)", r->sku,
		    r->discount * 100, r->title);
	} else {
		agentd_write_str(params, "stock");
		agentd_write_int(params, stock);
		snprintf(title, sizeof(title),
		    "Pause the promotion of %s: %lld left in stock", r->sku,
		    (long long)stock);
	}
	agentd_write_map_end(params);
	memset(&prop, 0, sizeof(prop));
	prop.type       = type;
	prop.title      = title;
	prop.reasoning  = create ? r->reason
	                         : "the stock went under its threshold: a "
	                           "promotion would sell what is not there";
	prop.amount     = create ? r->discount : 0;
	prop.confidence = create ? 0.7 : 0.9;
	prop.params     = agentd_writer_data(params, &prop.params_len);
	rv              = p->host->propose_async(p->ctx, &prop, proposed, pd);
	agentd_writer_free(params);
	if (rv != 0)
		free(pd);
	return rv;
}

/* ---- ideas from the model ----------------------------------------------- */

static void
ask_fail(struct ask *a, int err, const char *what)
{
	a->p->host->log(a->p->ctx, AGENTD_LOG_WARN,
	    "promotions: no idea for %s: %s", a->sku, what);
	if (a->req != NULL)
		a->p->host->reply_error(a->p->ctx, a->req, err, what);
	free(a);
}

/* The model's text as {"title": str, "discount": number, "reason": str}
 * into r; 0, or -1 with why. */
static int
idea_parse(struct promotions *p, const char *text, size_t len, struct promo *r,
    char *why, size_t whylen)
{
	json_t     *j = json_loadb(text, len, 0, NULL);
	const char *t = json_string_value(json_object_get(j, "title"));
	const char *s = json_string_value(json_object_get(j, "reason"));
	json_t     *d = json_object_get(j, "discount");

	if (t == NULL || *t == '\0' || !json_is_number(d)
	    || !(json_number_value(d) > 0 && json_number_value(d) < 1)) {
		snprintf(why, whylen,
		    "the model's answer is not {\"title\", \"discount\" "
		    "(0 to 1), \"reason\"}: %.80s",
		    len > 0 ? text : "(empty)");
		json_decref(j);
		return -1;
	}
	snprintf(r->title, sizeof(r->title), "%s", t);
	snprintf(r->reason, sizeof(r->reason), "%s", s != NULL ? s : "");
	r->discount = json_number_value(d);
	if (r->discount > p->max_discount)
		r->discount = p->max_discount;
	r->discount = round(r->discount * 1000) / 1000;
	json_decref(j);
	return 0;
}

static void
idea_reply(struct ask *a, const struct promo *r, const char *skipped)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	agentd_write_str(w, "sku");
	agentd_write_str(w, r->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, r->title);
	agentd_write_str(w, "discount");
	agentd_write_double(w, r->discount);
	agentd_write_str(w, "reason");
	agentd_write_str(w, r->reason);
	agentd_write_str(w, "proposed");
	agentd_write_bool(w, skipped == NULL && a->propose);
	if (skipped != NULL) {
		agentd_write_str(w, "skipped");
		agentd_write_str(w, skipped);
	}
	agentd_write_map_end(w);
	b = agentd_writer_data(w, &n);
	a->p->host->reply(a->p->ctx, a->req, b, n);
	agentd_writer_free(w);
}

static void
idea_got(void *arg, int status, const void *reply, size_t len)
{
	struct ask        *a = arg;
	struct promotions *p = a->p;
	agentd_doc        *doc;
	const char        *text;
	size_t             tlen;
	struct promo       r, now;
	char               why[200];
	const char        *skipped = NULL;
	int                rv;

	if (status != 0) {
		snprintf(why, sizeof(why), "%s did not answer: %s",
		    p->llm_agent, agentd_errname(status));
		ask_fail(a, status, why);
		return;
	}
	memset(&r, 0, sizeof(r));
	snprintf(r.sku, sizeof(r.sku), "%s", a->sku);
	if (agentd_parse(reply, len, &doc) != 0) {
		ask_fail(a, AGENTD_EPROTO, "the llm's reply is not msgpack");
		return;
	}
	if (agentd_get_str(
	        agentd_map_get(agentd_doc_root(doc), "text"), &text, &tlen)
	        != 0
	    || idea_parse(p, text, tlen, &r, why, sizeof(why)) != 0) {
		agentd_doc_free(doc);
		ask_fail(a, AGENTD_EPROTO,
		    why[0] != '\0' ? why : "the llm's reply has no text");
		return;
	}
	agentd_doc_free(doc);
	if (a->propose) {
		if (promo_get(p, a->sku, &now) == 0
		    && strcmp(now.state, "paused") != 0) {
			skipped
			    = "a promotion of this SKU is proposed or runs";
		} else {
			snprintf(r.state, sizeof(r.state), "proposed");
			if ((rv = promo_put(p, r.sku, &r, NULL, NULL)) == 0
			    && (rv = propose(p, "promotion.create", &r, 0))
			        != 0)
				promo_put(p, r.sku, NULL, NULL, NULL);
			if (rv != 0) {
				ask_fail(
				    a, rv, "the proposal could not be made");
				return;
			}
		}
	}
	if (a->req != NULL)
		idea_reply(a, &r, skipped);
	free(a);
}

/* Ask the model for a promotion of sku; a (caller's) passes to the call on
 * success. */
static int
ask_idea(struct promotions *p, struct ask *a)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;
	char           user[256];
	int            rv;

	snprintf(user, sizeof(user),
	    "Product %s has %lld in stock and sells slowly. Suggest one "
	    "promotion for it.",
	    a->sku, (long long)a->stock);
	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "route");
	agentd_write_str(w, p->llm_route);
	agentd_write_str(w, "max_tokens");
	agentd_write_int(w, p->llm_max_tokens);
	agentd_write_str(w, "response_format");
	agentd_write_map(w, 1);
	agentd_write_str(w, "type");
	agentd_write_str(w, "json_object");
	agentd_write_str(w, "messages");
	agentd_write_array(w, 2);
	agentd_write_map(w, 2);
	agentd_write_str(w, "role");
	agentd_write_str(w, "system");
	agentd_write_str(w, "content");
	agentd_write_str(w,
	    "You plan promotions for an online shop. Answer with one JSON "
	    "object {\"title\": a short title for the promotion, "
	    "\"discount\": the share taken off the price (0.05 to 0.5), "
	    "\"reason\": one sentence}.");
	agentd_write_map(w, 2);
	agentd_write_str(w, "role");
	agentd_write_str(w, "user");
	agentd_write_str(w, "content");
	agentd_write_str(w, user);
	b  = agentd_writer_data(w, &n);
	rv = p->host->call_async(
	    p->ctx, p->llm_agent, b, n, (int)p->llm_timeout_ms, idea_got, a);
	agentd_writer_free(w);
	return rv;
}

/* ---- events ------------------------------------------------------------- */

static void
on_slow(struct promotions *p, const agentd_value *ev)
{
	struct ask  *a;
	struct promo now;
	int          rv;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return;
	a->p       = p;
	a->propose = 1;
	if (shopkit_get_sku(agentd_map_get(ev, "sku"), a->sku) != 0) {
		free(a);
		return;
	}
	agentd_get_int(agentd_map_get(ev, "stock"), &a->stock);
	/* Delivered again, or still running: nothing new to ask. */
	if (promo_get(p, a->sku, &now) == 0
	    && strcmp(now.state, "paused") != 0) {
		free(a);
		return;
	}
	if ((rv = ask_idea(p, a)) != 0)
		ask_fail(a, rv, agentd_errname(rv));
}

static void
on_low(struct promotions *p, const agentd_value *ev)
{
	struct promo r;
	char         sku[SHOPKIT_SKU_MAX + 1];
	int64_t      stock = 0;

	if (shopkit_get_sku(agentd_map_get(ev, "sku"), sku) != 0
	    || promo_get(p, sku, &r) != 0)
		return; /* no promotion to pause */
	if (strcmp(r.state, "active") != 0 && strcmp(r.state, "proposed") != 0)
		return; /* pausing or paused already */
	agentd_get_int(agentd_map_get(ev, "stock"), &stock);
	snprintf(r.state, sizeof(r.state), "pausing");
	r.decision[0] = '\0';
	if (promo_put(p, sku, &r, NULL, NULL) != 0)
		return;
	if (propose(p, "promotion.pause", &r, stock) != 0) {
		snprintf(r.state, sizeof(r.state), "active");
		promo_put(p, sku, &r, NULL, NULL);
	}
}

static void
audit_event(struct promotions *p, const char *kind, const struct promo *r,
    const char *summary, int publish)
{
	agentd_writer *w;
	const void    *d;
	size_t         n;

	agentd_writer_new(&w);
	promo_write(w, r);
	d = agentd_writer_data(w, &n);
	p->host->audit_async(p->ctx, kind, summary, d, n, NULL, NULL);
	if (publish && p->host->publish(p->ctx, kind, d, n) != 0)
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "promotions: %s for %s not published (publish = { })",
		    kind, r->sku);
	agentd_writer_free(w);
}

/* An approved decision, with the parameters it carries. */
static void
apply(struct promotions *p, const char *id, const char *type,
    const agentd_value *ev)
{
	const agentd_value *params = agentd_map_get(ev, "params");
	struct promo        r;
	char                sku[SHOPKIT_SKU_MAX + 1], summary[400];
	int                 create = strcmp(type, "promotion.create") == 0;

	if (shopkit_get_sku(agentd_map_get(params, "sku"), sku) != 0) {
		mark_decision(p, id, "invalid");
		return;
	}
	if (promo_get(p, sku, &r) != 0) {
		memset(&r, 0, sizeof(r));
		snprintf(r.sku, sizeof(r.sku), "%s", sku);
	}
	snprintf(r.decision, sizeof(r.decision), "%s", id);
	get_text(agentd_map_get(ev, "by"), r.by, sizeof(r.by));
	if (create) {
		double d = r.discount;

		if (agentd_get_double(agentd_map_get(params, "discount"), &d)
		        != 0
		    || !(d > 0 && d < 1)) {
			p->host->log(p->ctx, AGENTD_LOG_WARN,
			    "promotions: decision %s approved without a "
			    "discount in 0..1: not applied",
			    id);
			promo_put(p, sku, NULL, id, "invalid");
			return;
		}
		r.discount = d;
		if (agentd_map_get(params, "title") != NULL)
			get_text(agentd_map_get(params, "title"), r.title,
			    sizeof(r.title));
		if (agentd_map_get(params, "reason") != NULL)
			get_text(agentd_map_get(params, "reason"), r.reason,
			    sizeof(r.reason));
		snprintf(r.state, sizeof(r.state), "active");
	} else {
		snprintf(r.state, sizeof(r.state), "paused");
	}
	if (promo_put(p, sku, &r, id, "applied") != 0)
		return; /* not recorded: the outcome comes again */
	if (create)
		snprintf(summary, sizeof(summary),
		    "promotion of %s started: %.0f%% off (%s), decision %s "
		    "approved by %s",
		    sku, r.discount * 100, r.title, id, r.by);
	else
		snprintf(summary, sizeof(summary),
		    "promotion of %s paused, decision %s approved by %s", sku,
		    id, r.by);
	audit_event(p, create ? "promotion.started" : "promotion.paused", &r,
	    summary, create);
}

/* Rejected or expired: a create goes back to none, a pause to active. */
static void
refused(struct promotions *p, const char *id, const char *type,
    const char *outcome, const agentd_value *ev)
{
	struct promo r;
	char         sku[SHOPKIT_SKU_MAX + 1];

	if (shopkit_get_sku(
	        agentd_map_get(agentd_map_get(ev, "params"), "sku"), sku)
	        != 0
	    || promo_get(p, sku, &r) != 0) {
		mark_decision(p, id, outcome);
		return;
	}
	if (strcmp(type, "promotion.create") == 0
	    && strcmp(r.state, "proposed") == 0)
		promo_put(p, sku, NULL, id, outcome);
	else if (strcmp(r.state, "pausing") == 0) {
		snprintf(r.state, sizeof(r.state), "active");
		promo_put(p, sku, &r, id, outcome);
	} else
		mark_decision(p, id, outcome);
}

static void
on_decision(struct promotions *p, const agentd_value *ev)
{
	char   id[32], type[64] = "", outcome[16] = "", dkey[48];
	void  *seen;
	size_t seenlen;

	if (agentd_get_strcpy(agentd_map_get(ev, "id"), id, sizeof(id)) != 0)
		return;
	snprintf(dkey, sizeof(dkey), "decision/%s", id);
	if (p->host->state_get(p->ctx, dkey, strlen(dkey), &seen, &seenlen)
	    == 0) {
		p->host->free(seen); /* delivered again: taken already */
		return;
	}
	agentd_get_strcpy(agentd_map_get(ev, "type"), type, sizeof(type));
	agentd_get_strcpy(
	    agentd_map_get(ev, "outcome"), outcome, sizeof(outcome));
	if (strcmp(type, "promotion.create") != 0
	    && strcmp(type, "promotion.pause") != 0)
		return; /* not one of ours */
	if (strcmp(outcome, "approved") == 0)
		apply(p, id, type, ev);
	else
		refused(p, id, type, outcome[0] != '\0' ? outcome : "?", ev);
}

static void
promotions_event(void *state, const char *topic, const void *body, size_t len)
{
	struct promotions *p = state;
	agentd_doc        *doc;

	if (agentd_parse(body, len, &doc) != 0) {
		p->host->log(p->ctx, AGENTD_LOG_WARN,
		    "promotions: %s: the body is not msgpack", topic);
		return;
	}
	if (strcmp(topic, "stock.slow") == 0)
		on_slow(p, agentd_doc_root(doc));
	else if (strcmp(topic, "stock.low") == 0)
		on_low(p, agentd_doc_root(doc));
	else if (strncmp(topic, "decision.", 9) == 0)
		on_decision(p, agentd_doc_root(doc));
	agentd_doc_free(doc);
}

/* ---- requests ----------------------------------------------------------- */

struct listing {
	agentd_writer *w;
	uint32_t       n;
};

static int
list_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct listing *l = arg;

	(void)key;
	(void)keylen;
	if (agentd_write_raw(l->w, val, vallen) == 0)
		l->n++;
	return 0;
}

static int
op_list(struct promotions *p, agentd_request *req)
{
	struct listing l;
	agentd_writer *w;
	const void    *b;
	size_t         n;
	int            rv;

	agentd_writer_new(&l.w);
	l.n = 0;
	agentd_write_array_begin(l.w);
	p->host->state_scan(p->ctx, "promo/", 6, list_one, &l);
	agentd_write_array_end(l.w);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "promotions");
	b = agentd_writer_data(l.w, &n);
	agentd_write_raw(w, b, n);
	b  = agentd_writer_data(w, &n);
	rv = p->host->reply(p->ctx, req, b, n);
	agentd_writer_free(w);
	agentd_writer_free(l.w);
	return rv;
}

static int
promotions_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct promotions  *p = state;
	agentd_doc         *doc;
	const agentd_value *m;
	char                op[16] = "";
	struct ask         *a;
	int                 rv, b;

	if (agentd_parse(body, len, &doc) != 0)
		return p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "promotions: the body is not msgpack");
	m = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(m, "op"), op, sizeof(op));
	if (strcmp(op, "list") == 0) {
		agentd_doc_free(doc);
		return op_list(p, req);
	}
	if (strcmp(op, "ideas") != 0) {
		agentd_doc_free(doc);
		return p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "promotions: \"op\" is list or ideas");
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	a->p       = p;
	a->req     = req;
	a->propose = 1;
	if (agentd_get_bool(agentd_map_get(m, "propose"), &b) == 0)
		a->propose = b;
	agentd_get_int(agentd_map_get(m, "stock"), &a->stock);
	if (shopkit_get_sku(agentd_map_get(m, "sku"), a->sku) != 0) {
		free(a);
		agentd_doc_free(doc);
		return p->host->reply_error(p->ctx, req, AGENTD_EINVAL,
		    "promotions: ideas: \"sku\": 1 to 64 characters of "
		    "[A-Za-z0-9_.-]");
	}
	agentd_doc_free(doc);
	if ((rv = ask_idea(p, a)) != 0)
		ask_fail(a, rv, "the llm agent could not be called");
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

static int
promotions_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct promotions *p;

	if (!AGENTD_HOST_HAS(host, propose_async)
	    || !AGENTD_HOST_HAS(host, audit_async)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "promotions: this host has no propose_async (ABI 1.3 "
		    "needed)");
		return AGENTD_ENOTSUP;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return AGENTD_ENOMEM;
	p->ctx  = ctx;
	p->host = host;
	host->setting_string(ctx, "llm_agent", &p->llm_agent);
	host->setting_string(ctx, "llm_route", &p->llm_route);
	host->setting_int(ctx, "llm_timeout_ms", &p->llm_timeout_ms);
	host->setting_int(ctx, "llm_max_tokens", &p->llm_max_tokens);
	host->setting_double(ctx, "max_discount", &p->max_discount);
	if (p->llm_agent[0] == '\0' || p->llm_route[0] == '\0'
	    || p->llm_timeout_ms < 1 || p->llm_timeout_ms > 600000
	    || p->llm_max_tokens < 1 || !(p->max_discount > 0)
	    || !(p->max_discount < 1)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "promotions: settings: llm_agent and llm_route are "
		    "names, llm_timeout_ms 1 to 600000, llm_max_tokens above "
		    "0, max_discount between 0 and 1");
		free(p);
		return AGENTD_ECONFIG;
	}
	*state = p;
	return 0;
}

static void
promotions_fini(void *state)
{
	free(state);
}

/* What other agents find it by (host->find_agents). */
static const char *const promotions_capabilities[] = { "promotions", NULL };

AGENTD_PLUGIN(.name = "promotions", .version = "1.0.0",
    .description = "promotions for slow stock, ideas from the llm agent, "
                   "started and paused through the policy gate",
    .settings = promotions_settings, .init = promotions_init,
    .on_request = promotions_request, .on_event = promotions_event,
    .fini = promotions_fini, .capabilities = promotions_capabilities);
