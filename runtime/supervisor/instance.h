/*
 * instance.h - starting, watching and stopping one agent's instances.
 */
#ifndef AD_INSTANCE_H
#define AD_INSTANCE_H

#include "supervisor/supervisor.h"

/*
 * A new instance of agent a running generation g: its socket listens at
 * once, and the main loop runs its worker soon after (ad_instance_run).
 * Called with sv->mtx held.  On failure the agent's backoff is advanced
 * and err says why.
 */
int ad_instance_spawn(
    struct ad_agent *a, struct ad_gen *g, char *err, size_t errlen);
/*
 * Run the workers of the instances asked for.  Main loop, WITHOUT
 * sv->mtx: posix_spawn waits for the child's exec (milliseconds on a busy
 * machine), and requests must keep flowing meanwhile.
 */
void ad_instance_run(struct ad_sv *sv);

/* A child was reaped: move its instance to EXITED.  sv->mtx held. */
struct ad_instance *ad_instance_exited(
    struct ad_sv *sv, pid_t pid, int status);

/*
 * Release an EXITED instance: close its socket, re-dispatch (or fail)
 * what it held, and free it.  Called
 * WITHOUT sv->mtx: closing waits for the callbacks, which take it.
 */
void ad_instance_free(struct ad_instance *inst);

/* The control slot finished (init answered or failed).  mtx held. */
void ad_instance_control_done(
    struct ad_slot *s, int rv, const struct ad_envelope *reply);

/*
 * Stop an instance gracefully: it takes no new work, finishes what it
 * holds (at most health { drain_timeout }), then gets SIGTERM (its worker
 * calls the plugin's fini and exits), then SIGKILL after stop_grace.
 * ad_instance_tick drives the steps.  mtx held.
 */
void ad_instance_drain(struct ad_instance *inst);
/* A draining instance's last request was answered: stop it now. */
void ad_instance_drained(struct ad_instance *inst);

/*
 * The instance is hung (why: printf-formatted): logged and audited, it
 * takes no new work and is stopped now (SIGTERM, SIGKILL after
 * stop_grace); its exit counts as a failure, so another is started under
 * the restart policy.  mtx held.
 */
void ad_instance_hung(struct ad_instance *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Its init did not answer within health { init_timeout }: hung. */
void ad_instance_init_late(struct ad_instance *inst);

/* Health and stopping, every tick: init timeout, heartbeats, drain
 * deadline, SIGKILL after stop_grace.  mtx held. */
void ad_instance_tick(struct ad_instance *inst, int64_t now);

/* A heartbeat arrived from the instance's worker.  mtx held. */
void ad_instance_heartbeat(
    struct ad_instance *inst, int64_t busy_ms, uint64_t handled);

/*
 * nng pipe callback (arg: the instance) for its own sockets: only the
 * worker agentd spawned, checked by peer pid, may connect.
 */
void ad_instance_on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);

/* Counts by state for one agent.  mtx held. */
unsigned ad_agent_count(const struct ad_agent *a, enum ad_inst_state st);
/* Instances of generation g in state st.  mtx held. */
unsigned ad_gen_count(
    const struct ad_agent *a, const struct ad_gen *g, enum ad_inst_state st);
/* Is g being tried (starting, canary, probation)?  mtx held. */
int ad_gen_on_trial(const struct ad_agent *a, const struct ad_gen *g);
/* How many instances generation g should have: the agent's desired
 * count, or a canary's share of it (at least one).  mtx held. */
unsigned ad_agent_wanted(const struct ad_agent *a, const struct ad_gen *g);
/* Instances not yet reaped.  mtx held. */
unsigned ad_agent_live(const struct ad_agent *a);

/*
 * An operator's restart (who: "agentctl"): a failed agent may start again,
 * with its backoff and restart count window cleared; a running agent's
 * instances are replaced.  mtx held.
 */
void ad_agent_restart(struct ad_agent *a, const char *who);

/* "running", "starting", "backing off", "failed", "stopping" or
 * "stopped".  mtx held. */
const char *ad_agent_state(const struct ad_agent *a);

/* Start what is missing (honouring backoff), drain what is more than
 * the agent's desired count.  mtx held. */
void ad_agent_maintain(struct ad_agent *a);

/* The autoscaler, once a tick (see instance.c).  mtx held. */
void ad_agent_scale_sample(struct ad_agent *a, int64_t now);

/*
 * An operator pins the agent at n instances (0 to its max), or hands it
 * back to the autoscaler (n < 0).  Audited.  mtx held.  0, or
 * AGENTD_EINVAL with one line in err.
 */
int ad_agent_scale(
    struct ad_agent *a, long n, const char *who, char *err, size_t errlen);

/* agentctl stop: drain every instance, start none until agentctl start
 * (ad_agent_restart).  Audited.  mtx held. */
void ad_agent_stop(struct ad_agent *a, const char *who);

/* "starting", "ready", "draining", "stopping", "lost" or "exited". */
const char *ad_instance_state_name(const struct ad_instance *i);

/* A copy of what status shows of an instance, or of an agent (with its
 * generations and instances: release with ad_agent_status_release).
 * mtx held. */
struct ad_instance_status;
struct ad_agent_status;
void ad_instance_status_get(
    const struct ad_instance *i, struct ad_instance_status *out);
void ad_agent_status_get(
    const struct ad_agent *a, struct ad_agent_status *out);
void ad_agent_status_release(struct ad_agent_status *st);

#endif
