/*
 * dispatch.h - requests from callers to the least-busy ready instance.
 *
 * A request goes to the ready instance of its agent with the fewest in
 * flight, if one has a free slot; otherwise it waits in the agent's bounded
 * queue.  Every request ends exactly once through its done function: the
 * reply, or busy (queue full), timeout (deadline passed), unavailable (no
 * such agent), or failed (its instances died holding it too many times).
 */
#ifndef AD_DISPATCH_H
#define AD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nng/nng.h>

#include "bus/envelope.h"

struct ad_sv;
struct ad_agent;
struct ad_instance;

/*
 * Completion of a request: status 0 or an agentd_error; body (the reply's
 * msgpack, or NULL) is borrowed, valid until the function returns.  Called
 * exactly once per request, with sv->mtx held.
 */
typedef void (*ad_req_done_fn)(
    void *arg, int status, const void *body, size_t len);

struct ad_req {
	uint64_t         id;
	struct ad_agent *agent;
	nng_msg         *msg; /* encoded request, kept for re-dispatch */
	int64_t          deadline_ms; /* monotonic */
	int64_t          queued_us;   /* monotonic us: latency only */
	int64_t          sent_us;
	unsigned         tries;
	unsigned         gen; /* canary split: run by this generation; 0 any */
	int              answered; /* done ran (a timeout); still held */
	ad_req_done_fn   done;
	void            *arg;
	TAILQ_ENTRY(ad_req) link;
};
TAILQ_HEAD(ad_req_queue, ad_req);

enum ad_slot_phase {
	AD_SLOT_IDLE = 0,
	AD_SLOT_BUSY, /* sent (or queued to send): the reply is awaited */
};

/*
 * One request slot: what the instance holds, matched to its reply by the
 * id of the envelope sent (the reply's correlation id).
 */
struct ad_slot {
	struct ad_instance *inst;
	enum ad_slot_phase  phase;
	uint64_t            id;      /* envelope id of what it holds */
	struct ad_req      *req;     /* in flight on this slot, or NULL */
	int                 control; /* the slot used for init */
	char                op[16];  /* control operation under way */
};

/* Re-dispatches of one request after instances died holding it. */
#define AD_MAX_TRIES 3

/*
 * Dispatch a received request envelope on behalf of a caller whose
 * identity agentd established (src, src_instance): they replace whatever
 * the envelope claimed.  The deadline is converted from wall clock.
 * Same results as ad_dispatch.
 */
int ad_dispatch_envelope(struct ad_sv *sv, const struct ad_envelope *in,
    const char *src, const char *src_instance, ad_req_done_fn done, void *arg);

/* Hand queued requests to free slots of agent a.  mtx held. */
void ad_dispatch_pump(struct ad_agent *a);

/* Answer every queued request of a with status (mtx held). */
void ad_dispatch_fail_queue(struct ad_agent *a, int status);

/*
 * Answer "timeout" to every request of a whose deadline passed: queued
 * ones are dropped; one an instance holds is answered but stays on its
 * slot until the instance replies (the reply is then discarded) or holds
 * it health { hung_after } past the deadline, which marks the instance
 * hung.  mtx held.
 */
void ad_dispatch_expire(struct ad_agent *a, int64_t now);

/*
 * The instance's channel (channel.h).  ad_instance_send queues one
 * encoded envelope for it (mtx held).  ad_dispatch_received is its
 * receive function: one message from the instance, envelopes one after
 * another (replies to what it was sent, and calls it makes).  Once its
 * socket is closed, ad_instance_channel_closed ends what the instance
 * held (each request re-dispatched or failed) and drops what was not
 * sent (mtx held).
 */
int  ad_instance_send(struct ad_instance *inst, const void *env, size_t len);
void ad_dispatch_received(void *arg, const void *buf, size_t len);
void ad_instance_channel_closed(struct ad_instance *inst);

/* End a request: call done (unless it was answered already), free it.
 * mtx held. */
void ad_req_finish(struct ad_req *r, int status, const void *body, size_t len);

#endif
