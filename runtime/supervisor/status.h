/*
 * status.h - a copy of what runs, for those who report it.
 *
 * `agentctl status` (and, later, the HTTP API and /metrics) must not read
 * the fields of agents, generations and instances: those belong to the
 * modules that change them.  Instead, with sv->mtx held, ad_status_take
 * asks each module for a copy of what it shows (ad_agent_status_get,
 * ad_gen_status_get, ad_instance_status_get), and the caller formats the
 * copy as it likes, with or without the mutex.
 *
 * Every string in a snapshot is a copy or a static name: nothing points
 * into the supervisor's structures, so a snapshot stays valid after the
 * mutex is released, until ad_status_release.
 *
 * This file owns the snapshot types and struct ad_agent_stats, the
 * counters the modules that count keep in each agent.
 */
#ifndef AD_STATUS_H
#define AD_STATUS_H

#include <stdint.h>
#include <sys/types.h>

#include <agentd/agent.h>

#include "bus/envelope.h"
#include "common/hist.h"
#include "plugin/filecheck.h"

struct ad_sv;

/* Statuses counted one by one; codes above fall in the last slot. */
#define AD_STATUS_SLOTS 20

/* Per-agent counters: kept by the modules that count (dispatch, hub,
 * control), read through a snapshot. */
struct ad_agent_stats {
	uint64_t       requests;                 /* accepted for dispatch */
	uint64_t       replies[AD_STATUS_SLOTS]; /* by status; [0] ok */
	uint64_t       redispatched;     /* after an instance died with it */
	uint64_t       calls_denied;     /* this agent called one it may not */
	uint64_t       state_denied;     /* it named another agent's state */
	uint64_t       events_published; /* accepted from this agent */
	uint64_t       events_denied;    /* refused: topic not allowed */
	uint64_t       events_delivered; /* handed to one of its instances */
	uint64_t       events_dropped;   /* for it, but no room or instance */
	struct ad_hist queue_wait;       /* request queued -> sent, us */
	struct ad_hist service;          /* sent -> answered, us */
	/* The policy gate (gate.h): proposals by risk, outcomes by state
	 * (ad_decision_state; [0] unused), proposed -> decided in us. */
	uint64_t       proposed[3];
	uint64_t       decided[4];
	struct ad_hist decide_time;
};

struct ad_instance_status {
	char        id[AD_NAME_MAX];
	pid_t       pid;   /* -1 until spawned */
	const char *state; /* ad_instance_state_name: static */
	int         exited;
	unsigned    generation;
	int64_t     started_ms;    /* wall clock */
	uint64_t    ready_us;      /* spawn to ready; 0 until ready */
	unsigned    inflight;      /* requests it holds */
	uint64_t    served;        /* requests it answered */
	uint64_t    handled;       /* the worker's count, last heartbeat */
	unsigned    events_queued; /* waiting for it, or being sent */
};

/* One of a generation's host->count() names and its sum. */
struct ad_counter_status {
	char    name[AGENTD_COUNTER_NAME_MAX + 1];
	int64_t value;
};

struct ad_gen_status {
	unsigned       number;
	const char    *role; /* "current", "canary", ...: static */
	char           version[64];
	char           hash[AD_HASH_LEN];
	unsigned       share;     /* percent of new requests */
	unsigned       instances; /* starting or ready */
	uint64_t       requests;
	uint64_t       errors;
	int64_t        loaded_ms; /* wall clock */
	struct ad_hist service;
	/* host->count() sums of its instances, names in order; caller
	 * owns (with the rest), NULL when there are none */
	struct ad_counter_status *counters;
	size_t                    ncounters;
};

/* One of an agent's schedules (schedule.h). */
struct ad_schedule_status {
	char     name[AD_NAME_MAX];
	char     spec[128];   /* "every 10m", or the cron expression */
	char     zone[64];    /* cron's timezone; "" the machine's */
	int      missed_run;  /* missed = run */
	int64_t  next_due_ms; /* wall; 0: none */
	int64_t  last_due_ms; /* wall; 0: never run */
	uint64_t runs;        /* since agentd started, missed ones too */
	uint64_t missed;      /* runs made for missed dues */
	uint64_t skipped;     /* missed dues skipped */
};

struct ad_agent_status {
	char                  name[AD_NAME_MAX];
	char                 *plugin; /* caller owns (with the rest) */
	char                  version[64];
	char                  hash[AD_HASH_LEN];
	unsigned              generation; /* the current one's number */
	struct ad_gen_status *gens;
	size_t                ngens;
	unsigned              desired;
	int                   pinned; /* agentctl scale N */
	unsigned              ready, starting, draining;
	unsigned              min, max;
	unsigned              inflight, queued;
	uint64_t              errors; /* replies that were not ok */
	struct ad_agent_stats st;
	unsigned              restarts;
	unsigned              pending; /* decisions waiting for a person */
	int64_t next_deadline_ms; /* wall: the soonest of theirs; 0 if none */
	const char                *state; /* ad_agent_state: static */
	struct ad_instance_status *instances;
	size_t                     ninstances;
	/* its capabilities, sorted, unique (conf.h); caller owns (with the
	 * rest) */
	char **capabilities;
	size_t ncapabilities;
	/* caller owns (with the rest), NULL when it has none */
	struct ad_schedule_status *schedules;
	size_t                     nschedules;
};

struct ad_status {
	int64_t                 started_ms; /* agentd's, wall clock */
	struct ad_agent_status *agents;     /* not those a reload removed */
	size_t                  nagents;
};

/*
 * What the agents operation shows of an agent (supervisor/discovery.h):
 * a few fields, not copied, for an answer written with sv->mtx held, so
 * that a plugin's find_agents costs no full snapshot.  Every pointer is
 * borrowed, valid until sv->mtx is released.
 */
struct ad_agent_brief {
	const char        *name;
	const char        *version;      /* the current generation's */
	const char        *state;        /* static */
	const char *const *capabilities; /* sorted, unique (conf.h) */
	size_t             ncapabilities;
};

/* The agents as status lists them (not those a reload removed), into
 * *out: caller owns the array, free with free(); *n how many.  sv->mtx
 * held. */
void ad_status_briefs(
    struct ad_sv *sv, struct ad_agent_brief **out, size_t *n);

/* Copy what runs into *st (caller owns, free with ad_status_release).
 * sv->mtx held. */
void ad_status_take(struct ad_sv *sv, struct ad_status *st);
void ad_status_release(struct ad_status *st);

#endif
