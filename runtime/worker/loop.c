#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"
#include "worker/loop.h"

int
ad_wloop_init(struct ad_wloop *l)
{
	pthread_mutex_init(&l->mtx, NULL);
	STAILQ_INIT(&l->items);
	l->lost = 0;
	l->efd  = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return l->efd < 0 ? -1 : 0;
}

void
ad_wloop_fini(struct ad_wloop *l)
{
	struct ad_witem *it;

	while ((it = STAILQ_FIRST(&l->items)) != NULL) {
		STAILQ_REMOVE_HEAD(&l->items, link);
		free(it);
	}
	if (l->efd >= 0)
		close(l->efd);
	pthread_mutex_destroy(&l->mtx);
}

static void
wake(struct ad_wloop *l)
{
	uint64_t one = 1;

	(void)!write(l->efd, &one, sizeof(one));
}

void
ad_wloop_post(struct ad_wloop *l, struct ad_witem *it)
{
	int was_empty;

	pthread_mutex_lock(&l->mtx);
	was_empty = STAILQ_EMPTY(&l->items);
	STAILQ_INSERT_TAIL(&l->items, it, link);
	pthread_mutex_unlock(&l->mtx);
	/* Items already waiting have woken the main thread. */
	if (was_empty)
		wake(l);
}

void
ad_wloop_lost(struct ad_wloop *l)
{
	pthread_mutex_lock(&l->mtx);
	l->lost = 1;
	pthread_mutex_unlock(&l->mtx);
	wake(l);
}

int
ad_wloop_is_lost(struct ad_wloop *l)
{
	int lost;

	pthread_mutex_lock(&l->mtx);
	lost = l->lost;
	pthread_mutex_unlock(&l->mtx);
	return lost;
}

void
ad_wloop_ack(struct ad_wloop *l)
{
	uint64_t n;

	(void)!read(l->efd, &n, sizeof(n));
}

struct ad_witem *
ad_wloop_take(struct ad_wloop *l)
{
	struct ad_witem *it;

	pthread_mutex_lock(&l->mtx);
	if ((it = STAILQ_FIRST(&l->items)) != NULL)
		STAILQ_REMOVE_HEAD(&l->items, link);
	pthread_mutex_unlock(&l->mtx);
	return it;
}
