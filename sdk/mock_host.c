/*
 * mock_host.c - the host table of <agentd/mock.h>: agentd and one worker,
 * played in the test's process for one plugin instance.
 *
 * The rules it applies are agentd's own: names, state keys, setting
 * typing, audit fields and descriptor checks are the functions of
 * contract.h, which agentd calls too.  What it plays rather than shares,
 * and where that lives in agentd:
 *   requests, calls      runtime/worker/host.c
 *   state semantics      runtime/store/state.c, runtime/supervisor/control.c
 *   the policy gate      runtime/policy/, doc/protocol.md (agentd's rules
 *                        are the operator's; the mock's, the test's)
 * When one of those changes, change this file with it.
 */
#include "config.h"

#include <dlfcn.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <agentd/mock.h>

#include "contract.h"
#include "counters.h"
#include "fdtimer.h"
#include "http_rules.h"

/* The plugin's context: only a way back to the mock. */
struct agentd_ctx {
	struct agentd_mock *m;
};

struct agentd_request {
	size_t id;
	char   caller[AGENTD_NAME_MAX + 1]; /* host->request_caller() */
	int    answered;
	int    status;
	void  *body; /* what the caller got */
	size_t len;
};

/* A setting as the test gave it, typed only at load. */
struct given {
	char *name;
	char *text;
};

struct entry {
	char   *key; /* NUL-terminated, keylen does not count it */
	size_t  keylen;
	char   *val; /* the same */
	size_t  vallen;
	int64_t expires; /* the mock's clock; 0: never */
};

/* One host->http_async request (struct agentd_mock_http_call). */
struct mhttp {
	size_t                     id;
	struct ad_http_plan        plan;
	char                      *url;
	struct agentd_http_header *headers; /* names and values copied */
	size_t                     nheaders;
	void                      *body;
	size_t                     body_len;
	agentd_http_fn             cb;
	void                      *arg;
	unsigned                   attempt;  /* the current one, from 1 */
	int                        awaiting; /* its answer, from the test */
	int                        finished; /* cb ran */
	uint64_t                   waited_ms;
};

struct handler {
	struct handler     *next;
	char               *agent;
	agentd_mock_call_fn fn;
	void               *arg;
};

/* One agent's capability, for find_agents (agentd_mock_capability()). */
struct mcap {
	char agent[AGENTD_NAME_MAX + 1];
	char cap[AGENTD_NAME_MAX + 1];
};

/* The policy gate's risks and a decision's states, as agentd names them. */
enum risk { RISK_LOW, RISK_MEDIUM, RISK_HIGH };
static const char *const risk_names[] = { "low", "medium", "high" };

enum dstate { D_PENDING, D_APPROVED, D_REJECTED, D_EXPIRED };
static const char *const dstate_names[]
    = { "pending", "approved", "rejected", "expired" };

/* agentd's policy { max_pending } when it is not written. */
#define MOCK_MAX_PENDING 1000

/* One agentd_mock_policy() call. */
struct rule {
	char     *prefix; /* "*" or a topic */
	enum risk risk;
};

/* One proposal and what became of it (struct agentd_mock_decision). */
struct decision {
	char        id[24];
	char       *type, *title, *reasoning;
	double      amount, confidence;
	void       *params; /* a map, never NULL */
	size_t      params_len;
	void       *proposed; /* after a modify: the params first proposed */
	size_t      proposed_len;
	enum risk   risk;
	enum dstate state;
	const char *by; /* static: "", "policy" or AGENTD_MOCK_PERSON */
	char       *note;
	unsigned    delivered;
};

/*
 * Something waiting for agentd_mock_run(): a finished call_async, an
 * audit_async record's callback or a decision's outcome for on_event.
 */
struct done {
	struct done  *next;
	struct mhttp *http; /* an http_async attempt's outcome instead */
	int           http_code;
	struct agentd_http_header *hdrs; /* names and values in one block */
	size_t                     nhdrs;
	agentd_reply_fn            cb;
	agentd_audit_fn audit_cb;       /* an audit_async record instead */
	void (*sbatch_cb)(void *, int); /* a state_batch_async instead */
	agentd_propose_fn propose_cb;   /* a propose_async, id in reply */
	agentd_agents_fn  agents_cb;    /* find_agents: seq names in reply */
	struct decision  *decision;     /* an outcome instead, body in reply */
	uint64_t          seq;
	void             *arg;
	int               status;
	void             *reply;
	size_t            len;
	char             *call_error; /* a failed call's line, or NULL */
};

struct event {
	char  *topic;
	void  *body;
	size_t len;
};

struct audit {
	char  *kind;
	char  *summary;
	void  *detail;
	size_t detail_len;
};

/* A growing array of n elements of some type. */
struct vec {
	void  *v;
	size_t n;
	size_t cap;
};

struct agentd_mock {
	struct agentd_ctx ctx;
	char              agent[AGENTD_NAME_MAX + 1];
	char              instance[AGENTD_NAME_MAX + 8];
	char              errmsg[512];
	struct vec        given; /* struct given */
	struct vec typed; /* struct ad_setting_value, defaults applied */
	void      *dl;    /* NULL for an attached descriptor */
	struct agentd_plugin desc; /* copy, at most the plugin's size */
	int                  initialized;
	void                *state; /* the plugin's, from init */
	struct vec           reqs;  /* struct agentd_request * */
	size_t               pending;
	struct vec           kv; /* struct entry, sorted by key */
	struct handler      *handlers;
	struct vec           caps; /* struct mcap: agentd_mock_capability */
	struct done         *done_head, *done_tail;
	struct vec           events;    /* struct event */
	struct vec           audits;    /* struct audit */
	struct vec           rules;     /* struct rule, in call order */
	struct vec           decisions; /* struct decision *, id i + 1 */
	size_t               dpending;  /* decisions pending */
	unsigned             max_pending;
	char                 last_log[AGENTD_LOG_LINE_MAX + 1];
	int                  last_level;
	size_t               nlogs;
	char                 caller[AGENTD_NAME_MAX + 1];
	int64_t              clock_ms; /* state TTLs: moved by the test */
	/* http_async: the test's server, agentd's http { } */
	agentd_mock_http_fn   http_fn;
	void                 *http_arg;
	struct vec            http_allow; /* char * */
	struct ad_http_limits http_lim;
	struct vec            https; /* struct mhttp *, by id */
	unsigned              http_outstanding;
	int                   closing;  /* stopping: http_async ECLOSED */
	struct ad_counters    counters; /* host->count(), as the worker's */
	/* host->watch_fd, timer_*: the worker's table (fdtimer.h), driven by
	 * agentd_mock_poll() and, for timers, by the clock */
	struct ad_fdtimer fdt;
	/* host->call_error(), as the worker's: NULL, call_error_last (the
	 * last host->call's) or the line of the failing callback running */
	const char *call_error;
	char        call_error_last[AD_CALL_ERROR_MAX + 1];
};

/* ---- small helpers ----------------------------------------------------- */

static int mock_fail(struct agentd_mock *m, int rv, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int
mock_fail(struct agentd_mock *m, int rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
	va_end(ap);
	return rv;
}

/* Room for `more` elements of size elem in v; 0 or AGENTD_ENOMEM. */
static int
vec_reserve(struct vec *v, size_t more, size_t elem)
{
	size_t cap = v->cap ? v->cap : 8;
	void  *nv;

	if (v->n + more <= v->cap)
		return 0;
	while (cap < v->n + more)
		cap *= 2;
	if ((nv = realloc(v->v, cap * elem)) == NULL)
		return AGENTD_ENOMEM;
	v->v   = nv;
	v->cap = cap;
	return 0;
}

/* A copy of p[0..len) followed by one NUL byte; NULL if out of memory. */
static void *
dup_bytes(const void *p, size_t len)
{
	char *c = malloc(len + 1);

	if (c == NULL)
		return NULL;
	if (len > 0)
		memcpy(c, p, len);
	c[len] = '\0';
	return c;
}

static char *
dup_str(const char *s)
{
	return dup_bytes(s, strlen(s));
}

/*
 * Would a message carrying len bytes of payload be over agentd's limit?
 * agentd measures the envelope exactly; the mock allows, everywhere, what
 * the worker allows for an event's.
 */
static int
too_big(size_t len)
{
	return len > AGENTD_MOCK_MAX_MESSAGE - AD_ENVELOPE_ALLOWANCE;
}

static struct agentd_mock *
mock_of(agentd_ctx *ctx)
{
	return ctx != NULL ? ctx->m : NULL;
}

/* ---- requests ---------------------------------------------------------- */

/* Record the answer; body is taken over (malloc'd or NULL). */
static void
request_answer(struct agentd_mock *m, agentd_request *req, int status,
    void *body, size_t len)
{
	req->answered = 1;
	req->status   = status;
	req->body     = body;
	req->len      = len;
	m->pending--;
}

/* {"error": message}, as the worker answers an error. */
static int
request_fail(
    struct agentd_mock *m, agentd_request *req, int err, const char *message)
{
	agentd_writer *w;
	const void    *data;
	void          *copy;
	size_t         len;

	agentd_writer_new(&w); /* aborts out of memory (msg.h) */
	agentd_write_map(w, 1);
	agentd_write_str(w, "error");
	agentd_write_str(w, message ? message : agentd_strerror(err));
	data = agentd_writer_data(w, &len);
	copy = dup_bytes(data, len);
	agentd_writer_free(w);
	if (copy == NULL)
		return AGENTD_ENOMEM;
	request_answer(m, req, err, copy, len);
	return 0;
}

static int
host_reply(agentd_ctx *ctx, agentd_request *req, const void *body, size_t len)
{
	struct agentd_mock *m = mock_of(ctx);
	void               *copy;

	if (m == NULL || req == NULL || (body == NULL && len != 0))
		return AGENTD_EINVAL;
	if (req->answered)
		return mock_fail(m, AGENTD_EINVAL,
		    "reply: request %zu was already answered", req->id);
	if (too_big(len)) {
		/* The caller hears back, the plugin why. */
		request_fail(m, req, AGENTD_ETOOBIG,
		    "the reply was over max_message_size");
		return mock_fail(m, AGENTD_ETOOBIG,
		    "reply: %zu bytes is over the message limit", len);
	}
	if ((copy = dup_bytes(body, len)) == NULL)
		return AGENTD_ENOMEM;
	request_answer(m, req, 0, copy, len);
	return 0;
}

static int
host_reply_error(
    agentd_ctx *ctx, agentd_request *req, int err, const char *message)
{
	struct agentd_mock *m = mock_of(ctx);

	if (m == NULL || req == NULL || err <= 0)
		return AGENTD_EINVAL;
	if (req->answered)
		return mock_fail(m, AGENTD_EINVAL,
		    "reply_error: request %zu was already answered", req->id);
	return request_fail(m, req, err, message);
}

/* ---- calls to other agents --------------------------------------------- */

static struct handler *
handler_find(struct agentd_mock *m, const char *agent)
{
	struct handler *h;

	for (h = m->handlers; h != NULL; h = h->next)
		if (strcmp(h->agent, agent) == 0)
			return h;
	return NULL;
}

/* Checks made before anything is sent: errors the caller gets at once. */
static int
call_check(
    struct agentd_mock *m, const char *agent, const void *body, size_t len)
{
	if (!ad_valid_name(agent) || (body == NULL && len != 0))
		return mock_fail(m, AGENTD_EINVAL,
		    "call: \"%s\" is not an agent name, or no body",
		    agent ? agent : "(null)");
	if (too_big(len))
		return mock_fail(m, AGENTD_ETOOBIG,
		    "call %s: %zu bytes is over the message limit", agent,
		    len);
	return 0;
}

/*
 * Let the handler of agent answer; on 0, *reply (caller owns, free with
 * free(); never NULL) holds its answer; otherwise why holds the line
 * host->call_error() gives for it, as the worker's: the handler's
 * message (agentd_mock_call_fail()), else agentd's own.
 */
static int
call_route(struct agentd_mock *m, const char *agent, const void *body,
    size_t len, void **reply, size_t *reply_len,
    char why[AD_CALL_ERROR_MAX + 1])
{
	struct handler *h = handler_find(m, agent);
	agentd_writer  *w;
	const void     *data;
	size_t          dlen;
	int             status;
	char            own[AGENTD_NAME_MAX + 128];

	if (h == NULL) {
		/* agentd's line for an agent it does not know. */
		snprintf(own, sizeof(own),
		    "no agent named \"%s\": `agentctl status` lists them",
		    agent);
		ad_call_error_line(own, strlen(own), why);
		return mock_fail(m, AGENTD_ENOENT,
		    "call: no handler for agent \"%s\": add one with "
		    "agentd_mock_on_call()",
		    agent);
	}
	agentd_writer_new(&w); /* aborts out of memory (msg.h) */
	status = h->fn(h->arg, agent, body, len, w);
	data   = agentd_writer_data(w, &dlen);
	if (status == 0) {
		if ((*reply = dup_bytes(data, dlen)) == NULL)
			status = AGENTD_ENOMEM;
		*reply_len = dlen;
	} else {
		/* As the worker's reply_error() with no message. */
		ad_call_error_text(data, dlen, agentd_strerror(status), why);
	}
	agentd_writer_free(w);
	return status;
}

/* A call refused before it was sent, as the worker says it. */
static int
call_refused(const char *agent, int rv, char why[AD_CALL_ERROR_MAX + 1])
{
	char own[AGENTD_NAME_MAX + 128];

	snprintf(own, sizeof(own), "call to \"%.*s\": %s", AGENTD_NAME_MAX,
	    agent != NULL ? agent : "(null)", agentd_strerror(rv));
	ad_call_error_line(own, strlen(own), why);
	return rv;
}

static int
host_call(agentd_ctx *ctx, const char *agent, const void *body, size_t len,
    int timeout_ms, void **reply, size_t *reply_len)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	m->call_error = NULL;
	if (reply == NULL || reply_len == NULL)
		rv = call_refused(agent, AGENTD_EINVAL, m->call_error_last);
	else if ((rv = call_check(m, agent, body, len)) != 0)
		call_refused(agent, rv, m->call_error_last);
	else
		rv = call_route(
		    m, agent, body, len, reply, reply_len, m->call_error_last);
	if (rv != 0)
		m->call_error = m->call_error_last;
	return rv;
}

static const char *
host_call_error(agentd_ctx *ctx)
{
	struct agentd_mock *m = mock_of(ctx);

	return m != NULL ? m->call_error : NULL;
}

/* Queue a finished call or record for agentd_mock_run(), in order. */
static void
done_push(struct agentd_mock *m, struct done *d)
{
	if (m->done_tail != NULL)
		m->done_tail->next = d;
	else
		m->done_head = d;
	m->done_tail = d;
}

static int
host_call_async(agentd_ctx *ctx, const char *agent, const void *body,
    size_t len, int timeout_ms, agentd_reply_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct done        *d;
	char                why[AD_CALL_ERROR_MAX + 1];
	int                 rv;

	if (m == NULL || cb == NULL)
		return AGENTD_EINVAL;
	if ((rv = call_check(m, agent, body, len)) != 0)
		return rv;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	d->cb  = cb;
	d->arg = arg;
	/* Sent now, as the worker does; an unknown agent or a failing
	 * handler is an answer, and arrives through the callback. */
	d->status = call_route(m, agent, body, len, &d->reply, &d->len, why);
	if (d->status != 0 && (d->call_error = dup_str(why)) == NULL)
		d->status = AGENTD_ENOMEM; /* the callback says so */
	done_push(m, d);
	return 0;
}

/* ---- who has a capability (find_agents) -------------------------------- */

/* Does the plugin under test declare cap in its descriptor? */
static int
own_capability(const struct agentd_mock *m, const char *cap)
{
	const char *const *c;

	for (c = m->desc.capabilities; c != NULL && *c != NULL; c++)
		if (strcmp(*c, cap) == 0)
			return 1;
	return 0;
}

/* Is agent among names[0..n) (NUL-terminated, one after another)? */
static int
block_has(const char *names, size_t n, const char *agent)
{
	for (; n > 0; n--, names += strlen(names) + 1)
		if (strcmp(names, agent) == 0)
			return 1;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The agents with cap, sorted, each once, into d: their names end to end
 * (each NUL-terminated) in d->reply, how many in d->seq.
 */
static int
agents_with(struct agentd_mock *m, const char *cap, struct done *d)
{
	const struct mcap *v = m->caps.v;
	const char       **names;
	size_t             i, n = 0, len = 0;
	char              *p;

	if ((names = calloc(m->caps.n + 1, sizeof(*names))) == NULL)
		return AGENTD_ENOMEM;
	if (own_capability(m, cap))
		names[n++] = m->agent;
	for (i = 0; i < m->caps.n; i++)
		if (strcmp(v[i].cap, cap) == 0)
			names[n++] = v[i].agent;
	qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	if ((d->reply = p = malloc(len + 1)) == NULL) {
		free(names);
		return AGENTD_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (block_has(d->reply, (size_t)d->seq, names[i]))
			continue;
		memcpy(p, names[i], strlen(names[i]) + 1);
		p += strlen(names[i]) + 1;
		d->seq++;
	}
	d->len = (size_t)(p - (char *)d->reply);
	free(names);
	return 0;
}

/* agentd_mock_run(): the callback with the names d holds. */
static void
agents_deliver(struct done *d)
{
	const char **v;
	const char  *p = d->reply;
	size_t       i;

	if ((v = calloc((size_t)d->seq + 1, sizeof(*v))) == NULL) {
		d->agents_cb(d->arg, AGENTD_ENOMEM, NULL, 0);
		return;
	}
	for (i = 0; i < d->seq; i++, p += strlen(p) + 1)
		v[i] = p;
	d->agents_cb(d->arg, 0, v, (size_t)d->seq);
	free(v);
}

static int
host_find_agents(
    agentd_ctx *ctx, const char *capability, agentd_agents_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct done        *d;
	int                 rv;

	if (m == NULL || cb == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_capability(capability))
		return mock_fail(m, AGENTD_EINVAL,
		    "find_agents: \"%s\" is not a capability: 1-%d "
		    "characters of [a-z0-9_.-]",
		    capability != NULL ? capability : "(null)",
		    AGENTD_NAME_MAX);
	if (m->closing)
		return mock_fail(m, AGENTD_ECLOSED,
		    "find_agents: the instance is stopping");
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	/* Answered now, as agentd answers when the request arrives. */
	if ((rv = agents_with(m, capability, d)) != 0) {
		free(d);
		return rv;
	}
	d->agents_cb = cb;
	d->arg       = arg;
	done_push(m, d);
	return 0;
}

int
agentd_mock_capability(
    struct agentd_mock *m, const char *agent, const char *capability)
{
	struct mcap *v;
	size_t       i, mine = 0;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_name(agent) || !ad_valid_capability(capability))
		return mock_fail(m, AGENTD_EINVAL,
		    "agentd_mock_capability: \"%s\" is not an agent name or "
		    "\"%s\" not a capability (1-%d characters of "
		    "[a-z0-9_.-])",
		    agent != NULL ? agent : "(null)",
		    capability != NULL ? capability : "(null)",
		    AGENTD_NAME_MAX);
	v = m->caps.v;
	for (i = 0; i < m->caps.n; i++) {
		if (strcmp(v[i].agent, agent) != 0)
			continue;
		if (strcmp(v[i].cap, capability) == 0)
			return 0;
		mine++;
	}
	if (mine == AGENTD_CAPABILITIES_MAX)
		return mock_fail(m, AGENTD_EINVAL,
		    "agentd_mock_capability: agent \"%s\" has %d "
		    "capabilities already, agentd's limit",
		    agent, AGENTD_CAPABILITIES_MAX);
	if (vec_reserve(&m->caps, 1, sizeof(*v)) != 0)
		return AGENTD_ENOMEM;
	v = &((struct mcap *)m->caps.v)[m->caps.n++];
	snprintf(v->agent, sizeof(v->agent), "%s", agent);
	snprintf(v->cap, sizeof(v->cap), "%s", capability);
	return 0;
}

/* ---- events ------------------------------------------------------------ */

/* Record an event as published (copied). */
static int
event_record(
    struct agentd_mock *m, const char *topic, const void *body, size_t len)
{
	struct event *e;

	if (vec_reserve(&m->events, 1, sizeof(*e)) != 0)
		return AGENTD_ENOMEM;
	e        = (struct event *)m->events.v + m->events.n;
	e->topic = dup_str(topic);
	e->body  = dup_bytes(body, len);
	e->len   = len;
	if (e->topic == NULL || e->body == NULL) {
		free(e->topic);
		free(e->body);
		return AGENTD_ENOMEM;
	}
	m->events.n++;
	return 0;
}

static int
host_publish(agentd_ctx *ctx, const char *topic, const void *body, size_t len)
{
	struct agentd_mock *m = mock_of(ctx);

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_topic(topic) || (body == NULL && len != 0))
		return mock_fail(m, AGENTD_EINVAL,
		    "publish: \"%s\" is not a topic, or no body",
		    topic ? topic : "(null)");
	if (too_big(len + strlen(topic)))
		return mock_fail(m, AGENTD_ETOOBIG,
		    "publish %s: %zu bytes is over the message limit", topic,
		    len);
	return event_record(m, topic, body, len);
}

/* ---- state ------------------------------------------------------------- */

/* Bytewise order, a prefix before the longer key: LMDB's default. */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the first entry not below key; *found if it is key. */
static size_t
kv_seek(
    const struct agentd_mock *m, const char *key, size_t keylen, int *found)
{
	const struct entry *e  = m->kv.v;
	size_t              lo = 0, hi = m->kv.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(e[mid].key, e[mid].keylen, key, keylen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < m->kv.n
	    && key_cmp(e[lo].key, e[lo].keylen, key, keylen) == 0;
	return lo;
}

/*
 * Insert or replace with key and val already copied (taken over); the
 * array must have room for one more.
 */
static void
kv_set(
    struct agentd_mock *m, char *key, size_t keylen, char *val, size_t vallen)
{
	struct entry *e = m->kv.v;
	int           found;
	size_t        i = kv_seek(m, key, keylen, &found);

	if (found) {
		free(key);
		free(e[i].val);
	} else {
		memmove(&e[i + 1], &e[i], (m->kv.n - i) * sizeof(*e));
		e[i].key    = key;
		e[i].keylen = keylen;
		m->kv.n++;
	}
	e[i].val     = val;
	e[i].vallen  = vallen;
	e[i].expires = 0; /* a put without a TTL keeps the value */
}

/* Has entry e's TTL passed on the mock's clock? */
static int
expired(const struct agentd_mock *m, const struct entry *e)
{
	return e->expires != 0 && e->expires <= m->clock_ms;
}

/* Remove key; AGENTD_ENOENT if absent. */
static int
kv_del(struct agentd_mock *m, const char *key, size_t keylen)
{
	struct entry *e = m->kv.v;
	int           found;
	size_t        i = kv_seek(m, key, keylen, &found);

	if (!found)
		return AGENTD_ENOENT;
	free(e[i].key);
	free(e[i].val);
	memmove(&e[i], &e[i + 1], (m->kv.n - i - 1) * sizeof(*e));
	m->kv.n--;
	return 0;
}

static int
host_state_get(agentd_ctx *ctx, const char *key, size_t keylen, void **val,
    size_t *vallen)
{
	struct agentd_mock *m = mock_of(ctx);
	const struct entry *e;
	int                 found;
	size_t              i;

	if (m == NULL || val == NULL || vallen == NULL
	    || ad_state_key_check(key, keylen, 0) != 0)
		return AGENTD_EINVAL;
	i = kv_seek(m, key, keylen, &found);
	if (!found || expired(m, (const struct entry *)m->kv.v + i))
		return AGENTD_ENOENT;
	e = (const struct entry *)m->kv.v + i;
	/* Followed by a NUL byte not counted, as the worker hands it. */
	if ((*val = dup_bytes(e->val, e->vallen)) == NULL)
		return AGENTD_ENOMEM;
	*vallen = e->vallen;
	return 0;
}

static int
host_state_put(agentd_ctx *ctx, const char *key, size_t keylen,
    const void *val, size_t vallen)
{
	struct agentd_mock *m = mock_of(ctx);
	char               *k, *v;

	if (m == NULL || ad_state_key_check(key, keylen, 0) != 0
	    || (val == NULL && vallen != 0))
		return AGENTD_EINVAL;
	if (too_big(keylen + vallen))
		return mock_fail(m, AGENTD_ETOOBIG,
		    "state_put: a value of %zu bytes is over the limit",
		    vallen);
	if (vec_reserve(&m->kv, 1, sizeof(struct entry)) != 0)
		return AGENTD_ENOMEM;
	k = dup_bytes(key, keylen);
	v = dup_bytes(val, vallen);
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return AGENTD_ENOMEM;
	}
	kv_set(m, k, keylen, v, vallen);
	return 0;
}

/* As state_put, then the expiry on the mock's clock. */
static int
host_state_put_ttl(agentd_ctx *ctx, const char *key, size_t keylen,
    const void *val, size_t vallen, uint64_t ttl_ms)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 found, rv;
	size_t              i;

	if (m == NULL || ttl_ms == 0 || ttl_ms > AGENTD_STATE_TTL_MAX)
		return AGENTD_EINVAL;
	if ((rv = host_state_put(ctx, key, keylen, val, vallen)) != 0)
		return rv;
	i                                    = kv_seek(m, key, keylen, &found);
	((struct entry *)m->kv.v)[i].expires = m->clock_ms + (int64_t)ttl_ms;
	return 0;
}

static int
host_state_del(agentd_ctx *ctx, const char *key, size_t keylen)
{
	struct agentd_mock *m = mock_of(ctx);

	int    found;
	size_t i;

	if (m == NULL || ad_state_key_check(key, keylen, 0) != 0)
		return AGENTD_EINVAL;
	/* An expired key is gone already, as in agentd. */
	i = kv_seek(m, key, keylen, &found);
	if (found && expired(m, (const struct entry *)m->kv.v + i)) {
		kv_del(m, key, keylen);
		return AGENTD_ENOENT;
	}
	return kv_del(m, key, keylen);
}

/*
 * agentd answers a scan in one message, and the worker calls fn for each
 * entry of it: so fn sees a snapshot and may change state as it goes, and
 * a scan whose answer would not fit one message fails before fn runs.
 */
static int
host_state_scan(agentd_ctx *ctx, const char *prefix, size_t prefixlen,
    agentd_scan_fn fn, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	const struct entry *e;
	struct entry       *snap;
	size_t              first, i, n = 0, bytes = 0;
	int                 found, rv = 0;

	if (m == NULL || fn == NULL
	    || ad_state_key_check(prefix, prefixlen, 1) != 0)
		return AGENTD_EINVAL;
	if (prefix == NULL)
		prefix = "";
	e     = m->kv.v;
	first = kv_seek(m, prefix, prefixlen, &found);
	for (i = first; i < m->kv.n && e[i].keylen >= prefixlen
	     && memcmp(e[i].key, prefix, prefixlen) == 0;
	     i++) {
		bytes += e[i].keylen + e[i].vallen + AD_SCAN_ENTRY_OVERHEAD;
		if (too_big(bytes))
			return mock_fail(m, AGENTD_ETOOBIG,
			    "state_scan: the answer would be over the message "
			    "limit");
	}
	if ((snap = calloc(i - first + 1, sizeof(*snap))) == NULL)
		return AGENTD_ENOMEM;
	/* Expired keys are skipped, as agentd's scan does. */
	for (i = first; i < m->kv.n && e[i].keylen >= prefixlen
	     && memcmp(e[i].key, prefix, prefixlen) == 0 && rv == 0;
	     i++) {
		if (expired(m, &e[i]))
			continue;
		snap[n].key    = dup_bytes(e[i].key, e[i].keylen);
		snap[n].keylen = e[i].keylen;
		snap[n].val    = dup_bytes(e[i].val, e[i].vallen);
		snap[n].vallen = e[i].vallen;
		if (snap[n++].key == NULL || snap[n - 1].val == NULL)
			rv = AGENTD_ENOMEM;
	}
	for (i = 0; i < n && rv == 0; i++)
		rv = fn(arg, snap[i].key, snap[i].keylen, snap[i].val,
		    snap[i].vallen);
	for (i = 0; i < n; i++) {
		free(snap[i].key);
		free(snap[i].val);
	}
	free(snap);
	return rv;
}

/* Every op checked before anything is written, as state.c does. */
static int
batch_check(struct agentd_mock *m, const struct agentd_state_op *ops, size_t n)
{
	size_t i, bytes = 0;

	for (i = 0; i < n; i++) {
		if (ad_state_key_check(ops[i].key, ops[i].keylen, 0) != 0)
			return mock_fail(m, AGENTD_EINVAL,
			    "state_batch: op %zu has an empty or too long key",
			    i);
		bytes += ops[i].keylen + AD_SCAN_ENTRY_OVERHEAD
		    + (ops[i].val != NULL ? ops[i].vallen : 0);
	}
	if (too_big(bytes))
		return mock_fail(m, AGENTD_ETOOBIG,
		    "state_batch: the batch is over the message limit");
	return 0;
}

static int
host_state_batch(agentd_ctx *ctx, const struct agentd_state_op *ops, size_t n)
{
	struct agentd_mock *m = mock_of(ctx);
	struct entry       *copies;
	size_t              i;
	int                 rv = 0;

	if (m == NULL || (ops == NULL && n != 0))
		return AGENTD_EINVAL;
	if ((rv = batch_check(m, ops, n)) != 0 || n == 0)
		return rv;
	/* Copy first and make room for every put: applying cannot fail, so
	 * the batch is all or nothing even when memory runs out. */
	if ((copies = calloc(n, sizeof(*copies))) == NULL
	    || vec_reserve(&m->kv, n, sizeof(struct entry)) != 0) {
		free(copies);
		return AGENTD_ENOMEM;
	}
	for (i = 0; i < n && rv == 0; i++) {
		if (ops[i].val == NULL)
			continue;
		copies[i].key = dup_bytes(ops[i].key, ops[i].keylen);
		copies[i].val = dup_bytes(ops[i].val, ops[i].vallen);
		if (copies[i].key == NULL || copies[i].val == NULL)
			rv = AGENTD_ENOMEM;
	}
	for (i = 0; i < n && rv == 0; i++) {
		if (ops[i].val == NULL)
			kv_del(
			    m, ops[i].key, ops[i].keylen); /* absent: fine */
		else
			kv_set(m, copies[i].key, ops[i].keylen, copies[i].val,
			    ops[i].vallen);
	}
	if (rv != 0) {
		for (i = 0; i < n; i++) {
			free(copies[i].key);
			free(copies[i].val);
		}
	}
	free(copies);
	return rv;
}

/* Written at once, as state_batch() (the same checks, refused here); cb
 * runs from agentd_mock_run(), in order, with 0: the mock's store is
 * always durable.  Those still waiting when the mock is freed run before
 * fini, as the worker's do. */
static int
host_state_batch_async(agentd_ctx *ctx, const struct agentd_state_op *ops,
    size_t n, void (*cb)(void *arg, int status), void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct done        *d;
	int                 rv;

	if (m == NULL || (ops == NULL && n != 0))
		return AGENTD_EINVAL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	if ((rv = host_state_batch(ctx, ops, n)) != 0) {
		free(d);
		return rv;
	}
	if (cb == NULL) {
		free(d);
		return 0;
	}
	d->sbatch_cb = cb;
	d->arg       = arg;
	done_push(m, d);
	return 0;
}

/* The state_batch_async callbacks waiting, in order (from
 * agentd_mock_poll(), and before fini, where the others still waiting
 * never run); how many ran. */
static size_t
sbatch_run(struct agentd_mock *m)
{
	size_t        ran = 0;
	struct done **pp = &m->done_head, *d, *run = NULL, **rtail = &run;

	/* Taken off the list first: a callback may queue more. */
	m->done_tail = NULL;
	while ((d = *pp) != NULL) {
		if (d->sbatch_cb == NULL) {
			m->done_tail = d;
			pp           = &d->next;
			continue;
		}
		*pp     = d->next;
		d->next = NULL;
		*rtail  = d;
		rtail   = &d->next;
	}
	while ((d = run) != NULL) {
		run = d->next;
		d->sbatch_cb(d->arg, d->status);
		free(d);
		ran++;
	}
	return ran;
}

/* ---- the policy gate --------------------------------------------------- */

/* Does prefix cover type, by whole dot segments ("*" covers all)?  As
 * agentd's ad_topic_match(), which matches a rule's types. */
static int
prefix_covers(const char *prefix, const char *type)
{
	size_t n = strlen(prefix);

	if (strcmp(prefix, "*") == 0)
		return 1;
	return strncmp(prefix, type, n) == 0
	    && (type[n] == '\0' || type[n] == '.');
}

/* The first agentd_mock_policy() covering type decides; else HIGH. */
static enum risk
classify(const struct agentd_mock *m, const char *type)
{
	const struct rule *r = m->rules.v;
	size_t             i;

	for (i = 0; i < m->rules.n; i++)
		if (prefix_covers(r[i].prefix, type))
			return r[i].risk;
	return RISK_HIGH;
}

static unsigned
max_pending(const struct agentd_mock *m)
{
	return m->max_pending != 0 ? m->max_pending : MOCK_MAX_PENDING;
}

static struct decision *
decision_find(const struct agentd_mock *m, const char *id)
{
	struct decision *const *d = m->decisions.v;
	size_t                  i;

	for (i = 0; id != NULL && i < m->decisions.n; i++)
		if (strcmp(d[i]->id, id) == 0)
			return d[i];
	return NULL;
}

static void
decision_free(struct decision *d)
{
	if (d == NULL)
		return;
	free(d->type);
	free(d->title);
	free(d->reasoning);
	free(d->params);
	free(d->proposed);
	free(d->note);
	free(d);
}

/* A pending decision copied from p (checked), numbered id. */
static struct decision *
decision_new(const struct agentd_proposal *p, const char *id)
{
	struct decision *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->type      = dup_str(p->type);
	d->title     = dup_str(p->title);
	d->reasoning = dup_str(p->reasoning != NULL ? p->reasoning : "");
	/* No parameters travel as an empty map, as in agentd's decision. */
	d->params_len = p->params_len > 0 ? p->params_len : 1;
	d->params     = p->params_len > 0 ? dup_bytes(p->params, p->params_len)
	                                  : dup_bytes("\x80", 1);
	d->note       = dup_str("");
	d->amount     = p->amount;
	d->confidence = p->confidence;
	d->state      = D_PENDING;
	d->by         = "";
	if (d->type == NULL || d->title == NULL || d->reasoning == NULL
	    || d->params == NULL || d->note == NULL) {
		decision_free(d);
		return NULL;
	}
	return d;
}

/* The body of d's decision.<id> event. */
static void
outcome_write(agentd_writer *w, const struct decision *d)
{
	agentd_write_map(w, 6);
	agentd_write_str(w, "id");
	agentd_write_str(w, d->id);
	agentd_write_str(w, "outcome");
	agentd_write_str(w, dstate_names[d->state]);
	agentd_write_str(w, "params");
	agentd_write_raw(w, d->params, d->params_len); /* checked: a map */
	agentd_write_str(w, "by");
	agentd_write_str(w, d->by);
	agentd_write_str(w, "note");
	agentd_write_str(w, d->note);
	agentd_write_str(w, "type");
	agentd_write_str(w, d->type);
}

/* Queue d's outcome for agentd_mock_run(), after what is queued. */
static int
outcome_queue(struct agentd_mock *m, struct decision *d)
{
	agentd_writer *w;
	struct done   *q;
	const void    *data;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return AGENTD_ENOMEM;
	agentd_writer_new(&w); /* aborts out of memory (msg.h) */
	outcome_write(w, d);
	data     = agentd_writer_data(w, &q->len);
	q->reply = dup_bytes(data, q->len);
	agentd_writer_free(w);
	if (q->reply == NULL) {
		free(q);
		return AGENTD_ENOMEM;
	}
	q->decision = d;
	done_push(m, q);
	return 0;
}

/* What agentd_mock_run() does with a queued outcome: the worker hands
 * agentd's "decisions" message to on_event. */
static void
outcome_deliver(struct agentd_mock *m, struct done *q)
{
	char topic[sizeof("decision.") + sizeof(q->decision->id)];

	snprintf(topic, sizeof(topic), "decision.%s", q->decision->id);
	q->decision->delivered++;
	if (m->initialized && m->desc.on_event != NULL)
		m->desc.on_event(m->state, topic, q->reply, q->len);
}

/* Pending d is decided: state, by whom, and its outcome queued. */
static int
decide(struct agentd_mock *m, struct decision *d, enum dstate state,
    const char *by)
{
	int rv;

	d->state = state;
	d->by    = by;
	if ((rv = outcome_queue(m, d)) != 0) {
		d->state = D_PENDING;
		d->by    = "";
		return rv;
	}
	m->dpending--;
	return 0;
}

/* agentd's approvals.notify for a medium decision: the decision's map. */
static int
notify_medium(struct agentd_mock *m, const struct decision *d)
{
	agentd_writer *w;
	const void    *data;
	size_t         len;
	int            rv;

	agentd_writer_new(&w); /* aborts out of memory (msg.h) */
	agentd_write_map(w, 13);
	agentd_write_str(w, "id");
	agentd_write_str(w, d->id);
	agentd_write_str(w, "agent");
	agentd_write_str(w, m->agent);
	agentd_write_str(w, "instance");
	agentd_write_str(w, m->instance);
	agentd_write_str(w, "type");
	agentd_write_str(w, d->type);
	agentd_write_str(w, "title");
	agentd_write_str(w, d->title);
	agentd_write_str(w, "reasoning");
	agentd_write_str(w, d->reasoning);
	agentd_write_str(w, "amount");
	agentd_write_double(w, d->amount);
	agentd_write_str(w, "confidence");
	agentd_write_double(w, d->confidence);
	agentd_write_str(w, "params");
	agentd_write_raw(w, d->params, d->params_len);
	agentd_write_str(w, "risk");
	agentd_write_str(w, risk_names[d->risk]);
	agentd_write_str(w, "state");
	agentd_write_str(w, dstate_names[d->state]);
	agentd_write_str(w, "by");
	agentd_write_str(w, d->by);
	agentd_write_str(w, "note");
	agentd_write_str(w, d->note);
	data = agentd_writer_data(w, &len);
	rv   = event_record(m, "approvals.notify", data, len);
	agentd_writer_free(w);
	return rv;
}

/*
 * Checked, then committed as agentd does: classified, recorded, low and
 * medium approved at once; the outcome always arrives later, through
 * agentd_mock_run().
 */
static int host_propose(
    agentd_ctx *ctx, const struct agentd_proposal *p, char **decision_id);

/* propose(), with the id handed to cb by agentd_mock_run() (agentd
 * answers later, on the instance's thread); a proposal that breaks the
 * rules is refused at once, as the worker's check does, while the
 * pending limit is agentd's answer: cb gets AGENTD_EBUSY, later. */
static int
host_propose_async(agentd_ctx *ctx, const struct agentd_proposal *p,
    agentd_propose_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct done        *d;
	char               *id = NULL;
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if ((rv = host_propose(ctx, p, &id)) != 0 && rv != AGENTD_EBUSY)
		return rv;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		free(id);
		return AGENTD_ENOMEM;
	}
	d->propose_cb = cb;
	d->arg        = arg;
	d->status     = rv;
	d->reply      = id;
	d->len        = id != NULL ? strlen(id) : 0;
	if (cb != NULL)
		done_push(m, d);
	else {
		free(id);
		free(d);
	}
	return 0;
}

static int
host_propose(
    agentd_ctx *ctx, const struct agentd_proposal *p, char **decision_id)
{
	struct agentd_mock *m = mock_of(ctx);
	struct decision    *d;
	char                err[256], id[24];
	char               *idcopy;
	int                 rv;

	if (m == NULL || decision_id == NULL)
		return AGENTD_EINVAL;
	if ((rv = ad_proposal_check(p, err, sizeof(err))) != 0)
		return mock_fail(m, rv, "propose: %s", err);
	if (too_big(strlen(p->type) + strlen(p->title)
	        + (p->reasoning != NULL ? strlen(p->reasoning) : 0)
	        + p->params_len))
		return mock_fail(m, AGENTD_ETOOBIG,
		    "propose %s: the proposal is over the message limit",
		    p->type);
	if (m->dpending >= max_pending(m))
		return mock_fail(m, AGENTD_EBUSY,
		    "propose %s: %zu decisions are pending, the agent's "
		    "max_pending: answer some first",
		    p->type, m->dpending);
	snprintf(id, sizeof(id), "%zu", m->decisions.n + 1);
	if (vec_reserve(&m->decisions, 1, sizeof(d)) != 0)
		return AGENTD_ENOMEM;
	if ((idcopy = dup_str(id)) == NULL)
		return AGENTD_ENOMEM;
	if ((d = decision_new(p, id)) == NULL) {
		free(idcopy);
		return AGENTD_ENOMEM;
	}
	d->risk = classify(m, d->type);
	((struct decision **)m->decisions.v)[m->decisions.n++] = d;
	m->dpending++;
	if (d->risk != RISK_HIGH
	    && (rv = decide(m, d, D_APPROVED, "policy")) != 0) {
		m->decisions.n--; /* out of memory: not proposed after all */
		m->dpending--;
		decision_free(d);
		free(idcopy);
		return rv;
	}
	/* Published at most once, as every event: not the plugin's error. */
	if (d->risk == RISK_MEDIUM)
		notify_medium(m, d);
	*decision_id = idcopy;
	return 0;
}

/* ---- audit, log -------------------------------------------------------- */

static int
host_audit(agentd_ctx *ctx, const char *kind, const char *summary,
    const void *detail, size_t detail_len)
{
	struct agentd_mock *m = mock_of(ctx);
	struct audit       *a;
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	rv = ad_audit_plugin_check(kind, summary, detail, detail_len);
	if (rv == AGENTD_EDENIED)
		return mock_fail(m, rv,
		    "audit: kind \"%s\" is agentd's own (agent., instance., "
		    "call., ...): name it after the plugin",
		    kind);
	if (rv == AGENTD_ETOOBIG)
		return mock_fail(m, rv,
		    "audit: kind over %d, summary over %d or detail over %zu "
		    "bytes",
		    AGENTD_AUDIT_KIND_MAX, AGENTD_AUDIT_SUMMARY_MAX,
		    AGENTD_AUDIT_DETAIL_MAX);
	if (rv == AGENTD_EPROTO)
		return mock_fail(
		    m, rv, "audit: detail is not one msgpack value");
	if (rv != 0)
		return rv;
	if (vec_reserve(&m->audits, 1, sizeof(*a)) != 0)
		return AGENTD_ENOMEM;
	a             = (struct audit *)m->audits.v + m->audits.n;
	a->kind       = dup_str(kind);
	a->summary    = dup_str(summary);
	a->detail     = detail_len > 0 ? dup_bytes(detail, detail_len) : NULL;
	a->detail_len = detail_len;
	if (a->kind == NULL || a->summary == NULL
	    || (detail_len > 0 && a->detail == NULL)) {
		free(a->kind);
		free(a->summary);
		free(a->detail);
		return AGENTD_ENOMEM;
	}
	m->audits.n++;
	return 0;
}

/* Recorded at once, as audit(); cb runs from agentd_mock_run(), with
 * the record's position (from 1) as its sequence number. */
static int
host_audit_async(agentd_ctx *ctx, const char *kind, const char *summary,
    const void *detail, size_t detail_len, agentd_audit_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct done        *d;
	int                 rv;

	if ((rv = host_audit(ctx, kind, summary, detail, detail_len)) != 0)
		return rv;
	if (cb == NULL)
		return 0;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	d->audit_cb = cb;
	d->arg      = arg;
	d->seq      = m->audits.n;
	done_push(m, d);
	return 0;
}

static void
host_log(agentd_ctx *ctx, int level, const char *fmt, ...)
{
	struct agentd_mock *m = mock_of(ctx);
	va_list             ap;

	if (m == NULL || fmt == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(m->last_log, sizeof(m->last_log), fmt, ap);
	va_end(ap);
	m->last_level = level;
	m->nlogs++;
}

/* ---- settings ---------------------------------------------------------- */

/* AGENTD_ENOENT without a mock, as for a name not in the schema. */
static int
setting_get(
    agentd_ctx *ctx, const char *name, enum agentd_setting_type t, void *out)
{
	struct agentd_mock *m = mock_of(ctx);

	if (m == NULL)
		return AGENTD_ENOENT;
	return ad_setting_get(m->typed.v, m->typed.n, name, t, out);
}

AD_HOST_SETTING_GETTERS(setting_get)

static const char *
host_agent_name(agentd_ctx *ctx)
{
	return ctx->m->agent;
}

static const char *
host_instance_id(agentd_ctx *ctx)
{
	return ctx->m->instance;
}

/* ---- outbound HTTP, against the test's handler ------------------------- */

static void
mhttp_free(struct mhttp *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free((char *)r->headers[i].name);
		free((char *)r->headers[i].value);
	}
	free(r->headers);
	free(r->url);
	free(r->body);
	free(r);
}

/* Headers copied into one block: the array, then names and values. */
static struct agentd_http_header *
headers_dup(const struct agentd_http_header *h, size_t n)
{
	struct agentd_http_header *v;
	size_t                     i, bytes = n * sizeof(*v) + 1;
	char                      *p;

	for (i = 0; i < n; i++)
		bytes += strlen(h[i].name) + strlen(h[i].value) + 2;
	if ((v = malloc(bytes)) == NULL)
		return NULL;
	p = (char *)(v + n);
	for (i = 0; i < n; i++) {
		v[i].name = strcpy(p, h[i].name);
		p += strlen(p) + 1;
		v[i].value = strcpy(p, h[i].value);
		p += strlen(p) + 1;
	}
	return v;
}

/* Queue the current attempt's outcome for agentd_mock_run(). */
static int
mhttp_outcome(struct agentd_mock *m, struct mhttp *r, int status, int code,
    const struct agentd_http_header *h, size_t nh, const void *body,
    size_t len)
{
	struct done *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return AGENTD_ENOMEM;
	d->http      = r;
	d->status    = status;
	d->http_code = code;
	if (nh > 0 && (d->hdrs = headers_dup(h, nh)) == NULL) {
		free(d);
		return AGENTD_ENOMEM;
	}
	d->nhdrs = nh;
	if (len > 0 && (d->reply = dup_bytes(body, len)) == NULL) {
		free(d->hdrs);
		free(d);
		return AGENTD_ENOMEM;
	}
	d->len      = len;
	r->awaiting = 0;
	done_push(m, d);
	return 0;
}

/* Hand attempt r->attempt to the test's handler. */
static void
mhttp_attempt(struct agentd_mock *m, struct mhttp *r)
{
	struct agentd_mock_http_call c;
	int                          rv;

	r->awaiting = 1;
	if (m->http_fn == NULL) {
		/* No server: the connection is refused. */
		mhttp_outcome(m, r, AGENTD_EUNAVAIL, 0, NULL, 0, NULL, 0);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.id         = r->id;
	c.attempt    = r->attempt;
	c.method     = r->plan.method;
	c.url        = r->url;
	c.host       = r->plan.url.host;
	c.headers    = r->headers;
	c.nheaders   = r->nheaders;
	c.body       = r->body;
	c.body_len   = r->body_len;
	c.timeout_ms = r->plan.timeout_ms;
	rv           = m->http_fn(m->http_arg, m, &c);
	if (rv == AGENTD_MOCK_HTTP_LATER || (rv == 0 && !r->awaiting))
		return;
	/* An error is the attempt's failure; 0 without an answer is the
	 * handler's mistake, told as a broken answer. */
	mhttp_outcome(m, r, rv != 0 ? rv : AGENTD_EIO, 0, NULL, 0, NULL, 0);
}

/* The request's callback, once; r stays for agentd_mock_http_*(). */
static void
mhttp_deliver(struct agentd_mock *m, struct mhttp *r, int status, int code,
    const struct agentd_http_header *h, size_t nh, const void *body,
    size_t len)
{
	struct agentd_http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.status    = status;
	resp.http_code = code;
	resp.attempts  = r->attempt;
	resp.headers   = nh ? h : NULL;
	resp.nheaders  = nh;
	resp.body      = status == 0 && len ? body : NULL;
	resp.body_len  = status == 0 ? len : 0;
	r->finished    = 1;
	m->http_outstanding--;
	r->cb(r->arg, &resp);
}

/* An attempt's outcome, from agentd_mock_run(): again, or the answer. */
static void
mhttp_done(struct agentd_mock *m, struct done *d)
{
	struct mhttp *r  = d->http;
	const char   *ra = NULL;
	int64_t       wait;
	int           status = d->status;
	size_t        i;

	if (r->finished)
		return; /* closed before its answer came */
	if (status == 0 && d->len > m->http_lim.max_response)
		status = AGENTD_ETOOBIG; /* the worker stops the transfer */
	for (i = 0; i < d->nhdrs; i++)
		if (strcasecmp(d->hdrs[i].name, "Retry-After") == 0)
			ra = d->hdrs[i].value;
	if (!m->closing
	    && ad_http_next_attempt(&r->plan, r->attempt, status, d->http_code,
	        ra, 0, (uint32_t)r->id, &wait)) {
		r->waited_ms += (uint64_t)wait;
		r->attempt++;
		mhttp_attempt(m, r);
		return;
	}
	mhttp_deliver(
	    m, r, status, d->http_code, d->hdrs, d->nhdrs, d->reply, d->len);
}

static int
host_http_async(agentd_ctx *ctx, const struct agentd_http_request *req,
    agentd_http_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	struct ad_http_plan plan;
	struct mhttp       *r;
	char                err[256];
	int                 rv;

	if (m == NULL || cb == NULL)
		return AGENTD_EINVAL;
	m->http_lim.allow  = m->http_allow.v;
	m->http_lim.nallow = m->http_allow.n;
	if ((rv = ad_http_check(req, &m->http_lim, m->http_outstanding, &plan,
	         err, sizeof(err)))
	    != 0)
		return mock_fail(m, rv, "http_async: %s", err);
	if (m->closing)
		return mock_fail(
		    m, AGENTD_ECLOSED, "http_async: the instance is stopping");
	if (vec_reserve(&m->https, 1, sizeof(r)) != 0
	    || (r = calloc(1, sizeof(*r))) == NULL)
		return AGENTD_ENOMEM;
	r->plan    = plan;
	r->cb      = cb;
	r->arg     = arg;
	r->attempt = 1;
	r->url     = dup_str(req->url);
	r->body    = dup_bytes(req->body, req->body_len);
	r->headers = calloc(req->nheaders + 1, sizeof(*r->headers));
	if (r->url == NULL || r->body == NULL || r->headers == NULL) {
		mhttp_free(r);
		return AGENTD_ENOMEM;
	}
	r->body_len = req->body_len;
	for (r->nheaders = 0; r->nheaders < req->nheaders; r->nheaders++) {
		r->headers[r->nheaders].name
		    = dup_str(req->headers[r->nheaders].name);
		r->headers[r->nheaders].value
		    = dup_str(req->headers[r->nheaders].value);
	}
	r->id                                = m->https.n;
	((struct mhttp **)m->https.v)[r->id] = r;
	m->https.n++;
	m->http_outstanding++;
	mhttp_attempt(m, r);
	return 0;
}

/* Stopping: what is outstanding hears AGENTD_ECLOSED, before fini. */
static void
mhttp_close(struct agentd_mock *m)
{
	size_t i;

	m->closing = 1;
	for (i = 0; i < m->https.n; i++) {
		struct mhttp *r = ((struct mhttp **)m->https.v)[i];

		if (!r->finished)
			mhttp_deliver(
			    m, r, AGENTD_ECLOSED, 0, NULL, 0, NULL, 0);
	}
}

static const char *
host_request_caller(agentd_ctx *ctx, agentd_request *req)
{
	return req != NULL ? req->caller : NULL;
}

/* The worker's table and rules (counters.h); nothing is sent. */
static int
host_count(agentd_ctx *ctx, const char *name, int64_t delta)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	rv = ad_counters_add(&m->counters, name, delta);
	if (rv == AGENTD_ETOOBIG)
		return mock_fail(m, rv,
		    "count: a new name past the %d names an instance may "
		    "count",
		    AGENTD_COUNTERS_MAX);
	if (rv != 0)
		return mock_fail(m, rv,
		    "count: a name of 1 to %d of [a-z0-9_] starting with a "
		    "letter, and a delta of 0 or more",
		    AGENTD_COUNTER_NAME_MAX);
	return 0;
}

/* ---- own descriptors and timers ------------------------------------------
 * The worker's table and rules (fdtimer.h); the loop is agentd_mock_poll()
 * for descriptors and agentd_mock_clock_advance() for timers. */

static int
host_watch_fd(agentd_ctx *ctx, int fd, int events, agentd_fd_fn cb, void *arg)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	switch ((rv = ad_fdtimer_watch(&m->fdt, fd, events, cb, arg))) {
	case 0:
		return 0;
	case AGENTD_ECLOSED:
		return mock_fail(m, rv, "watch_fd: the instance is stopping");
	case AGENTD_ENOENT:
		return mock_fail(m, rv, "watch_fd: fd %d is not watched", fd);
	case AGENTD_ETOOBIG:
		return mock_fail(m, rv,
		    "watch_fd: fd %d is past the %d descriptors an instance "
		    "may watch",
		    fd, AGENTD_WATCH_MAX);
	default:
		if (fd < 0)
			return mock_fail(
			    m, rv, "watch_fd: fd %d is negative", fd);
		if (cb == NULL
		    && (events & ~(AGENTD_FD_READ | AGENTD_FD_WRITE)) == 0)
			return mock_fail(m, rv,
			    "watch_fd: fd %d: events without a callback", fd);
		return mock_fail(m, rv,
		    "watch_fd: fd %d: events 0x%x: only AGENTD_FD_READ and "
		    "AGENTD_FD_WRITE may be asked",
		    fd, (unsigned)events);
	}
}

static int
host_timer_start(agentd_ctx *ctx, uint64_t first_ms, uint64_t every_ms,
    agentd_timer_fn cb, void *arg, uint64_t *id)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	rv = ad_fdtimer_start(
	    &m->fdt, (uint64_t)m->clock_ms, first_ms, every_ms, cb, arg, id);
	switch (rv) {
	case 0:
		return 0;
	case AGENTD_ECLOSED:
		return mock_fail(
		    m, rv, "timer_start: the instance is stopping");
	case AGENTD_ETOOBIG:
		return mock_fail(m, rv,
		    "timer_start: past the %d timers an instance may keep",
		    AGENTD_TIMERS_MAX);
	default:
		if (cb == NULL)
			return mock_fail(m, rv, "timer_start: no callback");
		return mock_fail(m, rv,
		    "timer_start: first_ms %llu, every_ms %llu: each at most "
		    "AGENTD_TIMER_MAX_MS (%llu)",
		    (unsigned long long)first_ms, (unsigned long long)every_ms,
		    (unsigned long long)AGENTD_TIMER_MAX_MS);
	}
}

static int
host_timer_cancel(agentd_ctx *ctx, uint64_t id)
{
	struct agentd_mock *m = mock_of(ctx);
	int                 rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	switch ((rv = ad_fdtimer_cancel(&m->fdt, id))) {
	case 0:
		return 0;
	case AGENTD_ECLOSED:
		return mock_fail(
		    m, rv, "timer_cancel: the instance is stopping");
	default:
		return mock_fail(m, rv,
		    "timer_cancel: timer %llu is not running",
		    (unsigned long long)id);
	}
}

static const struct agentd_host mock_host_table = AD_HOST_TABLE_INIT;

/* ---- settings against the schema --------------------------------------- */

/* Text to a value of v->type; -1 if it is not of that type (or no
 * memory for a string's copy). */
static int
parse_value(const char *text, struct ad_setting_value *v)
{
	if (ad_setting_parse(text, v) != 0)
		return -1;
	if (v->type == AGENTD_SETTING_STRING
	    && (v->v.s = dup_str(text)) == NULL)
		return -1;
	return 0;
}

static const struct given *
given_find(const struct agentd_mock *m, const char *name)
{
	const struct given *g = m->given.v;
	size_t              i;

	for (i = 0; i < m->given.n; i++)
		if (strcmp(g[i].name, name) == 0)
			return &g[i];
	return NULL;
}

static void
typed_free(struct agentd_mock *m)
{
	struct ad_setting_value *t = m->typed.v;
	size_t                   i;

	for (i = 0; i < m->typed.n; i++) {
		free(t[i].name);
		if (t[i].type == AGENTD_SETTING_STRING)
			free(t[i].v.s);
	}
	free(m->typed.v);
	memset(&m->typed, 0, sizeof(m->typed));
}

/* Every given setting is declared; every declared one gets a value. */
static int
settings_apply(struct agentd_mock *m)
{
	const struct agentd_setting *s, *schema = m->desc.settings;
	const struct given          *g = m->given.v, *gv;
	struct ad_setting_value     *t;
	const char                  *text;
	size_t                       i;

	for (i = 0; i < m->given.n; i++) {
		for (s = schema; s != NULL && s->name != NULL; s++)
			if (strcmp(s->name, g[i].name) == 0)
				break;
		if (s == NULL || s->name == NULL)
			return mock_fail(m, AGENTD_ENOENT,
			    "unknown setting \"%s\": plugin \"%s\" does not "
			    "declare it",
			    g[i].name, m->desc.name);
	}
	for (s = schema; s != NULL && s->name != NULL; s++) {
		if (vec_reserve(&m->typed, 1, sizeof(*t)) != 0)
			return AGENTD_ENOMEM;
		t = (struct ad_setting_value *)m->typed.v + m->typed.n;
		memset(t, 0, sizeof(*t));
		t->type = s->type;
		if ((t->name = dup_str(s->name)) == NULL)
			return AGENTD_ENOMEM;
		m->typed.n++; /* freed by typed_free() whatever follows */
		text = (gv = given_find(m, s->name)) != NULL
		    ? gv->text
		    : s->default_value;
		if (text == NULL)
			return mock_fail(m, AGENTD_EINVAL,
			    "setting \"%s\" is required (the plugin declares "
			    "it %s, with no default)",
			    s->name, ad_setting_type_name(s->type));
		if (parse_value(text, t) != 0)
			return mock_fail(m, AGENTD_EINVAL,
			    "setting \"%s\" = \"%s\" is not of the type %s "
			    "the plugin declares",
			    s->name, text, ad_setting_type_name(s->type));
	}
	return 0;
}

/* ---- the descriptor ---------------------------------------------------- */

/*
 * Check d as agentd does and copy at most its declared size.  avail is
 * the size of the symbol as ad_desc_check_head() takes it.
 */
static int
desc_take(struct agentd_mock *m, const char *what,
    const struct agentd_plugin *d, size_t avail)
{
	const struct agentd_setting *s = NULL;

	switch (ad_desc_check_head(d, avail)) {
	case AD_DESC_MAGIC:
		return mock_fail(m, AGENTD_EABI,
		    "%s: descriptor has a wrong magic number: not built with "
		    "AGENTD_PLUGIN()",
		    what);
	case AD_DESC_MAJOR:
		return mock_fail(m, AGENTD_EABI,
		    "%s: plugin built for agentd ABI %u.%u, this SDK speaks "
		    "ABI %d.%d",
		    what, d->abi_major, d->abi_minor, AGENTD_ABI_MAJOR,
		    AGENTD_ABI_MINOR);
	case AD_DESC_SIZE:
		return mock_fail(m, AGENTD_EABI,
		    "%s: descriptor declares an impossible size (%u bytes)",
		    what, (unsigned)d->size);
	default:
		break;
	}
	memset(&m->desc, 0, sizeof(m->desc));
	memcpy(&m->desc, d,
	    d->size < sizeof(m->desc) ? d->size : sizeof(m->desc));
	switch (ad_desc_check_fields(&m->desc, &s)) {
	case AD_DESC_OK:
		return 0;
	case AD_DESC_SETTING_TYPE:
		return mock_fail(m, AGENTD_EABI,
		    "%s: setting \"%s\" has an unknown type %d", what, s->name,
		    (int)s->type);
	case AD_DESC_CAPABILITY:
	case AD_DESC_CAPABILITIES:
		return mock_fail(m, AGENTD_EABI,
		    "%s: descriptor .capabilities needs at most %d names of "
		    "1-%d characters of [a-z0-9_.-], ended by NULL",
		    what, AGENTD_CAPABILITIES_MAX, AGENTD_NAME_MAX);
	default:
		return mock_fail(m, AGENTD_EABI,
		    "%s: descriptor needs a .name of 1-63 characters of "
		    "[A-Za-z0-9_.-], a .version and .on_request",
		    what);
	}
}

/* Settings typed, then init(): what the worker does with "init". */
static int
mock_start(struct agentd_mock *m)
{
	int rv;

	if (m->agent[0] == '\0')
		snprintf(m->agent, sizeof(m->agent), "%s", m->desc.name);
	snprintf(m->instance, sizeof(m->instance), "%s-1", m->agent);
	if ((rv = settings_apply(m)) != 0)
		return rv;
	if (m->desc.init != NULL
	    && (rv = m->desc.init(&m->ctx, &mock_host_table, &m->state)) != 0)
		return mock_fail(m, AGENTD_EPLUGIN,
		    "plugin init failed: %s (%d)", agentd_strerror(rv), rv);
	m->initialized = 1;
	return 0;
}

/* Forget a plugin that failed to start, so another may be tried. */
static void
mock_unstart(struct agentd_mock *m, int named)
{
	typed_free(m);
	memset(&m->desc, 0, sizeof(m->desc));
	m->state = NULL;
	if (!named)
		m->agent[0] = '\0';
	if (m->dl != NULL)
		dlclose(m->dl);
	m->dl = NULL;
}

#define MOCK_STR_(x) #x
#define MOCK_STR(x) MOCK_STR_(x)

int
agentd_mock_load(struct agentd_mock *m, const char *so_path)
{
	const struct agentd_plugin *d;
	const char                 *e;
	size_t                      avail;
	int                         named, other, rv;

	if (m == NULL || so_path == NULL)
		return AGENTD_EINVAL;
	if (m->initialized)
		return mock_fail(
		    m, AGENTD_EINVAL, "a plugin is loaded already");
	dlerror();
	if ((m->dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		return mock_fail(
		    m, AGENTD_EABI, "cannot load plugin: %s", e ? e : so_path);
	}
	named = m->agent[0] != '\0';
	d     = ad_desc_find(m->dl, &avail, &other);
	if (d == NULL) {
		if (other >= 0)
			rv = mock_fail(m, AGENTD_EABI,
			    "%s: plugin built for agentd ABI %d, this SDK "
			    "speaks ABI %d",
			    so_path, other, AGENTD_ABI_MAJOR);
		else
			rv = mock_fail(m, AGENTD_EABI,
			    "%s: no %s symbol: is it built with "
			    "AGENTD_PLUGIN()?",
			    so_path, MOCK_STR(AGENTD_PLUGIN_SYMBOL));
	} else if ((rv = desc_take(m, so_path, d, avail)) == 0) {
		rv = mock_start(m);
	}
	if (rv != 0)
		mock_unstart(m, named);
	return rv;
}

int
agentd_mock_attach(struct agentd_mock *m, const struct agentd_plugin *desc)
{
	int named, rv;

	if (m == NULL || desc == NULL)
		return AGENTD_EINVAL;
	if (m->initialized)
		return mock_fail(
		    m, AGENTD_EINVAL, "a plugin is loaded already");
	named = m->agent[0] != '\0';
	if ((rv = desc_take(m, "attached descriptor", desc, SIZE_MAX)) == 0)
		rv = mock_start(m);
	if (rv != 0)
		mock_unstart(m, named);
	return rv;
}

/* ---- the mock's own API ------------------------------------------------ */

int
agentd_mock_new(const char *agent_name, struct agentd_mock **out)
{
	struct agentd_mock *m;

	if (out == NULL || (agent_name != NULL && !ad_valid_name(agent_name)))
		return AGENTD_EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return AGENTD_ENOMEM;
	m->ctx.m = m;
	if (agent_name != NULL)
		snprintf(m->agent, sizeof(m->agent), "%s", agent_name);
	snprintf(m->caller, sizeof(m->caller), "agentctl");
	m->clock_ms = 1; /* 0 means "no expiry" in an entry */
	/* agentd's http { } defaults (config/options.c) */
	m->http_lim.max_concurrent = 256;
	m->http_lim.max_response   = (size_t)1 << 20;
	m->http_lim.timeout_ms     = 30000;
	*out                       = m;
	return 0;
}

void
agentd_mock_free(struct agentd_mock *m)
{
	struct handler *h;
	struct done    *d;
	struct vec     *vecs[9]; /* freed last: what they point to first */
	size_t          i;

	if (m == NULL)
		return;
	vecs[0] = &m->given;
	vecs[1] = &m->reqs;
	vecs[2] = &m->kv;
	vecs[3] = &m->events;
	vecs[4] = &m->audits;
	vecs[5] = &m->rules;
	vecs[6] = &m->decisions;
	vecs[7] = &m->https;
	vecs[8] = &m->http_allow;
	/* As a stopping worker: requests outstanding hear ECLOSED first;
	 * watches and timers end without a callback. */
	if (m->initialized) {
		mhttp_close(m);
		sbatch_run(m);
	}
	ad_fdtimer_close(&m->fdt);
	if (m->initialized && m->desc.fini != NULL)
		m->desc.fini(m->state);
	/* As a stopping worker: unfinished calls never call back. */
	while ((d = m->done_head) != NULL) {
		m->done_head = d->next;
		free(d->reply);
		free(d->hdrs);
		free(d->call_error);
		free(d);
	}
	for (i = 0; i < m->https.n; i++)
		mhttp_free(((struct mhttp **)m->https.v)[i]);
	for (i = 0; i < m->http_allow.n; i++)
		free(((char **)m->http_allow.v)[i]);
	if (m->dl != NULL)
		dlclose(m->dl);
	typed_free(m);
	for (i = 0; i < m->given.n; i++) {
		free(((struct given *)m->given.v)[i].name);
		free(((struct given *)m->given.v)[i].text);
	}
	for (i = 0; i < m->reqs.n; i++) {
		free(((agentd_request **)m->reqs.v)[i]->body);
		free(((agentd_request **)m->reqs.v)[i]);
	}
	for (i = 0; i < m->kv.n; i++) {
		free(((struct entry *)m->kv.v)[i].key);
		free(((struct entry *)m->kv.v)[i].val);
	}
	for (i = 0; i < m->events.n; i++) {
		free(((struct event *)m->events.v)[i].topic);
		free(((struct event *)m->events.v)[i].body);
	}
	for (i = 0; i < m->audits.n; i++) {
		free(((struct audit *)m->audits.v)[i].kind);
		free(((struct audit *)m->audits.v)[i].summary);
		free(((struct audit *)m->audits.v)[i].detail);
	}
	for (i = 0; i < m->rules.n; i++)
		free(((struct rule *)m->rules.v)[i].prefix);
	for (i = 0; i < m->decisions.n; i++)
		decision_free(((struct decision **)m->decisions.v)[i]);
	while ((h = m->handlers) != NULL) {
		m->handlers = h->next;
		free(h->agent);
		free(h);
	}
	free(m->caps.v);
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		free(vecs[i]->v);
	free(m);
}

int
agentd_mock_setting(struct agentd_mock *m, const char *name, const char *value)
{
	struct given *g;
	char         *text;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_name(name) || value == NULL)
		return mock_fail(m, AGENTD_EINVAL,
		    "setting: \"%s\" is not a setting name, or no value",
		    name ? name : "(null)");
	if (m->initialized)
		return mock_fail(m, AGENTD_EINVAL,
		    "setting %s: settings are fixed once the plugin is "
		    "initialized",
		    name);
	if ((text = dup_str(value)) == NULL)
		return AGENTD_ENOMEM;
	if ((g = (struct given *)given_find(m, name)) != NULL) {
		free(g->text);
		g->text = text;
		return 0;
	}
	if (vec_reserve(&m->given, 1, sizeof(*g)) != 0) {
		free(text);
		return AGENTD_ENOMEM;
	}
	g = (struct given *)m->given.v + m->given.n;
	if ((g->name = dup_str(name)) == NULL) {
		free(text);
		return AGENTD_ENOMEM;
	}
	g->text = text;
	m->given.n++;
	return 0;
}

const char *
agentd_mock_errmsg(const struct agentd_mock *m)
{
	return m != NULL ? m->errmsg : "no mock";
}

const struct agentd_host *
agentd_mock_host(struct agentd_mock *m, agentd_ctx **ctx)
{
	if (ctx != NULL)
		*ctx = m != NULL ? &m->ctx : NULL;
	return &mock_host_table;
}

static int
need_plugin(struct agentd_mock *m, const char *what)
{
	if (m->initialized)
		return 0;
	return mock_fail(m, AGENTD_EINVAL,
	    "%s: no plugin is initialized: agentd_mock_load() or "
	    "agentd_mock_attach() first",
	    what);
}

int
agentd_mock_send(
    struct agentd_mock *m, const void *body, size_t len, size_t *id)
{
	agentd_request *req;
	void           *copy;
	int             rv;

	if (m == NULL || (body == NULL && len != 0))
		return AGENTD_EINVAL;
	if ((rv = need_plugin(m, "request")) != 0)
		return rv;
	if (vec_reserve(&m->reqs, 1, sizeof(req)) != 0
	    || (req = calloc(1, sizeof(*req))) == NULL)
		return AGENTD_ENOMEM;
	/* A copy freed on return, so a plugin keeping the borrowed body
	 * too long reads freed memory under a sanitizer, not stale bytes. */
	if ((copy = dup_bytes(body, len)) == NULL) {
		free(req);
		return AGENTD_ENOMEM;
	}
	req->id = m->reqs.n;
	memcpy(req->caller, m->caller, sizeof(req->caller));
	((agentd_request **)m->reqs.v)[m->reqs.n++] = req;
	m->pending++;
	rv = m->desc.on_request(m->state, req, copy, len);
	free(copy);
	if (!req->answered && rv != 0)
		request_fail(m, req, rv < 0 ? AGENTD_EPLUGIN : rv,
		    "the plugin failed the request");
	if (id != NULL)
		*id = req->id;
	return 0;
}

int
agentd_mock_answer(const struct agentd_mock *m, size_t id, const void **reply,
    size_t *reply_len, int *status)
{
	const agentd_request *req;

	if (m == NULL || id >= m->reqs.n)
		return AGENTD_EINVAL;
	req = ((agentd_request *const *)m->reqs.v)[id];
	if (!req->answered)
		return AGENTD_ENOENT;
	if (reply != NULL)
		*reply = req->body;
	if (reply_len != NULL)
		*reply_len = req->len;
	if (status != NULL)
		*status = req->status;
	return 0;
}

int
agentd_mock_request(struct agentd_mock *m, const void *body, size_t len,
    const void **reply, size_t *reply_len, int *status)
{
	size_t id;
	int    rv;

	if ((rv = agentd_mock_send(m, body, len, &id)) != 0)
		return rv;
	while (!((agentd_request **)m->reqs.v)[id]->answered
	    && m->done_head != NULL)
		agentd_mock_run(m);
	if ((rv = agentd_mock_answer(m, id, reply, reply_len, status)) != 0)
		return mock_fail(m, AGENTD_ETIMEOUT,
		    "request %zu: not answered, and nothing left to run that "
		    "could answer it",
		    id);
	return 0;
}

size_t
agentd_mock_pending(const struct agentd_mock *m)
{
	return m != NULL ? m->pending : 0;
}

int
agentd_mock_event(
    struct agentd_mock *m, const char *topic, const void *body, size_t len)
{
	void *copy;
	char *t;
	int   rv;

	if (m == NULL || (body == NULL && len != 0))
		return AGENTD_EINVAL;
	if ((rv = need_plugin(m, "event")) != 0)
		return rv;
	if (!ad_valid_topic(topic))
		return mock_fail(m, AGENTD_EINVAL,
		    "event: \"%s\" is not a topic", topic ? topic : "(null)");
	if (m->desc.on_event == NULL)
		return 0;
	t    = dup_str(topic);
	copy = dup_bytes(body, len);
	if (t != NULL && copy != NULL)
		m->desc.on_event(m->state, t, copy, len);
	else
		rv = AGENTD_ENOMEM;
	free(t);
	free(copy);
	return rv;
}

int
agentd_mock_tick(struct agentd_mock *m)
{
	int rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if ((rv = need_plugin(m, "tick")) != 0)
		return rv;
	if (m->desc.on_tick == NULL || m->desc.tick_ms == 0)
		return mock_fail(m, AGENTD_ENOTSUP,
		    "tick: the plugin has no on_tick, or tick_ms is 0");
	m->desc.on_tick(m->state);
	return 0;
}

int
agentd_mock_on_call(struct agentd_mock *m, const char *agent,
    agentd_mock_call_fn fn, void *arg)
{
	struct handler *h, **p;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_name(agent))
		return mock_fail(m, AGENTD_EINVAL,
		    "on_call: \"%s\" is not an agent name",
		    agent ? agent : "(null)");
	for (p = &m->handlers; *p != NULL; p = &(*p)->next)
		if (strcmp((*p)->agent, agent) == 0)
			break;
	if (fn == NULL) {
		if ((h = *p) != NULL) {
			*p = h->next;
			free(h->agent);
			free(h);
		}
		return 0;
	}
	if ((h = *p) == NULL) {
		if ((h = calloc(1, sizeof(*h))) == NULL
		    || (h->agent = dup_str(agent)) == NULL) {
			free(h);
			return AGENTD_ENOMEM;
		}
		*p = h;
	}
	h->fn  = fn;
	h->arg = arg;
	return 0;
}

/*
 * A call_async's callback: while a failed one runs, host->call_error()
 * answers its line, as in the worker (a host->call() inside it replaces
 * the line with its own, or none).
 */
static void
reply_run(struct agentd_mock *m, struct done *d)
{
	const char *before = m->call_error;
	const char *line   = d->call_error != NULL ? d->call_error : "";

	if (d->status == 0) {
		d->cb(d->arg, 0, d->reply, d->len);
		return;
	}
	m->call_error = line;
	d->cb(d->arg, d->status, NULL, 0);
	if (m->call_error == line)
		m->call_error = before;
}

int
agentd_mock_call_fail(agentd_writer *reply, int err, const char *message)
{
	if (reply == NULL || err <= 0)
		return AGENTD_EINVAL;
	agentd_write_map(reply, 1);
	agentd_write_str(reply, "error");
	agentd_write_str(
	    reply, message != NULL ? message : agentd_strerror(err));
	return err;
}

size_t
agentd_mock_run(struct agentd_mock *m)
{
	struct done *d;
	size_t       n = 0;

	if (m == NULL)
		return 0;
	while ((d = m->done_head) != NULL) {
		if ((m->done_head = d->next) == NULL)
			m->done_tail = NULL;
		if (d->http != NULL)
			mhttp_done(m, d);
		else if (d->audit_cb != NULL)
			d->audit_cb(d->arg, d->status, d->seq);
		else if (d->sbatch_cb != NULL)
			d->sbatch_cb(d->arg, d->status);
		else if (d->decision != NULL)
			outcome_deliver(m, d);
		else if (d->agents_cb != NULL)
			agents_deliver(d);
		else if (d->propose_cb != NULL)
			d->propose_cb(d->arg, d->status,
			    d->status == 0 ? d->reply : NULL);
		else
			reply_run(m, d);
		free(d->reply);
		free(d->hdrs);
		free(d->call_error);
		free(d);
		n++;
	}
	return n;
}

/* ---- the policy gate, played by the test ------------------------------ */

int
agentd_mock_policy(
    struct agentd_mock *m, const char *type_prefix, const char *risk)
{
	struct rule *r;
	size_t       k;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (type_prefix == NULL
	    || (strcmp(type_prefix, "*") != 0 && !ad_valid_topic(type_prefix)))
		return mock_fail(m, AGENTD_EINVAL,
		    "policy: \"%s\" is neither \"*\" nor a type prefix (a "
		    "topic)",
		    type_prefix ? type_prefix : "(null)");
	for (k = 0;
	     risk != NULL && k < sizeof(risk_names) / sizeof(risk_names[0]);
	     k++)
		if (strcmp(risk, risk_names[k]) == 0)
			break;
	if (risk == NULL || k == sizeof(risk_names) / sizeof(risk_names[0]))
		return mock_fail(m, AGENTD_EINVAL,
		    "policy %s: risk \"%s\" is not low, medium or high",
		    type_prefix, risk ? risk : "(null)");
	if (vec_reserve(&m->rules, 1, sizeof(*r)) != 0)
		return AGENTD_ENOMEM;
	r = (struct rule *)m->rules.v + m->rules.n;
	if ((r->prefix = dup_str(type_prefix)) == NULL)
		return AGENTD_ENOMEM;
	r->risk = (enum risk)k;
	m->rules.n++;
	return 0;
}

int
agentd_mock_max_pending(struct agentd_mock *m, unsigned n)
{
	if (m == NULL)
		return AGENTD_EINVAL;
	m->max_pending = n;
	return 0;
}

/* The pending decision id, for an answer; AGENTD_ENOENT or AGENTD_EEXIST
 * as agentd answers them. */
static int
pending_find(struct agentd_mock *m, const char *what, const char *id,
    struct decision **out)
{
	struct decision *d = decision_find(m, id);

	if (d == NULL)
		return mock_fail(m, AGENTD_ENOENT, "%s: no decision \"%s\"",
		    what, id ? id : "(null)");
	if (d->state != D_PENDING)
		return mock_fail(m, AGENTD_EEXIST,
		    "%s %s: already %s, by %s%s%s", what, id,
		    dstate_names[d->state], d->by,
		    d->note[0] != '\0' ? ": " : "", d->note);
	*out = d;
	return 0;
}

/* d's note becomes note (NULL: ""). */
static int
note_set(struct decision *d, const char *note)
{
	char *copy = dup_str(note != NULL ? note : "");

	if (copy == NULL)
		return AGENTD_ENOMEM;
	free(d->note);
	d->note = copy;
	return 0;
}

int
agentd_mock_approve(struct agentd_mock *m, const char *id, const char *note)
{
	struct decision *d;
	int              rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if ((rv = pending_find(m, "approve", id, &d)) != 0
	    || (rv = note_set(d, note)) != 0)
		return rv;
	return decide(m, d, D_APPROVED, AGENTD_MOCK_PERSON);
}

int
agentd_mock_reject(struct agentd_mock *m, const char *id, const char *reason)
{
	struct decision *d;
	int              rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (reason == NULL || reason[0] == '\0')
		return mock_fail(m, AGENTD_EINVAL,
		    "reject %s: a reason is required", id ? id : "(null)");
	if ((rv = pending_find(m, "reject", id, &d)) != 0
	    || (rv = note_set(d, reason)) != 0)
		return rv;
	return decide(m, d, D_REJECTED, AGENTD_MOCK_PERSON);
}

/*
 * Is params[0..len) one msgpack map?  A number under "amount" in it
 * replaces *amount, as agentd takes it.
 */
static int
params_map(const void *params, size_t len, double *amount)
{
	const agentd_value *a;
	agentd_doc         *doc;
	int                 is_map;

	if (params == NULL || len == 0 || agentd_parse(params, len, &doc) != 0)
		return 0;
	is_map = agentd_type_of(agentd_doc_root(doc)) == AGENTD_T_MAP;
	a      = agentd_map_get(agentd_doc_root(doc), "amount");
	if (agentd_type_of(a) == AGENTD_T_INT
	    || agentd_type_of(a) == AGENTD_T_DOUBLE)
		agentd_get_double(a, amount);
	agentd_doc_free(doc);
	return is_map;
}

int
agentd_mock_modify(struct agentd_mock *m, const char *id, const void *params,
    size_t len, const char *note)
{
	struct agentd_proposal p;
	struct decision       *d;
	char                   err[256];
	void                  *copy;
	double                 amount = 0;
	int                    rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!params_map(params, len, &amount))
		return mock_fail(m, AGENTD_EINVAL,
		    "modify %s: params must be one msgpack map",
		    id ? id : "(null)");
	if ((rv = pending_find(m, "modify", id, &d)) != 0)
		return rv;
	p = (struct agentd_proposal) { d->type, d->title, d->reasoning,
		d->amount, d->confidence, params, len };
	params_map(params, len, &p.amount);
	/* Still a proposal agentd accepts (a size, an amount >= 0). */
	if ((rv = ad_proposal_check(&p, err, sizeof(err))) != 0)
		return mock_fail(m, rv, "modify %s: %s", id, err);
	if ((copy = dup_bytes(params, len)) == NULL
	    || note_set(d, note) != 0) {
		free(copy);
		return AGENTD_ENOMEM;
	}
	if (d->proposed == NULL) {
		d->proposed     = d->params;
		d->proposed_len = d->params_len;
	} else {
		free(d->params);
	}
	d->params     = copy;
	d->params_len = len;
	d->amount     = p.amount;
	d->risk       = classify(m, d->type);
	if (d->risk == RISK_HIGH)
		return 0; /* pending still (in agentd, with a new deadline) */
	return decide(m, d, D_APPROVED, AGENTD_MOCK_PERSON);
}

int
agentd_mock_expire(struct agentd_mock *m, const char *id)
{
	struct decision *d;
	int              rv;

	if (m == NULL)
		return AGENTD_EINVAL;
	if ((rv = pending_find(m, "expire", id, &d)) != 0)
		return rv;
	return decide(m, d, D_EXPIRED, "policy");
}

int
agentd_mock_redeliver(struct agentd_mock *m, const char *id)
{
	struct decision *d;

	if (m == NULL)
		return AGENTD_EINVAL;
	if ((d = decision_find(m, id)) == NULL)
		return mock_fail(m, AGENTD_ENOENT,
		    "redeliver: no decision \"%s\"", id ? id : "(null)");
	if (d->state == D_PENDING)
		return mock_fail(m, AGENTD_EINVAL,
		    "redeliver %s: still pending, there is no outcome yet",
		    id);
	return outcome_queue(m, d);
}

size_t
agentd_mock_decisions(const struct agentd_mock *m)
{
	return m != NULL ? m->decisions.n : 0;
}

int
agentd_mock_decision(
    const struct agentd_mock *m, size_t i, struct agentd_mock_decision *out)
{
	const struct decision *d;

	if (m == NULL || out == NULL || i >= m->decisions.n)
		return AGENTD_ENOENT;
	d    = ((struct decision *const *)m->decisions.v)[i];
	*out = (struct agentd_mock_decision) {
		.id                  = d->id,
		.type                = d->type,
		.title               = d->title,
		.reasoning           = d->reasoning,
		.amount              = d->amount,
		.confidence          = d->confidence,
		.params              = d->params,
		.params_len          = d->params_len,
		.proposed_params     = d->proposed,
		.proposed_params_len = d->proposed_len,
		.risk                = risk_names[d->risk],
		.state               = dstate_names[d->state],
		.by                  = d->by,
		.note                = d->note,
		.delivered           = d->delivered,
	};
	return 0;
}

size_t
agentd_mock_published_count(const struct agentd_mock *m)
{
	return m != NULL ? m->events.n : 0;
}

int
agentd_mock_published(const struct agentd_mock *m, size_t i,
    const char **topic, const void **body, size_t *len)
{
	const struct event *e;

	if (m == NULL || i >= m->events.n)
		return AGENTD_ENOENT;
	e = (const struct event *)m->events.v + i;
	if (topic != NULL)
		*topic = e->topic;
	if (body != NULL)
		*body = e->body;
	if (len != NULL)
		*len = e->len;
	return 0;
}

size_t
agentd_mock_audit_count(const struct agentd_mock *m)
{
	return m != NULL ? m->audits.n : 0;
}

int
agentd_mock_audit(const struct agentd_mock *m, size_t i, const char **kind,
    const char **summary, const void **detail, size_t *detail_len)
{
	const struct audit *a;

	if (m == NULL || i >= m->audits.n)
		return AGENTD_ENOENT;
	a = (const struct audit *)m->audits.v + i;
	if (kind != NULL)
		*kind = a->kind;
	if (summary != NULL)
		*summary = a->summary;
	if (detail != NULL)
		*detail = a->detail;
	if (detail_len != NULL)
		*detail_len = a->detail_len;
	return 0;
}

size_t
agentd_mock_log_count(const struct agentd_mock *m)
{
	return m != NULL ? m->nlogs : 0;
}

const char *
agentd_mock_last_log(const struct agentd_mock *m, int *level)
{
	if (m == NULL || m->nlogs == 0)
		return NULL;
	if (level != NULL)
		*level = m->last_level;
	return m->last_log;
}

/* ---- who calls, and the clock of state TTLs ------------------------------
 */

int
agentd_mock_caller(struct agentd_mock *m, const char *caller)
{
	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_valid_name(caller))
		return mock_fail(m, AGENTD_EINVAL,
		    "caller: \"%s\" is not an agent name",
		    caller ? caller : "(null)");
	snprintf(m->caller, sizeof(m->caller), "%s", caller);
	return 0;
}

int
agentd_mock_clock_advance(struct agentd_mock *m, uint64_t ms)
{
	agentd_timer_fn cb;
	void           *arg;
	uint64_t        id;

	if (m == NULL || ms > AGENTD_STATE_TTL_MAX)
		return AGENTD_EINVAL;
	m->clock_ms += (int64_t)ms;
	/* One turn of the worker's loop after it was held for ms. */
	ad_fdtimer_turn(&m->fdt);
	while (ad_fdtimer_due(&m->fdt, (uint64_t)m->clock_ms, &cb, &arg, &id))
		cb(arg, id);
	return 0;
}

size_t
agentd_mock_timers(const struct agentd_mock *m)
{
	return m != NULL ? ad_fdtimer_timers(&m->fdt) : 0;
}

size_t
agentd_mock_poll(struct agentd_mock *m, int timeout_ms)
{
	struct pollfd pfd[AGENTD_WATCH_MAX];
	agentd_fd_fn  cb;
	void         *arg;
	size_t        i, n, ran = 0;
	int           events;

	if (m == NULL)
		return 0;
	/* Committed batches first, as the worker's loop hears of them. */
	if ((ran = sbatch_run(m)) > 0)
		timeout_ms = 0;
	if ((n = ad_fdtimer_pollfds(&m->fdt, pfd, AGENTD_WATCH_MAX)) == 0)
		return ran;
	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
		return ran;
	for (i = 0; i < n; i++)
		if (ad_fdtimer_ready(&m->fdt, &pfd[i], &cb, &arg, &events)) {
			cb(arg, pfd[i].fd, events);
			ran++;
		}
	return ran;
}

/* ---- counters ------------------------------------------------------------
 */

int64_t
agentd_mock_counter(const struct agentd_mock *m, const char *name, int *exists)
{
	const struct ad_counter *c
	    = m != NULL ? ad_counters_find(&m->counters, name) : NULL;

	if (exists != NULL)
		*exists = c != NULL;
	return c != NULL ? c->value : 0;
}

size_t
agentd_mock_counters(const struct agentd_mock *m)
{
	return m != NULL ? m->counters.n : 0;
}

/* ---- outbound HTTP, the test's side --------------------------------------
 */

int
agentd_mock_on_http(struct agentd_mock *m, agentd_mock_http_fn fn, void *arg)
{
	if (m == NULL)
		return AGENTD_EINVAL;
	m->http_fn  = fn;
	m->http_arg = arg;
	return 0;
}

int
agentd_mock_http_allow(struct agentd_mock *m, const char *pattern)
{
	char *copy;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (!ad_http_pattern_valid(pattern))
		return mock_fail(m, AGENTD_EINVAL,
		    "http allow: \"%s\" is not a host name, \"*.\" and one, "
		    "an IPv4 address or a bracketed IPv6 one (lower case)",
		    pattern ? pattern : "(null)");
	if (vec_reserve(&m->http_allow, 1, sizeof(char *)) != 0
	    || (copy = dup_str(pattern)) == NULL)
		return AGENTD_ENOMEM;
	((char **)m->http_allow.v)[m->http_allow.n++] = copy;
	return 0;
}

int
agentd_mock_http_limits(struct agentd_mock *m, unsigned max_concurrent,
    size_t max_response, uint32_t timeout_ms)
{
	if (m == NULL)
		return AGENTD_EINVAL;
	m->http_lim.max_concurrent = max_concurrent ? max_concurrent : 256;
	m->http_lim.max_response
	    = max_response ? max_response : (size_t)1 << 20;
	m->http_lim.timeout_ms = timeout_ms ? timeout_ms : 30000;
	return 0;
}

/* Request id, awaiting its current attempt's outcome from the test. */
static int
mhttp_awaiting(struct agentd_mock *m, size_t id, struct mhttp **out)
{
	struct mhttp *r;

	if (m == NULL)
		return AGENTD_EINVAL;
	if (id >= m->https.n)
		return mock_fail(
		    m, AGENTD_ENOENT, "http: no request %zu was made", id);
	r = ((struct mhttp **)m->https.v)[id];
	if (!r->awaiting || r->finished)
		return mock_fail(m, AGENTD_EEXIST,
		    "http: request %zu is not waiting for an answer", id);
	*out = r;
	return 0;
}

int
agentd_mock_http_answer(struct agentd_mock *m, size_t id, int http_code,
    const struct agentd_http_header *headers, size_t nheaders,
    const void *body, size_t len)
{
	struct mhttp *r = NULL;
	size_t        i;
	int           rv;

	if ((rv = mhttp_awaiting(m, id, &r)) != 0)
		return rv;
	if (http_code < 100 || http_code > 999 || (body == NULL && len)
	    || (headers == NULL && nheaders))
		return mock_fail(m, AGENTD_EINVAL,
		    "http answer: a code outside 100-999, or NULL data");
	for (i = 0; i < nheaders; i++)
		if (headers[i].name == NULL || headers[i].value == NULL)
			return mock_fail(m, AGENTD_EINVAL,
			    "http answer: header %zu has a NULL part", i);
	return mhttp_outcome(m, r, 0, http_code, headers, nheaders, body, len);
}

int
agentd_mock_http_fail(struct agentd_mock *m, size_t id, int status)
{
	struct mhttp *r = NULL;
	int           rv;

	if ((rv = mhttp_awaiting(m, id, &r)) != 0)
		return rv;
	if (status <= 0)
		return mock_fail(m, AGENTD_EINVAL,
		    "http fail: status must be an agentd error");
	return mhttp_outcome(m, r, status, 0, NULL, 0, NULL, 0);
}

size_t
agentd_mock_http_outstanding(const struct agentd_mock *m)
{
	return m != NULL ? m->http_outstanding : 0;
}

size_t
agentd_mock_http_count(const struct agentd_mock *m)
{
	return m != NULL ? m->https.n : 0;
}

int
agentd_mock_http_waited(
    const struct agentd_mock *m, size_t id, uint64_t *waited_ms)
{
	if (m == NULL || waited_ms == NULL || id >= m->https.n)
		return AGENTD_ENOENT;
	*waited_ms = ((struct mhttp *const *)m->https.v)[id]->waited_ms;
	return 0;
}
