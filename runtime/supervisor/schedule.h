/*
 * schedule.h - an agent's schedules: `schedule "NAME" { every | cron }`
 * in its .conf, each due run one event to that agent only.
 *
 * The main loop's step (ad_schedules_step) keeps each agent's schedules
 * in line with the configuration its current generation runs (a reload
 * adds, removes and changes them with the generation), and delivers a
 * run that came due as an event on topic `schedule.NAME` to one ready
 * instance of the agent, through the hub (ad_hub_deliver_to).  A due
 * that finds no ready instance waits for one.
 *
 * Due times are wall-clock times (a cron schedule's are a zone's), kept
 * in agentd's store with the run before them, so that a restart knows
 * what it missed.  Missed runs (agentd was down, the clock jumped
 * forward, no instance was ready for long) are one run, `"missed":
 * true`, with `missed = run`, and none with `skip`; either way the next
 * due is the first after now, so no storm follows.  When the wall clock
 * goes back against the monotonic one, every next due is computed again
 * from the new time, so no schedule waits out the jump.
 *
 * This file owns struct ad_schedules (a field of each agent, a->sched)
 * and the `schedules` records of the store.  The pure deciders below
 * read no clock.
 */
#ifndef AD_SCHEDULE_H
#define AD_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "common/cron.h"

struct ad_sv;
struct ad_agent_conf;
struct ad_schedule_status;

/* A due found later than this was missed, not merely late. */
#define AD_SCHED_LATE_MS 10000
/* The wall clock behind the monotonic one by more than this: it went
 * back. */
#define AD_SCHED_JUMP_MS 1000

enum ad_sched_verdict {
	AD_SCHED_WAIT = 0,    /* not due yet */
	AD_SCHED_RUN,         /* due, on time: one run */
	AD_SCHED_MISSED_RUN,  /* missed, missed = run: one run, missed */
	AD_SCHED_MISSED_SKIP, /* missed, missed = skip: none */
};

/*
 * What to do at wall time now about the run due at `due`, the one after
 * it being due at `next`: missed when `next` has come too, or `due` is
 * more than AD_SCHED_LATE_MS ago.
 */
enum ad_sched_verdict ad_sched_verdict(
    int64_t due, int64_t next, int64_t now, int missed_run);

/* `every`: the first due after now on the grid of `last` (0: never run,
 * one period from now). */
int64_t ad_sched_every_next(int64_t last, int64_t every, int64_t now);
/* How many dues of that grid fall in (last, now], the latest in
 * *latest. */
int64_t ad_sched_every_last(
    int64_t last, int64_t every, int64_t now, int64_t *latest);

/* Did the wall clock go back between two looks (wall and monotonic ms)? */
int ad_sched_clock_back(
    int64_t wall0, int64_t mono0, int64_t wall, int64_t mono);

/* One schedule as it runs: a copy of what its section says, and when. */
struct ad_sched {
	char          *name;
	char          *spec;  /* "every 10m", "0 3 * * *", for status */
	char          *zone;  /* cron: NULL, the machine's */
	int64_t        every; /* ms; 0: cron */
	struct ad_cron cron;
	int            missed_run; /* missed = run */
	struct json_t *body;       /* body = "{...}" (jansson), or NULL */
	int64_t        next_due;   /* wall ms; 0: none (a cron never due) */
	int64_t        last_due;   /* wall ms of the last run; 0: none */
	uint64_t       runs, missed, skipped;
};

/* The first due of s after wall time `after`, on the grid of `last`
 * (every; 0: one period from after); 0 when a cron schedule has none. */
int64_t ad_sched_next_after(
    const struct ad_sched *s, int64_t last, int64_t after);

/*
 * What a look at wall time now does to s: the verdict, the due its run
 * is for (the latest passed, when missed) and the next due after now, so
 * that a second look at the same time waits: a clock that jumped
 * forward costs one run at most.  Pure but for a cron zone's offsets.
 */
struct ad_sched_turn {
	enum ad_sched_verdict verdict;
	int64_t               due;
	int64_t               next_due;
};
void ad_sched_turn(
    const struct ad_sched *s, int64_t now, struct ad_sched_turn *t);

struct ad_schedules {
	const struct ad_agent_conf *conf; /* what v was built from */
	struct ad_sched            *v;
	size_t                      n;
	int64_t wall, mono; /* the last look at the clocks */
};

/* The main loop's step, for every agent: without sv->mtx (it takes it,
 * and writes the store after).  On the main loop's thread only, as every
 * function here that computes a cron schedule's times: a zone's times
 * are asked with TZ set (common/cron.c says why that is safe there). */
void ad_schedules_step(struct ad_sv *sv);

/* Free an agent's schedules (its store records stay). */
void ad_schedules_free(struct ad_schedules *s);

/* A copy of what status shows: *v (caller owns, free with free()). */
void ad_schedules_status_get(
    const struct ad_schedules *s, struct ad_schedule_status **v, size_t *n);

#endif
