/*
 * restart.h - when an agent's instance is started again after an exit,
 * and when the agent is failed instead.
 *
 * Intensity: the times of the last intensity + 1 exits are kept; when
 * all of them fall within period, the agent would restart more than its
 * restart { intensity } allows, and is failed.  Backoff: each restart
 * waits twice as long as the one before (backoff_initial at first, at
 * most backoff_max), plus up to a quarter more so that agents failing
 * together do not come back in lockstep; an instance that stays ready for
 * stable_after ends the crash loop, and the next delay is the first one
 * again.
 *
 * Nothing here reads a clock or draws a random number: both come in.
 *
 * This file owns struct ad_restarts, the exit window and the backoff (a
 * field of each agent, read and written only here).
 */
#ifndef AD_RESTART_H
#define AD_RESTART_H

#include <stdint.h>

/* The window of exits and the backoff between restarts; all zero to
 * begin with, the window sized by ad_restarts_size. */
struct ad_restarts {
	int64_t  backoff_ms; /* the last delay, 0: none since a stable run */
	int64_t  next_start_ms; /* monotonic: no start before; 0: now */
	int64_t *exits_ms;      /* monotonic: the last exits, oldest first */
	unsigned nexits;        /* of intensity + 1 */
};

/* Give r an empty window for restart { intensity } (a generation put in
 * use may change it); ad_restarts_free frees it. */
void ad_restarts_size(struct ad_restarts *r, unsigned intensity);
void ad_restarts_free(struct ad_restarts *r);

enum ad_exit_verdict {
	AD_EXIT_RESTART = 0, /* within restart { intensity } */
	AD_EXIT_FAIL,        /* more than it allows: no more restarts */
};

/*
 * Count an exit at now (monotonic ms) in the window times[0 .. *n) (oldest
 * first; room for intensity + 1, caller owns: its size follows the
 * configuration, so it is sized where a generation is put in use).  On
 * AD_EXIT_FAIL, *span_ms says within how long those intensity + 1 exits
 * came.
 */
enum ad_exit_verdict ad_restart_count(int64_t *times, unsigned *n,
    unsigned intensity, int64_t period_ms, int64_t now, int64_t *span_ms);

/* The delay after last_ms (0: the first): doubled, within [initial, max]. */
int64_t ad_restart_backoff(
    int64_t last_ms, int64_t initial_ms, int64_t max_ms);

/* What is added to backoff_ms: rnd (0 to RAND_MAX) taken below a quarter
 * of it. */
int64_t ad_restart_jitter(int64_t backoff_ms, long rnd);

/* The next start after an exit at now: the next delay, and jitter. */
void ad_restarts_schedule(struct ad_restarts *r, int64_t initial_ms,
    int64_t max_ms, long rnd, int64_t now);

/*
 * An instance ready since ready_ms (monotonic) at now: once it has been
 * for stable_after_ms, the next delay is the first one again.
 */
void ad_restarts_ran(struct ad_restarts *r, int64_t ready_ms,
    int64_t stable_after_ms, int64_t now);

/* An operator's restart: no delay, the next one is the first, and the
 * window is empty. */
void ad_restarts_reset(struct ad_restarts *r);

#endif
