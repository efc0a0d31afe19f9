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
#define AGENTD_ABI_MINOR 6
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
/* The longest state_put_ttl expiry: ten years, in milliseconds. */
#define AGENTD_STATE_TTL_MAX ((uint64_t)10 * 366 * 24 * 3600 * 1000)
/* host->count() (ABI 1.4): a counter's name is 1 to AGENTD_COUNTER_NAME_MAX
 * bytes of [a-z0-9_], the first a letter; an instance counts at most
 * AGENTD_COUNTERS_MAX names. */
#define AGENTD_COUNTER_NAME_MAX 32
#define AGENTD_COUNTERS_MAX 32
/* host->watch_fd() and host->timer_start() (ABI 1.5): an instance watches
 * at most AGENTD_WATCH_MAX descriptors and keeps at most AGENTD_TIMERS_MAX
 * timers; a timer's first and period are at most AGENTD_TIMER_MAX_MS. */
#define AGENTD_WATCH_MAX 256
#define AGENTD_TIMERS_MAX 1024
#define AGENTD_TIMER_MAX_MS ((uint64_t)366 * 24 * 3600 * 1000)
/* A capability name (ABI 1.5: the descriptor's .capabilities, an agent's
 * capabilities = { }): 1 to AGENTD_NAME_MAX bytes of [a-z0-9_.-]; an
 * agent has at most AGENTD_CAPABILITIES_MAX of them. */
#define AGENTD_CAPABILITIES_MAX 32

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

/* ---- outbound HTTP (ABI 1.3: host->http_async) ------------------------- */

/*
 * Which outcomes of an attempt are tried again (struct
 * agentd_http_request.retry_on, OR-ed).  A request whose method is not
 * idempotent (POST, PATCH, or any other outside GET, HEAD, PUT, DELETE,
 * OPTIONS and TRACE) is tried again after a timeout, a 429 or a 5xx only
 * with AGENTD_HTTP_RETRY_UNSAFE: the server may have acted on it.  A
 * connect error is retried for every method: nothing reached the server.
 */
enum agentd_http_retry_on {
	AGENTD_HTTP_RETRY_CONNECT = 1 << 0, /* no connection: refused, DNS */
	AGENTD_HTTP_RETRY_TIMEOUT = 1 << 1, /* the attempt's timeout passed */
	AGENTD_HTTP_RETRY_429     = 1 << 2, /* 429 Too Many Requests */
	AGENTD_HTTP_RETRY_5XX     = 1 << 3, /* any 500..599 */
	AGENTD_HTTP_RETRY_UNSAFE  = 1 << 4, /* non-idempotent methods too */
};
/* What retry_on 0 means. */
#define AGENTD_HTTP_RETRY_DEFAULT                                             \
	(AGENTD_HTTP_RETRY_CONNECT | AGENTD_HTTP_RETRY_TIMEOUT                \
	    | AGENTD_HTTP_RETRY_429 | AGENTD_HTTP_RETRY_5XX)

/* Limits of a request, checked by http_async (AGENTD_EINVAL past them). */
#define AGENTD_HTTP_URL_MAX 8192      /* bytes of a URL */
#define AGENTD_HTTP_HEADERS_MAX 64    /* headers of a request */
#define AGENTD_HTTP_HEADER_MAX 8192   /* bytes of one name and value */
#define AGENTD_HTTP_ATTEMPTS_MAX 10   /* attempts of one request */

/* One header: name and value, without CR, LF or NUL. */
struct agentd_http_header {
	const char *name;  /* a token: "Content-Type" */
	const char *value; /* "application/json" */
};

/*
 * A request for host->http_async.  Every pointer is borrowed for the
 * duration of the http_async call only (the host copies what it keeps).
 * Zero means "the default" for every number, so a request written with
 * AGENTD_HTTP_REQUEST_INIT and a URL is a plain GET with the agent's
 * timeout and no retry.
 */
struct agentd_http_request {
	size_t      size;   /* sizeof(struct agentd_http_request) */
	const char *method; /* "GET", "POST"...: upper-case letters;
	                     * NULL: GET, or POST when there is a body */
	const char *url;    /* http:// or https://, host in http { allow } */
	const struct agentd_http_header *headers; /* NULL with nheaders 0 */
	size_t                           nheaders;
	const void                      *body; /* NULL with body_len 0 */
	size_t                           body_len;
	/* One attempt at most this long, connecting included; 0: the
	 * agent's http { timeout } (30 s unless written), never longer. */
	uint32_t timeout_ms;
	/* Attempts in all, 1 to AGENTD_HTTP_ATTEMPTS_MAX; 0: 1 (no retry). */
	uint32_t attempts;
	/* Waits between attempts: backoff_initial_ms (0: 200 ms), doubling
	 * up to backoff_max_ms (0: 10 s), each with jitter: a random wait
	 * between half of it and all of it. */
	uint32_t backoff_initial_ms;
	uint32_t backoff_max_ms;
	/* AGENTD_HTTP_RETRY_*; 0: AGENTD_HTTP_RETRY_DEFAULT. */
	uint32_t retry_on;
	/* A retried answer's Retry-After (seconds or an HTTP date) replaces
	 * the backoff when longer; one longer than this (0: 60 s) is not
	 * waited for: that answer is the request's outcome. */
	uint32_t retry_after_max_ms;
};

#define AGENTD_HTTP_REQUEST_INIT                                              \
	{                                                                     \
		.size = sizeof(struct agentd_http_request)                    \
	}

/*
 * What became of a request, handed to its callback; the struct and
 * everything it points to are borrowed, valid until the callback
 * returns.  status 0: the last attempt got a whole answer, whatever its
 * http_code (a 500 after the retries is status 0, http_code 500).
 * Otherwise the last attempt's failure: AGENTD_EUNAVAIL (no connection:
 * refused, unreachable, a name that does not resolve), AGENTD_ETIMEOUT
 * (its timeout passed), AGENTD_ETOOBIG (the answer passed http {
 * max_response }: the transfer was stopped), AGENTD_EIO (TLS, a
 * certificate not trusted, a broken answer), AGENTD_ECLOSED (the
 * instance is stopping); http_code and headers are then what arrived of
 * the last attempt's answer, if anything, and there is no body.
 */
struct agentd_http_response {
	int      status;    /* 0 or an agentd_error */
	int      http_code; /* the last answer's code; 0 if none came */
	unsigned attempts;  /* attempts made, 1 or more */
	uint32_t elapsed_ms; /* from http_async to this callback */
	/* The last answer's headers, in order, as the server wrote them
	 * (names as written: compare without case). */
	const struct agentd_http_header *headers;
	size_t                           nheaders;
	const void                      *body; /* not NUL-terminated */
	size_t                           body_len;
};

/* An http_async request's outcome, on the instance's thread. */
typedef void (*agentd_http_fn)(
    void *arg, const struct agentd_http_response *r);

/* ---- own descriptors and timers (ABI 1.5) ------------------------------ */

/* What a watched descriptor waits for, and what its callback is told
 * (OR-ed).  AGENTD_FD_ERROR is only ever told: an error or hang-up on the
 * descriptor (POLLERR, POLLHUP, POLLNVAL), whatever was asked. */
#define AGENTD_FD_READ 0x1
#define AGENTD_FD_WRITE 0x2
#define AGENTD_FD_ERROR 0x4

/* A watched descriptor is ready: events is what it is ready for
 * (AGENTD_FD_*).  Runs on the instance's thread; it may call watch_fd()
 * for this or any other descriptor, close() after watch_fd(.., 0, ..). */
typedef void (*agentd_fd_fn)(void *arg, int fd, int events);

/* A timer is due.  Runs on the instance's thread; it may cancel this or
 * any other timer, and start new ones. */
typedef void (*agentd_timer_fn)(void *arg, uint64_t timer_id);

/*
 * find_agents' answer, on the instance's thread: status 0 and the names
 * of the running agents that have the capability (n may be 0), sorted,
 * borrowed until the callback returns; or an error, names NULL and n 0.
 */
typedef void (*agentd_agents_fn)(
    void *arg, int status, const char *const *names, size_t n);

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
	 * records: AGENTD_EDENIED, nothing written.  The kind "decision"
	 * alone is the agents' (what an agent decided, and why).
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

	/*
	 * ABI 1.3: an HTTP request without waiting.  req (borrowed for the
	 * call, copied) is checked at once, and refused here, cb never
	 * running: AGENTD_EINVAL (a URL that is not http:// or https:// with
	 * a host, credentials in the URL, a bad method or header, a size or
	 * a number past the limits above), AGENTD_EDENIED (the URL's host is
	 * not in the agent's http { allow }, or it has none: no connection
	 * is made), AGENTD_EBUSY (http { max_concurrent } requests are
	 * outstanding).  Otherwise 0, and cb runs exactly once, later, on
	 * the instance's thread.  The instance goes on serving meanwhile,
	 * and the time a request waits on the network is not time in a
	 * callback (health { hung_after }).  Certificates are verified
	 * against the system's CAs and http { ca_file }; redirects are not
	 * followed (a 3xx is the answer).  Requests outstanding when the
	 * instance stops get AGENTD_ECLOSED before its fini; requests made
	 * in fini are refused (AGENTD_ECLOSED).  Test for it with
	 * AGENTD_HOST_HAS(host, http_async).
	 */
	int (*http_async)(agentd_ctx *ctx,
	    const struct agentd_http_request *req, agentd_http_fn cb,
	    void *arg);

	/*
	 * ABI 1.3: who sent request req, as agentd set it in the request's
	 * source: the calling agent's name, "agentctl" for the operator on
	 * control.sock, "http" for the HTTP API.  Never what the caller
	 * wrote in its body.  Borrowed, valid until req is answered; NULL
	 * for a NULL req.
	 */
	const char *(*request_caller)(agentd_ctx *ctx, agentd_request *req);

	/*
	 * ABI 1.3: state_put() with an expiry: ttl_ms after it is written
	 * (1 to AGENTD_STATE_TTL_MAX, else AGENTD_EINVAL) the key is gone at
	 * once for state_get (AGENTD_ENOENT) and state_scan, and agentd
	 * removes it in the background.  A later state_put, state_batch or
	 * state_put_ttl of the key replaces the expiry with its own (none for
	 * the first two).
	 */
	int (*state_put_ttl)(agentd_ctx *ctx, const char *key, size_t keylen,
	    const void *val, size_t vallen, uint64_t ttl_ms);

	/*
	 * ABI 1.4: add delta (0 or more) to this instance's counter name, a
	 * business measure of the plugin's own ("conversions", "refunds"):
	 * agentd sums it per agent and generation (the generation of the
	 * instance that counted), and shows it in status, in /metrics as
	 * agentd_plugin_counted_total{agent,generation,name} and in the
	 * console, so the two versions of a canary can be compared on it
	 * (doc/reload.md).  name is borrowed for the call: 1 to
	 * AGENTD_COUNTER_NAME_MAX bytes of [a-z0-9_], starting with a letter.
	 * Delta 0 makes the counter exist (shown as 0).  Cheap: the worker
	 * adds it up in memory and sends what changed with the next message
	 * it sends agentd anyway, at the end of the callback; never a
	 * message per call.  A value stops at INT64_MAX.  Errors, nothing
	 * counted: AGENTD_EINVAL (a bad name, a negative delta),
	 * AGENTD_ETOOBIG (a new name past AGENTD_COUNTERS_MAX names for
	 * this instance).  Counters live in agentd's memory: a restart of
	 * agentd starts them at 0.  Test for it with
	 * AGENTD_HOST_HAS(host, count).
	 */
	int (*count)(agentd_ctx *ctx, const char *name, int64_t delta);

	/*
	 * ABI 1.5: watch descriptor fd, which the plugin owns (a pipe to a
	 * child, a database client's socket), from the instance's poll loop:
	 * cb(arg, fd, ready) runs on the instance's thread whenever fd is
	 * ready for what events asks (AGENTD_FD_READ, AGENTD_FD_WRITE,
	 * OR-ed), or has an error or hang-up (AGENTD_FD_ERROR), until the
	 * plugin changes or ends the watch.  Watching an fd already watched
	 * replaces its events, cb and arg; events 0 ends the watch (cb is not
	 * called again, also not for readiness already seen in this turn of
	 * the loop), which the plugin does before it closes fd.  Level
	 * triggered, like poll(2): a callback that does not read what is
	 * there is called again.  The time between callbacks is not busy
	 * time (health { hung_after }).  Errors, nothing changed:
	 * AGENTD_EINVAL (fd < 0, events outside AGENTD_FD_READ |
	 * AGENTD_FD_WRITE, cb NULL with events), AGENTD_ENOENT (events 0 for
	 * an fd not watched), AGENTD_ETOOBIG (a new fd past
	 * AGENTD_WATCH_MAX), AGENTD_ECLOSED (the instance is stopping:
	 * watches end before fini, without a callback).  Test for it with
	 * AGENTD_HOST_HAS(host, watch_fd).
	 */
	int (*watch_fd)(agentd_ctx *ctx, int fd, int events, agentd_fd_fn cb,
	    void *arg);

	/*
	 * ABI 1.5: a timer on the instance's thread: cb(arg, id) runs once
	 * first_ms from now (0: at the next turn of the loop), then every
	 * every_ms after it was due (0: once only), until cancelled.  A
	 * periodic timer that falls behind runs once for the turns it missed,
	 * not once per turn.  *id (when id is not NULL) is its id, never 0,
	 * never reused by this instance.  Errors, nothing started:
	 * AGENTD_EINVAL (cb NULL, first_ms or every_ms past
	 * AGENTD_TIMER_MAX_MS), AGENTD_ETOOBIG (past AGENTD_TIMERS_MAX
	 * timers), AGENTD_ECLOSED (the instance is stopping: timers end
	 * before fini, without a callback).  Test for it with
	 * AGENTD_HOST_HAS(host, timer_start).
	 */
	int (*timer_start)(agentd_ctx *ctx, uint64_t first_ms,
	    uint64_t every_ms, agentd_timer_fn cb, void *arg, uint64_t *id);

	/*
	 * ABI 1.5: cancel timer id: its callback does not run again.
	 * AGENTD_ENOENT for an id that is not a running timer (a one-shot
	 * timer that ran is gone).
	 */
	int (*timer_cancel)(agentd_ctx *ctx, uint64_t id);

	/*
	 * ABI 1.5: which running agents have capability (1 to
	 * AGENTD_NAME_MAX of [a-z0-9_.-], else AGENTD_EINVAL), as agentd
	 * knows them now (the plugin's .capabilities and the agent's
	 * capabilities = { } in its .conf): cb runs once, later, on the
	 * instance's thread, with the names.  The running agents are those
	 * of agentd's running configuration, whatever their state (a
	 * stopped or failed one too; not one a reload removed), each with
	 * the capabilities of the generation that serves.  The list says
	 * who has it, not who may be called: a call still needs the agent
	 * in this one's calls = { }.  Errors before cb, which then never
	 * runs: AGENTD_EINVAL, AGENTD_ECLOSED (agentd is gone).  As for
	 * call_async, an answer still on its way when the instance stops
	 * may be given up: its cb then runs before fini with AGENTD_ECLOSED,
	 * or not at all.  Test for it with
	 * AGENTD_HOST_HAS(host, find_agents).
	 */
	int (*find_agents)(agentd_ctx *ctx, const char *capability,
	    agentd_agents_fn cb, void *arg);

	/*
	 * ABI 1.5: why the last call failed, in words: the message the
	 * callee gave host->reply_error(), or agentd's own when it refused or
	 * timed out the call ("agent \"flow\" may not call \"llm\": add it
	 * to calls = { } in FILE", "agent \"llm\": deadline passed"); ""
	 * when there is none.  Borrowed: valid in an agentd_reply_fn called
	 * with a status other than 0, until it returns, and after host->call()
	 * returned an error, until this instance's next host->call(); NULL
	 * anywhere else.  At most 1024 bytes, one line (a control character
	 * becomes a space).  Test for it with
	 * AGENTD_HOST_HAS(host, call_error).
	 */
	const char *(*call_error)(agentd_ctx *ctx);

	/*
	 * ABI 1.6: state_batch() without waiting.  The n ops (as for
	 * state_batch(), copied before it returns) are checked at once and
	 * refused here, cb never running: AGENTD_EINVAL (ctx NULL, ops NULL
	 * with n, a key of 0 or more than AGENTD_STATE_KEY_MAX bytes),
	 * AGENTD_ETOOBIG (the batch cannot fit in one message), AGENTD_EBUSY
	 * (too many batches queued).  Otherwise 0, and cb (may be NULL) runs
	 * exactly once, later, on the instance's thread: status 0 once every
	 * op of the batch is committed, as durably as state_batch(), or the
	 * batch's error (AGENTD_ETOOBIG a value past agentd's limit,
	 * AGENTD_EIO), none of it written.  An instance's batches commit in
	 * the order they were made and their cbs run in that order; those made
	 * in one callback travel to agentd together once it returns and are
	 * committed in one transaction, each still all or nothing.  They
	 * are not ordered with this instance's state_put, state_batch...
	 * made before their cb ran.  Batches queued when the instance stops
	 * are sent and their cbs run before fini (AGENTD_ECLOSED when agentd
	 * is gone or does not answer in a few seconds: the batch may or may
	 * not be written); those made in fini are sent, but their cbs do not
	 * run.  Test for it with
	 * AGENTD_HOST_HAS(host, state_batch_async).
	 */
	int (*state_batch_async)(agentd_ctx *ctx,
	    const struct agentd_state_op *ops, size_t n,
	    void (*cb)(void *arg, int status), void *arg);

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

	/* ---- ABI 1.5 ---- */

	/*
	 * Optional: what the agent can do, NULL-terminated, each 1 to
	 * AGENTD_NAME_MAX of [a-z0-9_.-] ("pricing", "llm.chat"), at most
	 * AGENTD_CAPABILITIES_MAX.  Other agents find it by them
	 * (host->find_agents, agentctl agents --capability, GET
	 * /v1/agents?capability=); its .conf may add more.
	 */
	const char *const *capabilities;

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
