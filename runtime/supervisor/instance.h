/*
 * instance.h - starting, watching and stopping one agent's instances.
 */
#ifndef AD_INSTANCE_H
#define AD_INSTANCE_H

#include "supervisor/supervisor.h"

/*
 * Spawn a new instance of agent a (its socket listens before the worker
 * exists).  Called with sv->mtx held.  On failure the agent's backoff is
 * advanced and err says why.
 */
int ad_instance_spawn(struct ad_agent *a, char *err, size_t errlen);

/* A child was reaped: move its instance to EXITED.  sv->mtx held. */
struct ad_instance *ad_instance_exited(
    struct ad_sv *sv, pid_t pid, int status);

/*
 * Release an EXITED instance: close its socket (failing what was in flight
 * on it, which the slot callbacks re-dispatch) and free it.  Called
 * WITHOUT sv->mtx: closing waits for the callbacks, which take it.
 */
void ad_instance_free(struct ad_instance *inst);

/* The control slot finished (init answered or failed).  mtx held. */
void ad_instance_control_done(struct ad_slot *s, int rv, nng_msg *reply);

/* Ask an instance to stop (control "stop", then SIGTERM).  mtx held. */
void ad_instance_stop(struct ad_instance *inst);

/*
 * nng pipe callback (arg: the instance) for its own sockets: only the
 * worker agentd spawned, checked by peer pid, may connect.
 */
void ad_instance_on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);

/* Counts by state for one agent.  mtx held. */
unsigned ad_agent_count(const struct ad_agent *a, enum ad_inst_state st);

/*
 * An operator's restart (who: "agentctl"): a failed agent may start again,
 * with its backoff and restart count window cleared; a running agent's
 * instances are replaced.  mtx held.
 */
void ad_agent_restart(struct ad_agent *a, const char *who);

/* "running", "starting", "backing off" or "failed".  mtx held. */
const char *ad_agent_state(const struct ad_agent *a);

/* Start what is missing, honouring backoff.  mtx held. */
void ad_agent_maintain(struct ad_agent *a);

const char *ad_inst_state_name(enum ad_inst_state st);

#endif
