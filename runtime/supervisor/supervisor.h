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

#include "config/config.h"
#include "plugin/filecheck.h"
#include "store/store.h"

struct ad_sv;
struct ad_agent;
struct ad_instance;

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
	nng_msg         *msg;      /* encoded request, kept for re-dispatch */
	int64_t          deadline; /* monotonic ms */
	int64_t          queued_at;
	unsigned         tries;
	ad_req_done_fn   done;
	void            *arg;
	TAILQ_ENTRY(ad_req) link;
};
TAILQ_HEAD(ad_req_queue, ad_req);

/* ---- instances -------------------------------------------------------- */

/*
 * An instance's life, as a state machine (instance.c owns the
 * transitions):
 *   STARTING --ready--> READY --stop--> STOPPING --exit--> EXITED
 *   STARTING/READY/STOPPING --exit--> EXITED
 */
enum ad_inst_state {
	AD_INST_STARTING = 0, /* spawned; waiting for its init to answer */
	AD_INST_READY,        /* takes requests */
	AD_INST_STOPPING,     /* takes no new requests; finishing */
	AD_INST_EXITED,       /* reaped; waiting to be freed */
};

enum ad_slot_phase {
	AD_SLOT_IDLE = 0,
	AD_SLOT_SENDING, /* nng_ctx_send under way */
	AD_SLOT_WAITING, /* nng_ctx_recv under way: the reply is awaited */
};

/* One request slot: an nng context on the instance's REQ socket. */
struct ad_slot {
	struct ad_instance *inst;
	nng_ctx             ctx;
	nng_aio            *aio;
	enum ad_slot_phase  phase;
	struct ad_req      *req;     /* in flight on this slot, or NULL */
	int                 control; /* the slot used for init/ping/stop */
	char                op[16];  /* control operation under way */
};

struct ad_instance {
	struct ad_agent   *agent;
	char               id[64]; /* "echo-3" */
	unsigned           seq;
	pid_t              pid;
	enum ad_inst_state state;
	int64_t            started_ms; /* wall clock */
	int64_t            ready_mono;
	int                exit_status; /* waitpid status once EXITED */
	uint64_t           served;
	char              *path;  /* socket file */
	nng_socket         sock;  /* REQ, listens at path */
	struct ad_slot    *slots; /* [0] control, [1..concurrency] requests */
	unsigned           nslots;
	unsigned           inflight;
	LIST_ENTRY(ad_instance) link;
};
LIST_HEAD(ad_instance_list, ad_instance);

/* ---- agents ----------------------------------------------------------- */

struct ad_agent {
	struct ad_sv               *sv;
	const struct ad_agent_conf *conf;
	char                        hash[AD_HASH_LEN];
	char                        version[64]; /* the plugin's own */
	struct ad_instance_list     instances;
	unsigned                    next_seq;
	struct ad_req_queue         queue;
	unsigned                    nqueued;
	/* restarts */
	unsigned restarts;
	int64_t  backoff_ms;
	int64_t  next_start; /* monotonic; 0: now */
	/* counters */
	uint64_t requests;
	uint64_t replies_ok;
	uint64_t replies_error;
};

/* ---- the supervisor --------------------------------------------------- */

struct ad_sv {
	pthread_mutex_t   mtx;
	struct ad_config *cfg;
	struct ad_store  *store;
	char             *confdir;
	char             *state_dir;
	char             *run_dir;
	char             *worker_path;
	int               log_level;
	uid_t             uid;
	struct ad_agent  *agents;
	size_t            nagents;
	nng_socket        ctl;
	struct ad_ctl    *ctls;
	size_t            nctls;
	int               stopping;
	int64_t           started_ms;
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
/* Serve until SIGTERM or SIGINT. */
int  ad_sv_run(struct ad_sv *sv);
void ad_sv_stop(struct ad_sv *sv);
void ad_sv_free(struct ad_sv *sv);

struct ad_agent *ad_sv_agent(struct ad_sv *sv, const char *name);

/* Find the worker program: $AGENTD_WORKER, beside agentd, or libexec. */
char *ad_sv_find_worker(void);

#endif
