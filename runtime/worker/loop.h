/*
 * loop.h - the worker's one thread for plugin code.
 *
 * nng completes operations on its own threads; plugin callbacks must all
 * run on one thread.  So nng callbacks only post items here, and the
 * worker's main thread takes them one at a time and calls the plugin.
 */
#ifndef AD_WLOOP_H
#define AD_WLOOP_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nng/nng.h>

#include <agentd/agent.h>

enum ad_witem_kind {
	AD_WI_MESSAGE = 1, /* request or control from agentd */
	AD_WI_EVENTS,      /* a batch of events for this instance */
	AD_WI_REPLY,       /* an asynchronous call finished */
};

struct ad_acall; /* host.c: one asynchronous call */

struct ad_witem {
	enum ad_witem_kind kind;
	nng_msg           *msg;  /* owned by the item */
	struct ad_acall   *call; /* AD_WI_REPLY */
	STAILQ_ENTRY(ad_witem) link;
};

struct ad_wloop {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	STAILQ_HEAD(, ad_witem) items;
	int lost; /* the supervisor's connection is gone */
};

void ad_wloop_init(struct ad_wloop *l);
void ad_wloop_fini(struct ad_wloop *l);

/* Post an item (any thread); ownership passes to the loop. */
void ad_wloop_post(struct ad_wloop *l, struct ad_witem *it);
void ad_wloop_post_msg(
    struct ad_wloop *l, enum ad_witem_kind kind, nng_msg *msg);

/* The supervisor went away (any thread): the main thread stops. */
void ad_wloop_lost(struct ad_wloop *l);

/*
 * Next item, waiting at most until `until` (monotonic ms).  NULL on
 * timeout or when the connection is lost (check l->lost).  The caller owns
 * the item: free with free() after freeing its message.
 */
struct ad_witem *ad_wloop_next(struct ad_wloop *l, int64_t until);

#endif
