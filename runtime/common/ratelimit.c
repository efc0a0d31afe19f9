/*
 * ratelimit.c - at most one line per interval, with the count held back.
 */
#include "config.h"

#include <stdio.h>

#include "common/ratelimit.h"

/* " (and N more like it in the last S s)": tenths of a second below 10 s,
 * whole seconds above. */
static void
write_note(char *note, size_t len, uint64_t n, int64_t since_ms)
{
	if (n == 0)
		snprintf(note, len, "%s", "");
	else if (since_ms < 10000)
		snprintf(note, len,
		    " (and %llu more like it in the last %d.%d s)",
		    (unsigned long long)n, (int)(since_ms / 1000),
		    (int)(since_ms % 1000 / 100));
	else
		snprintf(note, len,
		    " (and %llu more like it in the last %lld s)",
		    (unsigned long long)n, (long long)(since_ms / 1000));
}

int
ad_ratelimit(
    struct ad_ratelimit *rl, int64_t now_ms, char *note, size_t notelen)
{
	int64_t interval
	    = rl->interval_ms > 0 ? rl->interval_ms : AD_RATELIMIT_MS;
	int64_t since = now_ms - rl->last_ms;

	/* A clock that went back (since < 0) is within the interval. */
	if (rl->started && since < interval) {
		rl->suppressed++;
		return 0;
	}
	if (note != NULL && notelen > 0)
		write_note(
		    note, notelen, rl->started ? rl->suppressed : 0, since);
	rl->started    = 1;
	rl->last_ms    = now_ms;
	rl->suppressed = 0;
	return 1;
}
