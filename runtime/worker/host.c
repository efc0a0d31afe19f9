#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/ops.h"
#include "common/util.h"
#include "sdk/contract.h"
#include "sdk/counters.h"
#include "worker/fdtimer.h"
#include "worker/host.h"
#include "worker/http.h"

struct agentd_request {
	uint64_t id;
	char     src[AD_NAME_MAX];
	int      answered;
	LIST_ENTRY(agentd_request) link; /* ctx->requests: not yet freed */
};

/*
 * The request whose on_request is running: answering it from inside the
 * callback only marks it, and ad_host_request frees it on return, so the
 * host can still tell "answered" from "failed without answering".
 */
static agentd_request *in_callback;

/*
 * An envelope as an nng message no larger than agentd accepts: checked
 * here so that the plugin learns of it (AGENTD_ETOOBIG), instead of agentd
 * dropping the connection.
 */
static int
envelope_msg(agentd_ctx *ctx, const struct ad_envelope *e, nng_msg **out)
{
	int rv;

	if ((rv = ad_envelope_to_msg(e, out)) != 0)
		return rv;
	if (nng_msg_len(*out) > ctx->max_message) {
		nng_msg_free(*out);
		*out = NULL;
		return AGENTD_ETOOBIG;
	}
	return 0;
}

int
ad_host_out(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	nng_msg *msg;
	int      rv;

	if ((rv = envelope_msg(ctx, e, &msg)) != 0)
		return rv;
	if (ctx->out != NULL
	    && nng_msg_len(ctx->out) + nng_msg_len(msg) > ctx->max_message)
		ad_host_out_flush(ctx);
	if (ctx->out == NULL) {
		ctx->out = msg;
		return 0;
	}
	rv = ad_msg_append(ctx->out, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
	return ad_nng_error(rv);
}

/*
 * What host->count() added since the last message, as a "counters"
 * control envelope at the end of the batch (two when more than
 * AD_COUNTERS_PER_MESSAGE names changed): agentd adds it to the
 * instance's generation (doc/protocol.md).  Sent with whatever else the
 * round sends, so counting costs no message of its own.
 */
static size_t
counters_out(struct agentd_ctx *ctx)
{
	struct ad_envelope e;
	agentd_writer     *w;
	size_t             len, n;

	if (ctx->counters.ndirty == 0 || agentd_writer_new(&w) != 0)
		return 0;
	n = ad_counters_write_unsent(
	    &ctx->counters, w, AD_COUNTERS_PER_MESSAGE);
	memset(&e, 0, sizeof(e));
	e.id   = ad_envelope_next_id();
	e.kind = AD_KIND_CONTROL;
	snprintf(e.dst, sizeof(e.dst), "counters");
	snprintf(e.src, sizeof(e.src), "%s", ctx->agent);
	snprintf(e.src_instance, sizeof(e.src_instance), "%s", ctx->instance);
	e.body     = agentd_writer_data(w, &len);
	e.body_len = len;
	/* AD_COUNTERS_PER_MESSAGE entries fit in the smallest message. */
	if (ad_host_out(ctx, &e) != 0)
		ad_warn("%s/%s: counters not sent", ctx->agent, ctx->instance);
	agentd_writer_free(w);
	return n;
}

void
ad_host_out_flush(struct agentd_ctx *ctx)
{
	nng_msg *msg;

	while (counters_out(ctx) > 0)
		;
	msg      = ctx->out;
	ctx->out = NULL;
	if (msg == NULL)
		return;
	/* agentd is gone (its callers were answered) or not reading. */
	if (ad_wloop_is_lost(&ctx->loop) || nng_sendmsg(ctx->rep, msg, 0) != 0)
		nng_msg_free(msg);
}

static int
send_reply(agentd_ctx *ctx, agentd_request *req, int status, const void *body,
    size_t len)
{
	struct ad_envelope e;

	ad_envelope_reply(&e, req->id, req->src, status, body, len);
	snprintf(e.src, sizeof(e.src), "%s", ctx->agent);
	snprintf(e.src_instance, sizeof(e.src_instance), "%s", ctx->instance);
	return ad_host_out(ctx, &e);
}

/* Answer with a code and {"error": message}. */
static int
send_error(agentd_ctx *ctx, agentd_request *req, int err, const char *message)
{
	agentd_writer *w;
	const void    *body;
	size_t         len;
	int            rv;

	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w, 1);
	agentd_write_str(w, "error");
	agentd_write_str(w, message ? message : agentd_strerror(err));
	body = agentd_writer_data(w, &len);
	rv   = send_reply(ctx, req, err, body, len);
	agentd_writer_free(w);
	return rv;
}

static void
request_done(agentd_ctx *ctx, agentd_request *req)
{
	req->answered = 1;
	if (req == in_callback)
		return;
	LIST_REMOVE(req, link);
	free(req);
	ctx->pending--;
}

void
ad_host_requests_free(struct agentd_ctx *ctx)
{
	agentd_request *req;

	if (ctx->pending > 0)
		ad_info("%s/%s: stopping with %u request(s) never answered; "
		        "agentd answers their callers",
		    ctx->agent, ctx->instance, ctx->pending);
	while ((req = LIST_FIRST(&ctx->requests)) != NULL) {
		LIST_REMOVE(req, link);
		free(req);
	}
	ctx->pending = 0;
}

static int
host_reply(agentd_ctx *ctx, agentd_request *req, const void *body, size_t len)
{
	int rv;

	if (ctx == NULL || req == NULL || (body == NULL && len != 0)
	    || req->answered)
		return AGENTD_EINVAL;
	rv = send_reply(ctx, req, 0, body, len);
	if (rv == AGENTD_ETOOBIG) /* the caller hears back, the plugin why */
		send_error(ctx, req, AGENTD_ETOOBIG,
		    "the reply was over max_message_size");
	request_done(ctx, req);
	return rv;
}

static int
host_reply_error(
    agentd_ctx *ctx, agentd_request *req, int err, const char *message)
{
	int rv;

	if (ctx == NULL || req == NULL || err <= 0 || req->answered)
		return AGENTD_EINVAL;
	rv = send_error(ctx, req, err, message);
	request_done(ctx, req);
	return rv;
}

void
ad_host_request(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	agentd_request *req;
	int             rv;

	req     = ad_xcalloc(1, sizeof(*req));
	req->id = e->id;
	snprintf(req->src, sizeof(req->src), "%s", e->src);
	LIST_INSERT_HEAD(&ctx->requests, req, link);
	ctx->pending++;
	atomic_fetch_add(&ctx->handled, 1);
	in_callback = req;
	rv = ctx->desc->on_request(ctx->state, req, e->body, e->body_len);
	in_callback = NULL;
	if (!req->answered && rv != 0) {
		/* Failed without answering: answer for it, so the caller
		 * always hears back. */
		host_reply_error(ctx, req, rv < 0 ? AGENTD_EPLUGIN : rv,
		    "the plugin failed the request");
	} else if (req->answered) {
		request_done(ctx, req);
	}
}

/* ---- calls to other agents ------------------------------------------ */

#define DEFAULT_CALL_TIMEOUT_MS 30000

/*
 * One asynchronous call: an nng context and aio of the calls socket.
 * Finished calls go to a free list and are reused, so a steady stream of
 * calls opens no context and allocates no aio.
 */
struct ad_acall {
	struct ad_acall   *next_free;
	struct agentd_ctx *ctx;
	nng_ctx            c;
	nng_aio           *aio;
	int                sending;
	agentd_reply_fn    cb;
	void              *arg;
	int                status;
	nng_msg           *reply;
	/* on its way: in ctx->busy_calls */
	struct ad_acall *busy_next, **busy_prev;
};

static void
busy_unlink(struct ad_acall *c)
{
	*c->busy_prev = c->busy_next;
	if (c->busy_next != NULL)
		c->busy_next->busy_prev = c->busy_prev;
}

/* An envelope from this instance to agentd (body borrowed). */
static void
outgoing(agentd_ctx *ctx, enum ad_kind kind, const char *dst, const void *body,
    size_t len, int timeout_ms, struct ad_envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->id          = ad_envelope_next_id();
	e->kind        = kind;
	e->deadline_ms = ad_wall_ms() + timeout_ms;
	e->body        = body;
	e->body_len    = len;
	/* Informative only: agentd sets the source from the connection. */
	snprintf(e->src, sizeof(e->src), "%s", ctx->agent);
	snprintf(e->dst, sizeof(e->dst), "%s", dst);
}

/*
 * A message to agentd's calls socket: a request for another agent, or a
 * control operation agentd performs for this instance ("audit.append").
 */
static int
calls_msg(agentd_ctx *ctx, enum ad_kind kind, const char *dst,
    const void *body, size_t len, int timeout_ms, nng_msg **out)
{
	struct ad_envelope e;

	if (ctx == NULL || (body == NULL && len))
		return AGENTD_EINVAL;
	outgoing(ctx, kind, dst, body, len, timeout_ms, &e);
	return envelope_msg(ctx, &e, out);
}

/* The request envelope of a call to another agent. */
static int
call_msg(agentd_ctx *ctx, const char *agent, const void *body, size_t len,
    int timeout_ms, nng_msg **out)
{
	if (!ad_valid_name(agent))
		return AGENTD_EINVAL;
	return calls_msg(
	    ctx, AD_KIND_REQUEST, agent, body, len, timeout_ms, out);
}

/*
 * Send msg (consumed) on the instance's synchronous context and wait for
 * the answer: *reply is caller owns, free with nng_msg_free().
 */
static int
sync_roundtrip(agentd_ctx *ctx, nng_msg *msg, int timeout_ms, nng_msg **reply)
{
	int64_t busy_since_ms;
	int     rv;

	if (ad_wloop_is_lost(&ctx->loop)) {
		nng_msg_free(msg);
		return AGENTD_ECLOSED;
	}
	/* Replies given so far leave now, not after the wait. */
	ad_host_out_flush(ctx);
	/* Waiting for agentd is not the plugin being stuck. */
	busy_since_ms = atomic_exchange(&ctx->busy_since_ms, 0);
	/* agentd answers "timeout" at the deadline; the margin only guards
	 * against agentd itself being gone. */
	nng_aio_set_timeout(ctx->sync_aio, timeout_ms + 2000);
	nng_aio_set_msg(ctx->sync_aio, msg);
	nng_ctx_send(ctx->sync_ctx, ctx->sync_aio);
	nng_aio_wait(ctx->sync_aio);
	if ((rv = nng_aio_result(ctx->sync_aio)) != 0) {
		nng_msg_free(msg);
		goto out;
	}
	nng_ctx_recv(ctx->sync_ctx, ctx->sync_aio);
	nng_aio_wait(ctx->sync_aio);
	if ((rv = nng_aio_result(ctx->sync_aio)) == 0)
		*reply = nng_aio_get_msg(ctx->sync_aio);
out:
	atomic_store(
	    &ctx->busy_since_ms, busy_since_ms != 0 ? ad_now_ms() : 0);
	return ad_nng_error(rv);
}

/* A reply message into (status, body): the reply's status wins. */
static int
call_result(agentd_ctx *ctx, nng_msg *reply, const void **body, size_t *len)
{
	struct ad_envelope e;

	if (ad_envelope_decode(
	        nng_msg_body(reply), nng_msg_len(reply), ctx->max_message, &e)
	        != 0
	    || e.kind != AD_KIND_REPLY)
		return AGENTD_EPROTO;
	*body = e.body;
	*len  = e.body_len;
	return e.status;
}

/*
 * The line host->call_error() answers for a call to agent that failed
 * with rv, into out: the message of the reply body (borrowed) when it has
 * one, else the worker's own, naming the callee.
 */
static void
call_error_of(const char *agent, int rv, const void *body, size_t len,
    char out[AD_CALL_ERROR_MAX + 1])
{
	char own[AD_NAME_MAX + 128];

	snprintf(own, sizeof(own), "call to \"%.*s\": %s", AD_NAME_MAX - 1,
	    agent != NULL ? agent : "(null)", agentd_strerror(rv));
	ad_call_error_text(body, len, own, out);
}

/* host->call() failed with rv: its line, until the next host->call(). */
static int
call_failed(
    agentd_ctx *ctx, const char *agent, int rv, const void *body, size_t len)
{
	call_error_of(agent, rv, body, len, ctx->call_error_last);
	ctx->call_error = ctx->call_error_last;
	return rv;
}

/*
 * Run a call_async callback with (status, body): a failed call's body
 * (borrowed) gives the line host->call_error() answers while cb runs;
 * cb itself sees no body, as agent.h says.  A host->call() inside cb
 * replaces that line with its own (or none).
 */
static void
reply_run(agentd_ctx *ctx, agentd_reply_fn cb, void *arg, const char *agent,
    int status, const void *body, size_t len)
{
	char        line[AD_CALL_ERROR_MAX + 1];
	const char *before = ctx->call_error;

	if (status == 0) {
		cb(arg, 0, body, len);
		return;
	}
	call_error_of(agent, status, body, len, line);
	ctx->call_error = line;
	cb(arg, status, NULL, 0);
	if (ctx->call_error == line)
		ctx->call_error = before;
}

static int
host_call(agentd_ctx *ctx, const char *agent, const void *body, size_t len,
    int timeout_ms, void **reply, size_t *reply_len)
{
	nng_msg    *msg;
	const void *rbody = NULL;
	size_t      rlen  = 0;
	int         rv;

	if (ctx == NULL)
		return AGENTD_EINVAL;
	ctx->call_error = NULL;
	if (reply == NULL || reply_len == NULL)
		return call_failed(ctx, agent, AGENTD_EINVAL, NULL, 0);
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
	if ((rv = call_msg(ctx, agent, body, len, timeout_ms, &msg)) != 0
	    || (rv = sync_roundtrip(ctx, msg, timeout_ms, &msg)) != 0)
		return call_failed(ctx, agent, rv, NULL, 0);
	rv = call_result(ctx, msg, &rbody, &rlen);
	if (rv == 0) {
		*reply = ad_xmalloc(rlen);
		memcpy(*reply, rbody, rlen);
		*reply_len = rlen;
	} else {
		call_failed(ctx, agent, rv, rbody, rlen);
	}
	nng_msg_free(msg);
	return rv;
}

static const char *
host_call_error(agentd_ctx *ctx)
{
	return ctx != NULL ? ctx->call_error : NULL;
}

/* nng thread: send done, then reply in; the result goes to the loop. */
static void
acall_cb(void *arg)
{
	struct ad_acall *c  = arg;
	int              rv = nng_aio_result(c->aio);
	struct ad_witem *it;

	if (rv == 0 && c->sending) {
		c->sending = 0;
		nng_ctx_recv(c->c, c->aio);
		return;
	}
	if (rv != 0 && c->sending)
		nng_msg_free(nng_aio_get_msg(c->aio));
	/* nng's REQ fails a request whose connection closed after it was
	 * sent with ECONNRESET: agentd is gone, and whether it acted on the
	 * request is not known; agent.h calls that AGENTD_ECLOSED. */
	c->status = rv == NNG_ECONNRESET ? AGENTD_ECLOSED : ad_nng_error(rv);
	c->reply  = rv == 0 ? nng_aio_get_msg(c->aio) : NULL;
	it        = ad_xcalloc(1, sizeof(*it));
	it->call  = c;
	ad_wloop_post(&c->ctx->loop, it);
}

static void audit_batch_done(
    void *arg, int status, const void *body, size_t len);
static void propose_batch_done(
    void *arg, int status, const void *body, size_t len);
struct ad_propose_batch;
static void propose_batch_free(struct ad_propose_batch *b);
static void agents_found(void *arg, int status, const void *body, size_t len);

/* Send msg (consumed) on a context of its own; cb runs on the loop. */
static int
acall_start(agentd_ctx *ctx, nng_msg *msg, int timeout_ms, agentd_reply_fn cb,
    void *arg)
{
	struct ad_acall *c;
	int              rv;

	if ((c = ctx->free_calls) != NULL) {
		ctx->free_calls = c->next_free;
	} else {
		c      = ad_xcalloc(1, sizeof(*c));
		c->ctx = ctx;
		if ((rv = nng_ctx_open(&c->c, ctx->calls)) != 0
		    || (rv = nng_aio_alloc(&c->aio, acall_cb, c)) != 0) {
			nng_msg_free(msg);
			free(c);
			return ad_nng_error(rv);
		}
	}
	c->cb      = cb;
	c->arg     = arg;
	c->sending = 1;
	ctx->acalls++;
	c->busy_next = ctx->busy_calls;
	if (c->busy_next != NULL)
		c->busy_next->busy_prev = &c->busy_next;
	c->busy_prev    = &ctx->busy_calls;
	ctx->busy_calls = c;
	nng_aio_set_timeout(c->aio, timeout_ms + 2000);
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->c, c->aio);
	return 0;
}

/*
 * A call_async call: its request leaves on the instance's channel with
 * the round's other messages, and agentd's reply comes back on it, so a
 * plugin keeping many calls in flight sends and receives them in batches.
 */
struct ad_pcall {
	struct ad_pcall *next;
	uint64_t         id;
	int64_t          expires_ms; /* monotonic */
	agentd_reply_fn  cb;
	void            *arg;
	char             agent[AD_NAME_MAX]; /* the callee, for its errors */
};

/* agentd answers "timeout" at the deadline; this only guards against
 * agentd never answering. */
#define PCALL_GRACE_MS 2000

static int
host_call_async(agentd_ctx *ctx, const char *agent, const void *body,
    size_t len, int timeout_ms, agentd_reply_fn cb, void *arg)
{
	struct ad_envelope e;
	struct ad_pcall   *c, **b;
	int                rv;

	if (ctx == NULL || cb == NULL || (body == NULL && len)
	    || !ad_valid_name(agent))
		return AGENTD_EINVAL;
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
	outgoing(ctx, AD_KIND_REQUEST, agent, body, len, timeout_ms, &e);
	if ((rv = ad_host_out(ctx, &e)) != 0)
		return rv;
	c             = ad_xcalloc(1, sizeof(*c));
	c->id         = e.id;
	c->expires_ms = ad_now_ms() + timeout_ms + PCALL_GRACE_MS;
	c->cb         = cb;
	c->arg        = arg;
	snprintf(c->agent, sizeof(c->agent), "%s", agent);
	b       = &ctx->pcalls[e.id % AD_PCALL_BUCKETS];
	c->next = *b;
	*b      = c;
	ctx->acalls++;
	return 0;
}

void
ad_host_reply_in(struct agentd_ctx *ctx, const struct ad_envelope *e)
{
	struct ad_pcall **b = &ctx->pcalls[e->correlation % AD_PCALL_BUCKETS];
	struct ad_pcall  *c;

	for (; (c = *b) != NULL; b = &c->next) {
		if (c->id == e->correlation)
			break;
	}
	if (c == NULL)
		return; /* timed out here already */
	*b = c->next;
	ctx->acalls--;
	reply_run(
	    ctx, c->cb, c->arg, c->agent, e->status, e->body, e->body_len);
	free(c);
}

void
ad_host_calls_expire(struct agentd_ctx *ctx)
{
	int64_t          now_ms = ad_now_ms();
	struct ad_pcall *c, **b;
	unsigned         i;

	if (ctx->acalls == 0 || now_ms - ctx->pcalls_checked_ms < 100)
		return;
	ctx->pcalls_checked_ms = now_ms;
	for (i = 0; i < AD_PCALL_BUCKETS; i++) {
		for (b = &ctx->pcalls[i]; (c = *b) != NULL;) {
			if (c->expires_ms > now_ms) {
				b = &c->next;
				continue;
			}
			*b = c->next;
			ctx->acalls--;
			reply_run(ctx, c->cb, c->arg, c->agent,
			    AGENTD_ETIMEOUT, NULL, 0);
			free(c);
		}
	}
}

void
ad_host_call_drop(struct agentd_ctx *ctx, struct ad_acall *c)
{
	busy_unlink(c);
	if (c->cb == audit_batch_done)
		free(c->arg);
	else if (c->cb == propose_batch_done)
		propose_batch_free(c->arg);
	else if (c->cb == agents_found)
		free(c->arg);
	if (c->reply != NULL)
		nng_msg_free(c->reply);
	nng_aio_free(c->aio);
	free(c);
	ctx->acalls--;
}

void
ad_host_calls_cancel(struct agentd_ctx *ctx)
{
	struct ad_acall *c;

	for (c = ctx->busy_calls; c != NULL; c = c->busy_next)
		nng_aio_cancel(c->aio);
}

void
ad_host_calls_free(struct agentd_ctx *ctx)
{
	struct ad_acall *c;
	struct ad_pcall *p;
	unsigned         i;

	/* Never answered (agentd went, or the worker is stopping): their
	 * callbacks are not run, as for calls on the calls socket. */
	for (i = 0; i < AD_PCALL_BUCKETS; i++) {
		while ((p = ctx->pcalls[i]) != NULL) {
			ctx->pcalls[i] = p->next;
			free(p);
		}
	}

	while ((c = ctx->free_calls) != NULL) {
		ctx->free_calls = c->next_free;
		nng_aio_free(c->aio);
		free(c);
	}
}

void
ad_host_call_done(struct agentd_ctx *ctx, struct ad_acall *c)
{
	const void *body   = NULL;
	size_t      len    = 0;
	int         status = c->status;

	busy_unlink(c);
	if (status == 0)
		status = call_result(ctx, c->reply, &body, &len);
	c->cb(
	    c->arg, status, status == 0 ? body : NULL, status == 0 ? len : 0);
	if (c->reply != NULL)
		nng_msg_free(c->reply);
	c->reply        = NULL;
	c->next_free    = ctx->free_calls;
	ctx->free_calls = c;
	ctx->acalls--;
}

/* ---- who has a capability (ABI 1.5) ---------------------------------- */

/*
 * host->find_agents: the "agents" operation (supervisor/discovery.h) on
 * calls.sock, on a context of its own as a propose batch is, so it
 * leaves at once; agentd answers from its running configuration.
 */
struct ad_find {
	agentd_agents_fn cb;
	void            *arg;
};

/* The names of an "agents" answer, NUL-terminated copies in one block:
 * *names caller owns, free with free().  0 or AGENTD_EPROTO. */
static int
found_names(const void *body, size_t len, const char ***names, size_t *n)
{
	agentd_doc         *doc = NULL;
	const agentd_value *list;
	const char        **v;
	char               *s;
	size_t              i, k;
	int                 rv = 0;

	*names = NULL;
	*n     = 0;
	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	list = agentd_map_get(agentd_doc_root(doc), "agents");
	k    = agentd_len(list);
	v    = ad_xcalloc(1, (k + 1) * (sizeof(*v) + AGENTD_NAME_MAX + 1));
	s    = (char *)(v + k + 1);
	for (i = 0; rv == 0 && i < k; i++, s += AGENTD_NAME_MAX + 1) {
		rv   = agentd_get_strcpy(
		           agentd_map_get(agentd_array_at(list, i), "name"), s,
		           AGENTD_NAME_MAX + 1)
                        == 0
		      ? 0
		      : AGENTD_EPROTO;
		v[i] = s;
	}
	if (agentd_type_of(list) != AGENTD_T_ARRAY)
		rv = AGENTD_EPROTO;
	agentd_doc_free(doc);
	if (rv != 0) {
		free(v);
		return rv;
	}
	*names = v;
	*n     = k;
	return 0;
}

/* agentd answered (the instance's thread): the plugin's callback. */
static void
agents_found(void *arg, int status, const void *body, size_t len)
{
	struct ad_find *f     = arg;
	const char    **names = NULL;
	size_t          n     = 0;

	if (status == 0)
		status = found_names(body, len, &names, &n);
	f->cb(f->arg, status, status == 0 ? names : NULL, status == 0 ? n : 0);
	free(names);
	free(f);
}

static int
host_find_agents(
    agentd_ctx *ctx, const char *capability, agentd_agents_fn cb, void *arg)
{
	struct ad_find *f;
	agentd_writer  *w;
	const void     *body;
	nng_msg        *msg;
	size_t          len;
	int             rv;

	if (ctx == NULL || cb == NULL || !ad_valid_capability(capability))
		return AGENTD_EINVAL;
	if (ad_wloop_is_lost(&ctx->loop))
		return AGENTD_ECLOSED;
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "capability");
	agentd_write_str(w, capability);
	body = agentd_writer_data(w, &len);
	rv   = calls_msg(ctx, AD_KIND_CONTROL, AD_OP_AGENTS, body, len,
	      DEFAULT_CALL_TIMEOUT_MS, &msg);
	agentd_writer_free(w);
	if (rv != 0)
		return rv;
	f      = ad_xcalloc(1, sizeof(*f));
	f->cb  = cb;
	f->arg = arg;
	if ((rv = acall_start(
	         ctx, msg, DEFAULT_CALL_TIMEOUT_MS, agents_found, f))
	    != 0)
		free(f);
	return rv;
}

/* ---- events ------------------------------------------------------------ */

/* Batches are flushed after every callback, or sooner when this big. */
#define BATCH_FLUSH_BYTES (64 * 1024)

static int
host_publish(agentd_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct ad_envelope e;
	size_t             n, need;
	size_t             limit = ctx->max_message < BATCH_FLUSH_BYTES
	                ? ctx->max_message
	                : BATCH_FLUSH_BYTES;
	int                rv;

	if (ctx == NULL || !ad_valid_topic(topic) || (body == NULL && len))
		return AGENTD_EINVAL;
	need = len + strlen(topic) + AD_ENVELOPE_ALLOWANCE;
	if (need > ctx->max_message)
		return AGENTD_ETOOBIG;
	agentd_writer_data(ctx->batch, &n);
	if (n + need > limit)
		ad_host_flush(ctx);
	memset(&e, 0, sizeof(e));
	e.id       = ad_envelope_next_id();
	e.kind     = AD_KIND_EVENT;
	e.body     = body;
	e.body_len = len;
	snprintf(e.src, sizeof(e.src), "%s", ctx->agent);
	snprintf(e.dst, sizeof(e.dst), "%s", topic);
	if ((rv = ad_envelope_encode(&e, ctx->batch)) != 0)
		return rv;
	ctx->nbatch++;
	/* A topic this agent may not use still goes to agentd, which is the
	 * authority: it refuses it, counts it and logs it.  The plugin is
	 * told at once. */
	return ad_topic_any(ctx->publish, ctx->npublish, topic)
	    ? 0
	    : AGENTD_EDENIED;
}

void
ad_host_flush(struct agentd_ctx *ctx)
{
	const void *data;
	nng_msg    *msg;
	size_t      len;
	char        note[AD_RATELIMIT_NOTE];
	int         rv;

	ad_host_audit_flush(ctx, 0);
	ad_host_propose_flush(ctx, 0);
	ad_host_sbatch_flush(ctx, 0);
	if (ctx->nbatch == 0)
		return;
	data = agentd_writer_data(ctx->batch, &len);
	if ((rv = nng_msg_alloc(&msg, len)) != 0)
		abort(); /* only ENOMEM is possible */
	memcpy(nng_msg_body(msg), data, len);
	/* Blocks while agentd's hub is behind: back pressure on the
	 * publisher, never a silent drop. */
	if ((rv = nng_sendmsg(ctx->evout, msg, 0)) != 0) {
		nng_msg_free(msg);
		if (ad_ratelimit(
		        &ctx->unsent_log, ad_now_ms(), note, sizeof(note)))
			ad_warn("%s/%s: %u event(s) not sent: %s%s",
			    ctx->agent, ctx->instance, ctx->nbatch,
			    nng_strerror(rv), note);
	}
	agentd_writer_reset(ctx->batch);
	ctx->nbatch = 0;
}

void
ad_host_events(struct agentd_ctx *ctx, nng_msg *msg)
{
	const unsigned char *p   = nng_msg_body(msg);
	size_t               len = nng_msg_len(msg), used;
	struct ad_envelope   e;
	char                 note[AD_RATELIMIT_NOTE];

	while (len > 0) {
		if (ad_envelope_decode_prefix(
		        p, len, ctx->max_message, &e, &used)
		        != 0
		    || e.kind != AD_KIND_EVENT) {
			if (ad_ratelimit(&ctx->bad_events_log, ad_now_ms(),
			        note, sizeof(note)))
				ad_warn("%s/%s: dropped a malformed event "
				        "batch%s",
				    ctx->agent, ctx->instance, note);
			break;
		}
		if (ctx->desc->on_event != NULL)
			ctx->desc->on_event(
			    ctx->state, e.dst, e.body, e.body_len);
		p += used;
		len -= used;
	}
	nng_msg_free(msg);
}

/* ---- state: done by agentd, in this agent's namespace ---------------- */

/*
 * A state operation: agentd does it in this agent's namespace (taken from
 * the connection) and answers; *doc (may be NULL) gets the answer's body.
 */
static int
state_op(agentd_ctx *ctx, const char *op, agentd_writer *body,
    agentd_doc **doc, nng_msg **keep)
{
	const void *b, *rbody;
	nng_msg    *msg;
	size_t      len, rlen;
	int         rv;

	b  = agentd_writer_data(body, &len);
	rv = calls_msg(
	    ctx, AD_KIND_CONTROL, op, b, len, DEFAULT_CALL_TIMEOUT_MS, &msg);
	agentd_writer_free(body);
	if (rv != 0
	    || (rv = sync_roundtrip(ctx, msg, DEFAULT_CALL_TIMEOUT_MS, &msg))
	        != 0)
		return rv;
	if ((rv = call_result(ctx, msg, &rbody, &rlen)) == 0 && doc != NULL)
		rv = agentd_parse(rbody, rlen, doc);
	if (rv == 0 && doc != NULL)
		*keep = msg; /* the doc points into it */
	else
		nng_msg_free(msg);
	return rv;
}

/* {"key": bin, ["val": bin]} */
static agentd_writer *
key_body(const char *key, size_t keylen, const void *val, size_t vallen)
{
	agentd_writer *w;

	agentd_writer_new(&w);
	agentd_write_map(w, val != NULL ? 2 : 1);
	agentd_write_str(w, "key");
	agentd_write_bin(w, key, keylen);
	if (val != NULL) {
		agentd_write_str(w, "val");
		agentd_write_bin(w, val, vallen);
	}
	return w;
}

static int
host_state_get(agentd_ctx *ctx, const char *key, size_t keylen, void **val,
    size_t *vallen)
{
	agentd_doc *doc;
	nng_msg    *keep;
	const void *v;
	size_t      n;
	int         rv;

	if (ctx == NULL || key == NULL || val == NULL || vallen == NULL)
		return AGENTD_EINVAL;
	rv = state_op(
	    ctx, "state.get", key_body(key, keylen, NULL, 0), &doc, &keep);
	if (rv != 0)
		return rv;
	rv = agentd_get_bin(
	    agentd_map_get(agentd_doc_root(doc), "val"), &v, &n);
	if (rv == 0) {
		*val = ad_xmalloc(n + 1);
		memcpy(*val, v, n);
		((char *)*val)[n] = '\0';
		*vallen           = n;
	}
	agentd_doc_free(doc);
	nng_msg_free(keep);
	return rv != 0 ? AGENTD_EPROTO : 0;
}

static int
host_state_put(agentd_ctx *ctx, const char *key, size_t keylen,
    const void *val, size_t vallen)
{
	if (ctx == NULL || key == NULL || (val == NULL && vallen))
		return AGENTD_EINVAL;
	return state_op(ctx, "state.put",
	    key_body(key, keylen, val ? val : "", vallen), NULL, NULL);
}

static int
host_state_put_ttl(agentd_ctx *ctx, const char *key, size_t keylen,
    const void *val, size_t vallen, uint64_t ttl_ms)
{
	agentd_writer *w;

	if (ctx == NULL || key == NULL || (val == NULL && vallen)
	    || ttl_ms == 0 || ttl_ms > AGENTD_STATE_TTL_MAX)
		return AGENTD_EINVAL;
	/* {"key": bin, "val": bin, "ttl_ms": uint} */
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "key");
	agentd_write_bin(w, key, keylen);
	agentd_write_str(w, "val");
	agentd_write_bin(w, val ? val : "", vallen);
	agentd_write_str(w, "ttl_ms");
	agentd_write_uint(w, ttl_ms);
	return state_op(ctx, "state.put", w, NULL, NULL);
}

static int
host_state_del(agentd_ctx *ctx, const char *key, size_t keylen)
{
	if (ctx == NULL || key == NULL)
		return AGENTD_EINVAL;
	return state_op(
	    ctx, "state.del", key_body(key, keylen, NULL, 0), NULL, NULL);
}

static int
host_state_scan(agentd_ctx *ctx, const char *prefix, size_t prefixlen,
    agentd_scan_fn fn, void *arg)
{
	const agentd_value *entries;
	agentd_doc         *doc;
	nng_msg            *keep;
	size_t              i, n;
	int                 rv;

	if (ctx == NULL || fn == NULL || (prefix == NULL && prefixlen))
		return AGENTD_EINVAL;
	rv = state_op(ctx, "state.scan",
	    key_body(prefix ? prefix : "", prefixlen, NULL, 0), &doc, &keep);
	if (rv != 0)
		return rv;
	entries = agentd_map_get(agentd_doc_root(doc), "entries");
	n       = agentd_len(entries);
	for (i = 0; rv == 0 && i < n; i++) {
		const agentd_value *e = agentd_array_at(entries, i);
		const void         *k, *v;
		size_t              kl, vl;

		if (agentd_get_bin(agentd_array_at(e, 0), &k, &kl) != 0
		    || agentd_get_bin(agentd_array_at(e, 1), &v, &vl) != 0)
			rv = AGENTD_EPROTO;
		else
			rv = fn(arg, k, kl, v, vl);
	}
	agentd_doc_free(doc);
	nng_msg_free(keep);
	return rv;
}

static int
host_state_batch(agentd_ctx *ctx, const struct agentd_state_op *ops, size_t n)
{
	agentd_writer *w;
	size_t         i;

	if (ctx == NULL || (ops == NULL && n))
		return AGENTD_EINVAL;
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "ops");
	agentd_write_array(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		agentd_write_array(w, 2);
		agentd_write_bin(w, ops[i].key, ops[i].keylen);
		if (ops[i].val != NULL)
			agentd_write_bin(w, ops[i].val, ops[i].vallen);
		else
			agentd_write_nil(w);
	}
	return state_op(ctx, "state.batch", w, NULL, NULL);
}

/*
 * state_batch_async: batches wait in ctx->sbatches (each an array of
 * [key, val or nil], as state.batch's ops) with their callbacks in
 * ctx->sbatch_cbs, and leave as one "state.batches" message after the
 * plugin callback that made them.  One message at a time is on its way
 * (not audit_async's two): agentd could serve two of one instance on two
 * threads, and commit them out of order.  While one is committed the next
 * gathers, so the busier the instance the more batches share a commit.
 */
#define SBATCH_IN_FLIGHT 1
#define SBATCH_QUEUE_MAX 65536 /* batches queued and in flight */

struct sbatch_msg {
	struct agentd_ctx  *ctx;
	size_t              n;
	struct ad_sbatch_cb cbs[];
};

/* The statuses in agentd's answer {"rcs": [STATUS, ...]}, into rcs (n). */
static int
sbatch_rcs(const void *body, size_t len, int *rcs, size_t n)
{
	agentd_doc         *doc;
	const agentd_value *list;
	int64_t             v;
	int                 rv = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	list = agentd_map_get(agentd_doc_root(doc), "rcs");
	if (agentd_len(list) != n)
		rv = AGENTD_EPROTO;
	for (size_t i = 0; rv == 0 && i < n; i++) {
		if (agentd_get_int(agentd_array_at(list, i), &v) != 0 || v < 0)
			rv = AGENTD_EPROTO;
		else
			rcs[i] = (int)v;
	}
	agentd_doc_free(doc);
	return rv;
}

/* agentd answered a message of batches (the instance's thread). */
static void
sbatch_msg_done(void *arg, int status, const void *body, size_t len)
{
	struct sbatch_msg *b = arg;
	int               *rcs;
	size_t             i;

	rcs = ad_xcalloc(b->n, sizeof(*rcs));
	if (status == 0)
		status = sbatch_rcs(body, len, rcs, b->n);
	b->ctx->sbatch_outstanding -= b->n;
	b->ctx->sbatch_in_flight--;
	for (i = 0; i < b->n; i++)
		if (b->cbs[i].cb != NULL)
			b->cbs[i].cb(
			    b->cbs[i].arg, status != 0 ? status : rcs[i]);
	free(rcs);
	free(b);
}

/* Send what is queued; force: even with SBATCH_IN_FLIGHT on their way. */
static void
sbatch_send(struct agentd_ctx *ctx, int force)
{
	struct sbatch_msg *b;
	agentd_writer     *w;
	const void        *data, *body;
	nng_msg           *msg;
	size_t             len, blen, n = ctx->nsbatches;
	int                rv;

	if (n == 0 || (!force && ctx->sbatch_in_flight >= SBATCH_IN_FLIGHT))
		return;
	b      = ad_xmalloc(sizeof(*b) + n * sizeof(b->cbs[0]));
	b->ctx = ctx;
	b->n   = n;
	memcpy(b->cbs, ctx->sbatch_cbs, n * sizeof(b->cbs[0]));
	/* {"batches": [OPS, ...]}: the queued arrays end to end. */
	data = agentd_writer_data(ctx->sbatches, &len);
	if ((rv = agentd_writer_new(&w)) == 0) {
		agentd_write_map(w, 1);
		agentd_write_str(w, "batches");
		agentd_write_array(w, (uint32_t)n);
		if ((rv = ad_write_encoded(w, data, len, n)) == 0) {
			body = agentd_writer_data(w, &blen);
			rv   = calls_msg(ctx, AD_KIND_CONTROL, "state.batches",
			      body, blen, DEFAULT_CALL_TIMEOUT_MS, &msg);
		}
		agentd_writer_free(w);
	}
	agentd_writer_reset(ctx->sbatches);
	ctx->nsbatches = 0;
	ctx->sbatch_in_flight++;
	if (rv == 0)
		rv = acall_start(
		    ctx, msg, DEFAULT_CALL_TIMEOUT_MS, sbatch_msg_done, b);
	/* Not sent: the callbacks still run, from here, with the error. */
	if (rv != 0)
		sbatch_msg_done(b, rv, NULL, 0);
}

/* What ops take in a message, about; 0 with *bad set for a bad key. */
static size_t
sbatch_size(const struct agentd_state_op *ops, size_t n, int *bad)
{
	size_t bytes = 16;

	*bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].key == NULL || (ops[i].val == NULL && ops[i].vallen)
		    || ad_state_key_check(ops[i].key, ops[i].keylen, 0) != 0)
			*bad = 1;
		bytes
		    += ops[i].keylen + ops[i].vallen + AD_SCAN_ENTRY_OVERHEAD;
	}
	return bytes;
}

static int
host_state_batch_async(agentd_ctx *ctx, const struct agentd_state_op *ops,
    size_t n, void (*cb)(void *arg, int status), void *arg)
{
	size_t need, len;
	int    bad;

	if (ctx == NULL || (ops == NULL && n))
		return AGENTD_EINVAL;
	need = sbatch_size(ops, n, &bad);
	if (bad)
		return AGENTD_EINVAL;
	if (need + AD_ENVELOPE_ALLOWANCE + 64 > ctx->max_message)
		return AGENTD_ETOOBIG;
	if (ctx->sbatch_outstanding >= SBATCH_QUEUE_MAX)
		return AGENTD_EBUSY;
	if (ctx->sbatches == NULL && agentd_writer_new(&ctx->sbatches) != 0)
		return AGENTD_ENOMEM;
	/* A message stays under agentd's size: send what is queued first
	 * if this batch would not fit beside it. */
	agentd_writer_data(ctx->sbatches, &len);
	if (ctx->nsbatches > 0
	    && len + need + AD_ENVELOPE_ALLOWANCE + 64 > ctx->max_message)
		sbatch_send(ctx, 1);
	if (ctx->nsbatches == ctx->sbatch_cap) {
		ctx->sbatch_cap = ctx->sbatch_cap ? 2 * ctx->sbatch_cap : 64;
		ctx->sbatch_cbs = ad_xrealloc(ctx->sbatch_cbs,
		    ctx->sbatch_cap * sizeof(*ctx->sbatch_cbs));
	}
	agentd_write_array(ctx->sbatches, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		agentd_write_array(ctx->sbatches, 2);
		agentd_write_bin(ctx->sbatches, ops[i].key, ops[i].keylen);
		if (ops[i].val != NULL)
			agentd_write_bin(
			    ctx->sbatches, ops[i].val, ops[i].vallen);
		else
			agentd_write_nil(ctx->sbatches);
	}
	ctx->sbatch_cbs[ctx->nsbatches].cb  = cb;
	ctx->sbatch_cbs[ctx->nsbatches].arg = arg;
	ctx->nsbatches++;
	ctx->sbatch_outstanding++;
	return 0;
}

void
ad_host_sbatch_flush(struct agentd_ctx *ctx, int force)
{
	sbatch_send(ctx, force);
}

void
ad_host_sbatch_free(struct agentd_ctx *ctx)
{
	agentd_writer_free(ctx->sbatches);
	ctx->sbatches = NULL;
	free(ctx->sbatch_cbs);
	ctx->sbatch_cbs = NULL;
	ctx->nsbatches = ctx->sbatch_cap = 0;
}

/* ---- the policy gate --------------------------------------------------- */

/*
 * A proposal, checked here first (a plugin learns of a bad one at once,
 * with the reason in the log), goes to agentd, which checks it again,
 * classifies and commits it, and answers with its id.
 */
/* What p takes in a message, at most: its strings, params and keys. */
static size_t
proposal_size(const struct agentd_proposal *p)
{
	return strlen(p->type) + strlen(p->title)
	    + (p->reasoning != NULL ? strlen(p->reasoning) : 0) + p->params_len
	    + 128;
}

/* 0 if p may be proposed (*need: the bytes it takes in a batch), else
 * why not: the contract's checks, then ETOOBIG for a proposal that
 * cannot fit in a message. */
static int
propose_check(agentd_ctx *ctx, const struct agentd_proposal *p, size_t *need)
{
	char err[AD_ERRLEN];
	int  rv;

	if (ctx == NULL || p == NULL)
		return AGENTD_EINVAL;
	if ((rv = ad_proposal_check(p, err, sizeof(err))) != 0) {
		ad_warn("agent %s: propose refused: %s", ctx->agent, err);
		return rv;
	}
	*need = proposal_size(p);
	if (*need + AD_ENVELOPE_ALLOWANCE > ctx->max_message)
		return AGENTD_ETOOBIG;
	return 0;
}

/* A msgpack str header for len bytes at b, as msgpack_pack_str() writes
 * it (the shortest form); the bytes written. */
static size_t
put_str(unsigned char *b, const char *s, size_t len)
{
	size_t h;

	if (len < 32) {
		b[0] = (unsigned char)(0xa0 | len);
		h    = 1;
	} else if (len < 256) {
		b[0] = 0xd9;
		b[1] = (unsigned char)len;
		h    = 2;
	} else if (len < 65536) {
		b[0] = 0xda;
		b[1] = (unsigned char)(len >> 8);
		b[2] = (unsigned char)len;
		h    = 3;
	} else {
		b[0] = 0xdb;
		b[1] = (unsigned char)(len >> 24);
		b[2] = (unsigned char)(len >> 16);
		b[3] = (unsigned char)(len >> 8);
		b[4] = (unsigned char)len;
		h    = 5;
	}
	memcpy(b + h, s, len);
	return h + len;
}

/* A float64, as msgpack_pack_double() writes it. */
static size_t
put_double(unsigned char *b, double d)
{
	uint64_t u;
	int      i;

	memcpy(&u, &d, sizeof(u));
	b[0] = 0xcb;
	for (i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	return 9;
}

/* The fixed keys, each a fixstr with its header. */
#define KEY(k) k, sizeof(k) - 1
static size_t
put_key(unsigned char *b, const char *k, size_t len)
{
	b[0] = (unsigned char)(0xa0 | len);
	memcpy(b + 1, k, len);
	return 1 + len;
}

/*
 * p as policy.propose's map, appended to w: encoded here into one buffer
 * and appended as one value, not value by value through the writer (a
 * proposal is 13 values; the writer's bookkeeping per value was most of
 * propose_async's cost).  The bytes are those the writer would write.
 * need: proposal_size(p), at least what the map takes.
 */
static void
propose_write(agentd_writer *w, const struct agentd_proposal *p, size_t need)
{
	unsigned char stack[1024], *buf = stack, *b;
	const char   *reasoning = p->reasoning != NULL ? p->reasoning : "";

	if (need > sizeof(stack))
		buf = ad_xmalloc(need);
	b    = buf;
	*b++ = 0x86; /* a map of 6 */
	b += put_key(b, KEY("type"));
	b += put_str(b, p->type, strlen(p->type));
	b += put_key(b, KEY("title"));
	b += put_str(b, p->title, strlen(p->title));
	b += put_key(b, KEY("reasoning"));
	b += put_str(b, reasoning, strlen(reasoning));
	b += put_key(b, KEY("amount"));
	b += put_double(b, p->amount);
	b += put_key(b, KEY("confidence"));
	b += put_double(b, p->confidence);
	b += put_key(b, KEY("params"));
	/* Checked by propose_check() (ad_proposal_check) just before. */
	if (p->params != NULL && p->params_len > 0) {
		memcpy(b, p->params, p->params_len);
		b += p->params_len;
	} else {
		*b++ = 0x80; /* an empty map */
	}
	ad_write_encoded(w, buf, (size_t)(b - buf), 1);
	if (buf != stack)
		free(buf);
}
#undef KEY

/* The id in agentd's answer {"id": ID, ...}. */
static int
proposed_id(const void *body, size_t len, char *id, size_t idlen)
{
	agentd_doc *doc;
	int         rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	rv = agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "id"), id, idlen);
	agentd_doc_free(doc);
	return rv != 0 ? AGENTD_EPROTO : 0;
}

static void propose_send(struct agentd_ctx *ctx, int force);

/* One proposal in a message of its own (the body is its map), and wait:
 * agentd answers {"id", ...} once it is committed. */
static int
host_propose(
    agentd_ctx *ctx, const struct agentd_proposal *p, char **decision_id)
{
	agentd_writer *w;
	const void    *b, *rbody;
	nng_msg       *msg;
	size_t         len, rlen, need;
	char           id[32];
	int            rv;

	if (decision_id == NULL)
		return AGENTD_EINVAL;
	if ((rv = propose_check(ctx, p, &need)) != 0)
		return rv;
	/* Those proposed before it, with propose_async, go first. */
	propose_send(ctx, 1);
	agentd_writer_new(&w);
	propose_write(w, p, need);
	b  = agentd_writer_data(w, &len);
	rv = calls_msg(ctx, AD_KIND_CONTROL, "policy.propose", b, len,
	    DEFAULT_CALL_TIMEOUT_MS, &msg);
	agentd_writer_free(w);
	if (rv != 0
	    || (rv = sync_roundtrip(ctx, msg, DEFAULT_CALL_TIMEOUT_MS, &msg))
	        != 0)
		return rv;
	if ((rv = call_result(ctx, msg, &rbody, &rlen)) == 0)
		rv = proposed_id(rbody, rlen, id, sizeof(id));
	nng_msg_free(msg);
	if (rv == 0)
		*decision_id = ad_xstrdup(id);
	return rv;
}

/*
 * propose_async: proposals wait in batches (their maps end to end and
 * their callbacks), oldest first, and a batch leaves as one
 * "policy.propose" message (doc/protocol.md) after the plugin callback
 * that queued it, unless PROPOSE_IN_FLIGHT batches are already on their
 * way: then it waits until one is answered, as audit_async's records
 * do.  Batches on their way are bounded, so agentd holds at most that
 * many of one instance's proposals at once; a plugin that proposes more
 * at once keeps them in its own process until then.  agentd answers a
 * batch once all of it is committed, per proposal.
 */
#define PROPOSE_IN_FLIGHT 2
/* Proposals in one batch (agentd takes up to AD_PROPOSE_BATCH_MAX). */
#define PROPOSE_BATCH_MAX 128

struct ad_propose_batch {
	struct ad_propose_batch *next;
	struct agentd_ctx       *ctx;
	agentd_writer           *maps; /* until it is sent */
	size_t                   n, cap;
	struct ad_propose_cb    *cbs;
};

static void
propose_batch_free(struct ad_propose_batch *b)
{
	agentd_writer_free(b->maps);
	free(b->cbs);
	free(b);
}

/* One answer of a batch: {"id", ...}, or {"st", "error"}. */
static int
batch_answer(const agentd_value *v, char *id, size_t idlen)
{
	int64_t st = 0;

	if (agentd_type_of(v) != AGENTD_T_MAP)
		return AGENTD_EPROTO;
	if (agentd_get_int(agentd_map_get(v, "st"), &st) == 0 && st != 0)
		return st > 0 && st <= 65535 ? (int)st : AGENTD_EPROTO;
	return agentd_get_strcpy(agentd_map_get(v, "id"), id, idlen) == 0
	    ? 0
	    : AGENTD_EPROTO;
}

/* agentd answered a batch (the instance's thread): each callback, in
 * order, with its proposal's id or refusal. */
static void
propose_batch_done(void *arg, int status, const void *body, size_t len)
{
	struct ad_propose_batch *b    = arg;
	agentd_doc              *doc  = NULL;
	const agentd_value      *list = NULL;
	size_t                   i;

	if (status == 0
	    && (agentd_parse(body, len, &doc) != 0
	        || agentd_type_of(list = agentd_doc_root(doc))
	            != AGENTD_T_ARRAY))
		status = AGENTD_EPROTO;
	b->ctx->propose_outstanding -= b->n;
	b->ctx->propose_in_flight--;
	for (i = 0; i < b->n; i++) {
		char id[32];
		int  st = status;

		if (st == 0)
			st = i < agentd_len(list) ? batch_answer(
			         agentd_array_at(list, i), id, sizeof(id))
			                          : AGENTD_EPROTO;
		if (b->cbs[i].cb != NULL)
			b->cbs[i].cb(b->cbs[i].arg, st, st == 0 ? id : NULL);
	}
	agentd_doc_free(doc);
	propose_batch_free(b);
}

/* Send the oldest batch queued (its maps become the message). */
static void
propose_send_one(struct agentd_ctx *ctx)
{
	struct ad_propose_batch *b = ctx->propose_head;
	agentd_writer           *w;
	const void              *data, *body;
	nng_msg                 *msg;
	size_t                   len, blen;
	int                      rv;

	if ((ctx->propose_head = b->next) == NULL)
		ctx->propose_tail = NULL;
	b->next = NULL;
	/* The body is one bin holding the proposals end to end. */
	data = agentd_writer_data(b->maps, &len);
	if ((rv = agentd_writer_new(&w)) == 0) {
		if ((rv = agentd_write_bin(w, data, len)) == 0) {
			body = agentd_writer_data(w, &blen);
			rv = calls_msg(ctx, AD_KIND_CONTROL, "policy.propose",
			    body, blen, DEFAULT_CALL_TIMEOUT_MS, &msg);
		}
		agentd_writer_free(w);
	}
	agentd_writer_free(b->maps);
	b->maps = NULL;
	ctx->propose_in_flight++;
	if (rv == 0)
		rv = acall_start(
		    ctx, msg, DEFAULT_CALL_TIMEOUT_MS, propose_batch_done, b);
	/* Not sent: the callbacks still run, from here, with the error. */
	if (rv != 0)
		propose_batch_done(b, rv, NULL, 0);
}

/* Send the batches queued while fewer than PROPOSE_IN_FLIGHT are on
 * their way; force: every one. */
static void
propose_send(struct agentd_ctx *ctx, int force)
{
	while (ctx->propose_head != NULL
	    && (force || ctx->propose_in_flight < PROPOSE_IN_FLIGHT))
		propose_send_one(ctx);
}

static int
host_propose_async(agentd_ctx *ctx, const struct agentd_proposal *p,
    agentd_propose_fn cb, void *arg)
{
	struct ad_propose_batch *b;
	size_t                   need, len = 0;
	int                      rv;

	if ((rv = propose_check(ctx, p, &need)) != 0)
		return rv;
	/* A batch stays under agentd's message size and PROPOSE_BATCH_MAX:
	 * a proposal that does not fit beside the last one starts another. */
	if ((b = ctx->propose_tail) != NULL)
		agentd_writer_data(b->maps, &len);
	if (b == NULL || b->n == PROPOSE_BATCH_MAX
	    || len + need > ctx->max_message) {
		b      = ad_xcalloc(1, sizeof(*b));
		b->ctx = ctx;
		agentd_writer_new(&b->maps);
		if (ctx->propose_tail != NULL)
			ctx->propose_tail->next = b;
		else
			ctx->propose_head = b;
		ctx->propose_tail = b;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->cbs = ad_xrealloc(b->cbs, b->cap * sizeof(*b->cbs));
	}
	propose_write(b->maps, p, need);
	b->cbs[b->n].cb  = cb;
	b->cbs[b->n].arg = arg;
	b->n++;
	ctx->propose_outstanding++;
	return 0;
}

void
ad_host_propose_flush(struct agentd_ctx *ctx, int force)
{
	propose_send(ctx, force);
}

void
ad_host_proposals_free(struct agentd_ctx *ctx)
{
	struct ad_propose_batch *b;

	while ((b = ctx->propose_head) != NULL) {
		ctx->propose_head = b->next;
		propose_batch_free(b);
	}
	ctx->propose_tail = NULL;
}

/* ---- audit ------------------------------------------------------------- */

/*
 * Blocks until agentd has committed the record to disk: a plugin that
 * acts on a decision after audit() returned 0 can rely on the record.
 */
static int
host_audit(agentd_ctx *ctx, const char *kind, const char *summary,
    const void *detail, size_t detail_len)
{
	agentd_writer *w;
	const void    *body, *rbody;
	nng_msg       *msg;
	size_t         len, rlen;
	int            rv;

	if (ctx == NULL || kind == NULL || summary == NULL
	    || (detail == NULL && detail_len))
		return AGENTD_EINVAL;
	/* agentd refuses it too; said here without a round trip. */
	if (ad_audit_kind_reserved(kind))
		return AGENTD_EDENIED;
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w, 3);
	agentd_write_str(w, "kind");
	agentd_write_str(w, kind);
	agentd_write_str(w, "summary");
	agentd_write_str(w, summary);
	agentd_write_str(w, "detail");
	agentd_write_bin(w, detail, detail ? detail_len : 0);
	body = agentd_writer_data(w, &len);
	rv   = calls_msg(ctx, AD_KIND_CONTROL, "audit.append", body, len,
	      DEFAULT_CALL_TIMEOUT_MS, &msg);
	agentd_writer_free(w);
	if (rv != 0
	    || (rv = sync_roundtrip(ctx, msg, DEFAULT_CALL_TIMEOUT_MS, &msg))
	        != 0)
		return rv;
	rv = call_result(ctx, msg, &rbody, &rlen);
	nng_msg_free(msg);
	return rv;
}

/*
 * audit_async: records wait in ctx->audits (the elements of an array) with
 * their callbacks in ctx->audit_cbs, and leave as one "audit.append"
 * message after the plugin callback that queued them, unless
 * AUDIT_IN_FLIGHT batches are already on their way: then they gather
 * until one is answered, so the busier the instance, the bigger its
 * batches and the fewer agentd's messages and commits per record.
 */
#define AUDIT_IN_FLIGHT 2
#define AUDIT_QUEUE_MAX 65536 /* records queued and in flight */

struct audit_batch {
	struct agentd_ctx *ctx;
	size_t             n;
	struct ad_audit_cb cbs[];
};

/* agentd answered a batch (the instance's thread). */
static void
audit_batch_done(void *arg, int status, const void *body, size_t len)
{
	struct audit_batch *b     = arg;
	agentd_doc         *doc   = NULL;
	uint64_t            first = 0;
	size_t              i;

	/* The answer is the first record's sequence number. */
	if (status == 0
	    && (agentd_parse(body, len, &doc) != 0
	        || agentd_get_uint(agentd_doc_root(doc), &first) != 0))
		status = AGENTD_EPROTO;
	agentd_doc_free(doc);
	b->ctx->audit_outstanding -= b->n;
	b->ctx->audit_in_flight--;
	for (i = 0; i < b->n; i++) {
		if (b->cbs[i].cb != NULL)
			b->cbs[i].cb(b->cbs[i].arg, status,
			    status == 0 ? first + i : 0);
	}
	free(b);
}

/* Send what is queued; force: even with AUDIT_IN_FLIGHT on their way. */
static void
audit_send(struct agentd_ctx *ctx, int force)
{
	struct audit_batch *b;
	agentd_writer      *w;
	const void         *data, *body;
	nng_msg            *msg;
	size_t              len, blen, n = ctx->naudits;
	int                 rv;

	if (n == 0 || (!force && ctx->audit_in_flight >= AUDIT_IN_FLIGHT))
		return;
	b      = ad_xmalloc(sizeof(*b) + n * sizeof(b->cbs[0]));
	b->ctx = ctx;
	b->n   = n;
	memcpy(b->cbs, ctx->audit_cbs, n * sizeof(b->cbs[0]));
	/* The body is one bin holding the records end to end. */
	data = agentd_writer_data(ctx->audits, &len);
	if ((rv = agentd_writer_new(&w)) == 0) {
		if ((rv = agentd_write_bin(w, data, len)) == 0) {
			body = agentd_writer_data(w, &blen);
			rv   = calls_msg(ctx, AD_KIND_CONTROL, "audit.append",
			      body, blen, DEFAULT_CALL_TIMEOUT_MS, &msg);
		}
		agentd_writer_free(w);
	}
	agentd_writer_reset(ctx->audits);
	ctx->naudits = 0;
	ctx->audit_in_flight++;
	if (rv == 0)
		rv = acall_start(
		    ctx, msg, DEFAULT_CALL_TIMEOUT_MS, audit_batch_done, b);
	/* Not sent: the callbacks still run, from here, with the error. */
	if (rv != 0)
		audit_batch_done(b, rv, NULL, 0);
}

static int
host_audit_async(agentd_ctx *ctx, const char *kind, const char *summary,
    const void *detail, size_t detail_len, agentd_audit_fn cb, void *arg)
{
	size_t len;
	int    rv;

	if (ctx == NULL)
		return AGENTD_EINVAL;
	/* Checked here, so that one bad record cannot fail its batch; a
	 * record too big for one message is ETOOBIG before a bad detail. */
	rv = ad_audit_plugin_check(kind, summary, detail, detail_len);
	if ((rv == 0 || rv == AGENTD_EPROTO || rv == AGENTD_EDENIED)
	    && detail_len + strlen(summary) + 512 > ctx->max_message)
		rv = AGENTD_ETOOBIG;
	if (rv != 0)
		return rv;
	if (ctx->audit_outstanding >= AUDIT_QUEUE_MAX)
		return AGENTD_EBUSY;
	/* A batch stays under agentd's message size: send what is queued
	 * first if this record would not fit beside it. */
	agentd_writer_data(ctx->audits, &len);
	if (ctx->naudits > 0
	    && len + detail_len + strlen(summary) + 1024 > ctx->max_message)
		audit_send(ctx, 1);
	if (ctx->naudits == ctx->audit_cap) {
		ctx->audit_cap = ctx->audit_cap ? 2 * ctx->audit_cap : 64;
		ctx->audit_cbs = ad_xrealloc(
		    ctx->audit_cbs, ctx->audit_cap * sizeof(*ctx->audit_cbs));
	}
	agentd_write_map(ctx->audits, 3);
	agentd_write_str(ctx->audits, "kind");
	agentd_write_str(ctx->audits, kind);
	agentd_write_str(ctx->audits, "summary");
	agentd_write_str(ctx->audits, summary);
	agentd_write_str(ctx->audits, "detail");
	agentd_write_bin(ctx->audits, detail, detail ? detail_len : 0);
	ctx->audit_cbs[ctx->naudits].cb  = cb;
	ctx->audit_cbs[ctx->naudits].arg = arg;
	ctx->naudits++;
	ctx->audit_outstanding++;
	return 0;
}

void
ad_host_audit_flush(struct agentd_ctx *ctx, int force)
{
	audit_send(ctx, force);
}

/* ---- log, settings, names --------------------------------------------- */

static void
host_log(agentd_ctx *ctx, int level, const char *fmt, ...)
{
	char    line[AGENTD_LOG_LINE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ad_log(level, "%s/%s: %s", ctx ? ctx->agent : "?",
	    ctx ? ctx->instance : "?", line);
}

/* AGENTD_ENOENT without a context, as for a name not in the schema. */
static int
setting_get(
    agentd_ctx *ctx, const char *name, enum agentd_setting_type t, void *out)
{
	if (ctx == NULL)
		return AGENTD_ENOENT;
	return ad_setting_get(ctx->settings, ctx->nsettings, name, t, out);
}

AD_HOST_SETTING_GETTERS(setting_get)

static const char *
host_agent_name(agentd_ctx *ctx)
{
	return ctx->agent;
}

static const char *
host_instance_id(agentd_ctx *ctx)
{
	return ctx->instance;
}

static const char *
host_request_caller(agentd_ctx *ctx, agentd_request *req)
{
	return req != NULL ? req->src : NULL;
}

/* worker/http.c: linked into agentd-worker only, as this table is. */
#define host_http_async ad_whttp_request

/* worker/fdtimer.c: the loop's own descriptors and timers. */
#define host_watch_fd ad_wfdt_watch
#define host_timer_start ad_wfdt_timer_start
#define host_timer_cancel ad_wfdt_timer_cancel

/* Added up here; sent by ad_host_out_flush (counters_out). */
static int
host_count(agentd_ctx *ctx, const char *name, int64_t delta)
{
	if (ctx == NULL)
		return AGENTD_EINVAL;
	return ad_counters_add(&ctx->counters, name, delta);
}

const struct agentd_host ad_host_table = AD_HOST_TABLE_INIT;

/* ---- settings from the init message ----------------------------------- */

static int
load_one(struct ad_setting_value *s, const agentd_value *v)
{
	const char *str;
	size_t      len;

	switch (agentd_type_of(v)) {
	case AGENTD_T_STR:
		agentd_get_str(v, &str, &len);
		s->type = AGENTD_SETTING_STRING;
		s->v.s  = ad_xstrndup(str, len);
		return 0;
	case AGENTD_T_INT:
		s->type = AGENTD_SETTING_INT;
		return agentd_get_int(v, &s->v.i);
	case AGENTD_T_DOUBLE:
		s->type = AGENTD_SETTING_DOUBLE;
		return agentd_get_double(v, &s->v.d);
	case AGENTD_T_BOOL:
		s->type = AGENTD_SETTING_BOOL;
		return agentd_get_bool(v, &s->v.b);
	default:
		return AGENTD_EPROTO;
	}
}

static int
load_settings(
    struct agentd_ctx *ctx, const agentd_value *map, char *err, size_t len)
{
	size_t i, n = agentd_len(map);
	char   name[AD_NAME_MAX];

	if (map != NULL && agentd_type_of(map) != AGENTD_T_MAP) {
		ad_seterr(err, len, "init: settings is not a map");
		return AGENTD_EPROTO;
	}
	ctx->settings  = ad_xcalloc(n ? n : 1, sizeof(*ctx->settings));
	ctx->nsettings = 0;
	for (i = 0; i < n; i++) {
		struct ad_setting_value *s = &ctx->settings[ctx->nsettings];

		if (agentd_get_strcpy(
		        agentd_map_key_at(map, i), name, sizeof(name))
		        != 0
		    || load_one(s, agentd_map_value_at(map, i)) != 0) {
			ad_seterr(err, len, "init: malformed setting %zu", i);
			return AGENTD_EPROTO;
		}
		s->name = ad_xstrdup(name);
		ctx->nsettings++;
	}
	return 0;
}

static int
load_publish(
    struct agentd_ctx *ctx, const agentd_value *list, char *err, size_t len)
{
	size_t i, n = agentd_len(list);
	char   topic[AD_TARGET_MAX];

	if (list != NULL && agentd_type_of(list) != AGENTD_T_ARRAY) {
		ad_seterr(err, len, "init: publish is not a list");
		return AGENTD_EPROTO;
	}
	ctx->publish  = ad_xcalloc(n ? n : 1, sizeof(*ctx->publish));
	ctx->npublish = 0;
	for (i = 0; i < n; i++) {
		if (agentd_get_strcpy(
		        agentd_array_at(list, i), topic, sizeof(topic))
		    != 0) {
			ad_seterr(err, len, "init: malformed topic %zu", i);
			return AGENTD_EPROTO;
		}
		ctx->publish[ctx->npublish++] = ad_xstrdup(topic);
	}
	return 0;
}

int
ad_host_load_init(
    struct agentd_ctx *ctx, const agentd_value *init, char *err, size_t len)
{
	int rv;

	if ((rv = load_settings(
	         ctx, agentd_map_get(init, "settings"), err, len))
	    != 0)
		return rv;
	return load_publish(ctx, agentd_map_get(init, "publish"), err, len);
}

void
ad_host_free_init(struct agentd_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->npublish; i++)
		free(ctx->publish[i]);
	free(ctx->publish);
	ctx->publish  = NULL;
	ctx->npublish = 0;

	for (i = 0; i < ctx->nsettings; i++) {
		free(ctx->settings[i].name);
		if (ctx->settings[i].type == AGENTD_SETTING_STRING)
			free(ctx->settings[i].v.s);
	}
	free(ctx->settings);
	ctx->settings  = NULL;
	ctx->nsettings = 0;
}
