/*
 * instance.h - starting, watching and stopping one agent's instances.
 *
 * This file owns struct ad_instance: its process (spawn, pid, exit), its
 * health (heartbeats, hung), and its stopping (drain, SIGTERM, SIGKILL).
 * Its channel (channel.h), its slots (dispatch.h) and its event queue
 * (hub.h) are fields here but belong to those modules.
 */
#ifndef AD_INSTANCE_H
#define AD_INSTANCE_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <nng/nng.h>

#include "supervisor/channel.h"
#include "supervisor/conns.h"
#include "supervisor/hub.h"

struct ad_sv;
struct ad_agent;
struct ad_gen;
struct ad_slot;
struct ad_incall;
struct ad_envelope;

/*
 * An instance's life, as a state machine (instance.c owns the
 * transitions):
 *   STARTING --ready--> READY --drain--> STOPPING --exit--> EXITED
 *   READY --its connection failed--> LOST --exit--> EXITED
 *   any --exit--> EXITED
 * A STOPPING instance first finishes what it holds (status: "draining"),
 * then is sent SIGTERM ("stopping"), then SIGKILL after stop_grace.  An
 * EXITED one keeps its sockets until nng has read its worker's last
 * messages and the end of its connections (ad_instance_collectable).
 */
enum ad_inst_state {
	AD_INST_STARTING = 0, /* spawned; waiting for its init to answer */
	AD_INST_READY,        /* takes requests */
	AD_INST_STOPPING,     /* takes no new requests; finishing */
	AD_INST_LOST,         /* its connection failed; dying, not reaped */
	AD_INST_EXITED,       /* reaped; its connections going, then freed */
};

struct ad_instance {
	struct ad_agent   *agent;
	char               id[64]; /* "echo-3" */
	unsigned           seq;
	pid_t              pid;
	uid_t              uid; /* its worker runs as (security.md) */
	enum ad_inst_state state;
	struct ad_gen     *gen;        /* what it runs */
	unsigned           generation; /* gen->number */
	int64_t            started_ms; /* wall clock */
	int64_t            spawn_us;   /* monotonic: when it was asked for */
	/* The main loop runs the worker, outside mtx: asked for, or being
	 * spawned right now (its pid is not known yet). */
	int      spawn_pending;
	int      spawning;
	int64_t  ready_us;    /* monotonic: init answered, or 0 */
	int      exit_status; /* waitpid status once EXITED */
	int64_t  exited_ms;   /* monotonic: when it became EXITED */
	uint64_t served;
	/* health: the last heartbeat (monotonic ms) and what it said */
	int64_t  beat_ms;
	int64_t  busy_ms; /* its plugin callback had run this long */
	uint64_t handled; /* requests the worker handed to its plugin */
	/* stopping: drain until, SIGTERM sent at, SIGKILL sent */
	int64_t drain_until_ms;
	int64_t term_at_ms;
	int     killed;
	int     hung; /* stopped because it hung: its exit is a failure */
	char   *path; /* socket file */
	struct ad_chan chan; /* its channel, listening at path */
	/* connections to its channel and event socket; refused once EXITED */
	struct ad_conns conns;
	/* calls it made on its channel, not answered yet (dispatch.c) */
	LIST_HEAD(, ad_incall) incalls;
	struct ad_slot    *slots; /* [0] control, [1..concurrency] requests */
	unsigned           nslots;
	unsigned           inflight;
	struct ad_hub_inst ev; /* events for this instance (hub.h) */
	LIST_ENTRY(ad_instance) link;
};
LIST_HEAD(ad_instance_list, ad_instance);

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
 * May the EXITED instance be freed now?  Once the connections to its two
 * sockets are gone: its worker's exit ended them, and nng removes a pipe
 * when it has read the peer's last message and the end of the stream.
 * Closing a socket while its pipe still reads can stop nng 1.5.2's
 * reaper for good (doc/architecture.md, "What must never wait").  A
 * connection still up AD_CONNS_WAIT_MS after the exit (a process the
 * worker forked holds it) is logged, once, and closed anyway.
 * sv->mtx held.
 */
int ad_instance_collectable(struct ad_instance *inst, int64_t now_ms);

/*
 * Release an EXITED instance: close its socket, re-dispatch (or fail)
 * what it held, and free it.  Called
 * WITHOUT sv->mtx: closing waits for the callbacks, which take it.
 */
void ad_instance_free(struct ad_instance *inst);

/* The control slot finished (init answered or failed).  mtx held. */
/*
 * Send control operation op (body borrowed for the call) on the
 * instance's control slot, which must be free; its answer comes to
 * ad_instance_control_done.  mtx held.
 */
void ad_instance_send_control(
    struct ad_instance *inst, const char *op, const void *body, size_t len);

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

/* Health and stopping, every tick: init timeout, heartbeats, drain
 * deadline, SIGKILL after stop_grace.  mtx held. */
void ad_instance_tick(struct ad_instance *inst, int64_t now);

/* A heartbeat arrived from the instance's worker.  mtx held. */
void ad_instance_heartbeat(
    struct ad_instance *inst, int64_t busy_ms, uint64_t handled);

/* The user workers run as when agentd may switch and nothing says
 * otherwise (created by the Debian package). */
#define AD_PLUGIN_USER_DEFAULT "agentd-plugin"

struct ad_agent_conf;

/* Who an agent's workers run as (doc/security.md#identity). */
struct ad_worker_ids {
	int   switch_ids; /* 0: agentd's own uid (it may not switch) */
	uid_t uid;
	gid_t gid;
};

/*
 * The ids agent c's workers run as: its `user`, else agentd { plugin_user
 * }, else AD_PLUGIN_USER_DEFAULT when agentd may switch users (root, or
 * CAP_SETUID and CAP_SETGID); agentd's own uid when it may not and no
 * user is written.  AGENTD_ECONFIG with one line in err when the user is
 * missing, is root, or is another user than agentd's and agentd may not
 * switch.
 */
int ad_worker_ids(const struct ad_sv *sv, const struct ad_agent_conf *c,
    struct ad_worker_ids *out, char *err, size_t errlen);
/* Whether agentd may switch users; then every agent's ids, as above. */
int ad_sv_check_users(struct ad_sv *sv, char *err, size_t errlen);

/*
 * nng pipe callback (arg: the instance) for its own sockets (ADD_PRE and
 * REM_POST), counted in inst->conns: only the worker agentd spawned,
 * checked by peer pid, may connect, and only until it exited.
 */
void ad_instance_on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);

/* The same, mtx held: 1 when p is a connection of inst's worker that
 * ADD_PRE accepted, else 0. */
int ad_instance_pipe_event(
    struct ad_instance *inst, nng_pipe p, nng_pipe_ev ev);

/* Counts by state for one agent.  mtx held. */
unsigned ad_agent_count(const struct ad_agent *a, enum ad_inst_state st);
/* Instances of generation g in state st.  mtx held. */
unsigned ad_gen_count(
    const struct ad_agent *a, const struct ad_gen *g, enum ad_inst_state st);

/* A copy of what status shows of an instance.  mtx held. */
struct ad_instance_status;
void ad_instance_status_get(
    const struct ad_instance *i, struct ad_instance_status *out);

#endif
