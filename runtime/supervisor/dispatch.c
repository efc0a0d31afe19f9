#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/control.h"
#include "supervisor/dispatch.h"
#include "supervisor/gate.h"
#include "supervisor/instance.h"
#include "supervisor/route.h"
#include "supervisor/supervisor.h"

/* The caller's one answer; the request itself may live on. */
static void
answer(struct ad_req *r, int status, const void *body, size_t len)
{
	struct ad_agent *a = r->agent;

	if (r->answered)
		return;
	r->answered = 1;
	a->st.replies[status >= 0 && status < AD_STATUS_SLOTS
	        ? status
	        : AD_STATUS_SLOTS - 1]++;
	r->done(r->arg, status, body, len);
}

void
ad_req_finish(struct ad_req *r, int status, const void *body, size_t len)
{
	answer(r, status, body, len);
	nng_msg_free(r->msg);
	free(r);
}

/*
 * The generation a request goes to: the current one, unless the canary
 * split gave it to the incoming one (which may have gone since).
 */
static struct ad_gen *
gen_for(const struct ad_agent *a, const struct ad_req *r)
{
	if (r->gen != 0 && a->next != NULL && r->gen == a->next->number)
		return a->next;
	return a->cur;
}

/* g's ready instance with the fewest in flight that has a free slot. */
static struct ad_slot *
pick_slot(struct ad_agent *a, const struct ad_gen *g)
{
	return ad_route_pick(&a->instances, g);
}

/* ---- the instance's channel ----------------------------------------- */

int
ad_instance_send(struct ad_instance *inst, const void *env, size_t len)
{
	return ad_chan_send(&inst->chan, env, len);
}

/* Send a request on a free slot; its reply (or the instance's end)
 * ends it.  mtx held. */
static void
ad_slot_send(struct ad_slot *s, struct ad_req *r)
{
	int64_t left = r->deadline_ms - ad_now_ms();
	int     rv;

	if (left <= 0) {
		ad_req_finish(r, AGENTD_ETIMEOUT, NULL, 0);
		return;
	}
	if (r->tries == 0)
		ad_hist_add(&r->agent->st.queue_wait,
		    (uint64_t)(ad_now_us() - r->queued_us));
	r->tries++;
	r->sent_us = ad_now_us();
	s->req     = r;
	s->id      = r->id;
	s->phase   = AD_SLOT_BUSY;
	s->inst->inflight++;
	/* The caller hears "timeout" at the deadline (ad_dispatch_expire);
	 * the slot gives up only once the instance has held the request
	 * hung_after longer, and then the instance is replaced. */
	rv = ad_instance_send(
	    s->inst, nng_msg_body(r->msg), nng_msg_len(r->msg));
	if (rv != 0) {
		s->req   = NULL;
		s->phase = AD_SLOT_IDLE;
		s->inst->inflight--;
		ad_req_finish(r, rv, NULL, 0);
	}
}

/*
 * Send queued requests, in order, to free slots of their generation.
 * With a canary, a request whose generation is busy does not hold up
 * the other's behind it.
 */
void
ad_dispatch_pump(struct ad_agent *a)
{
	struct ad_req  *r, *next;
	struct ad_slot *s;
	struct ad_gen  *g, *full = NULL;

	for (r = TAILQ_FIRST(&a->queue); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		g    = gen_for(a, r);
		if (g == full)
			continue;
		if ((s = pick_slot(a, g)) == NULL) {
			/* Both generations busy (or the only one): done. */
			if (full != NULL || a->next == NULL
			    || a->canary_pct == 0)
				return;
			full = g;
			continue;
		}
		TAILQ_REMOVE(&a->queue, r, link);
		a->nqueued--;
		ad_slot_send(s, r);
	}
}

/* A request's outcome, counted for the generation that ran it. */
static void
gen_count(struct ad_instance *inst, int status, const struct ad_req *r)
{
	ad_gen_count_reply(
	    inst->gen, status, (uint64_t)(ad_now_us() - r->sent_us));
}

static void request_done(
    struct ad_slot *s, int rv, const struct ad_envelope *reply);

void
ad_dispatch_expire(struct ad_agent *a, int64_t now)
{
	struct ad_instance *inst;
	struct ad_req      *r, *next;
	unsigned            i;

	for (r = TAILQ_FIRST(&a->queue); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if (r->deadline_ms > now)
			continue;
		TAILQ_REMOVE(&a->queue, r, link);
		a->nqueued--;
		ad_req_finish(r, AGENTD_ETIMEOUT, NULL, 0);
	}
	LIST_FOREACH(inst, &a->instances, link) {
		for (i = 1; i < inst->nslots; i++) {
			r = inst->slots[i].req;
			if (r != NULL && !r->answered
			    && r->deadline_ms <= now) {
				gen_count(inst, AGENTD_ETIMEOUT, r);
				answer(r, AGENTD_ETIMEOUT, NULL, 0);
			}
			if (r != NULL
			    && now >= r->deadline_ms
			            + inst->gen->conf->hung_after_ms)
				request_done(
				    &inst->slots[i], AGENTD_ETIMEOUT, NULL);
		}
	}
}

void
ad_dispatch_fail_queue(struct ad_agent *a, int status)
{
	struct ad_req *r;

	while ((r = TAILQ_FIRST(&a->queue)) != NULL) {
		TAILQ_REMOVE(&a->queue, r, link);
		a->nqueued--;
		ad_req_finish(r, status, NULL, 0);
	}
}

/* Queue at the front (a retry keeps its place) or the back. */
static int
enqueue(struct ad_agent *a, struct ad_req *r, int front)
{
	if (!ad_route_admit(a->nqueued, a->conf->queue_max, front))
		return AGENTD_EBUSY;
	if (front)
		TAILQ_INSERT_HEAD(&a->queue, r, link);
	else
		TAILQ_INSERT_TAIL(&a->queue, r, link);
	a->nqueued++;
	ad_dispatch_pump(a);
	return 0;
}

/*
 * Submit a request envelope (already encoded in msg, its id id; ownership
 * passes only on success) for agent `target`, with a deadline in monotonic
 * ms.  mtx held.  Returns 0 (done will be called, perhaps already) or an
 * error (done will not be called).
 */
static int
ad_dispatch(struct ad_sv *sv, const char *target, nng_msg *msg, uint64_t id,
    int64_t deadline_ms, ad_req_done_fn done, void *arg)
{
	struct ad_agent *a = ad_sv_agent(sv, target);
	struct ad_req   *r;
	int64_t          limit;
	int              rv;

	if (a == NULL)
		return AGENTD_ENOENT;
	/* Stopped by an operator, or being stopped with agentd. */
	if (a->stopped)
		return AGENTD_EUNAVAIL;
	if (a->closing)
		return AGENTD_ECLOSED;
	/* A failed agent has nothing that could answer, and will not have
	 * until an operator restarts it: say so now, not at the deadline. */
	if (a->failed && ad_agent_count(a, AD_INST_READY) == 0)
		return AGENTD_EFAILED;
	limit    = ad_now_ms() + a->conf->request_timeout_ms;
	r        = ad_xcalloc(1, sizeof(*r));
	r->id    = id;
	r->agent = a;
	r->msg   = msg;
	r->deadline_ms
	    = deadline_ms > 0 && deadline_ms < limit ? deadline_ms : limit;
	r->queued_us = ad_now_us();
	r->done      = done;
	r->arg       = arg;
	/* A canary takes its share of requests, counted out exactly: with
	 * 20%, every fifth. */
	if (a->next != NULL && a->canary_pct > 0
	    && ad_gen_count(a, a->next, AD_INST_READY) > 0
	    && ad_route_canary(&a->canary_acc, a->canary_pct))
		r->gen = a->next->number;
	if ((rv = enqueue(a, r, 0)) != 0) {
		free(r);
		return rv;
	}
	a->st.requests++;
	return 0;
}

int
ad_dispatch_envelope(struct ad_sv *sv, const struct ad_envelope *in,
    const char *src, const char *src_instance, ad_req_done_fn done, void *arg)
{
	struct ad_envelope e = *in;
	nng_msg           *msg;
	int64_t            deadline_ms = 0;
	int                rv;

	snprintf(e.src, sizeof(e.src), "%s", src);
	snprintf(e.src_instance, sizeof(e.src_instance), "%s",
	    src_instance ? src_instance : "");
	e.id = ad_envelope_next_id();
	/* The envelope's deadline is wall clock; a request's, monotonic. */
	if (in->deadline_ms > 0)
		deadline_ms = ad_now_ms() + (in->deadline_ms - ad_wall_ms());
	if ((rv = ad_envelope_to_msg(&e, &msg)) != 0)
		return rv;
	rv = ad_dispatch(sv, in->dst, msg, e.id, deadline_ms, done, arg);
	if (rv != 0)
		nng_msg_free(msg);
	return rv;
}

/*
 * The instance's connection failed with r in flight: the process is dying
 * (or its socket was closed after it died).  It takes no more work, and r
 * goes back to the front of the queue for another instance, a bounded
 * number of times.
 */
static void
connection_failed(struct ad_instance *inst, struct ad_req *r)
{
	struct ad_agent *a = inst->agent;

	if (inst->state == AD_INST_READY)
		inst->state = AD_INST_LOST;
	switch (ad_redispatch_verdict(
	    r->tries, r->answered, a->stopped, a->closing)) {
	case AD_REDISPATCH_FAILED:
		ad_req_finish(r, AGENTD_EFAILED, NULL, 0);
		break;
	case AD_REDISPATCH_UNAVAIL:
		ad_req_finish(r, AGENTD_EUNAVAIL, NULL, 0);
		break;
	case AD_REDISPATCH_CLOSED:
		ad_req_finish(r, AGENTD_ECLOSED, NULL, 0);
		break;
	case AD_REDISPATCH_AGAIN:
		ad_info("agent %s: re-dispatching a request %s held",
		    a->conf->name, inst->id);
		a->st.redispatched++;
		enqueue(a, r, 1);
		break;
	}
}

/*
 * A request slot's reply arrived (reply), or the instance held it too long
 * (AGENTD_ETIMEOUT), or its connection is gone (another error): then the
 * request goes back to the front of the queue for another instance, a
 * bounded number of times.
 */
static void
request_done(struct ad_slot *s, int rv, const struct ad_envelope *reply)
{
	struct ad_instance *inst = s->inst;
	struct ad_req      *r    = s->req;

	s->req   = NULL;
	s->phase = AD_SLOT_IDLE;
	inst->inflight--;
	if (rv == 0) {
		inst->served++;
		ad_hist_add(&inst->agent->st.service,
		    (uint64_t)(ad_now_us() - r->sent_us));
		if (!r->answered)
			gen_count(inst, reply->status, r);
		ad_req_finish(r, reply->status, reply->body, reply->body_len);
	} else if (rv == AGENTD_ETIMEOUT) {
		/* Held hung_after past its deadline: the instance is stuck
		 * (or ignores what it was sent); replace it. */
		ad_instance_hung(inst,
		    "held a request %lld ms past its deadline (health { "
		    "hung_after })",
		    (long long)inst->gen->conf->hung_after_ms);
		ad_req_finish(r, AGENTD_ETIMEOUT, NULL, 0);
	} else {
		connection_failed(inst, r);
	}
	ad_dispatch_pump(inst->agent);
	ad_instance_drained(inst);
}

/* The slot waiting for the reply to envelope id, or NULL. */
static struct ad_slot *
slot_of(struct ad_instance *inst, uint64_t id)
{
	unsigned i;

	for (i = 0; i < inst->nslots; i++) {
		if (inst->slots[i].phase == AD_SLOT_BUSY
		    && inst->slots[i].id == id)
			return &inst->slots[i];
	}
	return NULL;
}

/* ---- calls an instance makes on its channel --------------------------- */

struct ad_incall {
	struct ad_instance *inst; /* NULL once it is gone */
	uint64_t            id;   /* the caller's envelope id */
	char                to[AD_NAME_MAX];
	char                callee[AD_TARGET_MAX];
	LIST_ENTRY(ad_incall) link;
};

/* Answer the caller on its channel (mtx held). */
static void
incall_answer(struct ad_instance *inst, uint64_t id, const char *to,
    const char *callee, int status, const void *body, size_t len)
{
	struct ad_envelope r;
	agentd_writer     *w = NULL;
	nng_msg           *msg;
	char               why[AD_ERRLEN];

	/* An error without a body says which, and of which callee, as
	 * {"error": "..."}: the caller's host->call_error(). */
	if (status != 0 && body == NULL) {
		snprintf(why, sizeof(why), "agent \"%s\": %s", callee,
		    agentd_strerror(status));
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "error");
		agentd_write_str(w, why);
		body = agentd_writer_data(w, &len);
	}
	ad_envelope_reply(&r, id, to, status, body, len);
	if (ad_envelope_to_msg(&r, &msg) == 0) {
		ad_instance_send(inst, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
	}
	agentd_writer_free(w);
}

static void
incall_done(void *arg, int status, const void *body, size_t len)
{
	struct ad_incall *c = arg;

	if (c->inst != NULL) {
		incall_answer(
		    c->inst, c->id, c->to, c->callee, status, body, len);
		LIST_REMOVE(c, link);
	}
	free(c);
}

/* A call to another agent, from inst: admitted and dispatched, or
 * answered at once with why not. */
static void
incall(struct ad_instance *inst, const struct ad_envelope *e)
{
	struct ad_sv     *sv = inst->agent->sv;
	struct ad_incall *c;
	char              why[AD_ERRLEN];
	agentd_writer    *w;
	const void       *body;
	size_t            len;
	int               rv;

	if ((rv = ad_call_admit(inst, e->dst, why, sizeof(why))) == 0) {
		c       = ad_xcalloc(1, sizeof(*c));
		c->inst = inst;
		c->id   = e->id;
		snprintf(c->to, sizeof(c->to), "%s", e->src);
		snprintf(c->callee, sizeof(c->callee), "%s", e->dst);
		LIST_INSERT_HEAD(&inst->incalls, c, link);
		rv = ad_dispatch_envelope(
		    sv, e, inst->agent->conf->name, inst->id, incall_done, c);
		if (rv == 0)
			return;
		LIST_REMOVE(c, link);
		free(c);
		ad_call_refused(rv, e->dst, why, sizeof(why));
	}
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "error");
	agentd_write_str(w, why);
	body = agentd_writer_data(w, &len);
	incall_answer(inst, e->id, e->src, e->dst, rv, body, len);
	agentd_writer_free(w);
}

/* What host->count() added, at the end of a worker's batch: for the
 * generation of the instance whose channel it came on, whatever it says
 * (gen.h). */
static int
is_counters(const struct ad_envelope *e)
{
	return e->kind == AD_KIND_CONTROL && strcmp(e->dst, "counters") == 0;
}

void
ad_dispatch_received(void *arg, const void *buf, size_t len)
{
	struct ad_instance *inst = arg;
	size_t             max = inst->agent->sv->cfg->global.max_message_size;
	const char        *p   = buf;
	struct ad_envelope e;
	struct ad_slot    *s;
	size_t             used;

	while (len > 0) {
		if (ad_envelope_decode_prefix(p, len, max, &e, &used) != 0
		    || (e.kind != AD_KIND_REPLY && e.kind != AD_KIND_REQUEST
		        && !is_counters(&e))
		    || (is_counters(&e)
		        && ad_gen_add_counters(inst->agent, inst->gen,
		               inst->id, e.body, e.body_len)
		            != 0)) {
			/* Not from our worker: nothing after it can be
			 * trusted, and what it holds runs elsewhere. */
			ad_instance_hung(inst, "it sent a malformed message");
			return;
		}
		p += used;
		len -= used;
		if (is_counters(&e))
			continue; /* added to its generation above */
		if (e.kind == AD_KIND_REQUEST) {
			incall(inst, &e);
			continue;
		}
		/* A reply to a request given up on (hung) has no slot. */
		if ((s = slot_of(inst, e.correlation)) == NULL)
			continue;
		if (s->control) {
			s->phase = AD_SLOT_IDLE;
			ad_instance_control_done(s, 0, &e);
		} else
			request_done(s, 0, &e);
	}
}

void
ad_instance_channel_closed(struct ad_instance *inst)
{
	struct ad_incall *c;
	unsigned          i;

	/* Its calls run on; their answers have no one to go to. */
	while ((c = LIST_FIRST(&inst->incalls)) != NULL) {
		LIST_REMOVE(c, link);
		c->inst = NULL;
	}

	for (i = 0; i < inst->nslots; i++) {
		struct ad_slot *s = &inst->slots[i];

		if (s->phase != AD_SLOT_BUSY)
			continue;
		if (s->req != NULL)
			request_done(s, AGENTD_ECLOSED, NULL);
		else
			s->phase = AD_SLOT_IDLE;
	}
	ad_chan_drop(&inst->chan);
	ad_gate_instance_gone(inst); /* its untaken outcomes go again */
}
