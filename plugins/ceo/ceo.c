/*
 * ceo - decides whether the shop sells a product, says why, and keeps
 * the decisions (doc/ceo.md, doc/shop-contracts.md).
 *
 * {"op": "evaluate", "product": PRODUCT, "vetting": VETTING, "quote":
 * QUOTE} (scout's best, vetting's answer, pricing's quote) decides by the
 * settings, in this order:
 *
 *   reject    the quote's margin is under min_margin, or vetting did not
 *             pass;
 *   escalate  the price is over auto_approve_max_price, or the demand
 *             score is under min_score (or not known): a person decides;
 *   approve   otherwise.
 *
 * Risk: reject and escalate are "high"; an approval is "medium" when the
 * margin is within 0.05 of min_margin or the score within 0.1 of
 * min_score, else "low".  Then the llm agent (llm_agent, route
 * llm_route) is asked for a written rationale with call_async; its
 * failure leaves the decision as it is and becomes the rationale.  The
 * decision is audited (kind "decision", the agents' own: agentd's are
 * decision.proposed and the like) and kept in state under "decision/SKU";
 * the answer {"sku", "decision", "risk", "expected_margin", "price",
 * "reasons", "rationale"} comes once the record is committed.
 *
 * Events: supplier.failed {"sku", "supplier_id", "reasons"} is a reject
 * decision with the vetting's reasons (audited, kept) and then ceo.alert
 * {"sku", "reason"}; stock.low {"sku", "stock", "threshold"} is a
 * ceo.alert.  {"op": "decisions", "limit": N} lists the latest decision
 * of each SKU, newest first.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/llm.h>
#include <agentd/msg.h>

#include "../shopkit/sku.h"

#define SKU_MAX SHOPKIT_SKU_MAX
#define TITLE_MAX 200
#define REASONS_MAX 8
#define REASON_LEN 240
#define RATIONALE_MAX 2000
#define PROVIDER_MAX 64
#define LIST_MAX 1000
#define KEY_PREFIX "decision/"

static const struct agentd_setting ceo_settings[] = {
	{ "min_margin", AGENTD_SETTING_DOUBLE, "0.15",
	    "a quote's margin under this is rejected (0..1)" },
	{ "auto_approve_max_price", AGENTD_SETTING_DOUBLE, "100",
	    "a price over this is escalated to a person" },
	{ "min_score", AGENTD_SETTING_DOUBLE, "0.4",
	    "a demand score under this is escalated to a person (0..1)" },
	{ "llm_agent", AGENTD_SETTING_STRING, "llm",
	    "the agent asked for a written rationale; empty: none asked" },
	{ "llm_route", AGENTD_SETTING_STRING, "default",
	    "the llm agent's route for the rationale" },
	{ "llm_timeout_ms", AGENTD_SETTING_INT, "30000",
	    "how long the llm agent may take (1..600000)" },
	{ "llm_max_tokens", AGENTD_SETTING_INT, "200",
	    "the rationale's length, at most, in tokens (1..4000)" },
	{ NULL, 0, NULL, NULL },
};

struct ceo {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	double                    min_margin, max_price, min_score;
	const char               *llm_agent, *llm_route;
	int64_t                   llm_timeout_ms, llm_max_tokens;
};

/* One decision on its way: decided, then explained, audited, kept. */
struct eval {
	struct ceo     *c;
	agentd_request *req; /* NULL for an event's decision */
	char            sku[SKU_MAX + 1];
	char            title[TITLE_MAX + 1];
	double          price, margin, score; /* NAN: not known */
	const char     *decision, *risk;
	size_t          nreasons;
	char            reasons[REASONS_MAX][REASON_LEN];
	char            rationale[RATIONALE_MAX + 1];
	char            provider[PROVIDER_MAX + 1];
	char            alert[1024]; /* published as ceo.alert once kept */
};

static int
ceo_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct ceo *c;
	char        why[256] = "";

	if (!AGENTD_HOST_HAS(host, audit_async))
		return AGENTD_ENOTSUP;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AGENTD_ENOMEM;
	c->ctx  = ctx;
	c->host = host;
	host->setting_double(ctx, "min_margin", &c->min_margin);
	host->setting_double(ctx, "auto_approve_max_price", &c->max_price);
	host->setting_double(ctx, "min_score", &c->min_score);
	host->setting_string(ctx, "llm_agent", &c->llm_agent);
	host->setting_string(ctx, "llm_route", &c->llm_route);
	host->setting_int(ctx, "llm_timeout_ms", &c->llm_timeout_ms);
	host->setting_int(ctx, "llm_max_tokens", &c->llm_max_tokens);
	if (!(c->min_margin >= 0 && c->min_margin < 1))
		snprintf(why, sizeof(why), "min_margin %g is not in 0..1",
		    c->min_margin);
	else if (!(c->max_price > 0 && isfinite(c->max_price)))
		snprintf(why, sizeof(why),
		    "auto_approve_max_price %g is not more than 0",
		    c->max_price);
	else if (!(c->min_score >= 0 && c->min_score <= 1))
		snprintf(why, sizeof(why), "min_score %g is not in 0..1",
		    c->min_score);
	else if (c->llm_agent[0] != '\0'
	    && !shopkit_valid_id(
	        c->llm_agent, strlen(c->llm_agent), AGENTD_NAME_MAX))
		snprintf(why, sizeof(why),
		    "llm_agent \"%.64s\" is not an agent name", c->llm_agent);
	else if (c->llm_route[0] == '\0' || strlen(c->llm_route) > 64)
		snprintf(why, sizeof(why),
		    "llm_route must be 1 to 64 bytes (a route of the llm "
		    "agent's configuration)");
	else if (c->llm_timeout_ms < 1 || c->llm_timeout_ms > 600000)
		snprintf(why, sizeof(why),
		    "llm_timeout_ms %lld is not in 1..600000",
		    (long long)c->llm_timeout_ms);
	else if (c->llm_max_tokens < 1 || c->llm_max_tokens > 4000)
		snprintf(why, sizeof(why),
		    "llm_max_tokens %lld is not in 1..4000",
		    (long long)c->llm_max_tokens);
	if (why[0] != '\0') {
		host->log(ctx, AGENTD_LOG_ERROR, "settings: %s", why);
		free(c);
		return AGENTD_ECONFIG;
	}
	*state = c;
	return 0;
}

static void
ceo_fini(void *state)
{
	free(state);
}

static void reason(struct eval *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reason(struct eval *e, const char *fmt, ...)
{
	va_list ap;

	if (e->nreasons == REASONS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(e->reasons[e->nreasons++], REASON_LEN, fmt, ap);
	va_end(ap);
}

/* Copy at most max bytes of s (len bytes), not cutting a UTF-8
 * character. */
static void
copy_text(char *out, size_t max, const char *s, size_t len)
{
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
}

static void
write_num_or_nil(agentd_writer *w, const char *key, double v)
{
	agentd_write_str(w, key);
	if (isnan(v))
		agentd_write_nil(w);
	else
		agentd_write_double(w, v);
}

static void
write_reasons(agentd_writer *w, const struct eval *e)
{
	agentd_write_array(w, (uint32_t)e->nreasons);
	for (size_t i = 0; i < e->nreasons; i++)
		agentd_write_str(w, e->reasons[i]);
}

/* The decision's fields (of the audit record, the state, the reply),
 * inside a map the caller begins and ends. */
static void
write_decision(agentd_writer *w, const struct eval *e, int all)
{
	agentd_write_str(w, "sku");
	agentd_write_str(w, e->sku);
	agentd_write_str(w, "decision");
	agentd_write_str(w, e->decision);
	agentd_write_str(w, "risk");
	agentd_write_str(w, e->risk);
	write_num_or_nil(w, "expected_margin", e->margin);
	write_num_or_nil(w, "price", e->price);
	agentd_write_str(w, "reasons");
	write_reasons(w, e);
	agentd_write_str(w, "rationale");
	agentd_write_str(w, e->rationale);
	if (!all)
		return;
	write_num_or_nil(w, "score", e->score);
	agentd_write_str(w, "provider");
	agentd_write_str(w, e->provider);
}

/* ---- deciding ---------------------------------------------------------- */

static void
decide(struct ceo *c, struct eval *e, int vetting_passed,
    const agentd_value *vreasons)
{
	const char *s;
	size_t      len;

	if (e->margin < c->min_margin || !vetting_passed) {
		e->decision = "reject";
		e->risk     = "high";
		if (e->margin < c->min_margin)
			reason(e, "margin %.1f%% is under the minimum %.1f%%",
			    e->margin * 100, c->min_margin * 100);
		if (!vetting_passed && agentd_len(vreasons) == 0)
			reason(e, "the supplier did not pass vetting");
		for (size_t i = 0; !vetting_passed && i < agentd_len(vreasons);
		     i++)
			if (agentd_get_str(
			        agentd_array_at(vreasons, i), &s, &len)
			    == 0)
				reason(e, "vetting failed: %.*s",
				    (int)(len > 200 ? 200 : len), s);
		return;
	}
	if (e->price > c->max_price || isnan(e->score)
	    || e->score < c->min_score) {
		e->decision = "escalate";
		e->risk     = "high";
		if (e->price > c->max_price)
			reason(e,
			    "price %.2f is over %.2f, the most approved "
			    "without "
			    "a person",
			    e->price, c->max_price);
		if (isnan(e->score))
			reason(e, "the demand score is not known");
		else if (e->score < c->min_score)
			reason(e, "demand score %.3f is under %.3f", e->score,
			    c->min_score);
		return;
	}
	e->decision = "approve";
	e->risk
	    = e->margin < c->min_margin + 0.05 || e->score < c->min_score + 0.1
	    ? "medium"
	    : "low";
	reason(e, "margin %.1f%% is at least %.1f%%", e->margin * 100,
	    c->min_margin * 100);
	reason(e, "price %.2f is at most %.2f", e->price, c->max_price);
	reason(
	    e, "demand score %.3f is at least %.3f", e->score, c->min_score);
	reason(e, "the supplier passed vetting");
}

/* ---- keeping: audit, state, answer ------------------------------------ */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
publish_alert(struct ceo *c, const char *sku, const char *why)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "sku");
	agentd_write_str(w, sku);
	agentd_write_str(w, "reason");
	agentd_write_str(w, why);
	data = agentd_writer_data(w, &len);
	if (c->host->publish(c->ctx, "ceo.alert", data, len) != 0)
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "ceo.alert for %s not published (publish = { })", sku);
	agentd_writer_free(w);
}

static void
keep(struct eval *e, uint64_t seq)
{
	struct ceo    *c = e->c;
	agentd_writer *w;
	const void    *data;
	size_t         len;
	char           key[sizeof(KEY_PREFIX) + SKU_MAX];

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	write_decision(w, e, 1);
	agentd_write_str(w, "audit_seq");
	agentd_write_uint(w, seq);
	agentd_write_str(w, "at_ms");
	agentd_write_uint(w, now_ms());
	agentd_write_map_end(w);
	data = agentd_writer_data(w, &len);
	snprintf(key, sizeof(key), KEY_PREFIX "%s", e->sku);
	if (c->host->state_put(c->ctx, key, strlen(key), data, len) != 0)
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "decision on %s audited (%llu) but not kept in state",
		    e->sku, (unsigned long long)seq);
	agentd_writer_free(w);
}

static void
audited(void *arg, int status, uint64_t seq)
{
	struct eval   *e = arg;
	struct ceo    *c = e->c;
	agentd_writer *w;
	const void    *data;
	size_t         len;
	char           msg[160];

	if (status != 0) {
		snprintf(msg, sizeof(msg),
		    "the decision on %s was not recorded in the audit trail: "
		    "%s",
		    e->sku, agentd_errname(status));
		c->host->log(c->ctx, AGENTD_LOG_ERROR, "%s", msg);
		if (e->req != NULL)
			c->host->reply_error(c->ctx, e->req, status, msg);
		free(e);
		return;
	}
	keep(e, seq);
	if (e->alert[0] != '\0')
		publish_alert(c, e->sku, e->alert);
	if (e->req != NULL) {
		agentd_writer_new(&w);
		agentd_write_map_begin(w);
		write_decision(w, e, 0);
		agentd_write_map_end(w);
		data = agentd_writer_data(w, &len);
		c->host->reply(c->ctx, e->req, data, len);
		agentd_writer_free(w);
	}
	free(e);
}

/* Audit e; its callback keeps and answers it. */
static void
record(struct eval *e)
{
	struct ceo    *c = e->c;
	agentd_writer *w;
	const void    *data;
	size_t         len, o;
	char           summary[1200];
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map_begin(w);
	write_decision(w, e, 1);
	agentd_write_map_end(w);
	data = agentd_writer_data(w, &len);
	o    = (size_t)snprintf(
	       summary, sizeof(summary), "%s %s", e->decision, e->sku);
	if (!isnan(e->price))
		o += (size_t)snprintf(
		    summary + o, sizeof(summary) - o, " at %.2f", e->price);
	for (size_t i = 0; i < e->nreasons && o < sizeof(summary); i++)
		o += (size_t)snprintf(summary + o, sizeof(summary) - o, "%s%s",
		    i == 0 ? ": " : "; ", e->reasons[i]);
	rv = c->host->audit_async(
	    c->ctx, "decision", summary, data, len, audited, e);
	agentd_writer_free(w);
	if (rv != 0)
		audited(e, rv, 0);
}

/* ---- the rationale ------------------------------------------------------ */

static void
explained(void *arg, int status, const void *reply, size_t len)
{
	struct eval      *e = arg;
	agentd_llm_reply *r = NULL;

	if (status == 0 && agentd_llm_reply_parse(reply, len, &r) == 0
	    && r->text[0] != '\0') {
		copy_text(
		    e->rationale, RATIONALE_MAX, r->text, strlen(r->text));
		snprintf(e->provider, sizeof(e->provider), "%s", r->provider);
	} else {
		snprintf(e->rationale, sizeof(e->rationale),
		    "no written rationale: the %s agent %s%s", e->c->llm_agent,
		    status != 0 ? "failed: " : "gave no text",
		    status != 0 ? agentd_errname(status) : "");
		e->c->host->log(e->c->ctx, AGENTD_LOG_WARN,
		    "decision on %s: %s", e->sku, e->rationale);
	}
	agentd_llm_reply_free(r);
	record(e);
}

static void
ask_llm(struct eval *e)
{
	struct ceo         *c = e->c;
	agentd_llm_request *q;
	const void         *data;
	size_t              len;
	char                user[4096];
	size_t              o;
	int                 rv;

	if (c->llm_agent[0] == '\0') {
		snprintf(e->rationale, sizeof(e->rationale),
		    "no written rationale: llm_agent is empty");
		record(e);
		return;
	}
	o = (size_t)snprintf(
	    user, sizeof(user), "Product %s \"%s\": ", e->sku, e->title);
	if (!isnan(e->price))
		o += (size_t)snprintf(user + o, sizeof(user) - o,
		    "price %.2f, margin %.1f%%, ", e->price, e->margin * 100);
	if (!isnan(e->score))
		o += (size_t)snprintf(user + o, sizeof(user) - o,
		    "demand score %.3f, ", e->score);
	o += (size_t)snprintf(user + o, sizeof(user) - o,
	    "decision: %s (risk %s). Reasons:", e->decision, e->risk);
	for (size_t i = 0; i < e->nreasons && o < sizeof(user); i++)
		o += (size_t)snprintf(user + o, sizeof(user) - o, " %s%s",
		    e->reasons[i], i + 1 < e->nreasons ? ";" : ".");
	agentd_llm_request_new(c->llm_route, &q);
	agentd_llm_add_message(q, "system",
	    "You are the CEO of a small online shop. In two or three "
	    "sentences, explain the decision on this product to the team: "
	    "why, and what to watch.");
	agentd_llm_add_message(q, "user", user);
	agentd_llm_set_max_tokens(q, c->llm_max_tokens);
	rv = agentd_llm_request_encode(q, &data, &len);
	if (rv == 0)
		rv = c->host->call_async(c->ctx, c->llm_agent, data, len,
		    (int)c->llm_timeout_ms, explained, e);
	agentd_llm_request_free(q);
	if (rv != 0)
		explained(e, rv, NULL, 0);
}

/* ---- requests ------------------------------------------------------------
 */

static int
str_is(const agentd_value *v, const char *s)
{
	const char *p;
	size_t      n;

	return agentd_get_str(v, &p, &n) == 0 && n == strlen(s)
	    && memcmp(p, s, n) == 0;
}

/* Field "sku" of part m, if it has one, must be e's. */
static int
same_sku(const struct eval *e, const agentd_value *m)
{
	const agentd_value *v = agentd_map_get(m, "sku");

	return v == NULL || str_is(v, e->sku);
}

/* Read the evaluate request into e; a message for a bad one. */
static const char *
read_evaluate(struct eval *e, const agentd_value *root, int *passed,
    const agentd_value **vreasons)
{
	const agentd_value *prod  = agentd_map_get(root, "product");
	const agentd_value *vet   = agentd_map_get(root, "vetting");
	const agentd_value *quote = agentd_map_get(root, "quote");
	const agentd_value *score = agentd_map_get(prod, "score");
	const char         *s;
	size_t              len;

	if (agentd_get_str(agentd_map_get(prod, "sku"), &s, &len) != 0
	    || !shopkit_valid_id(s, len, SKU_MAX))
		return "product.sku: 1 to 64 characters of [A-Za-z0-9_.-] "
		       "(send {\"op\": \"evaluate\", \"product\", "
		       "\"vetting\", "
		       "\"quote\"})";
	memcpy(e->sku, s, len);
	e->sku[len] = '\0';
	if (agentd_get_str(agentd_map_get(prod, "title"), &s, &len) == 0)
		copy_text(e->title, TITLE_MAX, s, len);
	e->score = NAN;
	if (score != NULL && agentd_type_of(score) != AGENTD_T_NIL
	    && (agentd_get_double(score, &e->score) != 0
	        || !(e->score >= 0 && e->score <= 1)))
		return "product.score: a number in 0..1";
	if (agentd_get_bool(agentd_map_get(vet, "passed"), passed) != 0)
		return "vetting.passed: true or false (vetting's answer)";
	*vreasons = agentd_map_get(vet, "reasons");
	if (agentd_get_double(agentd_map_get(quote, "price"), &e->price) != 0
	    || !(e->price > 0 && isfinite(e->price)))
		return "quote.price: a number over 0 (pricing's quote)";
	if (agentd_get_double(agentd_map_get(quote, "margin"), &e->margin) != 0
	    || !isfinite(e->margin) || e->margin >= 1)
		return "quote.margin: a number under 1 (pricing's quote)";
	if (!same_sku(e, vet) || !same_sku(e, quote))
		return "the vetting and the quote must be of the product's "
		       "sku";
	return NULL;
}

static int
evaluate(struct ceo *c, agentd_request *req, const agentd_value *root)
{
	struct eval        *e;
	const char         *bad;
	const agentd_value *vreasons = NULL;
	int                 passed   = 0;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return AGENTD_ENOMEM;
	e->c   = c;
	e->req = req;
	if ((bad = read_evaluate(e, root, &passed, &vreasons)) != NULL) {
		free(e);
		return c->host->reply_error(c->ctx, req, AGENTD_EINVAL, bad);
	}
	decide(c, e, passed, vreasons);
	ask_llm(e);
	return 0;
}

/* One kept decision, for the list. */
struct kept {
	uint64_t seq;
	void    *val;
	size_t   len;
};

struct list {
	struct kept *v;
	size_t       n, cap;
};

static int
collect(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct list *l = arg;
	agentd_doc  *doc;
	struct kept  k = { 0 };

	(void)key;
	(void)keylen;
	if (agentd_parse(val, vallen, &doc) != 0)
		return 0;
	agentd_get_uint(
	    agentd_map_get(agentd_doc_root(doc), "audit_seq"), &k.seq);
	agentd_doc_free(doc);
	if (l->n == l->cap) {
		size_t       cap = l->cap ? l->cap * 2 : 16;
		struct kept *v   = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return 1;
		l->v   = v;
		l->cap = cap;
	}
	if ((k.val = malloc(vallen)) == NULL)
		return 1;
	memcpy(k.val, val, vallen);
	k.len        = vallen;
	l->v[l->n++] = k;
	return 0;
}

static int
newest_first(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static int
list_decisions(struct ceo *c, agentd_request *req, const agentd_value *root)
{
	const agentd_value *lv    = agentd_map_get(root, "limit");
	int64_t             limit = 50;
	struct list         l     = { 0 };
	agentd_writer      *w;
	const void         *data;
	size_t              len, n;
	int                 rv;

	if (lv != NULL
	    && (agentd_get_int(lv, &limit) != 0 || limit < 1
	        || limit > LIST_MAX))
		return c->host->reply_error(c->ctx, req, AGENTD_EINVAL,
		    "\"limit\": a whole number, 1 to 1000");
	rv = c->host->state_scan(
	    c->ctx, KEY_PREFIX, strlen(KEY_PREFIX), collect, &l);
	if (rv != 0) {
		rv = c->host->reply_error(
		    c->ctx, req, rv, "the decisions could not be read");
		goto out;
	}
	qsort(l.v, l.n, sizeof(*l.v), newest_first);
	n = l.n < (size_t)limit ? l.n : (size_t)limit;
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "decisions");
	agentd_write_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		agentd_write_raw(w, l.v[i].val, l.v[i].len);
	data = agentd_writer_data(w, &len);
	rv   = c->host->reply(c->ctx, req, data, len);
	agentd_writer_free(w);
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].val);
	free(l.v);
	return rv;
}

static int
ceo_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct ceo         *c = state;
	agentd_doc         *doc;
	const agentd_value *root, *op;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return c->host->reply_error(
		    c->ctx, req, AGENTD_EINVAL, "send a msgpack map");
	root = agentd_doc_root(doc);
	op   = agentd_map_get(root, "op");
	if (str_is(op, "evaluate"))
		rv = evaluate(c, req, root);
	else if (str_is(op, "decisions"))
		rv = list_decisions(c, req, root);
	else
		rv = c->host->reply_error(c->ctx, req, AGENTD_EINVAL,
		    "\"op\": \"evaluate\" or \"decisions\"");
	agentd_doc_free(doc);
	return rv;
}

/* ---- events ---------------------------------------------------------- */

/* supplier.failed: a reject, kept and audited, then ceo.alert. */
static void
supplier_failed(struct ceo *c, const agentd_value *ev)
{
	const agentd_value *rs = agentd_map_get(ev, "reasons");
	struct eval        *e;
	const char         *s;
	char                supplier[SKU_MAX + 1] = "?";
	size_t              len, o;

	if (agentd_get_str(agentd_map_get(ev, "sku"), &s, &len) != 0
	    || !shopkit_valid_id(s, len, SKU_MAX)) {
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "supplier.failed without a valid sku: ignored");
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->c = c;
	memcpy(e->sku, s, len);
	e->sku[len] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(ev, "supplier_id"), supplier, sizeof(supplier));
	e->price = e->margin = e->score = NAN;
	e->decision                     = "reject";
	e->risk                         = "high";
	for (size_t i = 0; i < agentd_len(rs); i++)
		if (agentd_get_str(agentd_array_at(rs, i), &s, &len) == 0)
			reason(e, "%.*s", (int)(len > 200 ? 200 : len), s);
	if (e->nreasons == 0)
		reason(e, "the supplier did not pass vetting");
	snprintf(e->rationale, sizeof(e->rationale),
	    "%s's supplier %s failed vetting: the shop does not sell it.",
	    e->sku, supplier);
	o = (size_t)snprintf(e->alert, sizeof(e->alert),
	    "%s rejected: supplier %s failed vetting (", e->sku, supplier);
	for (size_t i = 0; i < e->nreasons && o < sizeof(e->alert); i++)
		o += (size_t)snprintf(e->alert + o, sizeof(e->alert) - o,
		    "%s%s", i == 0 ? "" : "; ", e->reasons[i]);
	if (o < sizeof(e->alert))
		snprintf(e->alert + o, sizeof(e->alert) - o, ")");
	record(e);
}

static void
stock_low(struct ceo *c, const agentd_value *ev)
{
	char   sku[SKU_MAX + 1], why[256];
	double stock = NAN, threshold = NAN;

	if (agentd_get_strcpy(agentd_map_get(ev, "sku"), sku, sizeof(sku)) != 0
	    || !shopkit_valid_id(sku, strlen(sku), SKU_MAX)) {
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "stock.low without a valid sku: ignored");
		return;
	}
	agentd_get_double(agentd_map_get(ev, "stock"), &stock);
	agentd_get_double(agentd_map_get(ev, "threshold"), &threshold);
	snprintf(why, sizeof(why), "stock of %s is %g, under its threshold %g",
	    sku, stock, threshold);
	publish_alert(c, sku, why);
}

static void
ceo_event(void *state, const char *topic, const void *body, size_t len)
{
	struct ceo *c = state;
	agentd_doc *doc;

	if (agentd_parse(body, len, &doc) != 0) {
		c->host->log(c->ctx, AGENTD_LOG_WARN,
		    "%s: the event is not msgpack: ignored", topic);
		return;
	}
	if (strcmp(topic, "supplier.failed") == 0)
		supplier_failed(c, agentd_doc_root(doc));
	else if (strcmp(topic, "stock.low") == 0)
		stock_low(c, agentd_doc_root(doc));
	agentd_doc_free(doc);
}

/* What other agents find it by (host->find_agents). */
static const char *const ceo_capabilities[] = { "product.review", NULL };

AGENTD_PLUGIN(.name = "ceo", .version = "1.0.0",
    .description = "decides which products the shop sells (approve, "
                   "reject, escalate), with a written rationale",
    .settings = ceo_settings, .init = ceo_init, .on_request = ceo_request,
    .on_event = ceo_event, .fini = ceo_fini, .capabilities = ceo_capabilities);
