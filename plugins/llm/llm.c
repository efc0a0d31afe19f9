/*
 * llm - the language-model gateway agent (doc/llm.md).
 *
 * Agents call it (calls = { "llm" }) with
 *   {"route": "default", "messages": [{"role", "content"}...] (with an
 *    assistant's "tool_calls" and "tool" messages answering them),
 *    "max_tokens": N, "temperature": X, "response_format": {...},
 *    "tools": [...], "conversation": "c-42"}
 * and get
 *   {"text", "tool_calls": [{"id", "name", "arguments"}], "provider",
 *    "model", "usage": {"prompt_tokens", "completion_tokens"},
 *    "finish_reason", "latency_ms", "fallbacks"}
 * {"stats": true} answers the counters per provider and per caller.
 *
 * One request walks its route's chain of providers in order: each is
 * asked with host->http_async (its own retries and Retry-After), and on
 * a connect error, a timeout, a 429 or 5xx after them, or an answer that
 * is not its API's, the next one is (audited as llm.fallback).  A
 * provider's circuit breaker opens after breaker_failures failures in a
 * row (audited as llm.breaker): it is skipped for breaker_cooldown_ms,
 * then one request probes it.  Budgets per caller (requests per minute,
 * tokens per UTC day) are answered with AGENTD_EBUSY and a line saying
 * which.  A conversation's messages are kept in state under
 * "conv/CALLER/ID" with state_put_ttl, windowed.
 *
 * Everything runs on the instance's thread; nothing blocks but the state
 * calls, which are local round trips to agentd.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "codec.h"
#include "llm.h"

static const struct agentd_setting llm_settings[] = {
	{ "config", AGENTD_SETTING_STRING, NULL,
	    "the JSON file of providers, routes and budgets (doc/llm.md)" },
	{ "breaker_failures", AGENTD_SETTING_INT, "3",
	    "failures in a row that open a provider's breaker" },
	{ "breaker_cooldown_ms", AGENTD_SETTING_INT, "30000",
	    "how long an open breaker skips its provider" },
	{ "requests_per_minute", AGENTD_SETTING_INT, "0",
	    "each caller's requests per minute unless budgets say (0: any)" },
	{ "tokens_per_day", AGENTD_SETTING_INT, "0",
	    "each caller's tokens per UTC day unless budgets say (0: any)" },
	{ "conversation_ttl_ms", AGENTD_SETTING_INT, "3600000",
	    "how long a conversation is kept after its last turn" },
	{ "conversation_messages", AGENTD_SETTING_INT, "20",
	    "the last N messages of a conversation sent and kept" },
	{ "conversation_tokens", AGENTD_SETTING_INT, "0",
	    "and at most about this many tokens of them (4 bytes each; 0: "
	    "any)" },
	{ NULL, 0, NULL, NULL },
};

#define DAY_MS ((int64_t)86400 * 1000)
#define USAGE_TTL_MS ((uint64_t)2 * 86400 * 1000)

struct llm {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	struct llm_config         cfg;
	struct llm_caller         callers[LLM_CALLERS_MAX];
	size_t                    ncallers;
	int64_t                   breaker_failures, breaker_cooldown_ms;
	int64_t                   rpm, per_day;
	int64_t                   conv_ttl_ms, conv_messages, conv_tokens;
	uint64_t                  outstanding;
	/* Owned, reused by every request: the reply's writer (reset before
	 * each) and the buffer a provider request's JSON text is made in
	 * (its contents are the current request's only). */
	agentd_writer *w;
	char          *text;
	size_t         textcap;
};

/* One request on its way through a route. */
struct job {
	struct llm             *l;
	agentd_request         *req;
	struct llm_caller      *c;
	const struct llm_route *r;
	size_t                  pos; /* in r->chain: the provider asked */
	struct llm_req          q;
	json_t                 *messages, *rf, *tools;
	char                    conv[AGENTD_STATE_KEY_MAX + 1];
	int64_t                 start;
	unsigned                fallbacks;
	char                    why[768]; /* what failed, for the error */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const fail_names[F_NCLASSES]
    = { "connect", "timeout", "429", "5xx", "bad_response", "refused", "4xx" };

/* ---- the breaker: a state machine --------------------------------------- */

/* May provider p be asked now?  An open breaker past its cool-down lets
 * exactly one request through (probing). */
static int
breaker_allow(struct llm_provider *p, int64_t now)
{
	switch (p->br) {
	case BR_CLOSED:
		return 1;
	case BR_OPEN:
		if (now < p->open_until)
			return 0;
		p->br = BR_PROBING;
		return 1;
	case BR_PROBING:
	default:
		return 0;
	}
}

/* The failure classes as agentd's counters name them (host->count):
 * llm_failed_CLASS, summed over the providers. */
static const char *const fail_counters[F_NCLASSES] = { "llm_failed_connect",
	"llm_failed_timeout", "llm_failed_429", "llm_failed_5xx",
	"llm_failed_bad_response", "llm_failed_refused", "llm_failed_4xx" };

/* Adds delta to agentd's counter name (agentd_plugin_counted_total in
 * /metrics, per generation), where the host has host->count: the
 * instance's totals over every provider; per provider they are in
 * {"stats": true}. */
static void
count(struct llm *l, const char *name, int64_t delta)
{
	if (AGENTD_HOST_HAS(l->host, count))
		l->host->count(l->ctx, name, delta);
}

/* An outcome of p; 1 when it opened the breaker. */
static int
breaker_result(struct llm *l, struct llm_provider *p, int ok, int64_t now)
{
	if (ok) {
		p->br    = BR_CLOSED;
		p->fails = 0;
		return 0;
	}
	p->fails++;
	if (p->br == BR_PROBING
	    || (p->br == BR_CLOSED
	        && p->fails >= (unsigned)l->breaker_failures)) {
		p->br         = BR_OPEN;
		p->open_until = now + l->breaker_cooldown_ms;
		p->opened++;
		count(l, "llm_breaker_opened", 1);
		return 1;
	}
	return 0;
}

static const char *
breaker_name(enum llm_breaker b)
{
	return b == BR_CLOSED ? "closed" : b == BR_OPEN ? "open" : "probing";
}

/* ---- callers and budgets ------------------------------------------------ */

static struct llm_caller *
caller_get(struct llm *l, const char *name)
{
	struct llm_caller *c;

	for (size_t i = 0; i < l->ncallers; i++)
		if (strcmp(l->callers[i].name, name) == 0)
			return &l->callers[i];
	/* Past the table's size, the newest callers share its last row. */
	if (l->ncallers == LLM_CALLERS_MAX)
		return &l->callers[LLM_CALLERS_MAX - 1];
	c = &l->callers[l->ncallers++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->rpm     = (uint32_t)l->rpm;
	c->per_day = (uint64_t)l->per_day;
	for (size_t i = 0; i < l->cfg.nbudgets; i++)
		if (strcmp(l->cfg.budgets[i].caller, name) == 0) {
			c->rpm     = l->cfg.budgets[i].rpm;
			c->per_day = l->cfg.budgets[i].per_day;
		}
	return c;
}

/* 0 and the request counted, or AGENTD_EBUSY with why. */
static int
budget_take(struct llm_caller *c, char *why, size_t whylen)
{
	int64_t now = mono_ms(), day = wall_ms() / DAY_MS;

	if (c->day != day) {
		c->day        = day;
		c->day_tokens = 0;
		c->dirty      = 1;
	}
	if (c->per_day > 0 && c->day_tokens >= c->per_day) {
		snprintf(why, whylen,
		    "llm: budget spent: %s has used %llu of its %llu tokens "
		    "today (UTC); it renews at midnight UTC",
		    c->name, (unsigned long long)c->day_tokens,
		    (unsigned long long)c->per_day);
		return AGENTD_EBUSY;
	}
	if (now - c->minute_start >= 60000) {
		c->minute_start = now;
		c->minute_n     = 0;
	}
	if (c->rpm > 0 && c->minute_n >= c->rpm) {
		snprintf(why, whylen,
		    "llm: budget spent: %s made its %u requests of this "
		    "minute; "
		    "try again in %lld s",
		    c->name, c->rpm,
		    (long long)(60000 - (now - c->minute_start) + 999) / 1000);
		return AGENTD_EBUSY;
	}
	c->minute_n++;
	return 0;
}

/* ---- conversations ------------------------------------------------------ */

/* Bytes of a message's text: its content and its calls' arguments. */
static size_t
content_len(const json_t *m)
{
	size_t        n = json_string_length(json_object_get(m, "content"));
	const json_t *c;
	size_t        i;

	json_array_foreach(json_object_get(m, "tool_calls"), i, c) n
	    += json_string_length(
	        json_object_get(json_object_get(c, "function"), "arguments"));
	return n;
}

static int
role_is(const json_t *m, const char *role)
{
	const char *r = json_string_value(json_object_get(m, "role"));

	return r != NULL && strcmp(r, role) == 0;
}

/*
 * The messages of a conversation that are sent and kept: the last
 * conv_messages, then fewer while over conv_tokens (about 4 bytes a
 * token), never fewer than one; a leading system message stays.  An
 * assistant message with tool calls and the tool messages answering it
 * are one unit, kept or dropped together: the window never starts on a
 * tool message (it reaches back to its assistant message instead, a few
 * messages over conv_messages), since a result without its call is a
 * request no provider takes.
 */
static json_t *
window(struct llm *l, json_t *all)
{
	size_t  n = json_array_size(all), from = 0, bytes = 0;
	json_t *first = json_array_get(all, 0), *out = json_array();
	int     sys = role_is(first, "system");

	if (l->conv_messages > 0 && n - sys > (size_t)l->conv_messages)
		from = n - (size_t)l->conv_messages;
	if (from < (size_t)sys)
		from = (size_t)sys;
	while (from > (size_t)sys && from < n
	    && role_is(json_array_get(all, from), "tool"))
		from--;
	for (size_t i = from; i < n; i++)
		bytes += content_len(json_array_get(all, i));
	while (l->conv_tokens > 0 && bytes / 4 > (size_t)l->conv_tokens) {
		size_t next = from + 1;

		while (next < n && role_is(json_array_get(all, next), "tool"))
			next++;
		if (next >= n)
			break; /* the last unit stays */
		while (from < next)
			bytes -= content_len(json_array_get(all, from++));
	}
	if (sys && from > 0)
		json_array_append(out, first);
	for (size_t i = from; i < n; i++)
		json_array_append(out, json_array_get(all, i));
	return out;
}

/*
 * The conversation's messages, then the request's: a new reference.  The
 * request's system messages replace the conversation's and come first, so
 * a caller that sends its instructions with every turn (as it must, not
 * knowing whether the conversation outlived its TTL) has them once, as
 * they are now.
 */
static json_t *
conv_merge(const json_t *hist, const json_t *msgs)
{
	json_t *out = json_array(), *m;
	int     sys = 0;
	size_t  i;

	json_array_foreach(msgs, i, m)
	{
		if (role_is(m, "system")) {
			json_array_append(out, m);
			sys = 1;
		}
	}
	json_array_foreach(hist, i, m)
	{
		if (!sys || !role_is(m, "system"))
			json_array_append(out, m);
	}
	json_array_foreach(msgs, i, m)
	{
		if (!role_is(m, "system"))
			json_array_append(out, m);
	}
	return out;
}

/* The conversation's stored messages (an empty list if none). */
static json_t *
conv_load(struct job *j)
{
	void                     *val = NULL;
	size_t                    len = 0;
	agentd_doc               *doc;
	json_t                   *out = NULL;
	const struct agentd_host *h   = j->l->host;

	if (h->state_get(j->l->ctx, j->conv, strlen(j->conv), &val, &len) == 0
	    && agentd_parse(val, len, &doc) == 0) {
		out = llm_mp_to_json(agentd_doc_root(doc));
		agentd_doc_free(doc);
	}
	if (val != NULL)
		h->free(val);
	if (!json_is_array(out)) {
		json_decref(out);
		out = json_array();
	}
	return out;
}

static void
conv_save(struct job *j, const struct llm_reply *r)
{
	json_t        *all = json_copy(j->messages), *kept;
	agentd_writer *w;
	const void    *p;
	size_t         n;
	int            rv;

	json_array_append_new(all, llm_assistant_message(r));
	kept = window(j->l, all);
	agentd_writer_new(&w);
	jsonkit_write(w, kept);
	p  = agentd_writer_data(w, &n);
	rv = j->l->host->state_put_ttl(j->l->ctx, j->conv, strlen(j->conv), p,
	    n, (uint64_t)j->l->conv_ttl_ms);
	if (rv != 0)
		j->l->host->log(j->l->ctx, AGENTD_LOG_WARN,
		    "llm: conversation %s not kept: %s", j->conv,
		    agentd_errname(rv));
	agentd_writer_free(w);
	json_decref(kept);
	json_decref(all);
}

/* ---- answering ---------------------------------------------------------- */

static void
job_free(struct job *j)
{
	j->l->outstanding--;
	json_decref(j->messages);
	json_decref(j->rf);
	json_decref(j->tools);
	free(j);
}

static void
job_error(struct job *j, int err, const char *msg)
{
	j->c->errors++;
	j->l->host->reply_error(j->l->ctx, j->req, err, msg);
	job_free(j);
}

/* l's reply writer, empty; 0 or AGENTD_ENOMEM.  l owns it. */
static int
reply_writer(struct llm *l, agentd_writer **w)
{
	if (l->w == NULL && agentd_writer_new(&l->w) != 0)
		return AGENTD_ENOMEM;
	agentd_writer_reset(l->w);
	*w = l->w;
	return 0;
}

/* body as compact JSON text in l's buffer, valid until the next call;
 * its length in *len, or NULL when out of memory. */
static const char *
body_text(struct llm *l, const json_t *body, size_t *len)
{
	size_t n = json_dumpb(body, l->text, l->textcap, JSON_COMPACT);

	if (n == 0)
		return NULL;
	if (n > l->textcap) {
		char *t = realloc(l->text, n + 1024);

		if (t == NULL)
			return NULL;
		l->text    = t;
		l->textcap = n + 1024;
		n = json_dumpb(body, l->text, l->textcap, JSON_COMPACT);
	}
	*len = n;
	return l->text;
}

static void
job_reply(struct job *j, const struct llm_provider *p, struct llm_reply *r)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;
	int64_t        pt = r->prompt_tokens > 0 ? r->prompt_tokens : 0;
	int64_t ct = r->completion_tokens > 0 ? r->completion_tokens : 0;

	j->c->prompt_tokens += (uint64_t)pt;
	j->c->completion_tokens += (uint64_t)ct;
	j->c->day_tokens += (uint64_t)(pt + ct);
	j->c->dirty = 1;
	if (j->conv[0] != '\0')
		conv_save(j, r);
	if (reply_writer(j->l, &w) != 0) {
		job_error(j, AGENTD_ENOMEM, "llm: out of memory");
		return;
	}
	agentd_write_map(w, 9);
	agentd_write_str(w, "text");
	agentd_write_str(w, r->text);
	agentd_write_str(w, "tool_calls");
	jsonkit_write(w, r->tool_calls);
	agentd_write_str(w, "provider");
	agentd_write_str(w, p->name);
	agentd_write_str(w, "model");
	agentd_write_str(w, r->model[0] != '\0' ? r->model : p->model);
	agentd_write_str(w, "usage");
	agentd_write_map(w, 2);
	agentd_write_str(w, "prompt_tokens");
	agentd_write_int(w, pt);
	agentd_write_str(w, "completion_tokens");
	agentd_write_int(w, ct);
	agentd_write_str(w, "finish_reason");
	agentd_write_str(w, r->finish_reason);
	agentd_write_str(w, "latency_ms");
	agentd_write_int(w, mono_ms() - j->start);
	agentd_write_str(w, "fallbacks");
	agentd_write_uint(w, j->fallbacks);
	agentd_write_str(w, "route");
	agentd_write_str(w, j->r->name);
	b = agentd_writer_data(w, &n);
	j->l->host->reply(j->l->ctx, j->req, b, n);
	job_free(j);
}

/* ---- asking providers --------------------------------------------------- */

static void try_next(struct job *j);

static void
why_add(struct job *j, const struct llm_provider *p, const char *what)
{
	size_t n = strlen(j->why);

	snprintf(j->why + n, sizeof(j->why) - n, "%s%s: %s", n > 0 ? ", " : "",
	    p->name, what);
}

static void
audit(struct llm *l, const char *kind, const char *summary, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	agentd_writer *w;
	const void    *d;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, k1);
	agentd_write_str(w, v1);
	agentd_write_str(w, k2);
	agentd_write_str(w, v2);
	d = agentd_writer_data(w, &n);
	if (AGENTD_HOST_HAS(l->host, audit_async))
		l->host->audit_async(l->ctx, kind, summary, d, n, NULL, NULL);
	else
		l->host->audit(l->ctx, kind, summary, d, n);
	agentd_writer_free(w);
}

/* Provider p failed for this job with class f: count, breaker, fall back. */
static void
provider_failed(
    struct job *j, struct llm_provider *p, enum llm_fail f, const char *what)
{
	struct llm *l = j->l;
	char        line[512];

	p->failed[f]++;
	count(l, fail_counters[f], 1);
	why_add(j, p, what);
	if (f != F_REFUSED && breaker_result(l, p, 0, mono_ms())) {
		snprintf(line, sizeof(line),
		    "llm: provider %s: breaker open for %lld ms after %u "
		    "failure(s) in a row (last: %s)",
		    p->name, (long long)l->breaker_cooldown_ms, p->fails,
		    what);
		l->host->log(l->ctx, AGENTD_LOG_WARN, "%s", line);
		audit(
		    l, "llm.breaker", line, "provider", p->name, "last", what);
	}
	if (j->pos + 1 < j->r->n) {
		const struct llm_provider *next
		    = &l->cfg.providers[j->r->chain[j->pos + 1]];

		p->fallbacks++;
		j->fallbacks++;
		count(l, "llm_fallbacks", 1);
		snprintf(line, sizeof(line),
		    "llm: route %s: provider %s failed (%s), falling back to "
		    "%s",
		    j->r->name, p->name, what, next->name);
		audit(l, "llm.fallback", line, "from", p->name, "to",
		    next->name);
	}
	j->pos++;
	try_next(j);
}

static void
on_http(void *arg, const struct agentd_http_response *r)
{
	struct job          *j = arg;
	struct llm_provider *p = &j->l->cfg.providers[j->r->chain[j->pos]];
	struct llm_reply     rep;
	char                 what[300];

	if (r->status == AGENTD_ECLOSED) {
		job_error(j, AGENTD_ECLOSED, "llm: the instance is stopping");
		return;
	}
	if (r->status != 0) {
		enum llm_fail f = r->status == AGENTD_EUNAVAIL ? F_CONNECT
		    : r->status == AGENTD_ETIMEOUT             ? F_TIMEOUT
		                                               : F_BAD;

		snprintf(what, sizeof(what), "%s", agentd_errname(r->status));
		provider_failed(j, p, f, what);
		return;
	}
	if (r->http_code == 429 || r->http_code >= 500) {
		snprintf(what, sizeof(what), "HTTP %d", r->http_code);
		provider_failed(
		    j, p, r->http_code == 429 ? F_429 : F_5XX, what);
		return;
	}
	if (r->http_code < 200 || r->http_code > 299) {
		/* The request itself (or its key) is refused: another
		 * provider would be asked the same; the caller hears it. */
		p->failed[F_4XX]++;
		count(j->l, fail_counters[F_4XX], 1);
		breaker_result(j->l, p, 1, mono_ms()); /* it answered */
		snprintf(what, sizeof(what),
		    "llm: provider %s refused the request: HTTP %d", p->name,
		    r->http_code);
		job_error(j, AGENTD_EPLUGIN, what);
		return;
	}
	if (llm_parse(p->kind, r->body, r->body_len, &rep, what, sizeof(what))
	    != 0) {
		provider_failed(j, p, F_BAD, what);
		return;
	}
	p->answered++;
	p->prompt_tokens
	    += rep.prompt_tokens > 0 ? (uint64_t)rep.prompt_tokens : 0;
	p->completion_tokens
	    += rep.completion_tokens > 0 ? (uint64_t)rep.completion_tokens : 0;
	count(j->l, "llm_answered", 1);
	count(j->l, "llm_prompt_tokens",
	    rep.prompt_tokens > 0 ? rep.prompt_tokens : 0);
	count(j->l, "llm_completion_tokens",
	    rep.completion_tokens > 0 ? rep.completion_tokens : 0);
	breaker_result(j->l, p, 1, mono_ms());
	job_reply(j, p, &rep);
	llm_reply_clear(&rep);
}

/* Ask the chain's next provider that may be asked, or answer the error. */
static void
try_next(struct job *j)
{
	struct llm *l = j->l;
	char        auth[AGENTD_HTTP_HEADER_MAX], msg[1024];

	for (; j->pos < j->r->n; j->pos++) {
		struct llm_provider *p
		    = &l->cfg.providers[j->r->chain[j->pos]];
		struct agentd_http_request hr = AGENTD_HTTP_REQUEST_INIT;
		struct agentd_http_header  hd[2];
		json_t                    *body;
		const char                *text;
		size_t                     tlen = 0;
		int                        rv;

		if (!breaker_allow(p, mono_ms())) {
			p->skipped++;
			why_add(j, p, "breaker open");
			continue;
		}
		body = llm_body(p->kind, p->model, &j->q);
		text = body_text(l, body, &tlen);
		json_decref(body);
		hd[0]       = (struct agentd_http_header) { "Content-Type",
			      "application/json" };
		hr.nheaders = 1;
		if (p->key != NULL) {
			if (p->kind == LLM_GEMINI)
				snprintf(auth, sizeof(auth), "%s", p->key);
			else
				snprintf(
				    auth, sizeof(auth), "Bearer %s", p->key);
			hd[1] = (struct agentd_http_header) {
				p->kind == LLM_GEMINI ? "x-goog-api-key"
				                      : "Authorization",
				auth
			};
			hr.nheaders = 2;
		}
		hr.method     = "POST";
		hr.url        = p->url;
		hr.headers    = hd;
		hr.body       = text;
		hr.body_len   = tlen;
		hr.timeout_ms = p->timeout_ms;
		hr.attempts   = p->attempts;
		/* A chat completion changes nothing on the server: asking
		 * again after a timeout or a 5xx is safe. */
		hr.retry_on
		    = AGENTD_HTTP_RETRY_DEFAULT | AGENTD_HTTP_RETRY_UNSAFE;
		rv = l->host->http_async(l->ctx, &hr, on_http, j);
		memset(auth, 0, sizeof(auth));
		p->requests++;
		count(l, "llm_requests", 1);
		if (rv == 0)
			return;
		/* Refused before any connection (allow-list, limits): the
		 * operator's configuration; the breaker does not count it. */
		p->failed[F_REFUSED]++;
		if (p->br == BR_PROBING) { /* no probe went: wait again */
			p->br         = BR_OPEN;
			p->open_until = mono_ms() + l->breaker_cooldown_ms;
		}
		why_add(j, p, agentd_errname(rv));
		l->host->log(l->ctx, AGENTD_LOG_WARN,
		    "llm: provider %s: http_async refused %s: %s", p->name,
		    p->url, agentd_errname(rv));
	}
	snprintf(msg, sizeof(msg), "llm: route %s: no provider answered (%s)",
	    j->r->name, j->why);
	job_error(j, AGENTD_EUNAVAIL, msg);
}

/* ---- requests ----------------------------------------------------------- */

static int
stats_reply(struct llm *l, agentd_request *req)
{
	agentd_writer *w;
	const void    *b;
	size_t         n;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "providers");
	agentd_write_map(w, (uint32_t)l->cfg.nproviders);
	for (size_t i = 0; i < l->cfg.nproviders; i++) {
		const struct llm_provider *p = &l->cfg.providers[i];

		agentd_write_str(w, p->name);
		agentd_write_map(w, 11);
		agentd_write_str(w, "kind");
		agentd_write_str(w, llm_kind_name(p->kind));
		agentd_write_str(w, "model");
		agentd_write_str(w, p->model);
		agentd_write_str(w, "requests");
		agentd_write_uint(w, p->requests);
		agentd_write_str(w, "answered");
		agentd_write_uint(w, p->answered);
		agentd_write_str(w, "failures");
		agentd_write_map(w, F_NCLASSES);
		for (int f = 0; f < F_NCLASSES; f++) {
			agentd_write_str(w, fail_names[f]);
			agentd_write_uint(w, p->failed[f]);
		}
		agentd_write_str(w, "fallbacks");
		agentd_write_uint(w, p->fallbacks);
		agentd_write_str(w, "skipped");
		agentd_write_uint(w, p->skipped);
		agentd_write_str(w, "breaker");
		agentd_write_str(w, breaker_name(p->br));
		agentd_write_str(w, "breaker_opened");
		agentd_write_uint(w, p->opened);
		agentd_write_str(w, "prompt_tokens");
		agentd_write_uint(w, p->prompt_tokens);
		agentd_write_str(w, "completion_tokens");
		agentd_write_uint(w, p->completion_tokens);
	}
	agentd_write_str(w, "callers");
	agentd_write_map(w, (uint32_t)l->ncallers);
	for (size_t i = 0; i < l->ncallers; i++) {
		const struct llm_caller *c = &l->callers[i];

		agentd_write_str(w, c->name);
		agentd_write_map(w, 6);
		agentd_write_str(w, "requests");
		agentd_write_uint(w, c->requests);
		agentd_write_str(w, "denied");
		agentd_write_uint(w, c->denied);
		agentd_write_str(w, "errors");
		agentd_write_uint(w, c->errors);
		agentd_write_str(w, "prompt_tokens");
		agentd_write_uint(w, c->prompt_tokens);
		agentd_write_str(w, "completion_tokens");
		agentd_write_uint(w, c->completion_tokens);
		agentd_write_str(w, "tokens_today");
		agentd_write_uint(w, c->day_tokens);
	}
	b  = agentd_writer_data(w, &n);
	rv = l->host->reply(l->ctx, req, b, n);
	agentd_writer_free(w);
	return rv;
}

static const struct llm_route *
route_find(struct llm *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->cfg.nroutes; i++)
		if (strlen(l->cfg.routes[i].name) == len
		    && memcmp(l->cfg.routes[i].name, name, len) == 0)
			return &l->cfg.routes[i];
	return NULL;
}

/* Fill j from the request's map; an error line in why otherwise. */
static int
job_parse(struct job *j, const agentd_value *root, char *why, size_t whylen)
{
	const char *route = "default", *conv;
	size_t      rlen  = 7, clen;
	double      t;
	int64_t     mt;
	json_t     *msgs, *given;

	if (agentd_get_str(agentd_map_get(root, "route"), &route, &rlen) != 0
	    && agentd_map_get(root, "route") != NULL) {
		snprintf(why, whylen, "llm: \"route\" must be a string");
		return AGENTD_EINVAL;
	}
	if ((j->r = route_find(j->l, route, rlen)) == NULL) {
		snprintf(why, whylen,
		    "llm: no route \"%.*s\" in the configuration",
		    (int)(rlen > 64 ? 64 : rlen), route);
		return AGENTD_ENOENT;
	}
	msgs  = llm_mp_to_json(agentd_map_get(root, "messages"));
	given = llm_messages_check(msgs, why + 5, whylen - 5);
	json_decref(msgs);
	if ((msgs = given) == NULL) {
		memcpy(why, "llm: ", 5);
		return AGENTD_EINVAL;
	}
	j->q.temperature = -1;
	if (agentd_get_double(agentd_map_get(root, "temperature"), &t) == 0) {
		if (!(t >= 0 && t <= 2)) {
			json_decref(msgs);
			snprintf(
			    why, whylen, "llm: \"temperature\" is 0 to 2");
			return AGENTD_EINVAL;
		}
		j->q.temperature = t;
	}
	if (agentd_get_int(agentd_map_get(root, "max_tokens"), &mt) == 0)
		j->q.max_tokens = mt > 0 ? mt : 0;
	j->rf    = llm_mp_to_json(agentd_map_get(root, "response_format"));
	j->tools = llm_mp_to_json(agentd_map_get(root, "tools"));
	if (json_is_null(j->rf)) {
		json_decref(j->rf);
		j->rf = NULL;
	}
	if (!json_is_array(j->tools)) {
		json_decref(j->tools);
		j->tools = NULL;
	}
	if (agentd_get_str(agentd_map_get(root, "conversation"), &conv, &clen)
	    == 0) {
		json_t *hist;
		int     n = snprintf(j->conv, sizeof(j->conv), "conv/%s/%.*s",
		        j->c->name, (int)clen, conv);

		if (clen == 0 || memchr(conv, '\0', clen) != NULL || n < 0
		    || (size_t)n >= sizeof(j->conv)) {
			json_decref(msgs);
			snprintf(why, whylen,
			    "llm: \"conversation\" must be 1 to 300 bytes");
			return AGENTD_EINVAL;
		}
		hist  = conv_load(j);
		given = conv_merge(hist, msgs);
		json_decref(hist);
		json_decref(msgs);
		msgs = given;
	}
	if (llm_messages_link(msgs, why + 5, whylen - 5) != 0) {
		memcpy(why, "llm: ", 5);
		json_decref(msgs);
		return AGENTD_EINVAL;
	}
	j->messages          = window(j->l, msgs);
	j->q.messages        = j->messages;
	j->q.response_format = j->rf;
	j->q.tools           = j->tools;
	json_decref(msgs);
	return 0;
}

static int
llm_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct llm *l   = state;
	const char *who = l->host->request_caller(l->ctx, req);
	agentd_doc *doc;
	struct job *j;
	char        why[512];
	int         rv;

	if (agentd_parse(body, len, &doc) != 0)
		return l->host->reply_error(l->ctx, req, AGENTD_EPROTO,
		    "llm: the request is not one msgpack map");
	if (agentd_map_get(agentd_doc_root(doc), "stats") != NULL) {
		agentd_doc_free(doc);
		return stats_reply(l, req);
	}
	j        = calloc(1, sizeof(*j));
	j->l     = l;
	j->req   = req;
	j->start = mono_ms();
	j->c     = caller_get(l, who != NULL ? who : "?");
	l->outstanding++;
	if ((rv = job_parse(j, agentd_doc_root(doc), why, sizeof(why))) != 0
	    || (rv = budget_take(j->c, why, sizeof(why))) != 0) {
		agentd_doc_free(doc);
		if (rv == AGENTD_EBUSY)
			j->c->denied++;
		job_error(j, rv, why);
		return 0;
	}
	agentd_doc_free(doc);
	j->c->requests++;
	try_next(j);
	return 0;
}

/* ---- usage kept in state ------------------------------------------------ */

/* "usage/CALLER" -> {"day": N, "tokens": N}, so a restart keeps the
 * day's count. */
static int
usage_entry(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct llm        *l = arg;
	agentd_doc        *doc;
	struct llm_caller *c;
	char               name[LLM_NAME_MAX];
	int64_t            day = 0, tokens = 0;

	if (keylen <= 6 || keylen - 6 >= sizeof(name)
	    || agentd_parse(val, vallen, &doc) != 0)
		return 0;
	memcpy(name, key + 6, keylen - 6);
	name[keylen - 6] = '\0';
	agentd_get_int(agentd_map_get(agentd_doc_root(doc), "day"), &day);
	agentd_get_int(
	    agentd_map_get(agentd_doc_root(doc), "tokens"), &tokens);
	agentd_doc_free(doc);
	if (day == wall_ms() / DAY_MS && tokens > 0) {
		c             = caller_get(l, name);
		c->day        = day;
		c->day_tokens = (uint64_t)tokens;
	}
	return 0;
}

static void
llm_tick(void *state)
{
	struct llm *l = state;

	for (size_t i = 0; i < l->ncallers; i++) {
		struct llm_caller *c = &l->callers[i];
		agentd_writer     *w;
		const void        *p;
		size_t             n;
		char               key[LLM_NAME_MAX + 8];

		if (!c->dirty)
			continue;
		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "day");
		agentd_write_int(w, c->day);
		agentd_write_str(w, "tokens");
		agentd_write_uint(w, c->day_tokens);
		p = agentd_writer_data(w, &n);
		snprintf(key, sizeof(key), "usage/%s", c->name);
		if (l->host->state_put_ttl(
		        l->ctx, key, strlen(key), p, n, USAGE_TTL_MS)
		    == 0)
			c->dirty = 0;
		agentd_writer_free(w);
	}
}

/* ---- life cycle --------------------------------------------------------- */

static int
llm_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct llm *l;
	const char *path;
	char        err[1024];
	int         rv;

	if (!AGENTD_HOST_HAS(host, http_async)
	    || !AGENTD_HOST_HAS(host, state_put_ttl)
	    || !AGENTD_HOST_HAS(host, request_caller)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "llm: this host has no http_async (ABI 1.3 needed)");
		return AGENTD_ENOTSUP;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return AGENTD_ENOMEM;
	l->ctx  = ctx;
	l->host = host;
	host->setting_string(ctx, "config", &path);
	host->setting_int(ctx, "breaker_failures", &l->breaker_failures);
	host->setting_int(ctx, "breaker_cooldown_ms", &l->breaker_cooldown_ms);
	host->setting_int(ctx, "requests_per_minute", &l->rpm);
	host->setting_int(ctx, "tokens_per_day", &l->per_day);
	host->setting_int(ctx, "conversation_ttl_ms", &l->conv_ttl_ms);
	host->setting_int(ctx, "conversation_messages", &l->conv_messages);
	host->setting_int(ctx, "conversation_tokens", &l->conv_tokens);
	if (l->breaker_failures < 1 || l->breaker_cooldown_ms < 1 || l->rpm < 0
	    || l->per_day < 0 || l->conv_ttl_ms < 1
	    || (uint64_t)l->conv_ttl_ms > AGENTD_STATE_TTL_MAX
	    || l->conv_messages < 1 || l->conv_tokens < 0) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "llm: settings: breaker_failures, breaker_cooldown_ms, "
		    "conversation_ttl_ms and conversation_messages must be "
		    "above 0, the budgets and conversation_tokens 0 or more");
		free(l);
		return AGENTD_ECONFIG;
	}
	if ((rv = llm_config_load(path, &l->cfg, err, sizeof(err))) != 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "llm: %s", err);
		free(l);
		return rv;
	}
	for (size_t i = 0; i < l->cfg.nproviders; i++)
		host->log(ctx, AGENTD_LOG_INFO,
		    "llm: provider %s: %s at %s, model %s%s",
		    l->cfg.providers[i].name,
		    llm_kind_name(l->cfg.providers[i].kind),
		    l->cfg.providers[i].url, l->cfg.providers[i].model,
		    l->cfg.providers[i].key != NULL ? ", with its key" : "");
	host->state_scan(ctx, "usage/", 6, usage_entry, l);
	*state = l;
	return 0;
}

static void
llm_fini(void *state)
{
	struct llm *l = state;

	llm_tick(l); /* the day's tokens */
	llm_config_free(&l->cfg);
	agentd_writer_free(l->w);
	free(l->text);
	free(l);
}

/* What other agents find it by (host->find_agents). */
static const char *const llm_capabilities[] = { "llm", NULL };

AGENTD_PLUGIN(.name = "llm", .version = "1.0.0",
    .description = "language models behind one call: OpenAI-compatible, "
                   "Ollama and Gemini providers with fallback, breakers, "
                   "budgets and conversations",
    .settings = llm_settings, .init = llm_init, .on_request = llm_request,
    .on_tick = llm_tick, .tick_ms = 1000, .fini = llm_fini,
    .capabilities = llm_capabilities);
