/*
 * fdtimer.h - host->watch_fd(), timer_start() and timer_cancel() (ABI 1.5):
 * one instance's watched descriptors and timers, their rules and limits.
 *
 * The worker keeps one table per instance and drives it from its poll loop
 * (runtime/worker/fdtimer.c); the mock host of <agentd/mock.h> keeps one
 * per plugin and drives it from agentd_mock_poll() and the mock's clock.
 * The same code, so a plugin's unit test and its worker cannot disagree
 * about an error, a limit, or which callback runs when.
 *
 * A turn of a loop, as both drive it:
 *   1. ad_fdtimer_pollfds() fills a poll set with the watches (and arms
 *      them: only armed watches are called in this turn);
 *   2. poll(2), at most until ad_fdtimer_next_due();
 *   3. for each pollfd with revents, ad_fdtimer_ready() says whether and
 *      what to call; the callback may change any watch or timer;
 *   4. ad_fdtimer_turn(), then ad_fdtimer_due() until it says none: each
 *      timer due at the turn's start runs once.
 *
 * Internal to the SDK and the runtime; not installed.  No clock (the
 * caller passes "now" in milliseconds of a clock of its own), no
 * allocation, no lock (the owner serializes its calls).
 */
#ifndef AGENTD_FDTIMER_H
#define AGENTD_FDTIMER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>

struct ad_watch {
	int          fd;
	int          events; /* AGENTD_FD_READ | AGENTD_FD_WRITE, never 0 */
	int          armed;  /* in the poll set of the current turn */
	agentd_fd_fn cb;
	void        *arg;
};

struct ad_timer {
	uint64_t        id;    /* from 1, never reused */
	uint64_t        due;   /* the owner's clock, ms */
	uint64_t        every; /* 0: once */
	agentd_timer_fn cb;
	void           *arg;
};

/* One instance's table; all zero is an empty, open one. */
struct ad_fdtimer {
	int             closed;  /* stopping: every call is AGENTD_ECLOSED */
	uint64_t        last_id; /* the last id given */
	uint64_t        turn_id; /* timers with a greater id wait a turn */
	size_t          nwatch;
	size_t          ntimer;
	struct ad_watch w[AGENTD_WATCH_MAX];  /* in the order added */
	struct ad_timer t[AGENTD_TIMERS_MAX]; /* by due, then id */
};

/*
 * host->watch_fd() on t, with its errors (agent.h): 0; AGENTD_EINVAL,
 * AGENTD_ENOENT, AGENTD_ETOOBIG, AGENTD_ECLOSED, nothing changed.
 */
int ad_fdtimer_watch(
    struct ad_fdtimer *t, int fd, int events, agentd_fd_fn cb, void *arg);

/*
 * host->timer_start() at now: 0 and *id (id may be NULL); AGENTD_EINVAL,
 * AGENTD_ETOOBIG, AGENTD_ECLOSED, nothing started.
 */
int ad_fdtimer_start(struct ad_fdtimer *t, uint64_t now, uint64_t first_ms,
    uint64_t every_ms, agentd_timer_fn cb, void *arg, uint64_t *id);

/* host->timer_cancel(): 0; AGENTD_ENOENT; AGENTD_ECLOSED. */
int ad_fdtimer_cancel(struct ad_fdtimer *t, uint64_t id);

/* The instance stops: every watch and timer ends, no callback runs, and
 * every later call is AGENTD_ECLOSED. */
void ad_fdtimer_close(struct ad_fdtimer *t);

/* Running timers. */
size_t ad_fdtimer_timers(const struct ad_fdtimer *t);

/*
 * The watches into pfd[0..max) (max AGENTD_WATCH_MAX covers them all),
 * each armed for this turn; returns how many were written.
 */
size_t ad_fdtimer_pollfds(
    struct ad_fdtimer *t, struct pollfd *pfd, size_t max);

/*
 * p, filled by ad_fdtimer_pollfds() and by poll(2): 1 with the callback
 * to run and *events (AGENTD_FD_*) when its fd's watch is still armed and
 * ready for what it asks now; 0 when there is nothing to call (not ready,
 * the watch ended, or it is a new watch of a descriptor number reused in
 * this turn: its readiness was not polled).
 */
int ad_fdtimer_ready(const struct ad_fdtimer *t, const struct pollfd *p,
    agentd_fd_fn *cb, void **arg, int *events);

/* 1 and the earliest timer's due time in *due; 0 with no timer. */
int ad_fdtimer_next_due(const struct ad_fdtimer *t, uint64_t *due);

/* A turn of timers begins: those started from now on wait for the next. */
void ad_fdtimer_turn(struct ad_fdtimer *t);

/*
 * The earliest timer due at now that was running when the turn began:
 * 1 with what to call, after it was rescheduled (a periodic one at its
 * first period after now, however many it missed) or ended (a one-shot),
 * so its callback may cancel or start any timer.  0 when none is due.
 */
int ad_fdtimer_due(struct ad_fdtimer *t, uint64_t now, agentd_timer_fn *cb,
    void **arg, uint64_t *id);

#endif /* AGENTD_FDTIMER_H */
