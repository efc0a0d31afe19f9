/*
 * supervisor.h - the state agentd keeps about agents, instances and the
 * requests in flight between them.
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

#include "common/hist.h"
#include "config/conf.h"
#include "plugin/filecheck.h"
#include "store/store.h"
#include "supervisor/restart.h"
#include "supervisor/scale.h"
#include "supervisor/server.h"

struct ad_sv;
struct ad_agent;
struct ad_instance;

/* ---- generations ------------------------------------------------------ */

/*
 * One version of an agent: its configuration and its plugin (a copy in
 * the plugin store, STATE/plugins/HEX.so).  An agent serves from its
 * current generation; a reload that changes the plugin or the agent's
 * section makes a new one (see reload.c), which becomes current once its
 * instances are ready.  Instances point at the generation they run.
 */
struct ad_gen {
	unsigned              number; /* 1, 2, ... per agent, per run */
	struct ad_agent_conf *conf;   /* owned */
	char                  hash[AD_HASH_LEN];
	char                  version[64]; /* the plugin's own */
	char                  prior[64];   /* version it replaced, or "" */
	char                 *plugin_path; /* the store's copy */
	int64_t               loaded_ms;   /* wall clock */
	char                  by[64];      /* who loaded it */
	/* set when one of its instances failed while it was on trial
	 * (starting, canary or probation): why, one line */
	char failed[256];
	/* its own counters, for canaries and comparisons */
	uint64_t       requests; /* answered by its instances */
	uint64_t       errors;   /* of those, not ok */
	struct ad_hist service;
	LIST_ENTRY(ad_gen) link;
};
LIST_HEAD(ad_gen_list, ad_gen);

/* ---- requests --------------------------------------------------------- */

/*
 * Completion of a request: status 0 or an agentd_error; body (the reply's
 * msgpack, or NULL) is borrowed, valid until the function returns.  Called
 * exactly once per request, with sv->mtx held.
 */
typedef void (*ad_req_done_fn)(
    void *arg, int status, const void *body, size_t len);

struct ad_req {
	uint64_t         id;
	struct ad_agent *agent;
	nng_msg         *msg;       /* encoded request, kept for re-dispatch */
	int64_t          deadline;  /* monotonic ms */
	int64_t          queued_us; /* monotonic us: latency only */
	int64_t          sent_us;
	unsigned         tries;
	unsigned         gen; /* canary split: run by this generation; 0 any */
	int              answered; /* done ran (a timeout); still held */
	ad_req_done_fn   done;
	void            *arg;
	TAILQ_ENTRY(ad_req) link;
};
TAILQ_HEAD(ad_req_queue, ad_req);

/* ---- instances -------------------------------------------------------- */

/*
 * An instance's life, as a state machine (instance.c owns the
 * transitions):
 *   STARTING --ready--> READY --drain--> STOPPING --exit--> EXITED
 *   READY --its connection failed--> LOST --exit--> EXITED
 *   any --exit--> EXITED
 * A STOPPING instance first finishes what it holds (status: "draining"),
 * then is sent SIGTERM ("stopping"), then SIGKILL after stop_grace.
 */
enum ad_inst_state {
	AD_INST_STARTING = 0, /* spawned; waiting for its init to answer */
	AD_INST_READY,        /* takes requests */
	AD_INST_STOPPING,     /* takes no new requests; finishing */
	AD_INST_LOST,         /* its connection failed; dying, not reaped */
	AD_INST_EXITED,       /* reaped; waiting to be freed */
};

enum ad_slot_phase {
	AD_SLOT_IDLE = 0,
	AD_SLOT_BUSY, /* sent (or queued to send): the reply is awaited */
};

/*
 * One request slot: what the instance holds, matched to its reply by the
 * id of the envelope sent (the reply's correlation id).
 */
struct ad_slot {
	struct ad_instance *inst;
	enum ad_slot_phase  phase;
	uint64_t            id;      /* envelope id of what it holds */
	struct ad_req      *req;     /* in flight on this slot, or NULL */
	int                 control; /* the slot used for init */
	char                op[16];  /* control operation under way */
};

/* One encoded event envelope waiting for an instance (hub.c). */
struct ad_evitem {
	STAILQ_ENTRY(ad_evitem) link;
	size_t        len;
	unsigned char data[];
};
STAILQ_HEAD(ad_evq_head, ad_evitem);

struct ad_instance {
	struct ad_agent   *agent;
	char               id[64]; /* "echo-3" */
	unsigned           seq;
	pid_t              pid;
	enum ad_inst_state state;
	struct ad_gen     *gen;        /* what it runs */
	unsigned           generation; /* gen->number */
	int64_t            started_ms; /* wall clock */
	int64_t            spawn_us;   /* monotonic: when it was asked for */
	/* The main loop runs the worker, outside mtx: asked for, or being
	 * spawned right now (its pid is not known yet). */
	int      spawn_pending;
	int      spawning;
	int64_t  ready_us; /* monotonic: init answered, or 0 */
	int64_t  ready_mono;
	int      exit_status; /* waitpid status once EXITED */
	uint64_t served;
	/* health: the last heartbeat (monotonic ms) and what it said */
	int64_t  beat_ms;
	int64_t  busy_ms; /* its plugin callback had run this long */
	uint64_t handled; /* requests the worker handed to its plugin */
	/* stopping: drain until, SIGTERM sent at, SIGKILL sent */
	int64_t drain_until;
	int64_t term_at;
	int     killed;
	int     hung; /* stopped because it hung: its exit is a failure */
	char   *path; /* socket file */
	/* Its channel (PAIR, listens at path): batches of envelopes both
	 * ways.  What agentd sends waits in txq while one message is on its
	 * way; envelopes queued meanwhile leave together (dispatch.c). */
	nng_socket sock;
	nng_aio   *rx_aio;
	nng_aio   *tx_aio;
	int        tx_busy;
	nng_msg  **txq;
	unsigned   txq_n, txq_cap;
	int        tx_dirty; /* in sv->tx_dirty: sent at the batch's end */
	/* calls it made on its channel, not answered yet (dispatch.c) */
	LIST_HEAD(, ad_incall) incalls;
	struct ad_slot *slots; /* [0] control, [1..concurrency] requests */
	unsigned        nslots;
	unsigned        inflight;
	/* events for this instance (hub.c) */
	char              *evpath;
	nng_socket         evsock; /* PUSH, listens at evpath */
	nng_aio           *ev_aio;
	struct ad_evq_head evq;        /* envelopes waiting to be sent */
	unsigned           evq_n;      /* how many */
	unsigned           ev_sending; /* events in the send under way */
	LIST_ENTRY(ad_instance) link;
};
LIST_HEAD(ad_instance_list, ad_instance);

/* ---- agents ----------------------------------------------------------- */

/* Statuses counted one by one; codes above fall in the last slot. */
#define AD_STATUS_SLOTS 20

/* Per-agent counters: read by `agentctl status` and, later, /metrics. */
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
};

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
	int64_t            probation_until; /* monotonic ms: prev's
	                                       instances kept until then */
	unsigned            canary_pct;     /* next's share, once ready */
	unsigned            canary_acc;
	int                 removed; /* gone from the configuration */
	struct ad_req_queue queue;
	unsigned            nqueued;
	/* restarts */
	unsigned           restarts;
	struct ad_restarts restart; /* backoff, next start */
	/* When the last restarts happened (monotonic ms, a ring of
	 * intensity + 1): more than intensity within period fails the agent.
	 */
	int64_t *restart_times;
	unsigned nrestart_times;
	int      failed; /* no more restarts until restarted */
	/* how many instances it should have: min at start, then the
	 * autoscaler's or the operator's (pinned >= 0) choice */
	unsigned desired;
	int      pinned;  /* agentctl scale N, or -1: automatic */
	int      stopped; /* agentctl stop: no instances until start */
	int      closing; /* agentd is stopping this agent's instances */
	struct ad_scaler      scale; /* the autoscaler's window */
	struct ad_agent_stats st;
	int64_t               last_call_denial_log;  /* monotonic ms */
	int64_t               last_state_denial_log; /* monotonic ms */
	int64_t               last_event_denial_log; /* monotonic ms */
};

/* ---- the supervisor --------------------------------------------------- */

struct ad_sv {
	pthread_mutex_t mtx;
	/* While a batch from an instance is handled, what it causes to be
	 * sent to instances waits here, to leave in one message each at
	 * the batch's end (dispatch.c). */
	int                  tx_defer;
	struct ad_instance **tx_dirty;
	unsigned             ntx_dirty, tx_dirty_cap;
	pthread_cond_t       spawned; /* an instance's pid became known */
	/* Calls handlers queueing audit records without mtx (control.c),
	 * and the signal that the last of them took it again. */
	unsigned               appending;
	pthread_cond_t         appended;
	struct ad_config      *cfg;
	struct ad_store       *store;
	struct ad_audit       *audit; /* the audit trail, in store's env */
	struct ad_state       *state; /* agents' key/value state, likewise */
	char                  *confdir;
	char                  *plugin_dir; /* --plugin-dir, or NULL */
	char                  *state_dir;
	char                  *run_dir;
	char                  *worker_path;
	int                    log_level;
	uid_t                  uid;
	struct ad_agent      **agents; /* in configuration order */
	size_t                 nagents;
	struct ad_reload      *reload;    /* reloads asked for and under way */
	struct ad_unwritten   *unwritten; /* ad_sv_register_later */
	struct ad_schema_seen *schemas;   /* described plugins, by hash; */
	size_t                 nschemas;  /* main loop thread only */
	struct ad_server       control;   /* agentctl */
	struct ad_server       calls;     /* instances calling agents */
	nng_socket             publish;   /* PULL: events from instances */
	struct ad_pub_rx      *pubrx; /* receives under way on it (hub.c) */
	size_t                 npubrx;
	nng_socket             tail;         /* PUB: every accepted event */
	unsigned               tail_readers; /* connections to tail.sock */
	int                    hub_open;
	struct ad_pipe_entry  *pipes; /* connection -> instance, by pipe id */
	size_t                 npipes;
	int                    stopping;
	int                    running; /* ad_sv_start succeeded */
	int64_t                started_ms;
	int                    run_lock;   /* fd on RUN/agentd.lock, or -1 */
	int                    state_lock; /* fd on STATE/agentd.lock, or -1 */

	struct ad_watch *watch; /* agentd { watch = true }, or NULL */

	/* workers spawned under SCHED_IDLE (priority.h); -1: not asked yet */
	int spawn_background;

	/* audit retention: where old records go, when to look next */
	char   *archive_dir;
	int64_t archive_next; /* monotonic ms */

	/* systemd (sdnotify.h): READY=1 sent, last STATUS=, next WATCHDOG=1 */
	int     sd_ready;
	char    sd_status[160];
	int64_t sd_watchdog_next; /* monotonic ms */
};

struct ad_sv_opts {
	const char *confdir;
	const char *state_dir; /* NULL: from the configuration */
	const char *run_dir;
	const char *plugin_dir;
	const char *worker_path;
	int         log_level; /* -1: from the configuration */
};

/*
 * Load and validate the configuration (describing each plugin through the
 * worker).  With check_only, stop there.  Returns 0 or an agentd_error with
 * one line in err.
 */
int ad_sv_load(
    struct ad_sv *sv, const struct ad_sv_opts *o, char *err, size_t errlen);
/* Open state, sockets, start instances. */
int ad_sv_start(struct ad_sv *sv, char *err, size_t errlen);
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
 * Generations (mtx held where agents are shared).  ad_agent_new adds an
 * agent to sv->agents with its first generation in *first, current;
 * ad_gen_new adds another (conf is copied); ad_agent_use makes g current;
 * ad_agent_collect_gens frees those nothing refers to.
 */
struct ad_agent *ad_agent_new(struct ad_sv *sv, struct ad_gen **first,
    const struct ad_agent_conf *conf, const char *hash, const char *version,
    const char *by);
struct ad_gen *ad_gen_new(struct ad_agent *a, const struct ad_agent_conf *conf,
    const char *hash, const char *version, const char *by);
void           ad_agent_use(struct ad_agent *a, struct ad_gen *g);
void           ad_agent_collect_gens(struct ad_agent *a);
/* Copy g's plugin into the store (STATE/plugins), checking its hash. */
int ad_sv_store_plugin(
    struct ad_sv *sv, struct ad_gen *g, char *err, size_t errlen);
/* Record g as what its agent runs: store, versions, audit. */
int ad_sv_register(struct ad_sv *sv, const struct ad_gen *g);
/*
 * The same, or (current 0) only g's entry in the versions database (a
 * generation being tried), written later by ad_sv_write_records: mtx
 * held here, and a durable write must not hold every request up.
 */
void ad_sv_register_later(
    struct ad_sv *sv, const struct ad_gen *g, int current);
/* Write what ad_sv_register_later queued.  Main loop, without mtx. */
void ad_sv_write_records(struct ad_sv *sv);

/* May agent a call target (its calls = { })? */
int ad_agent_may_call(const struct ad_agent *a, const char *target);

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
struct ad_instance *ad_sv_instance_by_pid(struct ad_sv *sv, pid_t pid);
struct ad_instance *ad_sv_pipe_instance(struct ad_sv *sv, nng_pipe p);
void ad_sv_pipe_add(struct ad_sv *sv, nng_pipe p, struct ad_instance *i);
void ad_sv_pipe_del(struct ad_sv *sv, nng_pipe p);
void ad_sv_pipe_forget(struct ad_sv *sv, struct ad_instance *i);
/* A connection's peer pid and uid; -1 if the transport cannot say. */
int ad_sv_peer(nng_pipe p, pid_t *pid, uid_t *uid);
/* nng pipe callback for sockets only instances may use (arg: sv). */
void ad_sv_on_instance_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);
/* nng pipe callback for the control socket: root or agentd's user. */
void ad_sv_on_operator_pipe(nng_pipe p, nng_pipe_ev ev, void *arg);

/* Find the worker program: $AGENTD_WORKER, beside agentd, or libexec. */
char *ad_sv_find_worker(void);

#endif
