/*
 * agent.h - one configured agent: its generations, instances, queue,
 * counters, and the decisions about how many instances it runs.
 *
 * This file owns struct ad_agent: how many instances it should have
 * (desired, pinned, stopped, failed), its restart window and backoff,
 * the autoscaler's window, and its counters.  Its generations belong to
 * gen.h, its queue to dispatch.h, its instances to instance.h.  Every
 * function here runs with sv->mtx held.
 */
#ifndef AD_AGENT_H
#define AD_AGENT_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/ratelimit.h"
#include "config/conf.h"
#include "supervisor/dispatch.h"
#include "supervisor/gen.h"
#include "supervisor/instance.h"
#include "supervisor/restart.h"
#include "supervisor/scale.h"
#include "supervisor/schedule.h"
#include "supervisor/status.h"

struct ad_sv;

struct ad_agent {
	struct ad_sv               *sv;
	const struct ad_agent_conf *conf; /* cur->conf */
	struct ad_instance_list     instances;
	unsigned                    next_seq;
	/* generations: every one an instance or a role still refers to */
	struct ad_gen_list gens;
	unsigned           ngen; /* the last number given */
	struct ad_gen     *cur;  /* serves */
	struct ad_gen     *next; /* starting, or a canary; or NULL */
	struct ad_gen     *prev; /* what cur replaced, for rollback */
	int64_t            probation_until_ms; /* monotonic: prev's
	                                       instances kept until then */
	unsigned            canary_pct;        /* next's share, once ready */
	unsigned            canary_acc;
	int                 removed; /* gone from the configuration */
	struct ad_req_queue queue;
	unsigned            nqueued;
	/* restarts */
	unsigned           restarts;
	struct ad_restarts restart; /* exit window, backoff, next start */
	int                failed;  /* no more restarts until restarted */
	/* how many instances it should have: min at start, then the
	 * autoscaler's or the operator's (pinned >= 0) choice */
	unsigned desired;
	int      pinned;  /* agentctl scale N, or -1: automatic */
	int      stopped; /* agentctl stop: no instances until start */
	int      closing; /* agentd is stopping this agent's instances */
	struct ad_scaler      scale; /* the autoscaler's window */
	struct ad_schedules   sched; /* its schedules (schedule.h) */
	struct ad_agent_stats st;
	/* The warnings its instances can cause once per message, each at
	 * most one line (and one audit record) a second: common/ratelimit.h.
	 * Used by control.c and hub.c. */
	struct ad_agent_logs {
		struct ad_ratelimit call_denied, state_denied, event_denied;
		struct ad_ratelimit bad_batch, bad_heartbeat;
	} logs;
};

/*
 * A new agent in sv->agents with its first generation in *first,
 * current (conf is copied).  mtx held where agents are shared.
 */
struct ad_agent *ad_agent_new(struct ad_sv *sv, struct ad_gen **first,
    const struct ad_agent_conf *conf, const char *hash, const char *version,
    const char *by);

/* Free a (its instances are gone): its generations, its windows. */
void ad_agent_free(struct ad_agent *a);

/* May agent a call target (its calls = { })? */
int ad_agent_may_call(const struct ad_agent *a, const char *target);

/* Instances not yet reaped.  mtx held. */
unsigned ad_agent_live(const struct ad_agent *a);

/*
 * An operator's restart (who: "agentctl"): a failed agent may start again,
 * with its backoff and restart count window cleared; a running agent's
 * instances are replaced.  mtx held.
 */
void ad_agent_restart(struct ad_agent *a, const char *who);

/* Start what is missing (honouring backoff), drain what is more than
 * the agent's desired count.  mtx held. */
void ad_agent_maintain(struct ad_agent *a);

/* The autoscaler, once a tick (scale.h decides).  mtx held. */
void ad_agent_scale_sample(struct ad_agent *a, int64_t now);

/*
 * An operator pins the agent at n instances (0 to its max), or hands it
 * back to the autoscaler (n < 0).  Audited.  mtx held.  0, or
 * AGENTD_EINVAL with one line in err.
 */
int ad_agent_scale(
    struct ad_agent *a, long n, const char *who, char *err, size_t errlen);

/*
 * One of a's instances, running generation g, ended against the agent's
 * wishes (status: waitpid's; why: one line): restarted under the policy
 * and backoff, not replaced, or the agent failed by its restart
 * intensity; a generation on trial fails instead.  ad_agent_start_failed:
 * the same for an instance that never started.
 */
void ad_agent_instance_failed(
    struct ad_agent *a, struct ad_gen *g, int status, const char *why);
void ad_agent_start_failed(
    struct ad_agent *a, struct ad_gen *g, const char *why);

/* Work came for an agent that runs no instance (instances { min = 0 }),
 * not from a request (why: "a schedule came due"): it starts one, as the
 * first request does.  mtx held. */
void ad_agent_wake(struct ad_agent *a, const char *why);

/* agentctl stop: drain every instance, start none until agentctl start
 * (ad_agent_restart).  Audited.  mtx held. */
void ad_agent_stop(struct ad_agent *a, const char *who);

/* A copy of what status shows of an agent, with its generations and
 * instances (caller owns, release with ad_agent_status_release). */
void ad_agent_status_get(
    const struct ad_agent *a, struct ad_agent_status *out);
void ad_agent_status_release(struct ad_agent_status *st);
/* The few fields the agents operation shows, borrowed (status.h). */
void ad_agent_brief_get(const struct ad_agent *a, struct ad_agent_brief *out);

#endif
