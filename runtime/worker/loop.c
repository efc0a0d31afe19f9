#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"
#include "worker/loop.h"

void
ad_wloop_init(struct ad_wloop *l)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&l->mtx, NULL);
	/* Waits are bounded by the monotonic clock, like every timeout. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &attr);
	pthread_condattr_destroy(&attr);
	STAILQ_INIT(&l->items);
	l->lost = 0;
}

void
ad_wloop_fini(struct ad_wloop *l)
{
	struct ad_witem *it;

	while ((it = STAILQ_FIRST(&l->items)) != NULL) {
		STAILQ_REMOVE_HEAD(&l->items, link);
		if (it->msg != NULL)
			nng_msg_free(it->msg);
		free(it);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mtx);
}

void
ad_wloop_post(struct ad_wloop *l, struct ad_witem *it)
{
	pthread_mutex_lock(&l->mtx);
	STAILQ_INSERT_TAIL(&l->items, it, link);
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mtx);
}

void
ad_wloop_post_msg(struct ad_wloop *l, enum ad_witem_kind kind, nng_msg *msg)
{
	struct ad_witem *it = ad_xcalloc(1, sizeof(*it));

	it->kind = kind;
	it->msg  = msg;
	ad_wloop_post(l, it);
}

void
ad_wloop_lost(struct ad_wloop *l)
{
	pthread_mutex_lock(&l->mtx);
	l->lost = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mtx);
}

struct ad_witem *
ad_wloop_next(struct ad_wloop *l, int64_t until)
{
	struct ad_witem *it;
	struct timespec  ts;

	ts.tv_sec  = until / 1000;
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	pthread_mutex_lock(&l->mtx);
	while ((it = STAILQ_FIRST(&l->items)) == NULL && !l->lost) {
		if (pthread_cond_timedwait(&l->cv, &l->mtx, &ts) == ETIMEDOUT)
			break;
	}
	if (it != NULL)
		STAILQ_REMOVE_HEAD(&l->items, link);
	pthread_mutex_unlock(&l->mtx);
	return it;
}
