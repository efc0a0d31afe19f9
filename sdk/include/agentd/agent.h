/*
 * agentd/agent.h - the plugin ABI, version 1.
 *
 * A plugin is a shared object that exports exactly one symbol: a const
 * descriptor, written with AGENTD_PLUGIN().  The worker process that hosts
 * the plugin finds the descriptor by name, checks its magic, size and ABI
 * version before calling anything, then calls init() with a table of host
 * functions.  Plugins never link against the daemon; everything they can ask
 * of the host is in struct agentd_host.
 *
 * Threading: every callback of one instance runs on one thread, never two
 * at once.  Host functions may be called from that thread only.
 *
 * Ownership is stated beside each pointer in one of three phrases:
 *   "borrowed, valid until ..."   - do not free; copy it to keep it longer.
 *   "caller owns, free with ..."  - the receiver frees it with that call.
 *   "ownership passes only on success" - on error the caller still owns it.
 *
 * Compatibility: the ABI major is part of the descriptor's symbol name and
 * changes only when an existing field or function changes meaning.  New
 * descriptor fields and new host functions are appended at the end (a minor
 * bump); the host copies no more than the plugin's declared size, and a
 * plugin tests a host function with AGENTD_HOST_HAS() before calling it.
 */
#ifndef AGENTD_AGENT_H
#define AGENTD_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGENTD_ABI_MAJOR 1
#define AGENTD_ABI_MINOR 3
#define AGENTD_PLUGIN_MAGIC 0x41474e54u /* "AGNT" */

/*
 * Limits agentd applies at the host table (the mock host of <agentd/mock.h>
 * applies the same ones, from the same code).  Lengths are in bytes, the
 * terminating NUL not counted; past them a call fails as its comment says.
 */
#define AGENTD_NAME_MAX 63        /* agent and setting names: [A-Za-z0-9_.-] */
#define AGENTD_TOPIC_MAX 255      /* topics: the same characters */
#define AGENTD_STATE_KEY_MAX 400  /* a state key (1 byte at least) */
#define AGENTD_AUDIT_KIND_MAX 255 /* an audit record's kind */
#define AGENTD_AUDIT_SUMMARY_MAX 4096 /* an audit record's summary */
#define AGENTD_AUDIT_DETAIL_MAX ((size_t)1 << 20) /* its msgpack detail */
#define AGENTD_LOG_LINE_MAX 899 /* a host->log() line; longer ones are cut */
/* A proposal (struct agentd_proposal): past these, propose() is
 * AGENTD_ETOOBIG. */
#define AGENTD_PROPOSAL_TITLE_MAX 200      /* its title, one line */
#define AGENTD_PROPOSAL_REASONING_MAX 4096 /* its reasoning */
#define AGENTD_PROPOSAL_PARAMS_MAX 65536   /* its msgpack params map */

/* Opaque handles owned by the host. */
typedef struct agentd_ctx     agentd_ctx;     /* one per instance */
typedef struct agentd_request agentd_request; /* one per request */

/* ---- typed settings schema ------------------------------------------- */

enum agentd_setting_type {
	AGENTD_SETTING_STRING = 1,
	AGENTD_SETTING_INT    = 2, /* 64-bit signed */
	AGENTD_SETTING_DOUBLE = 3,
	AGENTD_SETTING_BOOL   = 4,
};

/*
 * One setting a plugin accepts in its agent's `settings { }` section.
 * An array of these ends with an entry whose name is NULL.  A setting whose
 * default_value is NULL is required; otherwise default_value is parsed with
 * the setting's type when the operator leaves it out.
 */
struct agentd_setting {
	const char              *name;
	enum agentd_setting_type type;
	const char              *default_value; /* NULL: required */
	const char              *description;   /* one line, for --describe */
};

/* ---- host functions -------------------------------------------------- */

enum agentd_log_level {
	AGENTD_LOG_ERROR = 3,
	AGENTD_LOG_WARN  = 4,
	AGENTD_LOG_INFO  = 6,
	AGENTD_LOG_DEBUG = 7,
};

/*
 * Completion of an asynchronous call.  status is 0 or an agentd_error;
 * reply is borrowed, valid until the callback returns (NULL when status is
 * not 0).  Runs on the instance's thread.
 */
typedef void (*agentd_reply_fn)(
    void *arg, int status, const void *reply, size_t len);

/*
 * An audit_async record's outcome: status 0 once it is committed to disk,
 * seq its sequence number in the audit trail; otherwise an agentd_error
 * (seq 0: the record may or may not be in the trail).  Runs on the
 * instance's thread.
 */
typedef void (*agentd_audit_fn)(void *arg, int status, uint64_t seq);

/*
 * propose_async's answer, on the instance's thread: status 0 and the new
 * decision's id (borrowed until the callback returns), or an error and
 * NULL.
 */
typedef void (*agentd_propose_fn)(
    void *arg, int status, const char *decision_id);

/* Called once per entry of a state scan; return non-zero to stop. */
typedef int (*agentd_scan_fn)(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen);

/* One write of an atomic batch (state_batch). */
struct agentd_state_op {
	const char *key;
	size_t      keylen;
	const void *val; /* NULL: delete key */
	size_t      vallen;
};

/*
 * Proposed action for the policy gate.  Every pointer is borrowed by the
 * host for the duration of the propose() call only.  What the host
 * refuses, before anything leaves the plugin's process: a type that is
 * not a topic, a missing or empty title, an amount that is negative or
 * not finite, a confidence outside 0..1, params that are not one msgpack
 * map (AGENTD_EINVAL); a title, reasoning or params over its
 * AGENTD_PROPOSAL_*_MAX (AGENTD_ETOOBIG).
 */
struct agentd_proposal {
	const char *type;       /* "price.change", "refund", ...: a topic */
	const char *title;      /* one line a person reads */
	const char *reasoning;  /* why the agent wants it, or NULL */
	double      amount;     /* money at stake, 0 if none */
	double      confidence; /* 0..1 */
	const void *params;     /* msgpack map of the action's parameters;
	                         * NULL with params_len 0: an empty map */
	size_t params_len;
};

/*
 * The host table handed to init().  Borrowed, valid until fini() returns.
 * Messages (bodies, replies, state values, details) are msgpack bytes by
 * convention; <agentd/msg.h> builds and reads them.
 */
struct agentd_host {
	size_t   size; /* sizeof the table as this host built it */
	uint16_t abi_major;
	uint16_t abi_minor;

	/*
	 * Answer a request.  Exactly once per request, from on_request or
	 * later (after an asynchronous call completes).  body is borrowed for
	 * the duration of the call.  After reply() returns, req is gone.
	 */
	int (*reply)(agentd_ctx *ctx, agentd_request *req, const void *body,
	    size_t len);

	/* Answer a request with an error code and a one-line message. */
	int (*reply_error)(agentd_ctx *ctx, agentd_request *req, int err,
	    const char *message);

	/*
	 * Call another agent and wait for its answer (at most timeout_ms; 0
	 * means the agent's default).  body is borrowed for the call.  On
	 * success *reply is caller owns, free with host->free().
	 */
	int (*call)(agentd_ctx *ctx, const char *agent, const void *body,
	    size_t len, int timeout_ms, void **reply, size_t *reply_len);

	/* Same, without waiting: cb runs later on the instance's thread. */
	int (*call_async)(agentd_ctx *ctx, const char *agent, const void *body,
	    size_t len, int timeout_ms, agentd_reply_fn cb, void *arg);

	/* Publish an event on a topic this agent may use (publish = {...}). */
	int (*publish)(
	    agentd_ctx *ctx, const char *topic, const void *body, size_t len);

	/*
	 * State, in this agent's own namespace.  state_get: on success *val
	 * is caller owns, free with host->free(); AGENTD_ENOENT if absent.
	 * A key of 0 or more than AGENTD_STATE_KEY_MAX bytes is AGENTD_EINVAL.
	 */
	int (*state_get)(agentd_ctx *ctx, const char *key, size_t keylen,
	    void **val, size_t *vallen);
	int (*state_put)(agentd_ctx *ctx, const char *key, size_t keylen,
	    const void *val, size_t vallen);
	int (*state_del)(agentd_ctx *ctx, const char *key, size_t keylen);
	/* key and val passed to fn are borrowed, valid until fn returns. */
	int (*state_scan)(agentd_ctx *ctx, const char *prefix,
	    size_t prefixlen, agentd_scan_fn fn, void *arg);
	/* All ops commit together or none does; ops borrowed for the call. */
	int (*state_batch)(
	    agentd_ctx *ctx, const struct agentd_state_op *ops, size_t n);

	/*
	 * Append a record to the audit trail and wait until it is on disk
	 * (0 then means committed).  agentd records this agent and instance
	 * with it.  kind ("price.set", ...; at most AGENTD_AUDIT_KIND_MAX
	 * bytes) and summary (one line, at most AGENTD_AUDIT_SUMMARY_MAX) are
	 * borrowed for the call; detail is one msgpack value (a map by
	 * convention, at most AGENTD_AUDIT_DETAIL_MAX) or NULL.  Kinds
	 * whose first dot-separated segment is agentd, agent, instance,
	 * call, state, event, audit, policy, approval, approvals,
	 * decision, token, http or webhook (any case) are agentd's own
	 * records: AGENTD_EDENIED, nothing written.
	 */
	int (*audit)(agentd_ctx *ctx, const char *kind, const char *summary,
	    const void *detail, size_t detail_len);

	/*
	 * Submit an action to the policy gate.  agentd checks p (borrowed
	 * for the call), classifies it by the operator's rules as risk low,
	 * medium or high (doc/policy.md), commits it and returns 0 with
	 * *decision_id (caller owns, free with host->free()), the
	 * decision's id: decimal digits ("17").  Low is approved at once;
	 * medium too, and published on approvals.notify for people to see;
	 * high waits until a person approves, rejects (with a reason) or
	 * modifies it (new parameters, classified again: low or medium is
	 * approved, high waits on), or its deadline passes (expired, or
	 * approved where the rule says so).  Never inside this call, the
	 * outcome arrives later through on_event, topic "decision.<id>",
	 * body a msgpack map {"id": str, "outcome": "approved" | "rejected"
	 * | "expired", "params": map (the parameters to act with), "by":
	 * str, "note": str, "type": str}.  Delivery is at least once: act
	 * once per id, and only on "approved".  Errors (*decision_id left
	 * alone): AGENTD_EINVAL for a proposal that breaks its rules (type
	 * a valid topic; title non-empty, at most 200 bytes; reasoning NULL
	 * or at most 4096; amount finite and >= 0; confidence finite, in
	 * 0..1; params NULL with params_len 0, or one msgpack map of at
	 * most 65536 bytes), AGENTD_ETOOBIG, AGENTD_EBUSY when the agent
	 * has its limit of decisions pending (policy { max_pending },
	 * 1000 by default).
	 */
	int (*propose)(agentd_ctx *ctx, const struct agentd_proposal *p,
	    char **decision_id);

	/* Log one line through the host (printf format), cut after
	 * AGENTD_LOG_LINE_MAX bytes. */
	void (*log)(agentd_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
	    __attribute__((format(printf, 3, 4)))
#endif
	    ;

	/*
	 * Settings of this agent, already validated against the plugin's
	 * schema with defaults applied.  The string is borrowed, valid until
	 * fini() returns.  AGENTD_ENOENT for a name not in the schema,
	 * AGENTD_EINVAL when the setting has another type.
	 */
	int (*setting_string)(
	    agentd_ctx *ctx, const char *name, const char **out);
	int (*setting_int)(agentd_ctx *ctx, const char *name, int64_t *out);
	int (*setting_double)(agentd_ctx *ctx, const char *name, double *out);
	int (*setting_bool)(agentd_ctx *ctx, const char *name, int *out);

	/* Frees memory the host handed over ("free with host->free()"). */
	void (*free)(void *p);

	/* Identity of this instance: borrowed, valid until fini() returns. */
	const char *(*agent_name)(agentd_ctx *ctx);
	const char *(*instance_id)(agentd_ctx *ctx);

	/*
	 * ABI 1.2: audit() without waiting.  The record (arguments as for
	 * audit(), copied) is queued and cb (may be NULL) runs later on the
	 * instance's thread with the outcome.  An instance may keep many
	 * records outstanding; they travel to agentd in batches and are
	 * committed together, which is what makes many appends per second
	 * possible.  Act on a decision only once its cb said 0.  Records an
	 * instance queued are sent and their callbacks run before its fini
	 * (waiting at most a few seconds for agentd; those it has not
	 * answered by then, or when it is gone, get AGENTD_ECLOSED): each of
	 * their cbs runs exactly once.  Records queued in fini are sent, but
	 * their cbs do not run.  Test for it with
	 * AGENTD_HOST_HAS(host, audit_async).
	 */
	int (*audit_async)(agentd_ctx *ctx, const char *kind,
	    const char *summary, const void *detail, size_t detail_len,
	    agentd_audit_fn cb, void *arg);

	/*
	 * ABI 1.3: propose() without waiting.  The proposal (as for
	 * propose(), copied) is checked at once (a bad one is refused here,
	 * and cb never runs); cb runs later on the instance's thread once
	 * agentd committed it, with its id, or with the error (AGENTD_EBUSY:
	 * the agent's max_pending).  Many may be outstanding: those made
	 * in one callback travel to agentd together once it returns.  The outcome
	 * still arrives as the event "decision.<id>", which may come before
	 * cb has run when the decision is low risk.  Test for it with
	 * AGENTD_HOST_HAS(host, propose_async).
	 */
	int (*propose_async)(agentd_ctx *ctx, const struct agentd_proposal *p,
	    agentd_propose_fn cb, void *arg);

	/* Append new functions here only. */
};

/* Is host function `fn` present (and filled) in this host's table? */
#define AGENTD_HOST_HAS(host, fn)                                             \
	((host)->size                                                         \
	        >= offsetof(struct agentd_host, fn) + sizeof((host)->fn)      \
	    && (host)->fn != NULL)

/* ---- the descriptor --------------------------------------------------- */

struct agentd_plugin {
	uint32_t magic;     /* AGENTD_PLUGIN_MAGIC */
	uint32_t size;      /* sizeof(struct agentd_plugin) when built */
	uint16_t abi_major; /* AGENTD_ABI_MAJOR when built */
	uint16_t abi_minor; /* AGENTD_ABI_MINOR when built */

	const char *name;        /* default agent name: 1 to AGENTD_NAME_MAX of
	                          * [A-Za-z0-9_.-] */
	const char *version;     /* the plugin's own version, "1.2.0" */
	const char *description; /* one line */
	const struct agentd_setting
	    *settings; /* NULL-name terminated, or NULL */

	/*
	 * Called once per instance before any other callback.  host and ctx
	 * are borrowed, valid until fini() returns.  Store what the instance
	 * needs in *state.  Return 0, or an error to refuse to start (the
	 * instance reports the error and exits).
	 */
	int (*init)(
	    agentd_ctx *ctx, const struct agentd_host *host, void **state);

	/*
	 * A request arrived.  body is borrowed, valid until on_request
	 * returns.  req stays valid until it is answered with host->reply()
	 * or host->reply_error(), which may happen after returning.
	 * Returning non-zero without having answered makes the host answer
	 * with that error.
	 */
	int (*on_request)(
	    void *state, agentd_request *req, const void *body, size_t len);

	/* An event on a subscribed topic; topic and body borrowed until
	 * return. */
	void (*on_event)(
	    void *state, const char *topic, const void *body, size_t len);

	/* Called every tick_ms milliseconds if tick_ms > 0. */
	void (*on_tick)(void *state);
	uint32_t tick_ms;

	/* Called once when the instance stops; free what init allocated. */
	void (*fini)(void *state);

	/* ---- ABI 1.1 ---- */

	/*
	 * Optional.  Called after init, before the instance serves, when it
	 * belongs to a generation that replaces one running another plugin
	 * build or configuration (agentctl reload, rollback):
	 * previous_version is that one's version string (it may be newer,
	 * after a rollback).  The agent's state is the one the previous
	 * generation left: migrate it here.  Every instance of the new
	 * generation calls it, so a migration must be idempotent (record
	 * that it ran, e.g. in the same state batch).  Non-zero refuses the
	 * new generation: the previous one keeps serving.
	 */
	int (*on_upgrade)(void *state, const char *previous_version);

	/* Append new fields here only. */
};

#define AGENTD_PLUGIN_SYMBOL_(major) agentd_plugin_v##major
#define AGENTD_PLUGIN_SYMBOL_X_(major) AGENTD_PLUGIN_SYMBOL_(major)
/* The descriptor's symbol name, "agentd_plugin_v1" for ABI major 1. */
#define AGENTD_PLUGIN_SYMBOL AGENTD_PLUGIN_SYMBOL_X_(AGENTD_ABI_MAJOR)

#ifdef __cplusplus
#define AGENTD_EXTERN_C_ extern "C"
#else
#define AGENTD_EXTERN_C_
#endif

/*
 * Define the plugin's descriptor:
 *   AGENTD_PLUGIN(.name = "pricing", .version = "1.2.0",
 *       .init = pricing_init, .on_request = pricing_request);
 * The macro fills magic, size and ABI version and exports the symbol even
 * when the plugin is built with -fvisibility=hidden.
 */
#define AGENTD_PLUGIN(...)                                                    \
	AGENTD_EXTERN_C_ __attribute__((visibility("default")))               \
	const struct agentd_plugin AGENTD_PLUGIN_SYMBOL                       \
	    = { .magic           = AGENTD_PLUGIN_MAGIC,                       \
		      .size      = sizeof(struct agentd_plugin),              \
		      .abi_major = AGENTD_ABI_MAJOR,                          \
		      .abi_minor = AGENTD_ABI_MINOR,                          \
		      __VA_ARGS__ }

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_AGENT_H */
