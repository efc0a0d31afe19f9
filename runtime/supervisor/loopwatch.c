/*
 * loopwatch.c - the main loop's own watchdog (loopwatch.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/loopwatch.h"

int
ad_loopwatch_due(int64_t now, int64_t turned, int64_t logged, int64_t limit,
    int64_t *stuck_ms)
{
	if (limit <= 0 || now - turned < limit
	    || (logged != 0 && now - logged < limit))
		return 0;
	*stuck_ms = now - turned;
	return 1;
}

int64_t
ad_loopwatch_limit(uint64_t watchdog_usec)
{
	/* WATCHDOG=1 goes out every half of the interval: a loop that
	 * missed one is stuck, and the line comes before systemd's kill. */
	if (watchdog_usec == 0)
		return AD_LOOPWATCH_DEFAULT_MS;
	return watchdog_usec / 2000 > 0 ? (int64_t)(watchdog_usec / 2000) : 1;
}

static void *
watch_main(void *arg)
{
	struct ad_loopwatch *w = arg;
	int64_t              period, stuck;
	struct timespec      ts;
	char                 step[sizeof(w->step)];

	period = w->limit_ms / 4 > 0 ? w->limit_ms / 4 : 1;
	if (period > 1000)
		period = 1000;
	pthread_mutex_lock(&w->mtx);
	while (!w->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += period / 1000;
		ts.tv_nsec += (long)(period % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mtx, &ts);
		if (w->stop
		    || !ad_loopwatch_due(ad_now_ms(), w->turned_ms,
		        w->logged_ms, w->limit_ms, &stuck))
			continue;
		w->logged_ms = ad_now_ms();
		memcpy(step, w->step, sizeof(step));
		memcpy(w->stuck, w->step, sizeof(w->stuck));
		/* Logged without the lock: stderr may be slow, and the loop
		 * must not wait for it to record its next step. */
		pthread_mutex_unlock(&w->mtx);
		ad_error("main loop stuck for %lld ms (no turn finished; "
		         "limit %lld ms) at: %s",
		    (long long)stuck, (long long)w->limit_ms, step);
		pthread_mutex_lock(&w->mtx);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

void
ad_loopwatch_init(struct ad_loopwatch *w)
{
	pthread_condattr_t attr;

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &attr);
	pthread_condattr_destroy(&attr);
	snprintf(w->step, sizeof(w->step), "starting");
}

int
ad_loopwatch_start(struct ad_loopwatch *w, int64_t limit_ms)
{
	pthread_mutex_lock(&w->mtx);
	w->limit_ms  = limit_ms;
	w->turned_ms = ad_now_ms();
	pthread_mutex_unlock(&w->mtx);
	if (limit_ms <= 0)
		return 0;
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
		return AGENTD_ENOMEM;
	w->started = 1;
	return 0;
}

void
ad_loopwatch_step(struct ad_loopwatch *w, const char *fmt, ...)
{
	char    step[sizeof(w->step)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(step, sizeof(step), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->mtx);
	memcpy(w->step, step, sizeof(step));
	pthread_mutex_unlock(&w->mtx);
}

void
ad_loopwatch_turned(struct ad_loopwatch *w)
{
	int64_t now = ad_now_ms(), was = 0;
	char    step[sizeof(w->step)];

	pthread_mutex_lock(&w->mtx);
	if (w->logged_ms != 0) {
		was = now - w->turned_ms;
		memcpy(step, w->stuck, sizeof(step));
	}
	w->turned_ms = now;
	w->logged_ms = 0;
	pthread_mutex_unlock(&w->mtx);
	if (was > 0)
		ad_warn("main loop moving again after %lld ms stuck at: %s",
		    (long long)was, step);
}

void
ad_loopwatch_fini(struct ad_loopwatch *w)
{
	if (w->started) {
		pthread_mutex_lock(&w->mtx);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mtx);
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
}
