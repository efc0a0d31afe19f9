/*
 * hub.h - events between agents.
 *
 * Instances publish batches of event envelopes on publish.sock (PUSH ->
 * PULL; the publisher's identity comes from its connection).  The hub
 * checks each event against the publisher's publish = { } entries, then
 * hands it to ONE ready instance of every agent whose subscribe = { }
 * covers the topic (the one with the shortest event queue), and copies it
 * to tail.sock (PUB) for `agentctl tail` and to the tap (the HTTP API's
 * live streams), each only while it has a reader.
 *
 * Delivery never blocks the hub: each instance has a bounded queue of
 * events, sent as one batch whenever its previous send has completed.  An
 * event that finds the queue full, or no ready instance, is counted in the
 * subscriber's events_dropped; a refused one in the publisher's
 * events_denied.  Nothing is lost without a count.
 *
 * This file owns the publish and tail sockets and their receives (struct
 * ad_hub, in sv) and each instance's event socket and queue (struct
 * ad_hub_inst, in the instance).  All with sv->mtx held unless said.
 */
#ifndef AD_HUB_H
#define AD_HUB_H

#include <stddef.h>
#include <sys/queue.h>

#include <nng/nng.h>

#include "common/ops.h"

struct ad_sv;
struct ad_agent;
struct ad_instance;
struct ad_envelope;

#define AD_PUBLISH_SOCKET "publish.sock"
/* Events one instance may have waiting before new ones are dropped. */
#define AD_EVQ_MAX 8192

/* One encoded event envelope waiting for an instance. */
struct ad_evitem {
	STAILQ_ENTRY(ad_evitem) link;
	size_t        len;
	unsigned char data[];
};
STAILQ_HEAD(ad_evq_head, ad_evitem);

/* What the hub keeps for each instance (inst->ev). */
struct ad_hub_inst {
	char              *path; /* its event socket file */
	nng_socket         sock; /* PUSH, listens at path */
	nng_aio           *aio;
	struct ad_evq_head q;       /* envelopes waiting to be sent */
	unsigned           n;       /* how many */
	unsigned           sending; /* events in the send under way */
	int                pipe;    /* its worker's connection (nng pipe id) */
	int                lost;    /* that connection closed: never sent to
	                             * again (hub.c, ev_pipe_cb) */
};

struct ad_pub_rx;

/* What the hub keeps for agentd (sv->hub). */
struct ad_hub {
	nng_socket        publish; /* PULL: events from instances */
	struct ad_pub_rx *pubrx;   /* receives under way on it */
	size_t            npubrx;
	nng_socket        tail;         /* PUB: every accepted event */
	unsigned          tail_readers; /* connections to tail.sock */
	int               open;
	/*
	 * Readers in this process (the HTTP API's streams, http_stream.h):
	 * while taps > 0, tap gets every accepted event as tail.sock does,
	 * its topic and its encoded envelope (borrowed for the call), from
	 * ad_hub_deliver with mtx held.  It must not block.
	 */
	void (*tap)(void *arg, const char *topic, const void *env, size_t len);
	void    *tap_arg;
	unsigned taps;
};

int  ad_hub_start(struct ad_sv *sv, char *err, size_t errlen);
void ad_hub_stop(struct ad_sv *sv);

/*
 * Deliver one accepted event (e->dst is the topic) from src / src_instance
 * to its subscribers and to tail.sock.  Returns how many agents it was
 * handed to.  sv->mtx held.
 */
unsigned ad_hub_deliver(struct ad_sv *sv, const char *src,
    const char *src_instance, const struct ad_envelope *e);

/*
 * Deliver one event of agentd's own (src "agentd"; e->dst the topic) to
 * agent a alone, whatever its subscribe = { }: to one ready instance of
 * it as ad_hub_deliver does, and to tail.sock and the tap.  0; ENOENT
 * when a has no ready instance (nothing sent or counted: the caller may
 * try again); EBUSY when that instance's queue is full (counted in
 * events_dropped).  sv->mtx held.
 */
int ad_hub_deliver_to(
    struct ad_sv *sv, struct ad_agent *a, const struct ad_envelope *e);

/* Per-instance event socket: open (with the instance socket), free (once
 * its connection is gone: ad_instance_collectable).  Its connections are
 * offered to ad_instance_on_pipe, added and removed. */
int  ad_hub_instance_open(struct ad_instance *inst, char *err, size_t len);
void ad_hub_instance_close(struct ad_instance *inst);
/* An instance became ready: send what waits for it.  sv->mtx held. */
void ad_hub_instance_kick(struct ad_instance *inst);
/* Events waiting for inst or being sent to it.  sv->mtx held. */
unsigned ad_hub_instance_queued(const struct ad_instance *inst);

#endif
