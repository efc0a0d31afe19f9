/*
 * supervisor.h - agentd itself: its directories, sockets, locks and main
 * loop, and the table of agents.
 *
 * What it shares with every module: struct ad_sv (the mutex below, the
 * configuration, the store, the agents), connection identity (pipes.c)
 * and the audit call.  Agents, generations, instances, requests and
 * events are each declared by the module that owns them (agent.h, gen.h,
 * instance.h, dispatch.h, hub.h); doc/architecture.md draws the map.
 *
 * Locking: one mutex, sv->mtx, guards every field below that nng callbacks
 * can reach (instance states, slots, queues, counters).  nng callbacks take
 * it; the main thread takes it around each step of its loop.  Nothing that
 * waits on nng (closing a socket, stopping an aio) is called with it held,
 * because the callbacks being waited for need it.
 */
#ifndef AD_SUPERVISOR_H
#define AD_SUPERVISOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <nng/nng.h>

#include "config/conf.h"
#include "plugin/filecheck.h"
#include "supervisor/channel.h"
#include "supervisor/conns.h"
#include "supervisor/hub.h"
#include "supervisor/loopwatch.h"
#include "supervisor/server.h"

struct ad_agent;
struct ad_instance;
struct ad_store;
struct ad_audit;
struct ad_state;

struct ad_sv {
	pthread_mutex_t mtx;
	/* agentd may run workers as another user (ad_sv_check_users()). */
	int may_switch_users;
	/* What handling a batch from an instance causes to be sent waits
	 * here, to leave in one message per instance (channel.h). */
	struct ad_chan_defer chan_defer;
	pthread_cond_t       spawned; /* an instance's pid became known */
	/* Calls handlers queueing audit records without mtx (control.c),
	 * and the signal that the last of them took it again. */
	unsigned               appending;
	pthread_cond_t         appended;
	struct ad_config      *cfg;
	struct ad_store       *store;
	struct ad_audit       *audit;  /* the audit trail, in store's env */
	struct ad_state       *state;  /* agents' key/value state, likewise */
	struct ad_gate        *gate;   /* the policy gate (gate.h) */
	struct ad_tokens      *tokens; /* the HTTP API's (tokens.h) */
	struct ad_http        *http;   /* the HTTP server (http.h), or NULL */
	char                  *confdir;
	char                  *plugin_dir; /* --plugin-dir, or NULL */
	char                  *state_dir;
	char                  *run_dir;
	char                  *worker_path;
	int                    log_level;
	uid_t                  uid;
	gid_t                  ctl_gid; /* control { group }, or -1 */
	struct ad_agent      **agents;  /* in configuration order */
	size_t                 nagents;
	struct ad_reload      *reload;    /* reloads asked for and under way */
	struct ad_unwritten   *unwritten; /* ad_sv_register_later */
	struct ad_schema_seen *schemas;   /* described plugins, by hash; */
	size_t                 nschemas;  /* main loop thread only */
	struct ad_server       control;   /* agentctl */
	struct ad_server       calls;     /* instances calling agents */
	struct ad_hub          hub;       /* events between agents (hub.h) */
	struct ad_pipe_entry  *pipes; /* connection -> instance, by pipe id */
	size_t                 npipes;
	/* Closed at the stop once these are gone (struct ad_conns). */
	struct ad_conns worker_conns;   /* calls.sock's and publish.sock's */
	struct ad_conns operator_conns; /* control.sock's */
	int             stopping;
	int             running; /* ad_sv_start succeeded */
	int64_t         started_ms;
	int             run_lock;   /* fd on RUN/agentd.lock, or -1 */
	int             state_lock; /* fd on STATE/agentd.lock, or -1 */

	struct ad_watch *watch; /* agentd { watch = true }, or NULL */

	/* workers spawned under SCHED_IDLE (priority.h); -1: not asked yet */
	int spawn_background;

	/* audit retention: where old records go, when to look next */
	char   *archive_dir;
	int64_t archive_next; /* monotonic ms */
	int64_t sweep_next;   /* expired state keys: monotonic ms */

	/* systemd (sdnotify.h): READY=1 sent, last STATUS=, next WATCHDOG=1 */
	int     sd_ready;
	char    sd_status[160];
	int64_t sd_watchdog_next; /* monotonic ms */

	/* The main loop's own watchdog: its current step, its last turn. */
	struct ad_loopwatch loop;
};

struct ad_sv_opts {
	const char *confdir;
	const char *state_dir; /* NULL: from the configuration */
	const char *run_dir;
	const char *plugin_dir;
	const char *worker_path;
	int         log_level; /* -1: from the configuration */
	/* Each error of the configuration, one line each, in the order
	 * found (config/conf.h); NULL: only the first, in err. */
	void (*config_report)(void *arg, const char *line);
	void *config_report_arg;
};

/*
 * Load and validate the configuration (describing each plugin through the
 * worker).  Returns 0 or an agentd_error with one line in err (the first
 * error of a refused configuration; all of them go to o->config_report).
 */
int ad_sv_load(
    struct ad_sv *sv, const struct ad_sv_opts *o, char *err, size_t errlen);
/* Open state, sockets, start instances. */
int ad_sv_start(struct ad_sv *sv, char *err, size_t errlen);

/*
 * The run and state directories, the LMDB files and the plugin store, as
 * far as they exist, are agentd's alone (common/private.h); with
 * check_owner also owned by this user or root.  ad_sv_start checks them
 * all (and creates what is missing 0700); --check-config without the
 * owner, since it may run as another user than agentd does.
 */
int ad_sv_check_private(
    struct ad_sv *sv, int check_owner, char *err, size_t errlen);
/* What describing one agent's plugin said (ad_sv_read_config). */
struct ad_described {
	char name[64];
	char version[64];
	char hash[AD_HASH_LEN];
};
const struct ad_described *ad_described_find(
    const struct ad_described *v, size_t n, const char *name);
/*
 * Read the configuration directory, describing each agent's plugin;
 * *v (n entries, caller frees) says what each plugin is.  tolerant: see
 * ad_config_opts.  Without sv->mtx: it runs the worker.
 */
int ad_sv_read_config(struct ad_sv *sv, int tolerant, struct ad_config **cfg,
    struct ad_described **v, size_t *n, char *err, size_t errlen);
/* Serve until SIGTERM or SIGINT. */
int ad_sv_run(struct ad_sv *sv);
/* Run the main loop's step now rather than at its next tick (any thread). */
void ad_sv_wake(struct ad_sv *sv);
void ad_sv_stop(struct ad_sv *sv);
void ad_sv_free(struct ad_sv *sv);

/* The agent of that name (not one a reload removed), or NULL. */
struct ad_agent *ad_sv_agent(struct ad_sv *sv, const char *name);

/*
 * Append a lifecycle record to the audit trail without waiting for it
 * (agent and instance may be NULL; summary is printf-formatted, one line).
 * A record that cannot be queued is logged, never silently lost.
 */
void ad_sv_audit(struct ad_sv *sv, const char *agent, const char *instance,
    const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Connection identity: the instance a pipe of the calls or publish socket
 * belongs to.  An instance is found by the peer pid of the connection
 * (only children agentd spawned are known); other connections are closed.
 * All with sv->mtx held.
 */
struct ad_pipe_entry {
	uint32_t            pipe;
	struct ad_instance *inst;
};
struct ad_instance *ad_sv_pipe_instance(struct ad_sv *sv, nng_pipe p);
void                ad_sv_pipe_forget(struct ad_sv *sv, struct ad_instance *i);
/* A connection's peer pid and uid; -1 if the transport cannot say. */
int ad_sv_peer(nng_pipe p, pid_t *pid, uid_t *uid);

/*
 * Who may connect to a socket agentd listens on, checked by
 * ad_peer_check() for every one of them (doc/security.md):
 *   AD_PEER_OPERATOR      root, agentd's own uid or a member of
 *                         control { group } (control.sock, tail.sock):
 *                         never a worker's, when workers run as another
 *                         user
 *   AD_PEER_ANY_INSTANCE  a live instance agentd spawned, by pid, with
 *                         the uid it runs as (calls.sock, publish.sock)
 *   AD_PEER_INSTANCE      that one instance (its own two sockets)
 */
enum ad_peer_want {
	AD_PEER_OPERATOR,
	AD_PEER_ANY_INSTANCE,
	AD_PEER_INSTANCE,
};

/*
 * 0 if the peer of p is what `want` says, else -1 and the refusal logged
 * (at most one line a second per socket name), the caller closes p.
 * name: the socket, for the log.  AD_PEER_INSTANCE: inst is the instance
 * the socket belongs to; AD_PEER_ANY_INSTANCE: *found is set to the
 * instance.  The instance kinds are called with sv->mtx held (they wait
 * for a worker being spawned); AD_PEER_OPERATOR without.
 */
int ad_peer_check(struct ad_sv *sv, nng_pipe p, enum ad_peer_want want,
    const char *name, struct ad_instance *inst, struct ad_instance **found);

/* nng pipe callback for calls.sock and publish.sock (arg: sv; ADD_PRE and
 * REM_POST): AD_PEER_ANY_INSTANCE, counted in sv->worker_conns. */
void ad_sv_on_instance_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);
/* nng pipe callback for the control socket (ADD_PRE and REM_POST):
 * AD_PEER_OPERATOR, counted in sv->operator_conns. */
void ad_sv_on_operator_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);

/*
 * control { group }: its gid into sv->ctl_gid ((gid_t)-1 when not
 * written), once agentd is sure it can give its sockets to that group; 0,
 * or AGENTD_ECONFIG and why.  Called before anything is started.
 */
int ad_sv_control_group(struct ad_sv *sv, char *err, size_t errlen);
/*
 * The operator socket at path (mode 0600 as nng made it) opened to the
 * control group: that group and mode 0660.  No group: nothing to do.
 */
int ad_sv_open_to_group(
    const struct ad_sv *sv, const char *path, char *err, size_t errlen);
/* The run directory reachable by the control group (g+x), when agentd
 * owns it; else a warning if the group cannot get through. */
void ad_sv_run_dir_for_group(const struct ad_sv *sv);

#endif
