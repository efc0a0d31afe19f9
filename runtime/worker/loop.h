/*
 * loop.h - the worker's one thread for plugin code.
 *
 * nng completes asynchronous calls on its own threads; plugin callbacks
 * must all run on one thread.  So those completions are posted here, and
 * the worker's main thread, which waits in poll() on the loop's eventfd
 * together with its sockets' receive descriptors, takes them and calls
 * the plugin.  Requests and events are received by the main thread itself
 * (no hand-off through another thread).
 */
#ifndef AD_WLOOP_H
#define AD_WLOOP_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nng/nng.h>

#include <agentd/agent.h>

struct ad_acall; /* host.c: one asynchronous call */

/* A finished asynchronous call, waiting for the main thread. */
struct ad_witem {
	struct ad_acall *call;
	STAILQ_ENTRY(ad_witem) link;
};

struct ad_wloop {
	pthread_mutex_t mtx;
	int             efd; /* eventfd: readable when items wait or lost */
	STAILQ_HEAD(, ad_witem) items;
	int lost; /* the supervisor's connection is gone */
};

int  ad_wloop_init(struct ad_wloop *l);
void ad_wloop_fini(struct ad_wloop *l);

/* Post an item (any thread); ownership passes to the loop. */
void ad_wloop_post(struct ad_wloop *l, struct ad_witem *it);

/* The supervisor went away (any thread): the main thread stops. */
void ad_wloop_lost(struct ad_wloop *l);
/* Has ad_wloop_lost() been called?  Any thread. */
int ad_wloop_is_lost(struct ad_wloop *l);

/* Reset the eventfd; call before taking items, so none is missed. */
void ad_wloop_ack(struct ad_wloop *l);

/*
 * Next item, or NULL if none waits.  The caller owns the item: free with
 * free() after freeing its message.
 */
struct ad_witem *ad_wloop_take(struct ad_wloop *l);

#endif
