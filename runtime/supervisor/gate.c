#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "store/audit.h"
#include "supervisor/agent.h"
#include "supervisor/control.h"
#include "supervisor/dispatch.h"
#include "supervisor/gate.h"
#include "supervisor/hub.h"
#include "supervisor/instance.h"
#include "supervisor/server.h"
#include "supervisor/supervisor.h"

/* Outcomes sent to an instance in one "decisions" message. */
#define DELIVER_BATCH 64
/* A worker that answered "decisions" with an error gets them again
 * after this long, not in a loop. */
#define DELIVER_RETRY_MS 1000

static struct ad_gate *
gate_of(const struct ad_sv *sv)
{
	return sv->gate;
}

/* ---- the open list ----------------------------------------------------- */

static struct ad_open_decision *
open_find(struct ad_gate *g, uint64_t id)
{
	size_t lo = 0, hi = g->nopen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->open[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->nopen && g->open[lo].id == id ? &g->open[lo] : NULL;
}

/* Ids only grow: a new one goes at the end, in order. */
static struct ad_open_decision *
open_add(struct ad_gate *g, uint64_t id, const char *agent)
{
	struct ad_open_decision *o;

	if (g->nopen == g->cap) {
		g->cap  = g->cap ? 2 * g->cap : 64;
		g->open = ad_xrealloc(g->open, g->cap * sizeof(*g->open));
	}
	o = &g->open[g->nopen++];
	memset(o, 0, sizeof(*o));
	o->id = id;
	snprintf(o->agent, sizeof(o->agent), "%s", agent);
	return o;
}

static void
open_remove(struct ad_gate *g, uint64_t id)
{
	struct ad_open_decision *o = open_find(g, id);
	size_t                   i;

	if (o == NULL)
		return;
	i = (size_t)(o - g->open);
	memmove(&g->open[i], &g->open[i + 1],
	    (g->nopen - i - 1) * sizeof(*g->open));
	g->nopen--;
}

unsigned
ad_gate_pending(const struct ad_sv *sv, const char *agent)
{
	const struct ad_gate *g = gate_of(sv);
	unsigned              n = 0;

	if (g == NULL)
		return 0;
	for (size_t i = 0; i < g->nopen; i++)
		n += g->open[i].state == AD_DECISION_PENDING
		    && strcmp(g->open[i].agent, agent) == 0;
	return n;
}

/* ---- opening ----------------------------------------------------------- */

static int
load_open(void *arg, uint64_t id, const char *agent,
    enum ad_decision_state state, int64_t deadline_ms)
{
	struct ad_open_decision *o = open_add(arg, id, agent);

	o->state       = state;
	o->deadline_ms = deadline_ms;
	return 0;
}

int
ad_gate_open(struct ad_sv *sv, char *err, size_t errlen)
{
	struct ad_gate *g = ad_xcalloc(1, sizeof(*g));
	int             rv;

	if ((rv = ad_decisions_open(sv->store, &g->db, err, errlen)) != 0) {
		free(g);
		return rv;
	}
	g->last_id = ad_decisions_last_id(g->db);
	if ((rv = ad_decisions_open_each(g->db, load_open, g)) != 0) {
		ad_seterr(err, errlen, "cannot read the open decisions: %s",
		    agentd_strerror(rv));
		ad_decisions_close(g->db);
		free(g->open);
		free(g);
		return rv;
	}
	if (g->nopen > 0)
		ad_info("policy gate: %zu decision(s) open, the last id %llu",
		    g->nopen, (unsigned long long)g->last_id);
	sv->gate = g;
	return 0;
}

void
ad_gate_close(struct ad_sv *sv)
{
	struct ad_gate *g = gate_of(sv);

	if (g == NULL)
		return;
	ad_decisions_close(g->db);
	free(g->open);
	free(g);
	sv->gate = NULL;
}

/* ---- committing a change ----------------------------------------------- */

/*
 * One change of one decision on its way to the disk: its audit records
 * (the last carries the decision's new record as side writes) and what
 * to do once they are committed.
 */
enum change_kind {
	CHANGE_PROPOSED,
	CHANGE_ANSWERED, /* approve, reject, modify by a person */
	CHANGE_EXPIRED,
	CHANGE_DELIVERED,
};

struct change {
	struct ad_sv          *sv;
	enum change_kind       kind;
	struct ad_srvctx      *c;      /* waiting for the answer, or NULL */
	struct ad_decision    *d;      /* the decision as it is now */
	enum ad_decision_state was;    /* in memory before the change */
	int                    notify; /* medium: on approvals.notify */
};

static void
change_free(struct change *ch)
{
	ad_decision_free(ch->d);
	free(ch);
}

static void reply_decision(struct ad_srvctx *c, const struct ad_decision *d);
static void deliver(struct ad_sv *sv, const char *agent);

static const char *
outcome_topic_word(enum ad_decision_state s)
{
	return ad_decision_state_name(s);
}

static void
account_decided(struct ad_sv *sv, const struct ad_decision *d)
{
	struct ad_agent *a = ad_sv_agent(sv, d->agent);
	int64_t          us;

	if (a == NULL)
		return;
	a->st.decided[d->state]++;
	us = (d->decided_ms - d->proposed_ms) * 1000;
	ad_hist_add(&a->st.decide_time, us > 0 ? (uint64_t)us : 0);
}

/* An event from agentd itself on topic, body {id, agent, type, ...}. */
static void
publish_note(struct ad_sv *sv, const char *topic, const struct ad_decision *d)
{
	struct ad_envelope ev;
	agentd_writer     *w;
	size_t             len;
	char               id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->id);
	agentd_writer_new(&w);
	agentd_write_map(w, 7);
	agentd_write_str(w, "id");
	agentd_write_str(w, id);
	agentd_write_str(w, "agent");
	agentd_write_str(w, d->agent);
	agentd_write_str(w, "type");
	agentd_write_str(w, d->type);
	agentd_write_str(w, "title");
	agentd_write_str(w, d->title);
	agentd_write_str(w, "amount");
	agentd_write_double(w, d->amount);
	agentd_write_str(w, "risk");
	agentd_write_str(w, ad_risk_name(d->risk));
	agentd_write_str(w, "deadline_ms");
	agentd_write_int(w, d->deadline_ms);
	memset(&ev, 0, sizeof(ev));
	ev.kind = AD_KIND_EVENT;
	snprintf(ev.dst, sizeof(ev.dst), "%s", topic);
	ev.body     = agentd_writer_data(w, &len);
	ev.body_len = len;
	ad_hub_deliver(sv, "agentd", "", &ev);
	agentd_writer_free(w);
}

/* The writer committed (or failed) a change: writer thread. */
static void
change_done(void *arg, int status, uint64_t seq)
{
	struct change           *ch = arg;
	struct ad_sv            *sv = ch->sv;
	struct ad_gate          *g;
	struct ad_open_decision *o;
	char                     id[24];

	(void)seq;
	pthread_mutex_lock(&sv->mtx);
	g = gate_of(sv);
	o = g != NULL ? open_find(g, ch->d->id) : NULL;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)ch->d->id);
	if (o != NULL)
		o->writing = 0;
	if (status != 0) {
		ad_error("policy gate: decision %s of agent %s not written: "
		         "%s",
		    id, ch->d->agent, agentd_strerror(status));
		if (ch->kind == CHANGE_PROPOSED && g != NULL)
			open_remove(g, ch->d->id); /* never answered */
		else if (o != NULL)
			o->state = ch->was;
		if (ch->c != NULL)
			ad_srv_fail(ch->c, status,
			    "decision %s not written: %s: agentd's log says "
			    "why",
			    id, agentd_strerror(status));
		goto out;
	}
	switch (ch->kind) {
	case CHANGE_PROPOSED:
		if (ch->c != NULL) {
			agentd_writer *w;
			const void    *body;
			size_t         len;

			agentd_writer_new(&w);
			agentd_write_map(w, 4);
			agentd_write_str(w, "id");
			agentd_write_str(w, id);
			agentd_write_str(w, "risk");
			agentd_write_str(w, ad_risk_name(ch->d->risk));
			agentd_write_str(w, "rule");
			agentd_write_str(w, ch->d->rule);
			agentd_write_str(w, "deadline_ms");
			agentd_write_int(w, ch->d->deadline_ms);
			body = agentd_writer_data(w, &len);
			ad_srv_reply(ch->c, 0, body, len);
			agentd_writer_free(w);
		}
		if (ch->notify)
			publish_note(sv, "approvals.notify", ch->d);
		else if (ch->d->state == AD_DECISION_PENDING)
			publish_note(sv, "approvals.pending", ch->d);
		if (ch->d->state != AD_DECISION_PENDING) {
			account_decided(sv, ch->d);
			deliver(sv, ch->d->agent);
		}
		break;
	case CHANGE_ANSWERED:
	case CHANGE_EXPIRED:
		if (ch->c != NULL)
			reply_decision(ch->c, ch->d);
		if (ch->d->state != AD_DECISION_PENDING) {
			account_decided(sv, ch->d);
			deliver(sv, ch->d->agent);
		} else
			publish_note(sv, "approvals.pending", ch->d);
		break;
	case CHANGE_DELIVERED:
		if (g != NULL)
			open_remove(g, ch->d->id);
		break;
	}
out:
	pthread_mutex_unlock(&sv->mtx);
	change_free(ch);
}

/*
 * Queue the audit records of a change, the last carrying the decision's
 * record.  recs[i].agent/instance are filled here.  On failure nothing is
 * queued and ch is freed.
 */
static int
change_commit(struct change *ch, struct ad_audit_rec *recs, size_t n)
{
	struct ad_sv        *sv = ch->sv;
	struct ad_audit_side sides[2];
	unsigned char        key[8];
	agentd_writer       *rec, *open;
	int                  rv;

	agentd_writer_new(&rec);
	agentd_writer_new(&open);
	recs[n - 1].nsides
	    = ad_decision_sides(gate_of(sv)->db, ch->d, key, rec, open, sides);
	recs[n - 1].sides = sides;
	for (size_t i = 0; i < n; i++)
		recs[i].agent = ch->d->agent;
	rv = ad_audit_append_many(sv->audit, recs, n, change_done, ch);
	agentd_writer_free(rec);
	agentd_writer_free(open);
	if (rv != 0)
		change_free(ch);
	return rv;
}

/* The detail of a decision's audit record: {id, ...} with more. */
static void
detail_begin(agentd_writer *w, const struct ad_decision *d, uint32_t more)
{
	char id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->id);
	agentd_writer_reset(w);
	agentd_write_map(w, 1 + more);
	agentd_write_str(w, "id");
	agentd_write_str(w, id);
}

static void
detail_str(agentd_writer *w, const char *k, const char *v)
{
	agentd_write_str(w, k);
	agentd_write_str(w, v != NULL ? v : "");
}

static void
detail_map(agentd_writer *w, const char *k, const void *p, size_t len)
{
	agentd_write_str(w, k);
	agentd_write_raw(w, p, len);
}

static void
rec_set(struct ad_audit_rec *r, const char *kind, const char *summary,
    agentd_writer *detail, const char *instance)
{
	memset(r, 0, sizeof(*r));
	r->kind     = kind;
	r->summary  = summary;
	r->instance = instance;
	r->detail   = agentd_writer_data(detail, &r->detail_len);
}

/* ---- proposing --------------------------------------------------------- */

static char *
dup_str(const agentd_value *v, size_t max, int *bad)
{
	const char *s;
	size_t      len;

	if (v == NULL || agentd_type_of(v) == AGENTD_T_NIL)
		return NULL;
	if (agentd_get_str(v, &s, &len) != 0 || len > max
	    || memchr(s, '\0', len) != NULL) {
		*bad = 1;
		return NULL;
	}
	return ad_xstrndup(s, len);
}

/* A map value re-encoded on its own into *out (caller frees). */
static int
value_bytes(const agentd_value *v, void **out, size_t *len)
{
	agentd_writer *w;
	const void    *p;

	agentd_writer_new(&w);
	agentd_write_value(w, v);
	p    = agentd_writer_data(w, len);
	*out = ad_xmalloc(*len ? *len : 1);
	memcpy(*out, p, *len);
	agentd_writer_free(w);
	return 0;
}

static void
classify(struct ad_sv *sv, const struct ad_agent *a, const char *type,
    double amount, double confidence, struct ad_policy_match *m)
{
	ad_policy_classify(a != NULL ? a->conf->policy : NULL,
	    &sv->cfg->global.policy, type, amount, confidence, m);
}

void
ad_gate_propose(
    struct ad_srvctx *c, struct ad_instance *inst, const struct ad_envelope *e)
{
	struct ad_sv          *sv = c->srv->sv;
	struct ad_gate        *g  = gate_of(sv);
	struct ad_agent       *a  = inst->agent;
	struct agentd_proposal p;
	struct ad_policy_match m;
	struct ad_decision    *d;
	struct change         *ch;
	struct ad_audit_rec    recs[2];
	agentd_doc            *doc = NULL;
	const agentd_value    *root, *pv;
	agentd_writer         *det1, *det2;
	char                   err[AD_ERRLEN] = "", sum1[400], sum2[160];
	void                  *params         = NULL;
	size_t                 params_len     = 0, nrec;
	unsigned               pending, max;
	int                    bad = 0, rv;
	char                  *type, *title, *reasoning;

	memset(&p, 0, sizeof(p));
	if (agentd_parse(e->body, e->body_len, &doc) != 0
	    || agentd_type_of(root = agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		ad_srv_fail(c, AGENTD_EPROTO, "policy.propose: not a map");
		return;
	}
	type      = dup_str(agentd_map_get(root, "type"), 255, &bad);
	title     = dup_str(agentd_map_get(root, "title"), 65536, &bad);
	reasoning = dup_str(agentd_map_get(root, "reasoning"), 65536, &bad);
	p.amount = p.confidence = NAN;
	agentd_get_double(agentd_map_get(root, "amount"), &p.amount);
	agentd_get_double(agentd_map_get(root, "confidence"), &p.confidence);
	if ((pv = agentd_map_get(root, "params")) != NULL
	    && agentd_type_of(pv) != AGENTD_T_NIL)
		value_bytes(pv, &params, &params_len);
	agentd_doc_free(doc);
	p.type       = type;
	p.title      = title;
	p.reasoning  = reasoning;
	p.params     = params;
	p.params_len = params_len;
	rv = bad ? AGENTD_EINVAL : ad_proposal_check(&p, err, sizeof(err));
	if (bad)
		snprintf(err, sizeof(err), "a field is not a string");
	if (rv != 0) {
		ad_srv_fail(c, rv, "proposal refused: %s", err);
		goto out;
	}
	pending = ad_gate_pending(sv, a->conf->name);
	max = ad_policy_max_pending(a->conf->policy, &sv->cfg->global.policy);
	if (pending >= max) {
		ad_srv_fail(c, AGENTD_EBUSY,
		    "agent \"%s\" has %u decisions pending, its max_pending: "
		    "answer some (agentctl approvals) or raise max_pending",
		    a->conf->name, pending);
		goto out;
	}
	classify(sv, a, p.type, p.amount, p.confidence, &m);

	d            = ad_xcalloc(1, sizeof(*d));
	d->id        = ++g->last_id;
	d->agent     = ad_xstrdup(a->conf->name);
	d->instance  = ad_xstrdup(inst->id);
	d->type      = type;
	d->title     = title;
	d->reasoning = reasoning != NULL ? reasoning : ad_xstrdup("");
	type = title = reasoning = NULL;
	d->amount                = p.amount;
	d->confidence            = p.confidence;
	if (params == NULL) {
		params                   = ad_xmalloc(1);
		*(unsigned char *)params = 0x80; /* {} */
		params_len               = 1;
	}
	d->params      = params;
	d->params_len  = params_len;
	params         = NULL;
	d->risk        = m.risk;
	d->rule        = ad_xstrdup(m.rule_name);
	d->proposed_ms = ad_wall_ms();
	d->at_deadline = m.at_deadline;
	if (m.risk == AD_RISK_HIGH) {
		d->state       = AD_DECISION_PENDING;
		d->deadline_ms = d->proposed_ms + m.deadline_ms;
		d->by          = ad_xstrdup("");
	} else {
		d->state      = AD_DECISION_APPROVED;
		d->decided_ms = d->proposed_ms;
		d->by         = ad_xstrdup("policy");
	}
	d->note = ad_xstrdup("");

	ch         = ad_xcalloc(1, sizeof(*ch));
	ch->sv     = sv;
	ch->kind   = CHANGE_PROPOSED;
	ch->c      = c;
	ch->d      = d;
	ch->notify = m.risk == AD_RISK_MEDIUM;

	agentd_writer_new(&det1);
	agentd_writer_new(&det2);
	detail_begin(det1, d, 7);
	detail_str(det1, "type", d->type);
	agentd_write_str(det1, "amount");
	agentd_write_double(det1, d->amount);
	agentd_write_str(det1, "confidence");
	agentd_write_double(det1, d->confidence);
	detail_str(det1, "risk", ad_risk_name(d->risk));
	detail_str(det1, "rule", d->rule);
	agentd_write_str(det1, "deadline_ms");
	agentd_write_int(det1, d->deadline_ms);
	detail_map(det1, "params", d->params, d->params_len);
	snprintf(sum1, sizeof(sum1),
	    "decision %llu proposed: %s \"%.200s\" "
	    "amount %g: %s by rule %s",
	    (unsigned long long)d->id, d->type, d->title, d->amount,
	    ad_risk_name(d->risk), d->rule);
	rec_set(&recs[0], "decision.proposed", sum1, det1, inst->id);
	nrec = 1;
	if (d->state == AD_DECISION_APPROVED) {
		detail_begin(det2, d, 1);
		detail_str(det2, "by", "policy");
		snprintf(sum2, sizeof(sum2),
		    "decision %llu approved by the policy (%s)",
		    (unsigned long long)d->id, ad_risk_name(d->risk));
		rec_set(&recs[1], "decision.approved", sum2, det2, inst->id);
		nrec = 2;
	}
	{
		struct ad_open_decision *o = open_add(g, d->id, d->agent);

		o->state       = d->state;
		o->deadline_ms = d->deadline_ms;
		o->writing     = 1;
	}
	a->st.proposed[d->risk]++;
	c->state = AD_SRV_WAIT;
	if ((rv = change_commit(ch, recs, nrec)) != 0) {
		open_remove(g, g->last_id);
		ad_srv_fail(
		    c, rv, "proposal not written: %s", agentd_strerror(rv));
	}
	agentd_writer_free(det1);
	agentd_writer_free(det2);
out:
	free(type);
	free(title);
	free(reasoning);
	free(params);
}

/* ---- answering --------------------------------------------------------- */

static void
reply_decision(struct ad_srvctx *c, const struct ad_decision *d)
{
	agentd_writer *w;
	const void    *body;
	size_t         len;

	agentd_writer_new(&w);
	ad_decision_write(w, d, 0);
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}

static void
time_str(int64_t ms, char *buf, size_t len)
{
	time_t    t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "decision 7 was approved by agentctl (root) at 2026-...". */
static void
already(struct ad_srvctx *c, const struct ad_decision *d)
{
	char when[32];

	time_str(d->decided_ms, when, sizeof(when));
	ad_srv_fail(c, AGENTD_EEXIST,
	    "decision %llu was already %s by %s at %s: nothing changed",
	    (unsigned long long)d->id, ad_decision_state_name(d->state),
	    d->by[0] ? d->by : "the policy", when);
}

static int
parse_id(const agentd_value *root, uint64_t *id)
{
	char               buf[24] = "", *end;
	unsigned long long v;

	if (agentd_get_strcpy(agentd_map_get(root, "id"), buf, sizeof(buf))
	        != 0
	    || buf[0] < '0' || buf[0] > '9')
		return -1;
	v = strtoull(buf, &end, 10);
	if (*end != '\0' || v == 0)
		return -1;
	*id = v;
	return 0;
}

/*
 * The decision named by the body's "id", pending, for a person to
 * answer; NULL with the answer sent otherwise.
 */
static struct ad_decision *
pending_for_answer(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate          *g = gate_of(c->srv->sv);
	struct ad_open_decision *o;
	struct ad_decision      *d = NULL;
	uint64_t                 id;
	int                      rv;

	if (parse_id(root, &id) != 0) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "a decision id is its number, as `agentctl approvals` "
		    "shows it");
		return NULL;
	}
	o = open_find(g, id);
	if (o != NULL && o->writing) {
		ad_srv_fail(c, AGENTD_EBUSY,
		    "decision %llu is being changed right now: try again",
		    (unsigned long long)id);
		return NULL;
	}
	if ((rv = ad_decisions_get(g->db, id, &d)) != 0) {
		if (rv == AGENTD_ENOENT)
			ad_srv_fail(c, rv,
			    "no decision %llu: `agentctl approvals` lists "
			    "the pending ones",
			    (unsigned long long)id);
		else
			ad_srv_fail(c, rv, "reading decision %llu: %s",
			    (unsigned long long)id, agentd_strerror(rv));
		return NULL;
	}
	if (o == NULL || o->state != AD_DECISION_PENDING
	    || d->state != AD_DECISION_PENDING) {
		already(c, d);
		ad_decision_free(d);
		return NULL;
	}
	return d;
}

static void
answer(struct ad_srvctx *c, const struct ad_envelope *e, const char *by)
{
	struct ad_sv            *sv  = c->srv->sv;
	struct ad_gate          *g   = gate_of(sv);
	agentd_doc              *doc = NULL;
	const agentd_value      *root, *pv;
	struct ad_decision      *d;
	struct ad_open_decision *o;
	struct ad_audit_rec      recs[2];
	struct change           *ch;
	agentd_writer           *det1, *det2;
	char                     note[1024] = "", sum1[300], sum2[200];
	const char              *op         = e->dst;
	void                    *before     = NULL;
	size_t                   before_len = 0, nrec = 1;
	int                      rv;

	if (agentd_parse(e->body, e->body_len, &doc) != 0
	    || agentd_type_of(root = agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		ad_srv_fail(
		    c, AGENTD_EINVAL, "%s needs {\"id\": ID, ...}", op);
		return;
	}
	agentd_get_strcpy(agentd_map_get(root,
	                      strcmp(op, "reject") == 0 ? "reason" : "note"),
	    note, sizeof(note));
	if (strcmp(op, "reject") == 0 && note[0] == '\0') {
		agentd_doc_free(doc);
		ad_srv_fail(c, AGENTD_EINVAL,
		    "a rejection needs a reason: agentctl reject ID --reason "
		    "TEXT");
		return;
	}
	pv = agentd_map_get(root, "params");
	if (strcmp(op, "modify") == 0 && agentd_type_of(pv) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		ad_srv_fail(c, AGENTD_EINVAL,
		    "modify needs the new parameters as a JSON object");
		return;
	}
	if ((d = pending_for_answer(c, root)) == NULL) {
		agentd_doc_free(doc);
		return;
	}
	o = open_find(g, d->id);
	agentd_writer_new(&det1);
	agentd_writer_new(&det2);
	free(d->by);
	d->by = ad_xstrdup(by);
	free(d->note);
	d->note = ad_xstrdup(note);
	if (strcmp(op, "modify") == 0) {
		struct ad_policy_match m;
		const agentd_value    *am;
		double                 amount;

		before     = d->params;
		before_len = d->params_len;
		value_bytes(pv, &d->params, &d->params_len);
		if (d->proposed_params == NULL) {
			d->proposed_params     = ad_xmalloc(before_len);
			d->proposed_params_len = before_len;
			memcpy(d->proposed_params, before, before_len);
		}
		if ((am = agentd_map_get(pv, "amount")) != NULL
		    && agentd_get_double(am, &amount) == 0 && isfinite(amount)
		    && amount >= 0)
			d->amount = amount;
		classify(sv, ad_sv_agent(sv, d->agent), d->type, d->amount,
		    d->confidence, &m);
		d->risk = m.risk;
		free(d->rule);
		d->rule        = ad_xstrdup(m.rule_name);
		d->at_deadline = m.at_deadline;
		detail_begin(det1, d, 5);
		detail_str(det1, "by", by);
		detail_str(det1, "note", note);
		detail_map(det1, "params_before", before, before_len);
		detail_map(det1, "params_after", d->params, d->params_len);
		detail_str(det1, "risk", ad_risk_name(m.risk));
		snprintf(sum1, sizeof(sum1),
		    "decision %llu modified by %s: now %s by rule %s",
		    (unsigned long long)d->id, by, ad_risk_name(m.risk),
		    d->rule);
		rec_set(&recs[0], "decision.modified", sum1, det1, NULL);
		if (m.risk == AD_RISK_HIGH) {
			d->deadline_ms = ad_wall_ms() + m.deadline_ms;
		} else {
			d->state      = AD_DECISION_APPROVED;
			d->decided_ms = ad_wall_ms();
			detail_begin(det2, d, 2);
			detail_str(det2, "by", by);
			detail_str(det2, "note", note);
			snprintf(sum2, sizeof(sum2),
			    "decision %llu approved by %s after a modify (%s)",
			    (unsigned long long)d->id, by,
			    ad_risk_name(m.risk));
			rec_set(
			    &recs[1], "decision.approved", sum2, det2, NULL);
			nrec = 2;
		}
	} else {
		int approve = strcmp(op, "approve") == 0;

		d->state
		    = approve ? AD_DECISION_APPROVED : AD_DECISION_REJECTED;
		d->decided_ms = ad_wall_ms();
		detail_begin(det1, d, 2);
		detail_str(det1, "by", by);
		detail_str(det1, approve ? "note" : "reason", note);
		snprintf(sum1, sizeof(sum1), "decision %llu %s by %s%s%.200s",
		    (unsigned long long)d->id,
		    approve ? "approved" : "rejected", by, note[0] ? ": " : "",
		    note);
		rec_set(&recs[0],
		    approve ? "decision.approved" : "decision.rejected", sum1,
		    det1, NULL);
	}
	ch             = ad_xcalloc(1, sizeof(*ch));
	ch->sv         = sv;
	ch->kind       = CHANGE_ANSWERED;
	ch->c          = c;
	ch->d          = d;
	ch->was        = o->state;
	o->state       = d->state;
	o->deadline_ms = d->deadline_ms;
	o->writing     = 1;
	c->state       = AD_SRV_WAIT;
	if ((rv = change_commit(ch, recs, nrec)) != 0) {
		o->state   = AD_DECISION_PENDING;
		o->writing = 0;
		ad_srv_fail(
		    c, rv, "answer not written: %s", agentd_strerror(rv));
	}
	free(before);
	agentd_writer_free(det1);
	agentd_writer_free(det2);
	agentd_doc_free(doc);
}

/* ---- expiring ---------------------------------------------------------- */

static void
expire(struct ad_sv *sv, struct ad_open_decision *o, int64_t now)
{
	struct ad_gate     *g = gate_of(sv);
	struct ad_decision *d;
	struct ad_audit_rec rec;
	struct change      *ch;
	agentd_writer      *det;
	char                sum[200];
	int                 approve;

	if (ad_decisions_get(g->db, o->id, &d) != 0)
		return;
	approve       = d->at_deadline == AD_AT_DEADLINE_APPROVE;
	d->state      = approve ? AD_DECISION_APPROVED : AD_DECISION_EXPIRED;
	d->decided_ms = now;
	free(d->by);
	d->by = ad_xstrdup("policy (deadline)");
	agentd_writer_new(&det);
	detail_begin(det, d, 1);
	agentd_write_str(det, "deadline_ms");
	agentd_write_int(det, d->deadline_ms);
	snprintf(sum, sizeof(sum), "decision %llu %s: its deadline passed",
	    (unsigned long long)d->id, approve ? "approved" : "expired");
	rec_set(&rec, approve ? "decision.approved" : "decision.expired", sum,
	    det, NULL);
	ch         = ad_xcalloc(1, sizeof(*ch));
	ch->sv     = sv;
	ch->kind   = CHANGE_EXPIRED;
	ch->d      = d;
	ch->was    = o->state;
	o->state   = d->state;
	o->writing = 1;
	if (change_commit(ch, &rec, 1) != 0) {
		o->state   = AD_DECISION_PENDING;
		o->writing = 0;
	}
	agentd_writer_free(det);
}

/* ---- delivering -------------------------------------------------------- */

/* A ready instance of agent whose control slot is free. */
static struct ad_instance *
free_instance(struct ad_agent *a)
{
	struct ad_instance *inst;

	LIST_FOREACH(inst, &a->instances, link) {
		if (inst->state == AD_INST_READY
		    && inst->slots[0].phase == AD_SLOT_IDLE)
			return inst;
	}
	return NULL;
}

struct outbox {
	agentd_writer *w;
	uint32_t       n;
};

static int
add_outcome(void *arg, const struct ad_decision *d)
{
	struct outbox *ob = arg;
	char           topic[40], id[24];
	agentd_writer *b;
	const void    *p;
	size_t         len;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)d->id);
	snprintf(topic, sizeof(topic), "decision.%s", id);
	agentd_writer_new(&b);
	agentd_write_map(b, 6);
	agentd_write_str(b, "id");
	agentd_write_str(b, id);
	agentd_write_str(b, "outcome");
	agentd_write_str(b, outcome_topic_word(d->state));
	agentd_write_str(b, "params");
	agentd_write_raw(b, d->params, d->params_len);
	agentd_write_str(b, "by");
	agentd_write_str(b, d->by);
	agentd_write_str(b, "note");
	agentd_write_str(b, d->note);
	agentd_write_str(b, "type");
	agentd_write_str(b, d->type);
	p = agentd_writer_data(b, &len);
	agentd_write_array(ob->w, 2);
	agentd_write_str(ob->w, topic);
	agentd_write_bin(ob->w, p, len);
	agentd_writer_free(b);
	ob->n++;
	return 0;
}

/* Send what agent's instances have not taken, one batch per free
 * instance. */
static void
deliver(struct ad_sv *sv, const char *agent)
{
	struct ad_gate     *g = gate_of(sv);
	struct ad_agent    *a = ad_sv_agent(sv, agent);
	struct ad_instance *inst;
	int64_t             now = ad_now_ms();

	if (a == NULL || g == NULL)
		return;
	while ((inst = free_instance(a)) != NULL) {
		uint64_t       ids[DELIVER_BATCH];
		size_t         n = 0, i, len;
		struct outbox  ob;
		agentd_writer *w;

		for (i = 0; i < g->nopen && n < DELIVER_BATCH; i++) {
			struct ad_open_decision *o = &g->open[i];

			if (o->state != AD_DECISION_PENDING && !o->writing
			    && o->sent_to == NULL && o->retry_ms <= now
			    && strcmp(o->agent, agent) == 0)
				ids[n++] = o->id;
		}
		if (n == 0)
			return;
		agentd_writer_new(&ob.w);
		ob.n = 0;
		ad_decisions_get_many(g->db, ids, n, add_outcome, &ob);
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "events");
		agentd_write_array(w, ob.n);
		{
			const void *p = agentd_writer_data(ob.w, &len);

			ad_write_values(w, p, len);
		}
		agentd_writer_free(ob.w);
		for (i = 0; i < n; i++)
			open_find(g, ids[i])->sent_to = inst;
		{
			const void *body = agentd_writer_data(w, &len);

			ad_instance_send_control(inst, "decisions", body, len);
		}
		agentd_writer_free(w);
	}
}

void
ad_gate_kick(struct ad_sv *sv, const char *agent)
{
	deliver(sv, agent);
}

struct taken {
	struct ad_sv       *sv;
	struct ad_instance *inst;
	int64_t             now;
};

static int
mark_delivered(void *arg, const struct ad_decision *dc)
{
	struct taken            *t = arg;
	struct ad_gate          *g = gate_of(t->sv);
	struct ad_decision      *d;
	struct ad_audit_rec      rec;
	struct change           *ch;
	agentd_writer           *w, *det;
	const void              *p;
	size_t                   len;
	char                     sum[160];
	struct ad_open_decision *o = open_find(g, dc->id);

	if (o == NULL)
		return 0;
	/* A copy the change owns (dc is the reader's). */
	agentd_writer_new(&w);
	ad_decision_write(w, dc, 0);
	p = agentd_writer_data(w, &len);
	if (ad_decision_decode(p, len, &d) != 0) {
		agentd_writer_free(w);
		return 0;
	}
	agentd_writer_free(w);
	d->delivered_ms = t->now;
	agentd_writer_new(&det);
	detail_begin(det, d, 1);
	detail_str(det, "outcome", ad_decision_state_name(d->state));
	snprintf(sum, sizeof(sum), "decision %llu (%s) taken by %s",
	    (unsigned long long)d->id, ad_decision_state_name(d->state),
	    t->inst->id);
	rec_set(&rec, "decision.delivered", sum, det, t->inst->id);
	ch         = ad_xcalloc(1, sizeof(*ch));
	ch->sv     = t->sv;
	ch->kind   = CHANGE_DELIVERED;
	ch->d      = d;
	ch->was    = o->state;
	o->writing = 1;
	o->sent_to = NULL;
	if (change_commit(ch, &rec, 1) != 0) {
		o->writing  = 0;
		o->retry_ms = ad_now_ms() + DELIVER_RETRY_MS;
	}
	agentd_writer_free(det);
	return 0;
}

void
ad_gate_taken(struct ad_instance *inst, int status)
{
	struct ad_sv   *sv = inst->agent->sv;
	struct ad_gate *g  = gate_of(sv);
	uint64_t       *ids;
	size_t          n = 0, i;
	struct taken    t = { sv, inst, ad_wall_ms() };

	if (g == NULL)
		return;
	ids = ad_xcalloc(g->nopen ? g->nopen : 1, sizeof(*ids));
	for (i = 0; i < g->nopen; i++)
		if (g->open[i].sent_to == inst)
			ids[n++] = g->open[i].id;
	if (status != 0) {
		ad_warn("agent %s: instance %s did not take %zu decision "
		        "outcome(s): %s; they are sent again",
		    inst->agent->conf->name, inst->id, n,
		    agentd_strerror(status));
		for (i = 0; i < n; i++) {
			struct ad_open_decision *o = open_find(g, ids[i]);

			o->sent_to  = NULL;
			o->retry_ms = ad_now_ms() + DELIVER_RETRY_MS;
		}
	} else
		ad_decisions_get_many(g->db, ids, n, mark_delivered, &t);
	free(ids);
	deliver(sv, inst->agent->conf->name);
}

void
ad_gate_instance_gone(struct ad_instance *inst)
{
	struct ad_gate *g   = gate_of(inst->agent->sv);
	int             any = 0;

	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nopen; i++)
		if (g->open[i].sent_to == inst) {
			g->open[i].sent_to = NULL;
			any                = 1;
		}
	if (any)
		deliver(inst->agent->sv, inst->agent->conf->name);
}

void
ad_gate_tick(struct ad_sv *sv, int64_t now)
{
	struct ad_gate *g = gate_of(sv);
	size_t          i;

	if (g == NULL)
		return;
	for (i = 0; i < g->nopen; i++) {
		struct ad_open_decision *o = &g->open[i];

		if (o->state == AD_DECISION_PENDING && !o->writing
		    && o->deadline_ms <= now)
			expire(sv, o, now);
	}
	for (i = 0; i < sv->nagents; i++)
		deliver(sv, sv->agents[i]->conf->name);
}

/* ---- reading, for the operator ----------------------------------------- */

struct listing {
	agentd_writer *w;
	uint32_t       n;
	int64_t        now;
	const char    *agent;
	int64_t        since_ms;
	int            outcome; /* -1: any */
	size_t         limit;
	int            with_times;
};

static int
list_one(void *arg, const struct ad_decision *d)
{
	struct listing *l = arg;

	if (l->agent != NULL && strcmp(d->agent, l->agent) != 0)
		return 0;
	if (l->since_ms > 0 && d->proposed_ms < l->since_ms)
		return 0;
	if (l->outcome >= 0 && (int)d->state != l->outcome)
		return 0;
	if (l->limit > 0 && l->n >= l->limit)
		return 1;
	ad_decision_write(l->w, d, l->with_times ? 2 : 0);
	if (l->with_times) {
		agentd_write_str(l->w, "age_ms");
		agentd_write_int(l->w, l->now - d->proposed_ms);
		agentd_write_str(l->w, "left_ms");
		agentd_write_int(l->w, d->deadline_ms - l->now);
	}
	l->n++;
	return 0;
}

static void
reply_list(struct ad_srvctx *c, const char *key, struct listing *l)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, key);
	agentd_write_array(w, l->n);
	p = agentd_writer_data(l->w, &len);
	ad_write_values(w, p, len);
	p = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, p, len);
	agentd_writer_free(w);
}

static void
op_approvals(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate *g = gate_of(c->srv->sv);
	struct listing  l;
	char            agent[AD_NAME_MAX] = "";
	int64_t         limit              = 0;
	uint64_t *ids = ad_xcalloc(g->nopen ? g->nopen : 1, sizeof(*ids));
	size_t    n   = 0;

	memset(&l, 0, sizeof(l));
	if (root != NULL) {
		if (agentd_get_strcpy(
		        agentd_map_get(root, "agent"), agent, sizeof(agent))
		    == 0)
			l.agent = agent;
		agentd_get_int(agentd_map_get(root, "limit"), &limit);
	}
	for (size_t i = 0; i < g->nopen; i++)
		if (g->open[i].state == AD_DECISION_PENDING
		    && (l.agent == NULL
		        || strcmp(g->open[i].agent, l.agent) == 0))
			ids[n++] = g->open[i].id;
	agentd_writer_new(&l.w);
	l.now        = ad_wall_ms();
	l.outcome    = AD_DECISION_PENDING;
	l.limit      = limit > 0 ? (size_t)limit : 0;
	l.with_times = 1;
	ad_decisions_get_many(g->db, ids, n, list_one, &l);
	reply_list(c, "approvals", &l);
	agentd_writer_free(l.w);
	free(ids);
}

static void
op_decisions(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate *g = gate_of(c->srv->sv);
	struct listing  l;
	char            agent[AD_NAME_MAX] = "", outcome[16] = "";
	int64_t         limit = 100;
	int             rv;

	memset(&l, 0, sizeof(l));
	l.outcome = -1;
	if (root != NULL) {
		if (agentd_get_strcpy(
		        agentd_map_get(root, "agent"), agent, sizeof(agent))
		    == 0)
			l.agent = agent;
		agentd_get_int(agentd_map_get(root, "since_ms"), &l.since_ms);
		agentd_get_int(agentd_map_get(root, "limit"), &limit);
		if (agentd_get_strcpy(agentd_map_get(root, "outcome"), outcome,
		        sizeof(outcome))
		        == 0
		    && (l.outcome = ad_decision_state_parse(outcome)) < 0) {
			ad_srv_fail(c, AGENTD_EINVAL,
			    "\"%s\" is not an outcome: pending, approved, "
			    "rejected or expired",
			    outcome);
			return;
		}
	}
	l.limit = limit > 0 ? (size_t)limit : 0;
	agentd_writer_new(&l.w);
	rv = ad_decisions_each(g->db, 0, list_one, &l);
	if (rv != 0 && rv != 1)
		ad_srv_fail(
		    c, rv, "reading the decisions: %s", agentd_strerror(rv));
	else
		reply_list(c, "decisions", &l);
	agentd_writer_free(l.w);
}

static void
op_decision(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate     *g = gate_of(c->srv->sv);
	struct ad_decision *d;
	uint64_t            id;
	int                 rv;

	if (root == NULL || parse_id(root, &id) != 0) {
		ad_srv_fail(c, AGENTD_EINVAL, "decision needs {\"id\": ID}");
		return;
	}
	if ((rv = ad_decisions_get(g->db, id, &d)) != 0) {
		ad_srv_fail(c, rv, "no decision %llu", (unsigned long long)id);
		return;
	}
	reply_decision(c, d);
	ad_decision_free(d);
}

static void
op_policy_test(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_sv          *sv                 = c->srv->sv;
	char                   agent[AD_NAME_MAX] = "", type[256] = "";
	double                 amount = NAN, confidence = NAN;
	struct ad_agent       *a;
	struct ad_policy_match m;
	agentd_writer         *w;
	const void            *p;
	size_t                 len;

	if (root != NULL) {
		agentd_get_strcpy(
		    agentd_map_get(root, "agent"), agent, sizeof(agent));
		agentd_get_strcpy(
		    agentd_map_get(root, "type"), type, sizeof(type));
		agentd_get_double(agentd_map_get(root, "amount"), &amount);
		agentd_get_double(
		    agentd_map_get(root, "confidence"), &confidence);
	}
	if ((a = ad_sv_agent(sv, agent)) == NULL) {
		ad_srv_fail(c, AGENTD_ENOENT,
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
		return;
	}
	if (!ad_valid_topic(type) || !isfinite(amount) || amount < 0
	    || !isfinite(confidence) || confidence < 0 || confidence > 1) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "policy test needs a type (as a topic), an amount of 0 "
		    "or more and a confidence from 0 to 1");
		return;
	}
	classify(sv, a, type, amount, confidence, &m);
	agentd_writer_new(&w);
	agentd_write_map(w, 6);
	agentd_write_str(w, "rule");
	agentd_write_str(w, m.rule_name);
	agentd_write_str(w, "file");
	agentd_write_str(w, m.file != NULL ? m.file : "");
	agentd_write_str(w, "line");
	agentd_write_int(w, m.line);
	agentd_write_str(w, "risk");
	agentd_write_str(w, ad_risk_name(m.risk));
	agentd_write_str(w, "deadline_ms");
	agentd_write_int(w, m.risk == AD_RISK_HIGH ? m.deadline_ms : 0);
	agentd_write_str(w, "at_deadline");
	agentd_write_str(
	    w, m.at_deadline == AD_AT_DEADLINE_APPROVE ? "approve" : "reject");
	p = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, p, len);
	agentd_writer_free(w);
}

int
ad_gate_control(
    struct ad_srvctx *c, const struct ad_envelope *e, const char *by)
{
	static const char *const ops[] = { "approvals", "decision",
		"decisions", "policy.test", "approve", "reject", "modify" };
	agentd_doc              *doc   = NULL;
	const agentd_value      *root  = NULL;
	size_t                   i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(e->dst, ops[i]) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return 0;
	if (i >= 4) {
		answer(c, e, by);
		return 1;
	}
	if (e->body_len > 0 && agentd_parse(e->body, e->body_len, &doc) == 0
	    && agentd_type_of(agentd_doc_root(doc)) == AGENTD_T_MAP)
		root = agentd_doc_root(doc);
	if (i == 0)
		op_approvals(c, root);
	else if (i == 1)
		op_decision(c, root);
	else if (i == 2)
		op_decisions(c, root);
	else
		op_policy_test(c, root);
	agentd_doc_free(doc);
	return 1;
}
