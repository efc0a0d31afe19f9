#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/restart.h"

enum ad_exit_verdict
ad_restart_count(int64_t *times, unsigned *n, unsigned intensity,
    int64_t period_ms, int64_t now, int64_t *span_ms)
{
	unsigned cap = intensity + 1;

	if (*n == cap) {
		memmove(times, times + 1, (cap - 1) * sizeof(*times));
		(*n)--;
	}
	times[(*n)++] = now;
	if (*n < cap || now - times[0] > period_ms)
		return AD_EXIT_RESTART;
	*span_ms = now - times[0];
	return AD_EXIT_FAIL;
}

int64_t
ad_restart_backoff(int64_t last_ms, int64_t initial_ms, int64_t max_ms)
{
	int64_t next = last_ms == 0 ? initial_ms : last_ms * 2;

	return next > max_ms ? max_ms : next;
}

int64_t
ad_restart_jitter(int64_t backoff_ms, long rnd)
{
	return backoff_ms > 4 ? rnd % (backoff_ms / 4) : 0;
}

void
ad_restarts_schedule(struct ad_restarts *r, int64_t initial_ms, int64_t max_ms,
    long rnd, int64_t now)
{
	r->backoff_ms = ad_restart_backoff(r->backoff_ms, initial_ms, max_ms);
	r->next_start_ms
	    = now + r->backoff_ms + ad_restart_jitter(r->backoff_ms, rnd);
}

void
ad_restarts_ran(struct ad_restarts *r, int64_t ready_ms,
    int64_t stable_after_ms, int64_t now)
{
	if (now - ready_ms >= stable_after_ms)
		r->backoff_ms = 0;
}

void
ad_restarts_reset(struct ad_restarts *r)
{
	r->backoff_ms    = 0;
	r->next_start_ms = 0;
	r->nexits        = 0;
}

void
ad_restarts_size(struct ad_restarts *r, unsigned intensity)
{
	free(r->exits_ms);
	r->exits_ms = ad_xcalloc(intensity + 1, sizeof(*r->exits_ms));
	r->nexits   = 0;
}

void
ad_restarts_free(struct ad_restarts *r)
{
	free(r->exits_ms);
	r->exits_ms = NULL;
	r->nexits   = 0;
}
