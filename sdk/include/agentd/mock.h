/*
 * agentd/mock.h - a host table for unit tests of a plugin, no daemon needed.
 *
 * A mock plays agentd and one worker for one instance of one plugin, in the
 * test's own process and thread:
 *
 *   agentd_mock *m;
 *   agentd_mock_new("quote", &m);
 *   agentd_mock_setting(m, "discount_pct", "10");
 *   if (agentd_mock_load(m, "./quote.so") != 0)
 *       printf("# %s\n", agentd_mock_errmsg(m));
 *   agentd_mock_request(m, body, len, &reply, &reply_len, &status);
 *   agentd_mock_free(m);
 *
 * It checks the plugin as the worker does (descriptor magic, ABI, size,
 * settings against the plugin's schema), hands init() a complete host
 * table, and answers host calls with the semantics and limits of agentd
 * with its default configuration:
 *   - state is an in-memory sorted map: keys of 1 to AGENTD_MOCK_KEY_MAX
 *     bytes, scans by prefix in bytewise key order, all-or-nothing batches,
 *     AGENTD_ENOENT for a missing key (get, del);
 *   - calls and call_async go to handlers the test registers per agent
 *     (agentd_mock_on_call); any other agent is AGENTD_ENOENT;
 *     call_async completions are deferred until agentd_mock_run();
 *   - watch_fd and timer_start are driven by the test, as the worker's
 *     loop would: agentd_mock_poll() and the mock's clock;
 *   - find_agents answers from a registry the test fills
 *     (agentd_mock_capability), deferred until agentd_mock_run();
 *   - publish, audit and log are recorded for the test to read back;
 *     audit_async records at once, its callbacks (status 0, the record's
 *     position from 1 as seq) deferred until agentd_mock_run();
 *   - propose goes through the mock's policy gate: every proposal is
 *     checked with agentd's rules, numbered "1", "2"... and recorded;
 *     its risk comes from agentd_mock_policy() (HIGH unless set, as
 *     agentd's default); low and medium are approved at once (medium also
 *     published on approvals.notify), high waits for the test to answer
 *     as a person would (agentd_mock_approve(), _reject(), _modify(),
 *     _expire()).  Outcomes reach on_event as "decision.<id>" events,
 *     deferred until agentd_mock_run().
 *
 * What it does not do: the permissions of an agent's configuration
 * (publish = { }, calls = { }) are not applied: every valid topic may be
 * published and every agent with a handler may be called.  The gate's
 * rules go by type alone (agentd's also by amount and confidence), no
 * deadline passes by itself (agentd_mock_expire() plays one), and the
 * gate's own audit records are not among those read back.  Nothing is
 * durable.  Message limits are checked against AGENTD_MOCK_MAX_MESSAGE
 * less a fixed allowance for the envelope, where agentd measures the
 * envelope exactly: right at the limit the two may disagree by a few bytes.
 *
 * The plugin runs in the test's own process: a plugin that crashes (a
 * NULL pointer, abort()) kills the test program with it, before it
 * printed the rest of its results or its plan, and the harness can only
 * say that the program died.  agentd_mock_run_case() (the end of this
 * file) runs a test case in a child process instead: a crash fails that
 * case, named, with its signal, and the other cases run.
 *
 * Link with libagentd-sdk (pkg-config agentd); a static link pulls the mock
 * only into the programs that call it, never into a plugin.  A mock is not
 * thread-safe: use one mock from one thread.  Functions that can fail
 * return 0 or an agentd_error, and agentd_mock_errmsg() says why.
 */
#ifndef AGENTD_MOCK_H
#define AGENTD_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/error.h>
#include <agentd/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* agentd's default max_message_size (agentd { max_message_size }). */
#define AGENTD_MOCK_MAX_MESSAGE ((size_t)1 << 20)
/* The longest state key agentd stores, in bytes (an older name). */
#define AGENTD_MOCK_KEY_MAX AGENTD_STATE_KEY_MAX

typedef struct agentd_mock agentd_mock;

/* ---- life cycle -------------------------------------------------------- */

/*
 * A mock for agent agent_name (1-63 characters of [A-Za-z0-9_.-]), or for
 * the plugin's own name when agent_name is NULL.  agent_name is borrowed
 * for the call.  On success *m is caller owns, free with agentd_mock_free().
 * AGENTD_EINVAL for a bad name, AGENTD_ENOMEM.
 */
int agentd_mock_new(const char *agent_name, agentd_mock **m);

/*
 * Call the plugin's fini() (if its init() succeeded), drop async calls
 * and decisions' outcomes still waiting for agentd_mock_run() without
 * running or delivering them (as a stopping worker does), unload the
 * plugin and free everything, the records read back below included.
 * NULL is allowed.
 */
void agentd_mock_free(agentd_mock *m);

/*
 * Give setting name the text value, as an operator writes it in the
 * agent's settings { } section ("10", "0.5", "true", "hello").  Both are
 * borrowed for the call; a second value for a name replaces the first.
 * Settings are checked when the plugin is loaded, against its schema as
 * agentd checks them: see agentd_mock_load().  AGENTD_EINVAL after the
 * plugin was initialized (settings are fixed at init, as in agentd).
 */
int agentd_mock_setting(agentd_mock *m, const char *name, const char *value);

/*
 * dlopen() the plugin at so_path (borrowed for the call), check its
 * descriptor as agentd's worker does, type the settings by the plugin's
 * schema and call init() with the mock's host table.  Returns
 *   AGENTD_EABI     not loadable, no agentd_plugin_v1, wrong magic, another
 *                   ABI major, impossible size or a malformed descriptor;
 *   AGENTD_ENOENT   a setting the schema does not declare;
 *   AGENTD_EINVAL   a setting that is not of its declared type, a required
 *                   setting not given, or a plugin already loaded;
 *   AGENTD_EPLUGIN  init() failed (agentd_mock_errmsg() has its code).
 * agentd itself refuses all three setting errors as AGENTD_ECONFIG, before
 * any instance starts; the mock tells them apart for the test.
 */
int agentd_mock_load(agentd_mock *m, const char *so_path);

/*
 * The same for a descriptor linked into the test program, such as
 * &agentd_plugin_v1 of a plugin compiled into it.  desc is borrowed, valid
 * until agentd_mock_free().  The symbol's size cannot be checked here.
 */
int agentd_mock_attach(agentd_mock *m, const struct agentd_plugin *desc);

/*
 * One line about the last failure the mock saw, in a call of this API or
 * in a host function the plugin called ("" if there was none).  Borrowed,
 * valid until the next call on m.
 */
const char *agentd_mock_errmsg(const agentd_mock *m);

/*
 * The host table and context the plugin was (or will be) given, for a test
 * that seeds or inspects state with host->state_put() and the like.  Both
 * borrowed, valid until agentd_mock_free().  Host functions called this
 * way behave exactly as when the plugin calls them.
 */
const struct agentd_host *agentd_mock_host(agentd_mock *m, agentd_ctx **ctx);

/* ---- requests ---------------------------------------------------------- */

/*
 * Deliver a request to on_request() and return when it returns.  body
 * (msgpack bytes) is borrowed for the call.  *id (may be NULL) numbers the
 * request: 0 for the first one, then 1, 2...  The request is answered when
 * the plugin calls host->reply() or host->reply_error(), during
 * on_request() or later (from an async call's callback, an event, a
 * tick); if on_request() returns an error without answering, the mock
 * answers with that error, as agentd does.  AGENTD_EINVAL if no plugin is
 * initialized.
 */
int agentd_mock_send(agentd_mock *m, const void *body, size_t len, size_t *id);

/*
 * The answer to request id.  *status is 0 for a reply, else the error the
 * caller got; *reply is the body the caller got: the plugin's reply, or for
 * an error {"error": message} as agentd sends it.  *reply is borrowed,
 * valid until agentd_mock_free().  AGENTD_ENOENT if the request is still
 * unanswered, AGENTD_EINVAL if no request has that id.
 */
int agentd_mock_answer(const agentd_mock *m, size_t id, const void **reply,
    size_t *reply_len, int *status);

/*
 * agentd_mock_send(), then agentd_mock_run() while the request is
 * unanswered and a completion is waiting (what a caller sees while the
 * worker's loop runs), then agentd_mock_answer().  AGENTD_ETIMEOUT if it
 * is still unanswered with nothing left to run: a real caller's deadline
 * would pass.  A plugin reply of more than AGENTD_MOCK_MAX_MESSAGE less
 * the envelope allowance is refused with AGENTD_ETOOBIG and answered with
 * that error, as agentd does.
 */
int agentd_mock_request(agentd_mock *m, const void *body, size_t len,
    const void **reply, size_t *reply_len, int *status);

/* Requests delivered and not answered yet. */
size_t agentd_mock_pending(const agentd_mock *m);

/* ---- events and ticks -------------------------------------------------- */

/*
 * Deliver an event to on_event() (nothing happens if the plugin has
 * none).  topic and body are borrowed for the call.  Subscriptions are not
 * checked.  AGENTD_EINVAL for a topic that is not 1-255 characters of
 * [A-Za-z0-9_.-], or if no plugin is initialized.
 */
int agentd_mock_event(
    agentd_mock *m, const char *topic, const void *body, size_t len);

/*
 * Call on_tick() once, now.  AGENTD_ENOTSUP if agentd would never call it
 * (no on_tick, or tick_ms 0).
 */
int agentd_mock_tick(agentd_mock *m);

/* ---- calls to other agents --------------------------------------------- */

/*
 * Plays agent `agent` for host->call() and host->call_async().  body is
 * borrowed, valid until the handler returns.  Write the reply (one msgpack
 * value, or nothing) into reply, which the mock owns, and return 0; or
 * return an agentd_error: the calling plugin gets that status and no body,
 * and host->call_error() agentd_strerror() of it, or the message given
 * with agentd_mock_call_fail() (what the callee's host->reply_error()
 * would say).  A call to an agent with no handler fails with agentd's
 * line for an unknown agent ("no agent named \"X\": ...").
 * A handler runs when the plugin calls, inside host->call() or
 * host->call_async(); it must not call back into this mock, though it may
 * drive another one (a second plugin playing that agent).
 */
typedef int (*agentd_mock_call_fn)(void *arg, const char *agent,
    const void *body, size_t len, agentd_writer *reply);

/*
 * Answer calls to agent with fn(arg, ...) from now on; fn NULL removes the
 * handler.  agent is borrowed for the call, arg until the handler is
 * replaced or the mock freed.  A call to an agent with no handler gets
 * AGENTD_ENOENT, as a call to an agent agentd does not know.
 */
int agentd_mock_on_call(
    agentd_mock *m, const char *agent, agentd_mock_call_fn fn, void *arg);

/*
 * For a handler: fail the call with err and message (one line, borrowed
 * for the call; NULL: agentd_strerror(err)), as the callee's
 * host->reply_error(ctx, req, err, message) does; returns err, for
 * `return agentd_mock_call_fail(reply, AGENTD_EINVAL, "no sku");`.
 * AGENTD_EINVAL for a NULL reply or an err that is not an error.  Write
 * nothing else into reply.
 */
int agentd_mock_call_fail(agentd_writer *reply, int err, const char *message);

/*
 * Run the callbacks of finished host->call_async() calls and of
 * host->audit_async() records, and deliver decisions' outcomes to
 * on_event (see the policy gate below), in the order they were made,
 * until none is left (callbacks that call again are run too).  Returns
 * how many ran.  As in the worker, a callback never runs inside the host
 * call itself.
 */
size_t agentd_mock_run(agentd_mock *m);

/* ---- who has a capability ---------------------------------------------- */

/*
 * Agent `agent` has capability `capability` (both borrowed for the call)
 * in the mock's registry of running agents, as its plugin's .capabilities
 * or its .conf's capabilities = { } would say in agentd; the plugin under
 * test has its own descriptor's, under its agent name.  host->find_agents
 * answers from the registry as it is when the plugin asks, sorted by
 * name, each agent once, the callback deferred until agentd_mock_run().
 * Registering a pair twice is no error.  AGENTD_EINVAL for an agent that
 * is not an agent name, a capability that is not 1 to AGENTD_NAME_MAX
 * characters of [a-z0-9_.-], or an agent past AGENTD_CAPABILITIES_MAX
 * capabilities.
 */
int agentd_mock_capability(
    agentd_mock *m, const char *agent, const char *capability);

/* ---- the policy gate --------------------------------------------------- */

/*
 * host->propose() as agentd answers it.  The proposal is checked by the
 * rules agentd applies (AGENTD_EINVAL, agentd_mock_errmsg() says which
 * field: a type that is not a topic; a title empty or over 200 bytes; a
 * reasoning over 4096; an amount not finite or below 0; a confidence not
 * in 0..1; params that are not one msgpack map of at most 65536 bytes),
 * AGENTD_ETOOBIG over the message limit, AGENTD_EBUSY while the agent has
 * its pending limit of decisions pending (agentd_mock_max_pending()),
 * whatever the new one's risk.  Otherwise it is recorded, classified by
 * agentd_mock_policy() and propose returns 0 with *decision_id (caller
 * owns, free with host->free()) the decision's id: "1", then "2", ...
 *   low     approved at once, by "policy";
 *   medium  the same, and agentd's approvals.notify event is recorded
 *           with those the plugin published (agentd_mock_published()):
 *           a map of the decision (id, agent, instance, type, title,
 *           reasoning, amount, confidence, params, risk, state, by, note);
 *   high    pending until the test answers it (below).
 *
 * Every outcome (approved, rejected, expired) is queued, never delivered
 * inside the call that decided it: agentd_mock_run() hands it to the
 * plugin's on_event, in order with async completions, as topic
 * "decision.<id>" and body the map
 *   {"id": str, "outcome": "approved" | "rejected" | "expired",
 *    "params": map (the final parameters), "by": str, "note": str,
 *    "type": str}
 * This is agentd's order: it sends outcomes to an instance in a message
 * of their own, which the worker handles after whatever callback is
 * running, and only once the decision is committed.
 *
 * host->propose_async() is answered as agentd answers the worker's
 * batch: a proposal that breaks the rules above (or is over the message
 * limit) is refused at once and its callback never runs; otherwise the
 * callback runs from agentd_mock_run(), with the id, or with
 * AGENTD_EBUSY when the pending limit refused it (agentd's answer).  agentd
 * delivers an outcome at least once (again, to another instance, when the one
 * it was sent to stopped first): agentd_mock_redeliver() plays that.
 */

/* Who the test's answers are by, as "agentctl (USER)" in agentd. */
#define AGENTD_MOCK_PERSON "mock (test)"

/*
 * Proposals whose type type_prefix covers get risk "low", "medium" or
 * "high" from now on.  A prefix covers a type by whole dot segments, as a
 * topic ("price" covers "price" and "price.change", not "prices"); "*"
 * covers every type.  The first call whose prefix covers a type decides,
 * in call order, as the first matching rule does in agentd's
 * configuration; a type no call covers is "high", agentd's default.
 * Decisions already proposed keep their risk until a modify classifies
 * them again.  Both strings are borrowed for the call.  AGENTD_EINVAL for a
 * prefix that is neither "*" nor a topic, or another risk.  (agentd's rules
 * also match on amount and confidence, and live in the operator's
 * configuration: doc/policy.md.)
 */
int agentd_mock_policy(
    agentd_mock *m, const char *type_prefix, const char *risk);

/*
 * At most n decisions pending at once (agentd's policy { max_pending }):
 * while n are pending, host->propose() is AGENTD_EBUSY.  n 0 is agentd's
 * default, 1000.
 */
int agentd_mock_max_pending(agentd_mock *m, unsigned n);

/*
 * A pending decision answered as a person would, by AGENTD_MOCK_PERSON.
 * id and the strings are borrowed for the call.  Each queues the
 * decision's outcome for agentd_mock_run(), as above.  All return
 * AGENTD_ENOENT for an id no proposal got and AGENTD_EEXIST for a decision
 * already decided (nothing changes, as in agentd); agentd_mock_errmsg()
 * says how it was decided.
 *
 * approve: outcome "approved"; note may be NULL.
 * reject:  outcome "rejected"; reason (the event's note) is required:
 *          AGENTD_EINVAL if NULL or empty.
 * modify:  new parameters, one msgpack map (AGENTD_EINVAL otherwise;
 *          borrowed for the call), then classified again by
 *          agentd_mock_policy() with the same type: low or medium is
 *          approved at once with those parameters, high stays pending
 *          (nothing is queued).  A number under "amount" in the new
 *          parameters replaces the decision's amount, as in agentd, and
 *          the result must still pass propose's checks (AGENTD_EINVAL: a
 *          negative amount, params over 65536 bytes).  The parameters
 *          first proposed are kept (proposed_params).
 * expire:  the deadline passed: outcome "expired", by "policy".  (agentd
 *          approves instead where the rule says at_deadline = approve;
 *          the mock plays only agentd's default.)
 */
int agentd_mock_approve(agentd_mock *m, const char *id, const char *note);
int agentd_mock_reject(agentd_mock *m, const char *id, const char *reason);
int agentd_mock_modify(agentd_mock *m, const char *id, const void *params,
    size_t len, const char *note);
int agentd_mock_expire(agentd_mock *m, const char *id);

/*
 * Queue decision id's outcome for agentd_mock_run() once more, as agentd
 * sends it again when the instance it went to did not take it: a plugin
 * must act once per id.  AGENTD_ENOENT for an unknown id, AGENTD_EINVAL
 * for a decision still pending (it has no outcome yet).
 */
int agentd_mock_redeliver(agentd_mock *m, const char *id);

/*
 * One decision as the mock holds it.  Every pointer is borrowed: for a
 * decided decision, valid until agentd_mock_free() (it never changes
 * again); for a pending one, until the test next answers it (a modify
 * replaces params and note).  Strings are never NULL.
 */
struct agentd_mock_decision {
	const char *id;        /* "1", "2", ...: decision i has id i + 1 */
	const char *type;      /* as proposed */
	const char *title;     /* as proposed */
	const char *reasoning; /* as proposed; "" for NULL */
	double      amount;    /* as proposed, or a modify's "amount" */
	double      confidence;
	/* The map it runs with: as proposed ({}, 1 byte, for none), or as
	 * last modified. */
	const void *params;
	size_t      params_len;
	/* After a modify, the map first proposed; else NULL, 0. */
	const void *proposed_params;
	size_t      proposed_params_len;
	const char *risk;  /* "low", "medium", "high"; again on modify */
	const char *state; /* "pending", "approved", "rejected", "expired" */
	const char *by;    /* "policy", AGENTD_MOCK_PERSON; "" if pending */
	const char *note;  /* the person's note or reason; "" if none */
	unsigned    delivered; /* outcomes agentd_mock_run() delivered */
};

/* Decisions proposed, in order; i from 0. */
size_t agentd_mock_decisions(const agentd_mock *m);
/* Decision i into *out.  AGENTD_ENOENT if there is no decision i. */
int agentd_mock_decision(
    const agentd_mock *m, size_t i, struct agentd_mock_decision *out);

/* ---- who calls --------------------------------------------------------- */

/*
 * What host->request_caller() answers for the requests delivered from now
 * on (agentd_mock_send(), agentd_mock_request()): caller (borrowed for the
 * call) plays the agent, or "agentctl" / "http" for the operator, that
 * sent them.  "agentctl" until set.  AGENTD_EINVAL for a caller that is not
 * an agent name.
 */
int agentd_mock_caller(agentd_mock *m, const char *caller);

/* ---- state with a TTL --------------------------------------------------- */

/*
 * host->state_put_ttl() expires keys on the mock's own clock, which moves
 * only by this call (never by itself): a key put with ttl_ms is gone for
 * state_get (AGENTD_ENOENT), state_del (AGENTD_ENOENT) and state_scan once
 * the clock has moved ttl_ms past its put.  AGENTD_EINVAL past
 * AGENTD_STATE_TTL_MAX.  Timers (host->timer_start) run on the same clock:
 * see agentd_mock_timers() below.
 */
int agentd_mock_clock_advance(agentd_mock *m, uint64_t ms);

/* ---- counters ----------------------------------------------------------- */

/*
 * host->count() adds up as in the worker (the same code, the same rules
 * and limits: AGENTD_EINVAL, AGENTD_ETOOBIG past AGENTD_COUNTERS_MAX
 * names).  What the plugin counted so far under name (borrowed for the
 * call), 0 for a name it never counted; *exists (may be NULL) says
 * whether it did, even with delta 0.
 */
int64_t agentd_mock_counter(
    const agentd_mock *m, const char *name, int *exists);
/* How many names the plugin counted. */
size_t agentd_mock_counters(const agentd_mock *m);

/* ---- outbound HTTP ------------------------------------------------------ */

/*
 * host->http_async goes to a handler the test registers, which plays the
 * server, once per attempt.  The request is checked first with agentd's
 * rules (sdk/http_rules.c, the same code): a URL whose host is not in the
 * allow-list (agentd_mock_http_allow(); none by default, as an agent
 * without http { allow }) is AGENTD_EDENIED and never reaches the handler;
 * more than max_concurrent outstanding is AGENTD_EBUSY.  An answer whose
 * body is over max_response ends with AGENTD_ETOOBIG.  Retries follow the
 * request's policy and agentd's rules, at once (the mock never sleeps: the
 * wait each would have had, Retry-After included, adds up in
 * agentd_mock_http_waited()).  Callbacks run from agentd_mock_run(), never
 * inside http_async.  agentd_mock_free() gives requests still outstanding
 * AGENTD_ECLOSED before the plugin's fini, as agentd does.
 */

/* One attempt, as the handler sees it; all borrowed until it returns. */
struct agentd_mock_http_call {
	size_t                           id;      /* 0, 1, ... per request */
	unsigned                         attempt; /* 1 for the first */
	const char                      *method;  /* defaults applied */
	const char                      *url;
	const char                      *host; /* lower case */
	const struct agentd_http_header *headers;
	size_t                           nheaders;
	const void                      *body;
	size_t                           body_len;
	uint32_t timeout_ms; /* what this attempt is allowed */
};

/* A handler's return: it will answer later (agentd_mock_http_answer()). */
#define AGENTD_MOCK_HTTP_LATER (-1)

/*
 * Answer call->id now with agentd_mock_http_answer() (or _fail()) and
 * return 0; or return AGENTD_MOCK_HTTP_LATER and answer later; or return an
 * agentd_error, the attempt's failure as the worker reports it
 * (AGENTD_EUNAVAIL: no connection, AGENTD_ETIMEOUT: it timed out).
 * Without a handler every attempt is AGENTD_EUNAVAIL.
 */
typedef int (*agentd_mock_http_fn)(
    void *arg, agentd_mock *m, const struct agentd_mock_http_call *call);

/* Play the server with fn(arg, ...) from now on; NULL removes it. */
int agentd_mock_on_http(agentd_mock *m, agentd_mock_http_fn fn, void *arg);

/*
 * Add pattern (borrowed for the call) to the allow-list, as a line of the
 * agent's http { allow = { } }: "api.example.com", "*.myshopify.com",
 * "127.0.0.1", "[::1]".  AGENTD_EINVAL for one agentd's configuration
 * refuses.
 */
int agentd_mock_http_allow(agentd_mock *m, const char *pattern);

/* http { max_concurrent, max_response, timeout } (ms); 0: agentd's
 * defaults, 256, 1 MiB and 30 s. */
int agentd_mock_http_limits(agentd_mock *m, unsigned max_concurrent,
    size_t max_response, uint32_t timeout_ms);

/*
 * The current attempt of request id answered: an HTTP code (100-999),
 * headers and body, all borrowed for the call; or failed with status (an
 * agentd_error).  Its outcome (a retry, or the plugin's callback) comes at
 * the next agentd_mock_run().  AGENTD_ENOENT for no such request,
 * AGENTD_EEXIST when it is not waiting for an answer.
 */
int agentd_mock_http_answer(agentd_mock *m, size_t id, int http_code,
    const struct agentd_http_header *headers, size_t nheaders,
    const void *body, size_t len);
int agentd_mock_http_fail(agentd_mock *m, size_t id, int status);

/* Requests made, and those whose callback has not run yet. */
size_t agentd_mock_http_count(const agentd_mock *m);
size_t agentd_mock_http_outstanding(const agentd_mock *m);

/* The waits request id's retries would have had in agentd, in all. */
int agentd_mock_http_waited(
    const agentd_mock *m, size_t id, uint64_t *waited_ms);

/* ---- own descriptors and timers (ABI 1.5) ------------------------------- */

/*
 * host->watch_fd, timer_start and timer_cancel keep the worker's table
 * (the same code: the same errors, limits and order of callbacks), and
 * the test plays the worker's loop with the two calls below.
 *
 * Descriptors are real ones (a pipe, a socket pair): agentd_mock_poll()
 * is one turn of the loop over those the plugin watches, poll(2) waiting
 * at most timeout_ms (-1: until one is ready; 0: not at all) for one to
 * be ready, then the callback of each that is, with what it is ready for
 * (AGENTD_FD_READ, _WRITE, _ERROR), in the order they were first watched.
 * A watch that a callback ends or replaces is called for what it asks
 * now, or not at all; one added in this turn waits for the next.  Returns
 * how many callbacks ran: 0 at once when nothing is watched, 0 when
 * nothing was ready in time.  It runs no timer.
 *
 * Timers run on the mock's clock, from agentd_mock_clock_advance(): once
 * the clock has moved, every timer due then runs, earliest first (those
 * due together in the order they were started), as a worker's loop
 * runs them after it was held that long: a periodic timer whose
 * periods passed several times runs once, and is next due at its first
 * period after the new time.  Advance by the period to see each tick.
 * A timer started with first_ms 0 runs at the next advance
 * (agentd_mock_clock_advance(m, 0) will do); one a timer's callback
 * starts never runs in the advance that ran that callback.
 *
 * agentd_mock_request() neither polls nor moves the clock: for a request
 * answered from a watch or a timer, agentd_mock_send(), then the turns,
 * then agentd_mock_answer().
 *
 * agentd_mock_free() ends every watch and timer before the plugin's fini,
 * without a callback, as a stopping worker does; calls from fini are
 * AGENTD_ECLOSED.  agentd_mock_errmsg() says why a call was refused.
 *
 * host->state_batch_async (ABI 1.6) writes at once, with state_batch's
 * checks; its callbacks (status 0) run from agentd_mock_poll() first, in
 * the order the batches were made, before it waits (then 0 ms), or from
 * agentd_mock_run() with the others; those still waiting run before fini
 * in agentd_mock_free(), as a stopping worker's do.  The returned count
 * includes them.
 */
size_t agentd_mock_poll(agentd_mock *m, int timeout_ms);

/* Timers running: started and not cancelled, a one-shot not yet run. */
size_t agentd_mock_timers(const agentd_mock *m);

/* ---- what the plugin did ----------------------------------------------- */

/*
 * Events the plugin published, in order, with the approvals.notify events
 * of its medium decisions where agentd publishes them; i from 0.
 */
size_t agentd_mock_published_count(const agentd_mock *m);
/*
 * Event i: *topic and *body borrowed, valid until agentd_mock_free().
 * AGENTD_ENOENT if there is no event i.
 */
int agentd_mock_published(const agentd_mock *m, size_t i, const char **topic,
    const void **body, size_t *len);

/* Audit records the plugin appended, in order; i from 0. */
size_t agentd_mock_audit_count(const agentd_mock *m);
/*
 * Record i: *kind, *summary and *detail (NULL, length 0 when the plugin
 * gave none) borrowed, valid until agentd_mock_free().  AGENTD_ENOENT if
 * there is no record i.
 */
int agentd_mock_audit(const agentd_mock *m, size_t i, const char **kind,
    const char **summary, const void **detail, size_t *detail_len);

/* Lines the plugin logged through host->log(). */
size_t agentd_mock_log_count(const agentd_mock *m);
/*
 * The last line logged, or NULL if none; *level (may be NULL) gets its
 * agentd_log_level.  Borrowed, valid until the plugin logs again or
 * agentd_mock_free().
 */
const char *agentd_mock_last_log(const agentd_mock *m, int *level);

/* ---- test cases ------------------------------------------------------- */

/*
 * A TAP producer for a plugin's test program, and test cases that each
 * run in a child process:
 *
 *   static void
 *   quotes(void *so)
 *   {
 *       agentd_mock *m;
 *
 *       agentd_mock_new(NULL, &m);
 *       agentd_mock_ok(agentd_mock_load(m, so) == 0, "the plugin loads");
 *       ...
 *       agentd_mock_free(m);
 *   }
 *
 *   int
 *   main(int argc, char **argv)
 *   {
 *       agentd_mock_run_case("quotes", quotes, argv[1]);
 *       agentd_mock_run_case("settings", settings, argv[1]);
 *       return agentd_mock_done();
 *   }
 *
 * prints "ok 1 - the plugin loads" ... and, at the end, "1..N".  When the
 * plugin crashes in a case, the case's child dies and its parent prints
 *
 *   not ok 4 - quotes: killed by signal 11 (SIGSEGV: Segmentation fault)
 *       after 3 result(s)
 *
 * (on one line), then runs the next case.  To see where, run the test
 * under gdb, or let the child dump core (ulimit -c unlimited).
 */

/* A case's child ends with SIGALRM after this many seconds: a plugin that
 * hangs fails its case instead of the whole run. */
#define AGENTD_MOCK_CASE_SECONDS 60

/*
 * One TAP result: "ok N - NAME" when cond is non-zero, else "not ok N -
 * NAME", NAME made from fmt as printf does.  N counts every result of the
 * program, those of the cases' children included.  Standard output is
 * flushed after the line, so a crash right after loses nothing (a test's
 * own printf("# ...") diagnostics are flushed with it: fflush(stdout)
 * before something that may crash).  Returns cond != 0.
 */
int agentd_mock_ok(int cond, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

typedef void (*agentd_mock_case_fn)(void *arg);

/*
 * Run test case fn(arg) in a child process (fork(), no exec) and wait for
 * it.  The child starts with a copy of the test's memory: make the mock
 * inside the case; nothing the case does reaches the parent but its
 * results (agentd_mock_ok()) and what it printed.  When the child dies of
 * a signal, exits with another status than 0, or runs longer than
 * AGENTD_MOCK_CASE_SECONDS, the parent adds one failed result naming the
 * case, the signal or status and how many results the case gave before;
 * a case that gave no result and ended well gets "ok N - name".  name is
 * borrowed for the call.  Returns 1 if the case passed (all its results
 * passed, it ended well), else 0.  Cases may run cases.
 */
int agentd_mock_run_case(const char *name, agentd_mock_case_fn fn, void *arg);

/*
 * Print the TAP plan "1..N" for the N results printed, and return what
 * main() should: 0 if all passed, 1 otherwise.
 */
int agentd_mock_done(void);

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_MOCK_H */
