/*
 * host.h - the host side of the plugin boundary, inside agentd-worker.
 *
 * One agentd_ctx per worker process (one instance).  Everything the plugin
 * can ask of the host goes through ad_host_table, which is written with
 * sdk/contract.h as the mock host's is.
 *
 * Sockets, all dialed to agentd in its run directory:
 *   rep    PAIR     <instance>.sock    requests and control in, their
 *                                       replies out (batches of envelopes)
 *   calls  REQ      calls.sock         this instance's calls out
 *   evin   PULL     <instance>-ev.sock events for this instance
 *   evout  PUSH     publish.sock       events this instance publishes
 */
#ifndef AD_HOST_H
#define AD_HOST_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

#include <nng/nng.h>

#include <agentd/agent.h>

#include "bus/envelope.h"
#include "common/ratelimit.h"
#include "config/conf.h"
#include "sdk/contract.h"
#include "sdk/counters.h"
#include "sdk/fdtimer.h"
#include "worker/loop.h"

#define AD_PCALL_BUCKETS 256

struct agentd_ctx {
	/* Started under SCHED_IDLE (priority.h): back at "init". */
	int                         background;
	struct ad_wloop             loop;
	nng_socket                  rep;
	nng_socket                  calls;
	nng_socket                  evin;
	nng_socket                  evout;
	int                         rep_fd;   /* readable: a request waits */
	int                         evin_fd;  /* readable: events wait */
	nng_ctx                     sync_ctx; /* for host->call */
	nng_aio                    *sync_aio;
	size_t                      max_message;
	const struct agentd_plugin *desc;
	void                       *state;
	int                         initialized;
	char                        agent[AD_NAME_MAX];
	char                        instance[AD_NAME_MAX];
	struct ad_setting_value    *settings; /* owned */
	size_t                      nsettings;
	char                      **publish; /* topic prefixes it may use */
	size_t                      npublish;
	nng_msg                    *out;   /* replies to agentd, not sent */
	agentd_writer              *batch; /* events published, not sent */
	unsigned                    nbatch;
	/* Monotonic ms since plugin code has been running on the main
	 * thread, or 0 (between callbacks, or waiting in a host call): the
	 * heartbeat reports how long, so agentd can tell a hung plugin. */
	_Atomic int64_t  busy_since_ms;
	_Atomic uint64_t handled; /* requests handed to the plugin */
	unsigned         pending; /* requests not yet answered */
	LIST_HEAD(, agentd_request) requests; /* those, to free at exit */
	unsigned         acalls;     /* asynchronous calls under way */
	struct ad_acall *free_calls; /* finished, for reuse */
	struct ad_acall *busy_calls; /* on calls.sock, not finished */
	/* call_async calls sent on the channel, by id, waiting for their
	 * replies; checked now and then for agentd answering too late */
	struct ad_pcall *pcalls[AD_PCALL_BUCKETS];
	int64_t          pcalls_checked_ms;
	/* audit_async records not sent yet (array elements), their
	 * callbacks, and batches sent but not answered (host.c) */
	agentd_writer      *audits;
	struct ad_audit_cb *audit_cbs;
	size_t              naudits, audit_cap;
	size_t              audit_outstanding; /* queued + in flight */
	unsigned            audit_in_flight;
	/* propose_async proposals not sent yet, in batches, oldest first,
	 * and batches sent but not answered (host.c) */
	struct ad_propose_batch *propose_head, *propose_tail;
	size_t                   propose_outstanding; /* queued + in flight */
	unsigned                 propose_in_flight;
	/* state_batch_async batches not sent yet (arrays of ops), their
	 * callbacks, and the message sent but not answered (host.c) */
	agentd_writer       *sbatches;
	struct ad_sbatch_cb *sbatch_cbs;
	size_t               nsbatches, sbatch_cap;
	size_t               sbatch_outstanding; /* queued + in flight */
	unsigned             sbatch_in_flight;
	/* host->count(): what the plugin counted, and what of it has
	 * not left yet (ad_host_out_flush sends it) */
	struct ad_counters counters;
	/* host->http_async (worker/http.h); NULL: no http { allow } */
	struct ad_whttp *http;
	/* host->watch_fd, timer_*: driven by the loop (worker/fdtimer.h) */
	struct ad_fdtimer fdt;
	/* warnings a message can cause, one line a second each */
	struct ad_ratelimit bad_events_log, unsent_log, bad_in_log;
	/* host->call_error(): NULL, or the message of the failed call the
	 * plugin may ask about now, in call_error_last (host->call's) or on
	 * the stack of the failing reply callback that runs */
	const char *call_error;
	char        call_error_last[AD_CALL_ERROR_MAX + 1];
};

struct ad_audit_cb {
	agentd_audit_fn cb;
	void           *arg;
};

struct ad_sbatch_cb {
	void (*cb)(void *arg, int status);
	void *arg;
};

struct ad_propose_cb {
	agentd_propose_fn cb;
	void             *arg;
};

extern const struct agentd_host ad_host_table;

/* Hand a request to the plugin (e and its body are borrowed). */
void ad_host_request(struct agentd_ctx *ctx, const struct ad_envelope *e);

/*
 * Queue an envelope for agentd on the instance's channel: it leaves with
 * the others queued at the next ad_host_out_flush (or at once when the
 * batch would pass max_message_size).  AGENTD_ETOOBIG when e alone does.
 */
int ad_host_out(struct agentd_ctx *ctx, const struct ad_envelope *e);
/* Send what ad_host_out queued (the main loop, after each round of work,
 * and before the plugin waits in a host call). */
void ad_host_out_flush(struct agentd_ctx *ctx);

/* Hand every event of a batch to the plugin; msg is consumed. */
void ad_host_events(struct agentd_ctx *ctx, nng_msg *msg);

/* A reply on the channel: run its call_async callback (unknown: none). */
void ad_host_reply_in(struct agentd_ctx *ctx, const struct ad_envelope *e);
/* Calls agentd did not answer long past their deadline: ETIMEOUT. */
void ad_host_calls_expire(struct agentd_ctx *ctx);

/* An asynchronous call finished: run its callback, free it. */
void ad_host_call_done(struct agentd_ctx *ctx, struct ad_acall *call);

/*
 * Send the audit_async records queued, unless enough batches are on their
 * way already and not force (ad_host_flush does, after each callback).
 */
void ad_host_audit_flush(struct agentd_ctx *ctx, int force);

/* The same for state_batch_async's batches (one message on its way). */
void ad_host_sbatch_flush(struct agentd_ctx *ctx, int force);
/* Free what holds them (the worker is stopping, all answered). */
void ad_host_sbatch_free(struct agentd_ctx *ctx);

/* The same for the batches of propose_async proposals queued. */
void ad_host_propose_flush(struct agentd_ctx *ctx, int force);

/* Free the batches never sent: their callbacks never run (the worker is
 * stopping, after ad_host_propose_flush(ctx, 1) had its chance). */
void ad_host_proposals_free(struct agentd_ctx *ctx);

/*
 * Give up the calls on calls.sock still on their way: each finishes with
 * AGENTD_ECLOSED through the loop.  A call between its send and its
 * receive may miss a cancel: call again until they are all back.
 */
void ad_host_calls_cancel(struct agentd_ctx *ctx);

/* Free a call whose callback will never run (the worker is stopping). */
void ad_host_call_drop(struct agentd_ctx *ctx, struct ad_acall *call);

/* Free the finished calls kept for reuse (after the sockets closed). */
void ad_host_calls_free(struct agentd_ctx *ctx);

/* Free the requests the plugin never answered (after its fini). */
void ad_host_requests_free(struct agentd_ctx *ctx);

/* Send the events published since the last flush. */
void ad_host_flush(struct agentd_ctx *ctx);

/* Read the "settings" and "publish" of an init message into ctx. */
int ad_host_load_init(
    struct agentd_ctx *ctx, const agentd_value *init, char *err, size_t len);
void ad_host_free_init(struct agentd_ctx *ctx);

#endif
