#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"
#include "supervisor/dispatch.h"
#include "supervisor/instance.h"

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
	struct ad_instance *inst, *best = NULL;
	unsigned            i;

	LIST_FOREACH(inst, &a->instances, link)
	{
		if (inst->gen != g || inst->state != AD_INST_READY
		    || inst->inflight >= inst->nslots - 1)
			continue;
		if (best == NULL || inst->inflight < best->inflight)
			best = inst;
	}
	if (best == NULL)
		return NULL;
	for (i = 1; i < best->nslots; i++) {
		if (best->slots[i].phase == AD_SLOT_IDLE)
			return &best->slots[i];
	}
	return NULL;
}

void
ad_slot_send(struct ad_slot *s, struct ad_req *r)
{
	int64_t  left = r->deadline - ad_now_ms();
	nng_msg *copy;

	if (left <= 0) {
		ad_req_finish(r, AGENTD_ETIMEOUT, NULL, 0);
		return;
	}
	if (nng_msg_dup(&copy, r->msg) != 0) {
		ad_req_finish(r, AGENTD_ENOMEM, NULL, 0);
		return;
	}
	if (r->tries == 0)
		ad_hist_add(&r->agent->st.queue_wait,
		    (uint64_t)(ad_now_us() - r->queued_us));
	r->tries++;
	r->sent_us = ad_now_us();
	s->req     = r;
	s->phase   = AD_SLOT_SENDING;
	s->inst->inflight++;
	nng_aio_set_msg(s->aio, copy);
	/* The caller hears "timeout" at the deadline (ad_dispatch_expire);
	 * the slot gives up only once the instance has held the request
	 * hung_after longer, and then the instance is replaced. */
	nng_aio_set_timeout(
	    s->aio, (nng_duration)(left + s->inst->gen->conf->hung_after_ms));
	nng_ctx_send(s->ctx, s->aio);
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
	struct ad_gen *g = inst->gen;

	g->requests++;
	if (status != 0)
		g->errors++;
	else
		ad_hist_add(&g->service, (uint64_t)(ad_now_us() - r->sent_us));
}

void
ad_dispatch_expire(struct ad_agent *a, int64_t now)
{
	struct ad_instance *inst;
	struct ad_req      *r, *next;
	unsigned            i;

	for (r = TAILQ_FIRST(&a->queue); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if (r->deadline > now)
			continue;
		TAILQ_REMOVE(&a->queue, r, link);
		a->nqueued--;
		ad_req_finish(r, AGENTD_ETIMEOUT, NULL, 0);
	}
	LIST_FOREACH(inst, &a->instances, link)
	{
		for (i = 1; i < inst->nslots; i++) {
			r = inst->slots[i].req;
			if (r != NULL && !r->answered && r->deadline <= now) {
				gen_count(inst, AGENTD_ETIMEOUT, r);
				answer(r, AGENTD_ETIMEOUT, NULL, 0);
			}
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
	if (!front && a->nqueued >= a->conf->queue_max)
		return AGENTD_EBUSY;
	if (front)
		TAILQ_INSERT_HEAD(&a->queue, r, link);
	else
		TAILQ_INSERT_TAIL(&a->queue, r, link);
	a->nqueued++;
	ad_dispatch_pump(a);
	return 0;
}

int
ad_dispatch(struct ad_sv *sv, const char *target, nng_msg *msg,
    int64_t deadline, ad_req_done_fn done, void *arg)
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
	limit        = ad_now_ms() + a->conf->request_timeout_ms;
	r            = ad_xcalloc(1, sizeof(*r));
	r->id        = ad_envelope_next_id();
	r->agent     = a;
	r->msg       = msg;
	r->deadline  = deadline > 0 && deadline < limit ? deadline : limit;
	r->queued_us = ad_now_us();
	r->done      = done;
	r->arg       = arg;
	/* A canary takes its share of requests, counted out exactly: with
	 * 20%, every fifth. */
	if (a->next != NULL && a->canary_pct > 0
	    && ad_gen_count(a, a->next, AD_INST_READY) > 0) {
		a->canary_acc += a->canary_pct;
		if (a->canary_acc >= 100) {
			a->canary_acc -= 100;
			r->gen = a->next->number;
		}
	}
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
	int64_t            deadline = 0;
	int                rv;

	snprintf(e.src, sizeof(e.src), "%s", src);
	snprintf(e.src_instance, sizeof(e.src_instance), "%s",
	    src_instance ? src_instance : "");
	e.id = ad_envelope_next_id();
	if (in->deadline_ms > 0)
		deadline = ad_now_ms() + (in->deadline_ms - ad_wall_ms());
	if ((rv = ad_envelope_to_msg(&e, &msg)) != 0)
		return rv;
	rv = ad_dispatch(sv, in->dst, msg, deadline, done, arg);
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
	if (inst->state == AD_INST_READY)
		inst->state = AD_INST_LOST;
	/* Answered already (its deadline passed): nothing to run again. */
	if (r->answered || r->tries >= AD_MAX_TRIES) {
		ad_req_finish(r, AGENTD_EFAILED, NULL, 0);
		return;
	}
	/* No instance will come to run it again. */
	if (inst->agent->stopped || inst->agent->closing) {
		ad_req_finish(r,
		    inst->agent->stopped ? AGENTD_EUNAVAIL : AGENTD_ECLOSED,
		    NULL, 0);
		return;
	}
	ad_info("agent %s: re-dispatching a request %s held",
	    inst->agent->conf->name, inst->id);
	inst->agent->st.redispatched++;
	enqueue(inst->agent, r, 1);
}

/*
 * A request slot's reply arrived, or its send or wait failed.  When the
 * instance is gone (its socket closed) the request goes back to the front
 * of the queue for another instance, a bounded number of times.
 */
static void
request_done(struct ad_slot *s, int rv, nng_msg *reply)
{
	struct ad_instance *inst = s->inst;
	struct ad_req      *r    = s->req;
	struct ad_envelope  e;
	size_t max = inst->agent->sv->cfg->global.max_message_size;

	s->req   = NULL;
	s->phase = AD_SLOT_IDLE;
	inst->inflight--;
	if (rv == 0) {
		if (ad_envelope_decode(
		        nng_msg_body(reply), nng_msg_len(reply), max, &e)
		        != 0
		    || e.kind != AD_KIND_REPLY) {
			ad_warn("agent %s: instance %s sent a malformed reply",
			    inst->agent->conf->name, inst->id);
			if (!r->answered)
				gen_count(inst, AGENTD_EPROTO, r);
			ad_req_finish(r, AGENTD_EPROTO, NULL, 0);
		} else {
			inst->served++;
			ad_hist_add(&inst->agent->st.service,
			    (uint64_t)(ad_now_us() - r->sent_us));
			if (!r->answered)
				gen_count(inst, e.status, r);
			ad_req_finish(r, e.status, e.body, e.body_len);
		}
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

void
ad_slot_cb(void *arg)
{
	struct ad_slot *s     = arg;
	struct ad_sv   *sv    = s->inst->agent->sv;
	nng_msg        *reply = NULL;
	int             rv    = nng_aio_result(s->aio);

	pthread_mutex_lock(&sv->mtx);
	if (rv == 0 && s->phase == AD_SLOT_SENDING) {
		/* Sent: now wait for the answer on the same context. */
		s->phase = AD_SLOT_WAITING;
		nng_ctx_recv(s->ctx, s->aio);
		pthread_mutex_unlock(&sv->mtx);
		return;
	}
	if (rv != 0 && s->phase == AD_SLOT_SENDING)
		nng_msg_free(nng_aio_get_msg(s->aio));
	if (rv == 0)
		reply = nng_aio_get_msg(s->aio);
	rv = ad_nng_error(rv);
	if (s->control) {
		s->phase = AD_SLOT_IDLE;
		ad_instance_control_done(s, rv, reply);
	} else if (s->req != NULL) {
		request_done(s, rv, reply);
	}
	if (reply != NULL)
		nng_msg_free(reply);
	pthread_mutex_unlock(&sv->mtx);
}
