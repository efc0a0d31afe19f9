#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "policy/propose.h"
#include "sdk/contract.h"
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
/* A worker that answered "decisions" with an error, or whose delivery
 * could not be written, gets its agent's outcomes again after this
 * long, not in a loop. */
#define DELIVER_RETRY_MS 1000
/* A proposal's audit summary. */
#define SUMMARY_LEN 400

/* K("key"): a key literal and its length, so that the keys of the records
 * and messages written per decision take no strlen each. */
#define K(lit) lit, sizeof(lit) - 1

/* The record of a delivered batch carries two side writes per decision. */
_Static_assert(2 * DELIVER_BATCH + 1 <= AD_AUDIT_SIDES_MAX,
    "a delivered batch's side writes fit one record");

struct gate_agent;
struct gate_sent;

/*
 * One decision not finished yet: pending, or decided and its outcome not
 * yet taken by an instance.  Pending ones are the many (up to each
 * agent's max_pending): they hold no more than this; their records are
 * read from LMDB when asked for.
 */
struct open_dec {
	uint64_t               id;
	struct gate_agent     *ga;
	enum ad_decision_state state;
	int64_t                deadline_ms; /* pending: when it expires */
	int                    writing;     /* a change is being committed */
	/* It has an entry in decisions_open (it was pending); without, it
	 * was decided at its proposal and is in the gate's unentered list
	 * until delivered, which keeps the floor below it. */
	int entry;
	TAILQ_ENTRY(open_dec) unentered;
	/* Decided: its record as committed (its delivery copies it with
	 * delivered_ms set) and its outcome as the "decisions" message
	 * carries it, both encoded before the commit, so that the audit
	 * writer's callback only sends them.  NULL while pending, and for
	 * one loaded at start until it is sent (they are read then). */
	void             *rec, *outcome;
	size_t            rec_len, outcome_len;
	struct gate_sent *sent;     /* its outcome is with an instance */
	int               queued;   /* in ga->ready */
	TAILQ_ENTRY(open_dec) link; /* in ga->ready */
};
TAILQ_HEAD(open_queue, open_dec);

/* An agent's decisions, by its name: they outlive a reload that removes
 * the agent, and are delivered again if it comes back. */
struct gate_agent {
	char              name[AD_NAME_MAX];
	unsigned          pending; /* decisions pending (max_pending) */
	struct open_queue ready; /* decided, outcome not sent: oldest first */
	int64_t           retry_ms; /* monotonic: nothing is sent before */
};

/* One "decisions" message an instance has not answered yet. */
struct gate_sent {
	struct ad_instance *inst;
	struct gate_agent  *ga;
	size_t              n;
	struct open_dec    *o[DELIVER_BATCH];
	LIST_ENTRY(gate_sent) link;
};

/*
 * What commit_proposed() encodes a message's decisions into, kept for the
 * next message: its buffers grown to a batch's size once, not made and
 * grown (copied) again for every batch of up to 64.  One per thread in
 * commit_proposed() at a time, taken and given back under sv->mtx.
 */
struct propose_scratch {
	struct propose_scratch  *next; /* in the gate's free list */
	agentd_writer           *w, *w2, *body;
	struct ad_decision_sides ds;
	struct ad_audit_rec     *recs;
	struct ad_audit_side    *sides;
	char                    *sums;
	size_t                  *off;
	size_t                   cap; /* decisions the arrays hold */
};

struct ad_gate {
	struct ad_decisions *db;
	uint64_t             last_id;
	struct open_dec    **open; /* in id order */
	size_t               nopen, cap;
	struct gate_agent  **agents; /* in name order */
	size_t               nagents;
	/* The open decisions without an entry, in id order. */
	struct open_queue unentered;
	LIST_HEAD(, gate_sent) sent;
	/* Wall ms: no pending decision's deadline comes before. */
	int64_t next_deadline_ms;
	/* Scratch for building changes and messages (sv->mtx held). */
	struct ad_decision_sides sides;
	agentd_writer           *w, *body;
	struct propose_scratch  *scratch; /* free ones */
};

static struct ad_gate *
gate_of(const struct ad_sv *sv)
{
	return sv->gate;
}

/* ---- agents ------------------------------------------------------------ */

/* The gate's entry for agent name, made with create; NULL without. */
static struct gate_agent *
agent_find(struct ad_gate *g, const char *name, int create)
{
	size_t             lo = 0, hi = g->nagents;
	struct gate_agent *ga;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int    cmp = strcmp(g->agents[mid]->name, name);

		if (cmp == 0)
			return g->agents[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	ga = ad_xcalloc(1, sizeof(*ga));
	snprintf(ga->name, sizeof(ga->name), "%s", name);
	TAILQ_INIT(&ga->ready);
	g->agents
	    = ad_xrealloc(g->agents, (g->nagents + 1) * sizeof(*g->agents));
	memmove(&g->agents[lo + 1], &g->agents[lo],
	    (g->nagents - lo) * sizeof(*g->agents));
	g->agents[lo] = ga;
	g->nagents++;
	return ga;
}

/* ---- the open list ----------------------------------------------------- */

static size_t
open_index(const struct ad_gate *g, uint64_t id)
{
	size_t lo = 0, hi = g->nopen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->open[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct open_dec *
open_find(struct ad_gate *g, uint64_t id)
{
	size_t i = open_index(g, id);

	return i < g->nopen && g->open[i]->id == id ? g->open[i] : NULL;
}

static void
note_deadline(struct ad_gate *g, const struct open_dec *o)
{
	if (o->state == AD_DECISION_PENDING
	    && o->deadline_ms < g->next_deadline_ms)
		g->next_deadline_ms = o->deadline_ms;
}

/* The one place a decision's state changes in memory: the agent's count
 * of pending decisions follows it. */
static void
open_set_state(struct open_dec *o, enum ad_decision_state s)
{
	if (o->state == AD_DECISION_PENDING && s != AD_DECISION_PENDING)
		o->ga->pending--;
	else if (o->state != AD_DECISION_PENDING && s == AD_DECISION_PENDING)
		o->ga->pending++;
	o->state = s;
}

/* Ids only grow: a new one goes at the end, in order. */
static struct open_dec *
open_add(struct ad_gate *g, uint64_t id, struct gate_agent *ga,
    enum ad_decision_state state, int64_t deadline_ms, int entry)
{
	struct open_dec *o = ad_xcalloc(1, sizeof(*o));

	o->entry = entry;
	if (!entry)
		TAILQ_INSERT_TAIL(&g->unentered, o, unentered);

	if (g->nopen == g->cap) {
		g->cap  = g->cap ? 2 * g->cap : 64;
		g->open = ad_xrealloc(g->open, g->cap * sizeof(*g->open));
	}
	g->open[g->nopen++] = o;
	o->id               = id;
	o->ga               = ga;
	o->state            = AD_DECISION_APPROVED;
	open_set_state(o, state);
	o->deadline_ms = deadline_ms;
	note_deadline(g, o);
	return o;
}

static void
ready_unlink(struct open_dec *o)
{
	if (o->queued) {
		TAILQ_REMOVE(&o->ga->ready, o, link);
		o->queued = 0;
	}
}

static void
ready_push(struct open_dec *o)
{
	if (!o->queued) {
		TAILQ_INSERT_TAIL(&o->ga->ready, o, link);
		o->queued = 1;
	}
}

/* o[0..n), sent or being written, back at the front of their agent's
 * queue, in their order: they go before what was decided since. */
static void
ready_push_front(struct open_dec **o, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		o[i]->sent = NULL;
		if (!o[i]->queued) {
			TAILQ_INSERT_HEAD(&o[i]->ga->ready, o[i], link);
			o[i]->queued = 1;
		}
	}
}

/* rec and outcome share one allocation (prepare_delivery). */
static void
open_forget(struct open_dec *o)
{
	free(o->rec);
	o->rec = o->outcome = NULL;
	o->rec_len = o->outcome_len = 0;
}

static void
open_free(struct open_dec *o)
{
	open_forget(o);
	free(o);
}

/* Forget o[0..n): finished, or never committed.  One pass over the
 * list from the oldest of them (they are usually the newest). */
static void
open_remove(struct ad_gate *g, struct open_dec **o, size_t n)
{
	uint64_t min = UINT64_MAX;
	size_t   i, j;

	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		open_set_state(o[i], AD_DECISION_APPROVED);
		ready_unlink(o[i]);
		if (!o[i]->entry)
			TAILQ_REMOVE(&g->unentered, o[i], unentered);
		o[i]->ga = NULL; /* the mark */
		if (o[i]->id < min)
			min = o[i]->id;
	}
	for (i = j = open_index(g, min); i < g->nopen; i++) {
		struct open_dec *e = g->open[i];

		if (e->ga != NULL)
			g->open[j++] = e;
		else
			open_free(e);
	}
	g->nopen = j;
}

unsigned
ad_gate_pending(
    const struct ad_sv *sv, const char *agent, int64_t *next_deadline_ms)
{
	struct ad_gate    *g = gate_of(sv);
	struct gate_agent *ga;
	int64_t            soonest = 0;

	*next_deadline_ms = 0;
	if (g == NULL || (ga = agent_find(g, agent, 0)) == NULL)
		return 0;
	/* Only an agent with some pending pays for the scan. */
	for (size_t i = 0; ga->pending > 0 && i < g->nopen; i++) {
		const struct open_dec *o = g->open[i];

		if (o->ga == ga && o->state == AD_DECISION_PENDING
		    && (soonest == 0 || o->deadline_ms < soonest))
			soonest = o->deadline_ms;
	}
	*next_deadline_ms = soonest;
	return ga->pending;
}

/* ---- opening ----------------------------------------------------------- */

static int
load_open(void *arg, uint64_t id, const char *agent,
    enum ad_decision_state state, int64_t deadline_ms, int entry)
{
	struct ad_gate  *g = arg;
	struct open_dec *o = open_add(
	    g, id, agent_find(g, agent, 1), state, deadline_ms, entry);

	if (state != AD_DECISION_PENDING)
		ready_push(o);
	return 0;
}

static void
scratch_free(struct propose_scratch *sc)
{
	agentd_writer_free(sc->w);
	agentd_writer_free(sc->w2);
	agentd_writer_free(sc->body);
	ad_decision_sides_fini(&sc->ds);
	free(sc->recs);
	free(sc->sides);
	free(sc->sums);
	free(sc->off);
	free(sc);
}

/* A free scratch of g's, or a new one (sv->mtx held). */
static struct propose_scratch *
scratch_get(struct ad_gate *g)
{
	struct propose_scratch *sc = g->scratch;

	if (sc != NULL) {
		g->scratch = sc->next;
		return sc;
	}
	sc = ad_xcalloc(1, sizeof(*sc));
	agentd_writer_new(&sc->w);
	agentd_writer_new(&sc->w2);
	agentd_writer_new(&sc->body);
	ad_decision_sides_init(&sc->ds);
	return sc;
}

static void
scratch_put(struct ad_gate *g, struct propose_scratch *sc)
{
	sc->next   = g->scratch;
	g->scratch = sc;
}

/* Room in sc for n decisions' records, cleared. */
static void
scratch_reserve(struct propose_scratch *sc, size_t n)
{
	if (n > sc->cap) {
		free(sc->recs);
		free(sc->sides);
		free(sc->sums);
		free(sc->off);
		sc->recs  = ad_xmalloc(n * sizeof(*sc->recs));
		sc->sides = ad_xmalloc(2 * n * sizeof(*sc->sides));
		sc->sums  = ad_xmalloc(n * SUMMARY_LEN);
		sc->off   = ad_xmalloc((n + 1) * sizeof(*sc->off));
		sc->cap   = n;
	}
	memset(sc->recs, 0, n * sizeof(*sc->recs));
	sc->off[0] = 0;
	agentd_writer_reset(sc->w);
	agentd_writer_reset(sc->w2);
	agentd_writer_reset(sc->body);
	ad_decision_sides_reset(&sc->ds);
}

static void
gate_free(struct ad_gate *g)
{
	struct gate_sent       *s;
	struct propose_scratch *sc;
	size_t                  i;

	while ((sc = g->scratch) != NULL) {
		g->scratch = sc->next;
		scratch_free(sc);
	}
	while ((s = LIST_FIRST(&g->sent)) != NULL) {
		LIST_REMOVE(s, link);
		free(s);
	}
	for (i = 0; i < g->nopen; i++)
		open_free(g->open[i]);
	for (i = 0; i < g->nagents; i++)
		free(g->agents[i]);
	free(g->open);
	free(g->agents);
	ad_decision_sides_fini(&g->sides);
	agentd_writer_free(g->w);
	agentd_writer_free(g->body);
	free(g);
}

int
ad_gate_open(struct ad_sv *sv, char *err, size_t errlen)
{
	struct ad_gate *g = ad_xcalloc(1, sizeof(*g));
	int             rv;

	LIST_INIT(&g->sent);
	TAILQ_INIT(&g->unentered);
	g->next_deadline_ms = INT64_MAX;
	ad_decision_sides_init(&g->sides);
	agentd_writer_new(&g->w);
	agentd_writer_new(&g->body);
	if ((rv = ad_decisions_open(sv->store, &g->db, err, errlen)) != 0) {
		gate_free(g);
		return rv;
	}
	g->last_id = ad_decisions_last_id(g->db);
	if ((rv = ad_decisions_open_each(g->db, load_open, g)) != 0) {
		ad_seterr(err, errlen, "cannot read the open decisions: %s",
		    agentd_strerror(rv));
		ad_decisions_close(g->db);
		gate_free(g);
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
	gate_free(g);
	sv->gate = NULL;
}

/* ---- committing a change ----------------------------------------------- */

/*
 * One change of decisions on its way to the disk: their audit records
 * (carrying the decisions' new records as side writes) and what to do
 * once they are committed.
 */
enum change_kind {
	CHANGE_PROPOSED, /* a policy.propose message: n new decisions */
	CHANGE_ANSWERED, /* approve, reject, modify by a person: one */
	CHANGE_EXPIRED,  /* one, at its deadline */
	CHANGE_DELIVERED /* the n outcomes an instance took */
};

struct change {
	struct ad_sv          *sv;
	enum change_kind       kind;
	struct ad_srvctx      *c; /* waiting for the answer, or NULL */
	size_t                 n;
	struct open_dec      **o; /* the decisions' entries */
	struct ad_decision   **d; /* as they are now; owned (not delivered) */
	enum ad_decision_state was; /* one: in memory before */
	int64_t                was_deadline_ms;
	/* proposed: what each proposal of the message became */
	int                    batch; /* answered per proposal */
	struct ad_proposal_in *in;    /* refused ones: status, err */
	size_t                 nin;
	size_t                *at; /* accepted: its index in o and d; else n */
	void                  *answer; /* its reply body, encoded before */
	size_t                 answer_len;
	/* proposed: its agent's and instance's names, owned; the low
	 * decisions of the message borrow them (low_free) */
	char *agent, *instance;
};

static struct change *
change_new(struct ad_sv *sv, enum change_kind kind, size_t n)
{
	struct change *ch = ad_xcalloc(1, sizeof(*ch));

	ch->sv   = sv;
	ch->kind = kind;
	ch->o    = ad_xcalloc(n ? n : 1, sizeof(*ch->o));
	ch->d    = ad_xcalloc(n ? n : 1, sizeof(*ch->d));
	return ch;
}

static void
change_free(struct change *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		ad_decision_free(ch->d[i]);
	ad_propose_free(ch->in, ch->nin);
	free(ch->answer);
	free(ch->agent);
	free(ch->instance);
	free(ch->at);
	free(ch->o);
	free(ch->d);
	free(ch);
}

static void reply_decision(struct ad_srvctx *c, const struct ad_decision *d);
static void deliver(struct ad_sv *sv, struct gate_agent *ga);

/* agent a (NULL: gone) decided one as state, us after its proposal. */
static void
account_decided(struct ad_agent *a, enum ad_decision_state state, int64_t us)
{
	if (a == NULL)
		return;
	a->st.decided[state]++;
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

	ad_u64_dec(d->id, id);
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

/* Decided and committed: its outcome waits for an instance. */
static void
decided(struct ad_agent *a, struct open_dec *o, const struct ad_decision *d)
{
	account_decided(a, d->state, (d->decided_ms - d->proposed_ms) * 1000);
	ready_push(o);
}

/* The answer to ch's message, into w: per proposal for a batch. */
static void
answer_write(const struct change *ch, agentd_writer *w)
{
	if (!ch->batch) {
		struct ad_decision       *d = ch->d[0];
		struct ad_proposal_answer a
		    = { d->id, d->risk, d->rule, d->deadline_ms };

		ad_propose_write_answer(w, &a);
	} else {
		agentd_write_array(w, (uint32_t)ch->nin);
		for (size_t i = 0; i < ch->nin; i++) {
			struct ad_decision       *d;
			struct ad_proposal_answer a;

			if (ch->at[i] == ch->n) {
				ad_propose_write_refusal(
				    w, ch->in[i].status, ch->in[i].err);
				continue;
			}
			d = ch->d[ch->at[i]];
			a = (struct ad_proposal_answer) { d->id, d->risk,
				d->rule, d->deadline_ms };
			ad_propose_write_answer(w, &a);
		}
	}
}

static void
answer_proposals(struct change *ch)
{
	agentd_writer *w;
	const void    *body;
	size_t         len;

	if (ch->answer != NULL) {
		ad_srv_reply(ch->c, 0, ch->answer, ch->answer_len);
		return;
	}
	agentd_writer_new(&w);
	answer_write(ch, w);
	body = agentd_writer_data(w, &len);
	ad_srv_reply(ch->c, 0, body, len);
	agentd_writer_free(w);
}

static void
proposed_done(struct ad_gate *g, struct change *ch, int status)
{
	struct ad_sv    *sv = ch->sv;
	struct ad_agent *a;

	if (status != 0) {
		ad_error("policy gate: %zu proposal(s) of agent %s (decisions "
		         "%llu to %llu) not written: %s",
		    ch->n, ch->o[0]->ga->name,
		    (unsigned long long)ch->o[0]->id,
		    (unsigned long long)ch->o[ch->n - 1]->id,
		    agentd_strerror(status));
		open_remove(g, ch->o, ch->n); /* never answered */
		if (ch->c != NULL)
			ad_srv_fail(ch->c, status,
			    "proposal not written: %s: agentd's log says why",
			    agentd_strerror(status));
		return;
	}
	if (ch->c != NULL)
		answer_proposals(ch);
	a = ad_sv_agent(sv, ch->o[0]->ga->name);
	for (size_t i = 0; i < ch->n; i++) {
		struct open_dec    *o = ch->o[i];
		struct ad_decision *d = ch->d[i];

		o->writing = 0;
		if (d == NULL) { /* low, let go of before the commit */
			account_decided(a, AD_DECISION_APPROVED, 0);
			ready_push(o);
			continue;
		}
		if (d->risk == AD_RISK_MEDIUM)
			publish_note(sv, "approvals.notify", d);
		if (d->state == AD_DECISION_PENDING) {
			publish_note(sv, "approvals.pending", d);
			continue;
		}
		decided(a, o, d);
	}
	deliver(sv, ch->o[0]->ga);
}

static void
answered_done(struct ad_gate *g, struct change *ch, int status)
{
	struct open_dec    *o = ch->o[0];
	struct ad_decision *d = ch->d[0];

	o->writing = 0;
	if (status != 0) {
		ad_error("policy gate: decision %llu of agent %s not written: "
		         "%s",
		    (unsigned long long)d->id, d->agent,
		    agentd_strerror(status));
		open_set_state(o, ch->was);
		o->deadline_ms = ch->was_deadline_ms;
		open_forget(o);
		if (ch->c != NULL)
			ad_srv_fail(ch->c, status,
			    "decision %llu not written: %s: agentd's log says "
			    "why",
			    (unsigned long long)d->id,
			    agentd_strerror(status));
		return;
	}
	if (ch->c != NULL)
		reply_decision(ch->c, d);
	if (d->state == AD_DECISION_PENDING) {
		note_deadline(g, o);
		publish_note(ch->sv, "approvals.pending", d);
		return;
	}
	decided(ad_sv_agent(ch->sv, d->agent), o, d);
	deliver(ch->sv, o->ga);
}

static void
delivered_done(struct ad_gate *g, struct change *ch, int status)
{
	size_t i;

	if (status == 0) {
		open_remove(g, ch->o, ch->n);
		return;
	}
	ad_error("policy gate: the delivery of %zu outcome(s) of agent %s "
	         "not written: %s; they are sent again",
	    ch->n, ch->o[0]->ga->name, agentd_strerror(status));
	for (i = 0; i < ch->n; i++)
		ch->o[i]->writing = 0;
	ready_push_front(ch->o, ch->n);
	ch->o[0]->ga->retry_ms = ad_now_ms() + DELIVER_RETRY_MS;
}

/* The writer committed (or failed) a change: writer thread. */
static void
change_done(void *arg, int status, uint64_t seq)
{
	struct change  *ch = arg;
	struct ad_sv   *sv = ch->sv;
	struct ad_gate *g;

	(void)seq;
	pthread_mutex_lock(&sv->mtx);
	/* The gate closes only after the writer's last callback. */
	if ((g = gate_of(sv)) != NULL) {
		switch (ch->kind) {
		case CHANGE_PROPOSED:
			proposed_done(g, ch, status);
			break;
		case CHANGE_ANSWERED:
		case CHANGE_EXPIRED:
			answered_done(g, ch, status);
			break;
		case CHANGE_DELIVERED:
			delivered_done(g, ch, status);
			break;
		}
	}
	pthread_mutex_unlock(&sv->mtx);
	change_free(ch);
}

/* The element of a "decisions" message for d: [topic, body], the body
 * {"id", "outcome", "params", "by", "note", "type"} (doc/protocol.md);
 * body is scratch. */
static void
outcome_write(
    agentd_writer *w, agentd_writer *body, const struct ad_decision *d)
{
	char        topic[9 + AD_U64_DEC], id[AD_U64_DEC];
	const void *p;
	size_t      len;

	memcpy(topic, "decision.", 9);
	memcpy(topic + 9, id, ad_u64_dec(d->id, id) + 1);
	agentd_writer_reset(body);
	agentd_write_map(body, 6);
	agentd_write_strn(body, K("id"));
	agentd_write_str(body, id);
	agentd_write_strn(body, K("outcome"));
	agentd_write_str(body, ad_decision_state_name(d->state));
	agentd_write_strn(body, K("params"));
	ad_write_encoded(body, d->params, d->params_len, 1);
	agentd_write_strn(body, K("by"));
	agentd_write_str(body, d->by);
	agentd_write_strn(body, K("note"));
	agentd_write_str(body, d->note);
	agentd_write_strn(body, K("type"));
	agentd_write_str(body, d->type);
	p = agentd_writer_data(body, &len);
	agentd_write_array(w, 2);
	agentd_write_str(w, topic);
	agentd_write_bin(w, p, len);
}

static void *
bytes_dup(const void *p, size_t len)
{
	void *q = ad_xmalloc(len ? len : 1);

	memcpy(q, p, len);
	return q;
}

/*
 * o's decision d, decided, is about to be committed: keep its record as
 * encoded (record i of sides) and its outcome, for its delivery (w and
 * body are scratch).  Pending: nothing is kept.
 */
static void
prepare_delivery(const struct ad_decision_sides *sides, size_t i,
    struct open_dec *o, const struct ad_decision *d, agentd_writer *w,
    agentd_writer *body)
{
	const void *rec, *out;
	size_t      rec_len, out_len;

	open_forget(o);
	if (d->state == AD_DECISION_PENDING)
		return;
	rec = ad_decision_sides_record(sides, i, &rec_len);
	agentd_writer_reset(w);
	outcome_write(w, body, d);
	out        = agentd_writer_data(w, &out_len);
	o->rec     = ad_xmalloc(rec_len + out_len);
	o->outcome = (unsigned char *)o->rec + rec_len;
	memcpy(o->rec, rec, rec_len);
	memcpy(o->outcome, out, out_len);
	o->rec_len     = rec_len;
	o->outcome_len = out_len;
}

/*
 * Queue the audit records of a change of one decision, the last carrying
 * its record.  recs[i].agent is filled here.  On failure nothing is
 * queued and ch is freed.
 */
static int
change_commit_one(struct change *ch, struct ad_audit_rec *recs, size_t n)
{
	struct ad_gate      *g = gate_of(ch->sv);
	struct ad_audit_side sides[2];
	int                  rv;

	ad_decision_sides_reset(&g->sides);
	ad_decision_sides_add(&g->sides, ch->d[0], ch->o[0]->entry);
	prepare_delivery(&g->sides, 0, ch->o[0], ch->d[0], g->w, g->body);
	recs[n - 1].sides  = sides;
	recs[n - 1].nsides = ad_decision_sides_get(g->db, &g->sides, sides, 0);
	for (size_t i = 0; i < n; i++)
		recs[i].agent = ch->d[0]->agent;
	rv = ad_audit_append_many(ch->sv->audit, recs, n, change_done, ch);
	if (rv != 0) {
		open_forget(ch->o[0]);
		change_free(ch);
	}
	return rv;
}

/* The detail of a decision's audit record: {id, ...} with more. */
static void
detail_begin(agentd_writer *w, const struct ad_decision *d, uint32_t more)
{
	char id[AD_U64_DEC];

	ad_u64_dec(d->id, id);
	agentd_write_map(w, 1 + more);
	agentd_write_strn(w, K("id"));
	agentd_write_str(w, id);
}

static void
detail_str(agentd_writer *w, const char *k, size_t klen, const char *v)
{
	agentd_write_strn(w, k, klen);
	agentd_write_str(w, v != NULL ? v : "");
}

static void
detail_map(
    agentd_writer *w, const char *k, size_t klen, const void *p, size_t len)
{
	/* A decision's parameters: checked when they came in. */
	agentd_write_strn(w, k, klen);
	ad_write_encoded(w, p, len, 1);
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
	r->trusted  = 1; /* the gate's own encoding, summary within 1 KiB */
}

/* ---- proposing --------------------------------------------------------- */

static void
classify(struct ad_sv *sv, const struct ad_agent *a, const char *type,
    double amount, double confidence, struct ad_policy_match *m)
{
	ad_policy_classify(a != NULL ? a->conf->policy : NULL,
	    &sv->cfg->global.policy, type, amount, confidence, m);
}

/*
 * A new decision of ch's message from the proposal in (whose strings it
 * takes), classified by m, proposed at now (wall ms).  A low one lives
 * only until its records are encoded (commit_proposed): it borrows its
 * agent and instance from ch and its "by" and "note" are literals, so
 * it is let go of with low_free(), never ad_decision_free().
 */
static struct ad_decision *
decision_new(struct ad_gate *g, const struct change *ch,
    struct ad_proposal_in *in, const struct ad_policy_match *m, int64_t now)
{
	struct ad_decision *d   = ad_xcalloc(1, sizeof(*d));
	int                 low = m->risk == AD_RISK_LOW;

	d->id         = ++g->last_id;
	d->agent      = low ? ch->agent : ad_xstrdup(ch->agent);
	d->instance   = low ? ch->instance : ad_xstrdup(ch->instance);
	d->type       = in->type;
	d->title      = in->title;
	d->reasoning  = in->reasoning;
	d->params     = in->params;
	d->params_len = in->params_len;
	in->type = in->title = in->reasoning = NULL;
	in->params                           = NULL;
	d->amount                            = in->amount;
	d->confidence                        = in->confidence;
	d->risk                              = m->risk;
	d->rule                              = ad_xstrdup(m->rule_name);
	d->proposed_ms                       = now;
	d->at_deadline                       = m->at_deadline;
	if (m->risk == AD_RISK_HIGH) {
		d->state       = AD_DECISION_PENDING;
		d->deadline_ms = d->proposed_ms + m->deadline_ms;
		d->by          = ad_xstrdup("");
	} else {
		d->state      = AD_DECISION_APPROVED;
		d->decided_ms = d->proposed_ms;
		d->by         = low ? (char *)"policy" : ad_xstrdup("policy");
	}
	d->note = low ? (char *)"" : ad_xstrdup("");
	return d;
}

/* A low decision of decision_new's: what it owns is freed. */
static void
low_free(struct ad_decision *d)
{
	d->agent = d->instance = d->by = d->note = NULL;
	ad_decision_free(d);
}

/* A summary being built in buf (its size len, at least 1), cut as
 * snprintf cuts: always terminated. */
struct sumbuf {
	char  *buf;
	size_t len, used;
};

static void
sum_add(struct sumbuf *b, const char *s, size_t n)
{
	size_t room = b->len - 1 - b->used;

	if (n > room)
		n = room;
	memcpy(b->buf + b->used, s, n);
	b->used += n;
	b->buf[b->used] = '\0';
}

static void
sum_str(struct sumbuf *b, const char *s)
{
	sum_add(b, s, strlen(s));
}

/* v as printf's %g writes it. */
static void
sum_g(struct sumbuf *b, double v)
{
	char   num[32];
	size_t n;

	/* Whole numbers below 10^6 are their digits under %g (no
	 * exponent, no point); the rest, and -0, go through snprintf. */
	if (isfinite(v) && fabs(v) < 1e6 && v == (double)(int64_t)v
	    && !(v == 0 && signbit(v)))
		n = v < 0
		    ? (num[0] = '-', 1 + ad_u64_dec((uint64_t)-v, num + 1))
		    : ad_u64_dec((uint64_t)v, num);
	else
		n = (size_t)snprintf(num, sizeof(num), "%g", v);
	sum_add(b, num, n);
}

/* decision.proposed's summary, into sum: "decision ID proposed: TYPE
 * \"TITLE\" amount AMOUNT: RISK by rule RULE[, approved by the policy]",
 * the title cut at 200 bytes; built without printf, once per decision. */
static void
proposed_summary(char *sum, size_t sumlen, const struct ad_decision *d)
{
	struct sumbuf b = { sum, sumlen, 0 };
	char          id[AD_U64_DEC];
	size_t        tlen = strlen(d->title);

	sum[0] = '\0';
	sum_str(&b, "decision ");
	sum_add(&b, id, ad_u64_dec(d->id, id));
	sum_str(&b, " proposed: ");
	sum_str(&b, d->type);
	sum_str(&b, " \"");
	sum_add(&b, d->title, tlen < 200 ? tlen : 200);
	sum_str(&b, "\" amount ");
	sum_g(&b, d->amount);
	sum_str(&b, ": ");
	sum_str(&b, ad_risk_name(d->risk));
	sum_str(&b, " by rule ");
	sum_str(&b, d->rule);
	if (d->state != AD_DECISION_PENDING)
		sum_str(&b, ", approved by the policy");
}

/*
 * The one record of a proposal, decision.proposed: what was proposed and
 * how it was classified, and for low and medium also that the policy
 * approved it (no decision.approved of its own: it is the same step).
 */
static void
proposed_record(
    agentd_writer *det, const struct ad_decision *d, char *sum, size_t sumlen)
{
	int decided = d->state != AD_DECISION_PENDING;

	detail_begin(det, d, decided ? 9 : 7);
	detail_str(det, K("type"), d->type);
	agentd_write_strn(det, K("amount"));
	agentd_write_double(det, d->amount);
	agentd_write_strn(det, K("confidence"));
	agentd_write_double(det, d->confidence);
	detail_str(det, K("risk"), ad_risk_name(d->risk));
	detail_str(det, K("rule"), d->rule);
	agentd_write_strn(det, K("deadline_ms"));
	agentd_write_int(det, d->deadline_ms);
	detail_map(det, K("params"), d->params, d->params_len);
	if (decided) {
		detail_str(
		    det, K("outcome"), ad_decision_state_name(d->state));
		detail_str(det, K("by"), d->by);
	}
	proposed_summary(sum, sumlen, d);
}

/*
 * Queue the records of ch's new decisions, one each with its two side
 * writes, in one group: answered together once the last is committed.
 * Without sv->mtx (ad_gate_propose): ch and its decisions are this
 * thread's until the append succeeds, and their entries are left alone
 * while they are being written.
 */
static int
commit_proposed(
    struct ad_decisions *db, struct change *ch, struct propose_scratch *sc)
{
	struct ad_audit_rec  *recs;
	struct ad_audit_side *sides;
	agentd_writer        *w, *w2, *body;
	const unsigned char  *base;
	const void           *p;
	char                 *sums;
	size_t               *off, i, len, nsides;
	int                   rv;

	scratch_reserve(sc, ch->n);
	recs  = sc->recs;
	sides = sc->sides;
	sums  = sc->sums;
	off   = sc->off;
	w     = sc->w;
	w2    = sc->w2;
	body  = sc->body;
	for (i = 0; i < ch->n; i++) {
		proposed_record(
		    w, ch->d[i], sums + i * SUMMARY_LEN, SUMMARY_LEN);
		agentd_writer_data(w, &off[i + 1]);
		ad_decision_sides_add(&sc->ds, ch->d[i], ch->o[i]->entry);
		prepare_delivery(&sc->ds, i, ch->o[i], ch->d[i], w2, body);
	}
	/* The answer too: the writer's callback only sends it. */
	agentd_writer_reset(w2);
	answer_write(ch, w2);
	p              = agentd_writer_data(w2, &len);
	ch->answer     = bytes_dup(p, len);
	ch->answer_len = len;
	base           = agentd_writer_data(w, &len);
	for (i = 0, nsides = 0; i < ch->n; i++) {
		recs[i].kind       = "decision.proposed";
		recs[i].summary    = sums + i * SUMMARY_LEN;
		recs[i].agent      = ch->o[i]->ga->name;
		recs[i].instance   = ch->instance; /* outlives d[i] */
		recs[i].detail     = base + off[i];
		recs[i].detail_len = off[i + 1] - off[i];
		recs[i].sides      = &sides[nsides];
		recs[i].nsides     = ad_decision_sides_get_one(
		        db, &sc->ds, i, &sides[nsides], 1);
		recs[i].trusted = 1; /* encoded above */
		nsides += recs[i].nsides;
	}
	/* Everything the commit's callback needs of a low decision is its
	 * entry now (its record and outcome kept, its answer written): it
	 * is let go of here, not on the audit writer's thread. */
	for (i = 0; i < ch->n; i++) {
		if (ch->d[i]->risk == AD_RISK_LOW) {
			low_free(ch->d[i]);
			ch->d[i] = NULL;
		}
	}
	/* The records are copied when queued: sc is free again after. */
	rv = ad_audit_append_many(ch->sv->audit, recs, ch->n, change_done, ch);
	return rv;
}

/*
 * ch's proposals, read: classified and numbered, each refused or a new
 * decision with its entry (being written).  mtx held.
 */
static void
propose_classify(
    struct ad_gate *g, struct change *ch, struct ad_instance *inst)
{
	struct ad_sv          *sv  = ch->sv;
	struct ad_agent       *a   = inst->agent;
	struct gate_agent     *ga  = agent_find(g, a->conf->name, 1);
	struct ad_proposal_in *in  = ch->in;
	int64_t                now = ad_wall_ms();
	unsigned               max;
	size_t                 i;

	max = ad_policy_max_pending(a->conf->policy, &sv->cfg->global.policy);
	ch->agent    = ad_xstrdup(a->conf->name);
	ch->instance = ad_xstrdup(inst->id);
	for (i = 0; i < ch->nin; i++) {
		struct ad_policy_match m;
		struct ad_decision    *d;

		ch->at[i] = SIZE_MAX;
		if (in[i].status != 0)
			continue;
		if (ga->pending >= max) {
			in[i].status = AGENTD_EBUSY;
			snprintf(in[i].err, sizeof(in[i].err),
			    "agent \"%s\" has %u decisions pending, its "
			    "max_pending: answer some (agentctl approvals) or "
			    "raise max_pending",
			    a->conf->name, ga->pending);
			continue;
		}
		classify(
		    sv, a, in[i].type, in[i].amount, in[i].confidence, &m);
		d            = decision_new(g, ch, &in[i], &m, now);
		ch->at[i]    = ch->n;
		ch->d[ch->n] = d;
		/* Decided at once: no entry (the floor stays below it). */
		ch->o[ch->n] = open_add(g, d->id, ga, d->state, d->deadline_ms,
		    d->state == AD_DECISION_PENDING);
		ch->o[ch->n]->writing = 1;
		ch->n++;
		a->st.proposed[d->risk]++;
	}
	for (i = 0; i < ch->nin; i++)
		if (ch->at[i] == SIZE_MAX)
			ch->at[i] = ch->n; /* refused: answered with its own */
}

/*
 * Called with sv->mtx held, which it lets go of while it reads the
 * proposals and while it encodes and queues their records, as
 * op_audit_append does (control.c): dispatch and the audit writer's
 * answers would wait for it.  c is in AD_SRV_WAIT all that time;
 * sv->appending makes ad_sv_stop wait for it.  Between the two, with the
 * mutex, the instance is looked up again (it may have gone), and the
 * proposals are classified, numbered and entered.
 */
void
ad_gate_propose(
    struct ad_srvctx *c, struct ad_instance *inst, const struct ad_envelope *e)
{
	struct ad_sv           *sv = c->srv->sv;
	struct ad_gate         *g  = gate_of(sv);
	struct ad_proposal_in  *in;
	struct change          *ch = NULL;
	struct propose_scratch *sc;
	size_t                  nin;
	int                     batch, rv;

	(void)inst;
	c->state = AD_SRV_WAIT;
	sv->appending++;
	pthread_mutex_unlock(&sv->mtx);
	rv = ad_propose_parse(e->body, e->body_len, &in, &nin, &batch);
	pthread_mutex_lock(&sv->mtx);
	if (rv != 0) {
		ad_srv_fail(c, rv,
		    rv == AGENTD_ETOOBIG
		        ? "policy.propose: more than %d proposals in one "
		          "message"
		        : "policy.propose: not a proposal (a map) or a "
		          "batch of them (a bin of maps, at most %d)",
		    AD_PROPOSE_BATCH_MAX);
		goto out;
	}
	if ((inst = ad_sv_pipe_instance(sv, c->pipe)) == NULL
	    || sv->stopping) {
		ad_srv_fail(c, AGENTD_ECLOSED,
		    inst == NULL ? "the instance is gone"
		                 : "agentd is stopping: propose again after "
		                   "it is back");
		ad_propose_free(in, nin);
		goto out;
	}
	if (!batch && in[0].status != 0) {
		ad_srv_fail(
		    c, in[0].status, "proposal refused: %s", in[0].err);
		ad_propose_free(in, nin);
		goto out;
	}
	ch        = change_new(sv, CHANGE_PROPOSED, nin);
	ch->c     = c;
	ch->batch = batch;
	ch->in    = in;
	ch->nin   = nin;
	ch->at    = ad_xcalloc(nin, sizeof(*ch->at));
	propose_classify(g, ch, inst);
	if (ch->n == 0) { /* every one refused */
		if (batch)
			answer_proposals(ch);
		else
			ad_srv_fail(c, in[0].status, "%s", in[0].err);
		change_free(ch);
		goto out;
	}
	sc = scratch_get(g);
	pthread_mutex_unlock(&sv->mtx);
	rv = commit_proposed(g->db, ch, sc); /* ch: the writer's on success */
	pthread_mutex_lock(&sv->mtx);
	scratch_put(g, sc);
	if (rv != 0) {
		open_remove(g, ch->o, ch->n);
		ad_srv_fail(
		    c, rv, "proposal not written: %s", agentd_strerror(rv));
		change_free(ch);
	}
out:
	if (--sv->appending == 0)
		pthread_cond_broadcast(&sv->appended);
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

/* A decision id: decimal digits in a string, or an unsigned int. */
static int
id_of(const agentd_value *v, uint64_t *id)
{
	char               buf[24] = "", *end;
	unsigned long long n;
	uint64_t           u;

	if (agentd_get_uint(v, &u) == 0 && u > 0) {
		*id = u;
		return 0;
	}
	if (agentd_get_strcpy(v, buf, sizeof(buf)) != 0 || buf[0] < '0'
	    || buf[0] > '9')
		return -1;
	n = strtoull(buf, &end, 10);
	if (*end != '\0' || n == 0)
		return -1;
	*id = n;
	return 0;
}

static int
parse_id(const agentd_value *root, uint64_t *id)
{
	return id_of(agentd_map_get(root, "id"), id);
}

/*
 * The decision named by the body's "id", pending, for a person to
 * answer; NULL with the answer sent otherwise.
 */
static struct ad_decision *
pending_for_answer(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate     *g = gate_of(c->srv->sv);
	struct open_dec    *o;
	struct ad_decision *d = NULL;
	uint64_t            id;
	int                 rv;

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

/* A map value re-encoded on its own into *out (caller frees). */
static void
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
}

static void
answer(struct ad_srvctx *c, const struct ad_envelope *e, const char *by)
{
	struct ad_sv       *sv  = c->srv->sv;
	struct ad_gate     *g   = gate_of(sv);
	agentd_doc         *doc = NULL;
	const agentd_value *root, *pv;
	struct ad_decision *d;
	struct open_dec    *o;
	struct ad_audit_rec recs[2];
	struct change      *ch;
	agentd_writer      *det1, *det2;
	char                note[1024] = "", sum1[300], sum2[200];
	const char         *op         = e->dst;
	void               *before     = NULL;
	size_t              before_len = 0, nrec = 1;
	int                 rv;

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
		detail_str(det1, K("by"), by);
		detail_str(det1, K("note"), note);
		detail_map(det1, K("params_before"), before, before_len);
		detail_map(det1, K("params_after"), d->params, d->params_len);
		detail_str(det1, K("risk"), ad_risk_name(m.risk));
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
			detail_str(det2, K("by"), by);
			detail_str(det2, K("note"), note);
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
		detail_str(det1, K("by"), by);
		detail_str(det1, approve ? "note" : "reason",
		    approve ? strlen("note") : strlen("reason"), note);
		snprintf(sum1, sizeof(sum1), "decision %llu %s by %s%s%.200s",
		    (unsigned long long)d->id,
		    approve ? "approved" : "rejected", by, note[0] ? ": " : "",
		    note);
		rec_set(&recs[0],
		    approve ? "decision.approved" : "decision.rejected", sum1,
		    det1, NULL);
	}
	ch                  = change_new(sv, CHANGE_ANSWERED, 1);
	ch->c               = c;
	ch->n               = 1;
	ch->o[0]            = o;
	ch->d[0]            = d;
	ch->was             = o->state;
	ch->was_deadline_ms = o->deadline_ms;
	open_set_state(o, d->state);
	o->deadline_ms = d->deadline_ms;
	o->writing     = 1;
	c->state       = AD_SRV_WAIT;
	if ((rv = change_commit_one(ch, recs, nrec)) != 0) {
		open_set_state(o, AD_DECISION_PENDING);
		o->deadline_ms = ch->was_deadline_ms;
		o->writing     = 0;
		ad_srv_fail(
		    c, rv, "answer not written: %s", agentd_strerror(rv));
	}
	free(before);
	agentd_writer_free(det1);
	agentd_writer_free(det2);
	agentd_doc_free(doc);
}

/* ---- expiring ---------------------------------------------------------- */

/* 0: o's change is queued (or it could not be read: try again later). */
static int
expire(struct ad_sv *sv, struct open_dec *o, int64_t now)
{
	struct ad_gate     *g = gate_of(sv);
	struct ad_decision *d;
	struct ad_audit_rec rec;
	struct change      *ch;
	agentd_writer      *det;
	char                sum[200];
	int                 approve, rv;

	if (ad_decisions_get(g->db, o->id, &d) != 0)
		return -1;
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
	ch                  = change_new(sv, CHANGE_EXPIRED, 1);
	ch->n               = 1;
	ch->o[0]            = o;
	ch->d[0]            = d;
	ch->was             = o->state;
	ch->was_deadline_ms = o->deadline_ms;
	open_set_state(o, d->state);
	o->writing = 1;
	if ((rv = change_commit_one(ch, &rec, 1)) != 0) {
		open_set_state(o, AD_DECISION_PENDING);
		o->writing = 0;
	}
	agentd_writer_free(det);
	return rv;
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

static struct gate_sent *
sent_of(struct ad_gate *g, const struct ad_instance *inst)
{
	struct gate_sent *s;

	LIST_FOREACH(s, &g->sent, link) {
		if (s->inst == inst)
			return s;
	}
	return NULL;
}

/* ad_decisions_get_many's fn: an outcome loaded at start, read to be
 * sent; its record and outcome are prepared as at a commit. */
static int
take_record(void *arg, struct ad_decision **dc)
{
	struct gate_sent *s = arg;
	struct ad_gate   *g = gate_of(s->inst->agent->sv);

	for (size_t i = 0; i < s->n; i++) {
		struct open_dec *o = s->o[i];

		if (o->outcome == NULL && o->id == (*dc)->id) {
			ad_decision_sides_reset(&g->sides);
			ad_decision_sides_add(&g->sides, *dc, o->entry);
			prepare_delivery(&g->sides, 0, o, *dc, g->w, g->body);
			break;
		}
	}
	return 0;
}

/* The outcomes of s, as the "decisions" message's body, into w. */
static void
outcomes_write(const struct gate_sent *s, agentd_writer *w)
{
	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "events");
	agentd_write_array(w, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++)
		ad_write_encoded(w, s->o[i]->outcome, s->o[i]->outcome_len, 1);
}

/* The next outcomes of ga's queue, up to DELIVER_BATCH, into s (their
 * records read if need be); 0 when none is left. */
static size_t
sent_fill(struct ad_gate *g, struct gate_agent *ga, struct gate_sent *s)
{
	struct open_dec *o, *gone[DELIVER_BATCH];
	uint64_t         ids[DELIVER_BATCH];
	size_t           nids = 0, ngone = 0, i, j;

	while (s->n < DELIVER_BATCH && (o = TAILQ_FIRST(&ga->ready)) != NULL) {
		ready_unlink(o);
		o->sent      = s;
		s->o[s->n++] = o;
		if (o->outcome == NULL)
			ids[nids++] = o->id;
	}
	if (nids > 0)
		ad_decisions_get_many(g->db, ids, nids, take_record, s);
	for (i = j = 0; i < s->n; i++) {
		if (s->o[i]->outcome != NULL)
			s->o[j++] = s->o[i];
		else
			gone[ngone++] = s->o[i];
	}
	s->n = j;
	for (i = 0; i < ngone; i++)
		ad_error("policy gate: decision %llu of agent %s is open but "
		         "its record cannot be read: its outcome is not sent",
		    (unsigned long long)gone[i]->id, ga->name);
	open_remove(g, gone, ngone);
	return s->n;
}

/* Send what ga's instances have not taken, one batch per free instance. */
static void
deliver(struct ad_sv *sv, struct gate_agent *ga)
{
	struct ad_gate     *g = gate_of(sv);
	struct ad_agent    *a;
	struct ad_instance *inst;
	const void         *body;
	size_t              len;

	if (g == NULL || TAILQ_EMPTY(&ga->ready) || ga->retry_ms > ad_now_ms()
	    || (a = ad_sv_agent(sv, ga->name)) == NULL)
		return;
	while (!TAILQ_EMPTY(&ga->ready) && (inst = free_instance(a)) != NULL) {
		struct gate_sent *s = ad_xcalloc(1, sizeof(*s));

		s->inst = inst;
		s->ga   = ga;
		if (sent_fill(g, ga, s) == 0) {
			free(s);
			continue;
		}
		outcomes_write(s, g->w);
		LIST_INSERT_HEAD(&g->sent, s, link);
		body = agentd_writer_data(g->w, &len);
		ad_instance_send_control(inst, "decisions", body, len);
	}
}

void
ad_gate_kick(struct ad_sv *sv, const char *agent)
{
	struct ad_gate    *g = gate_of(sv);
	struct gate_agent *ga;

	if (g != NULL && (ga = agent_find(g, agent, 0)) != NULL)
		deliver(sv, ga);
}

/* "7-69 approved, 70 rejected": runs of consecutive ids with one
 * outcome, cut (with "...") to fit buf. */
static void
runs_write(char *buf, size_t len, struct open_dec *const *o, size_t n)
{
	size_t used = 0, i = 0;

	buf[0] = '\0';
	while (i < n && used + 1 < len) {
		size_t      j    = i;
		const char *what = ad_decision_state_name(o[i]->state);
		int         w;

		while (j + 1 < n && o[j + 1]->id == o[j]->id + 1
		    && o[j + 1]->state == o[i]->state)
			j++;
		if (j > i)
			w = snprintf(buf + used, len - used, "%s%llu-%llu %s",
			    i ? ", " : "", (unsigned long long)o[i]->id,
			    (unsigned long long)o[j]->id, what);
		else
			w = snprintf(buf + used, len - used, "%s%llu %s",
			    i ? ", " : "", (unsigned long long)o[i]->id, what);
		if (w < 0 || (size_t)w >= len - used) {
			snprintf(buf + (len > 4 ? len - 4 : 0),
			    len > 4 ? 4 : len, "...");
			return;
		}
		used += (size_t)w;
		i = j + 1;
	}
}

/*
 * The outcomes of s were taken: one decision.delivered record for all
 * of them, carrying their records (delivered_ms set), the removal of
 * their entries from decisions_open (those that have one) and the floor.
 */
/*
 * The floor to write with the delivery of s: the oldest decision without
 * an entry that s does not deliver, or the next id.  The ones it names
 * are in the unentered list from their numbering (under sv->mtx, as
 * this) until they are delivered or never committed, so every one below
 * it without an entry is delivered once s's record is committed.
 */
static uint64_t
floor_of(const struct ad_gate *g, const struct gate_sent *s)
{
	const struct open_dec *o;

	TAILQ_FOREACH(o, &g->unentered, unentered) {
		if (o->sent != s)
			return o->id;
	}
	return g->last_id + 1;
}

static int
commit_delivered(struct ad_sv *sv, struct gate_sent *s)
{
	struct ad_gate      *g = gate_of(sv);
	struct ad_audit_side sides[2 * DELIVER_BATCH + 1];
	unsigned char        floor[8];
	size_t               nsides;
	struct ad_audit_rec  rec;
	struct change       *ch;
	char                 sum[1024], runs[900];
	int64_t              now = ad_wall_ms();
	size_t               i;
	int                  rv = 0;

	ad_decision_sides_reset(&g->sides);
	for (i = 0; i < s->n && rv == 0; i++)
		rv = ad_decision_sides_add_delivered(&g->sides, s->o[i]->id,
		    s->o[i]->rec, s->o[i]->rec_len, now, s->o[i]->entry);
	if (rv != 0) { /* not a record prepare_delivery() kept */
		ad_error("policy gate: decision %llu's record is not as "
		         "expected: its delivery is not written",
		    (unsigned long long)s->o[i - 1]->id);
		return rv;
	}
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 2);
	agentd_write_str(g->w, "ids");
	agentd_write_array(g->w, (uint32_t)s->n);
	for (i = 0; i < s->n; i++) {
		char id[AD_U64_DEC];

		ad_u64_dec(s->o[i]->id, id);
		agentd_write_str(g->w, id);
	}
	agentd_write_str(g->w, "outcomes");
	agentd_write_array(g->w, (uint32_t)s->n);
	for (i = 0; i < s->n; i++)
		agentd_write_str(g->w, ad_decision_state_name(s->o[i]->state));
	nsides = ad_decision_sides_get(g->db, &g->sides, sides, 0);
	ad_decisions_floor_side(
	    g->db, floor_of(g, s), floor, &sides[nsides++]);
	runs_write(runs, sizeof(runs), s->o, s->n);
	if (s->n == 1)
		snprintf(sum, sizeof(sum), "decision %llu (%s) taken by %s",
		    (unsigned long long)s->o[0]->id,
		    ad_decision_state_name(s->o[0]->state), s->inst->id);
	else
		snprintf(sum, sizeof(sum),
		    "%zu decision outcomes taken by %s: %s", s->n, s->inst->id,
		    runs);
	rec_set(&rec, "decision.delivered", sum, g->w, s->inst->id);
	rec.agent  = s->ga->name;
	rec.sides  = sides;
	rec.nsides = nsides;
	ch         = change_new(sv, CHANGE_DELIVERED, s->n);
	ch->n      = s->n;
	memcpy(ch->o, s->o, s->n * sizeof(*ch->o));
	if ((rv = ad_audit_append(sv->audit, &rec, change_done, ch)) != 0) {
		change_free(ch);
		return rv;
	}
	for (i = 0; i < s->n; i++) {
		s->o[i]->sent    = NULL;
		s->o[i]->writing = 1;
	}
	return 0;
}

void
ad_gate_taken(struct ad_instance *inst, int status)
{
	struct ad_sv      *sv = inst->agent->sv;
	struct ad_gate    *g  = gate_of(sv);
	struct gate_sent  *s;
	struct gate_agent *ga;

	if (g == NULL || (s = sent_of(g, inst)) == NULL)
		return;
	LIST_REMOVE(s, link);
	ga = s->ga;
	if (status != 0)
		ad_warn("agent %s: instance %s did not take %zu decision "
		        "outcome(s): %s; they are sent again",
		    ga->name, inst->id, s->n, agentd_strerror(status));
	if (status != 0 || commit_delivered(sv, s) != 0) {
		ready_push_front(s->o, s->n);
		ga->retry_ms = ad_now_ms() + DELIVER_RETRY_MS;
	}
	free(s);
	deliver(sv, ga);
}

void
ad_gate_instance_gone(struct ad_instance *inst)
{
	struct ad_gate    *g = gate_of(inst->agent->sv);
	struct gate_sent  *s;
	struct gate_agent *ga;

	if (g == NULL || (s = sent_of(g, inst)) == NULL)
		return;
	LIST_REMOVE(s, link);
	ga = s->ga;
	ready_push_front(s->o, s->n);
	free(s);
	deliver(inst->agent->sv, ga);
}

void
ad_gate_tick(struct ad_sv *sv, int64_t now)
{
	struct ad_gate *g = gate_of(sv);
	size_t          i;

	if (g == NULL)
		return;
	if (now >= g->next_deadline_ms) {
		int64_t next = INT64_MAX;

		for (i = 0; i < g->nopen; i++) {
			struct open_dec *o = g->open[i];

			if (o->state != AD_DECISION_PENDING)
				continue;
			if (!o->writing && o->deadline_ms <= now
			    && expire(sv, o, now) == 0)
				continue;
			/* Not yet, being answered, or to try again. */
			if (o->deadline_ms > now && o->deadline_ms < next)
				next = o->deadline_ms;
			else if (o->deadline_ms <= now)
				next = now;
		}
		g->next_deadline_ms = next;
	}
	for (i = 0; i < g->nagents; i++)
		deliver(sv, g->agents[i]);
}

/* ---- reading, for the operator ----------------------------------------- */

struct listing {
	struct ad_decision **v; /* owned */
	size_t               n, cap;
	const char          *agent;
	int64_t              since_ms;
	int                  outcome; /* -1: any */
	size_t               limit;   /* 0: no limit */
};

/* ad_decision_fn: keep *dc if it passes the filters, up to the limit. */
static int
list_take(void *arg, struct ad_decision **dc)
{
	struct listing *l = arg;

	if (l->agent != NULL && strcmp((*dc)->agent, l->agent) != 0)
		return 0;
	if (l->since_ms > 0 && (*dc)->proposed_ms < l->since_ms)
		return 0;
	if (l->outcome >= 0 && (int)(*dc)->state != l->outcome)
		return 0;
	if (l->limit > 0 && l->n >= l->limit)
		return 1;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v   = ad_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *dc;
	*dc          = NULL;
	return 0;
}

static void
listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		ad_decision_free(l->v[i]);
	free(l->v);
}

/*
 * {key: [decision, ...]}, and "more": N with more: each decision written
 * once, straight into the reply; with now, each with age_ms and left_ms.
 */
static void
reply_list(struct ad_srvctx *c, const char *key, const struct listing *l,
    int64_t now, int more)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, more >= 0 ? 2 : 1);
	agentd_write_str(w, key);
	agentd_write_array(w, (uint32_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct ad_decision *d = l->v[i];

		ad_decision_write(w, d, now > 0 ? 2 : 0);
		if (now > 0) {
			agentd_write_str(w, "age_ms");
			agentd_write_int(w, now - d->proposed_ms);
			agentd_write_str(w, "left_ms");
			agentd_write_int(w, d->deadline_ms - now);
		}
	}
	if (more >= 0) {
		agentd_write_str(w, "more");
		agentd_write_uint(w, (uint64_t)more);
	}
	p = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, p, len);
	agentd_writer_free(w);
}

/* Pending decisions listed at once when the operator gives no limit. */
#define APPROVALS_LIMIT_DEFAULT 100

static void
op_approvals(struct ad_srvctx *c, const agentd_value *root)
{
	struct ad_gate     *g    = gate_of(c->srv->sv);
	struct gate_agent  *only = NULL;
	struct listing      l;
	char                agent[AD_NAME_MAX] = "";
	int64_t             limit              = APPROVALS_LIMIT_DEFAULT;
	uint64_t            after              = 0, *ids;
	size_t              n = 0, more = 0, i;
	const agentd_value *v;

	memset(&l, 0, sizeof(l));
	if (root != NULL) {
		if (agentd_get_strcpy(
		        agentd_map_get(root, "agent"), agent, sizeof(agent))
		    == 0)
			l.agent = agent;
		agentd_get_int(agentd_map_get(root, "limit"), &limit);
		if ((v = agentd_map_get(root, "after")) != NULL
		    && id_of(v, &after) != 0) {
			ad_srv_fail(c, AGENTD_EINVAL,
			    "after is a decision id, as `agentctl approvals` "
			    "shows it");
			return;
		}
	}
	if (limit < 0) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "limit is 0 (all) or more, not %lld", (long long)limit);
		return;
	}
	if (l.agent != NULL && (only = agent_find(g, l.agent, 0)) == NULL) {
		reply_list(c, "approvals", &l, ad_wall_ms(), 0);
		return;
	}
	ids = ad_xcalloc(g->nopen ? g->nopen : 1, sizeof(*ids));
	for (i = open_index(g, after + 1); i < g->nopen; i++) {
		const struct open_dec *o = g->open[i];

		if (o->state != AD_DECISION_PENDING
		    || (only != NULL && o->ga != only))
			continue;
		if (limit == 0 || n < (size_t)limit)
			ids[n++] = o->id;
		else
			more++;
	}
	l.outcome = AD_DECISION_PENDING;
	ad_decisions_get_many(g->db, ids, n, list_take, &l);
	reply_list(c, "approvals", &l, ad_wall_ms(), (int)more);
	listing_free(&l);
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
	rv      = ad_decisions_each(g->db, 0, list_take, &l);
	if (rv != 0 && rv != 1)
		ad_srv_fail(
		    c, rv, "reading the decisions: %s", agentd_strerror(rv));
	else
		reply_list(c, "decisions", &l, 0, -1);
	listing_free(&l);
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
