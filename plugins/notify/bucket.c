/*
 * bucket.c - the rate limit of a channel: a token bucket.  It holds at
 * most `burst` sends and gains rate_per_minute of them a minute, so a
 * quiet channel may send a burst at once and a busy one no more than its
 * rate.
 */
#include <math.h>

#include "notify.h"

void
nt_bucket_init(struct nt_bucket *b, double per_minute, double burst)
{
	b->capacity = burst;
	b->tokens   = burst;
	b->per_ms   = per_minute / 60000.0;
	b->last_ms  = -1;
}

int
nt_bucket_take(struct nt_bucket *b, int64_t now_ms, int64_t *wait_ms)
{
	if (b->last_ms >= 0 && now_ms > b->last_ms)
		b->tokens = fmin(b->capacity,
		    b->tokens + (double)(now_ms - b->last_ms) * b->per_ms);
	b->last_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 1;
	}
	*wait_ms = b->per_ms > 0 ? (int64_t)ceil((1.0 - b->tokens) / b->per_ms)
	                         : INT64_MAX;
	return 0;
}
