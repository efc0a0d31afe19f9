/*
 * loopwatch.h - the main loop's own watchdog.
 *
 * This file owns struct ad_loopwatch: what the main loop says it is doing
 * now (its current step), when it last finished a turn, and a thread that
 * logs one line when no turn has finished for limit_ms, naming the step,
 * and again at most every limit_ms while it stays stuck; once the loop
 * turns again it logs how long it was stuck.  The thread takes only this
 * module's own mutex, never sv->mtx: a stuck loop may hold that one, or
 * wait for it.
 */
#ifndef AD_LOOPWATCH_H
#define AD_LOOPWATCH_H

#include <pthread.h>
#include <stdint.h>

struct ad_loopwatch {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int64_t         limit_ms;   /* 0: not watching */
	int64_t         turned_ms;  /* monotonic: the last turn finished */
	int64_t         logged_ms;  /* last "stuck" line, 0: none this turn */
	char            step[200];  /* what the loop does now */
	char            stuck[200]; /* the step the last line named */
	int             started, stop;
	pthread_t       thread;
};

/* Default limit without systemd's watchdog (WATCHDOG_USEC). */
#define AD_LOOPWATCH_DEFAULT_MS 10000

/*
 * Is a "stuck" line due at now (monotonic ms), the last turn having
 * finished at turned and the last line been logged at logged (0: none)?
 * 1 with *stuck_ms set, else 0.  Pure: the time comes in.
 */
int ad_loopwatch_due(int64_t now, int64_t turned, int64_t logged,
    int64_t limit, int64_t *stuck_ms);

/* The limit for systemd's watchdog interval (0: none): half of it. */
int64_t ad_loopwatch_limit(uint64_t watchdog_usec);

/* Ready to record steps (nothing watches yet). */
void ad_loopwatch_init(struct ad_loopwatch *w);
/* Start watching (limit_ms > 0) from now; 0 or an agentd_error. */
int ad_loopwatch_start(struct ad_loopwatch *w, int64_t limit_ms);
/* The loop's current step (printf format; main loop only). */
void ad_loopwatch_step(struct ad_loopwatch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A turn finished: progress (main loop only). */
void ad_loopwatch_turned(struct ad_loopwatch *w);
/* Stop the thread (if it started) and free what init made. */
void ad_loopwatch_fini(struct ad_loopwatch *w);

#endif
