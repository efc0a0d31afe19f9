/*
 * ratelimit.h - one rate limiter for every warning a message can cause.
 *
 * A warning that a peer can make agentd or a worker write once per
 * message (a malformed batch, a refused topic, a redialled connection)
 * goes through one of these: at most one line per interval, and the line
 * that is let through says how many were held back since the last one,
 * so a flood costs a few lines a second and loses no count.  Counts held
 * back after the last line of a flood are told with the next line.
 *
 * Not locked: each limiter is guarded by whatever guards its owner (an
 * agent's by the supervisor's mutex, a worker's by its main thread).
 * Times are passed in (monotonic ms, ad_now_ms()), so tests choose them.
 */
#ifndef AD_RATELIMIT_H
#define AD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* The interval of a limiter whose interval_ms is 0: one line a second. */
#define AD_RATELIMIT_MS 1000

/* Room for the longest note ad_ratelimit() writes, NUL included. */
#define AD_RATELIMIT_NOTE 64

/* All zero is a limiter of AD_RATELIMIT_MS that has let nothing through. */
struct ad_ratelimit {
	int64_t  interval_ms; /* at most one line per interval; 0: default */
	int64_t  last_ms;     /* when the last line was let through */
	uint64_t suppressed;  /* lines held back since then */
	int      started;     /* a line was let through already */
};

/*
 * One occurrence at now_ms.  1: log it now; note (may be NULL, notelen
 * bytes, AD_RATELIMIT_NOTE suffice) gets "" or, when lines were held
 * back since the last one, " (and N more like it in the last S s)" to
 * append to the line.  0: do not log it; it is counted for the next.
 */
int ad_ratelimit(
    struct ad_ratelimit *rl, int64_t now_ms, char *note, size_t notelen);

#endif /* AD_RATELIMIT_H */
