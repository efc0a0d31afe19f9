/*
 * llmgen - bench/agentd_llm's load generator (bench/README.md, "The llm
 * agent").  One instance; requests (msgpack maps, field "op"):
 *
 *   {"op": "run", "agent": A, "inflight": K, "warm_ms": W, "window_ms": D}
 *       Keeps K calls to agent A (an llm agent) in flight with
 *       call_async, each the chat request of bench/llmreq.h, the next
 *       sent from the callback of the one before (a closed loop).
 *       Answers that arrive in the D ms after the first W count, with
 *       their latencies (call_async to the callback).  Answered once the
 *       window is over and every call came back:
 *       {"msgs", "errors", "secs_us", "p50_us", "p99_us", "checked"}
 *       (checked: the first answer's text was "ok"; errors: calls that
 *       failed, in the window or after it).
 *   {"op": "hold", "agent": A, "n": N}
 *       Sends N such calls at once and answers {"started", "refused"}
 *       without waiting for them.
 *   {"op": "held"}
 *       How the last hold is doing: {"started", "answered", "errors",
 *       "first_ms", "last_ms"} (ms from the hold to its first and last
 *       answer).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "llmreq.h"

#define CALL_TIMEOUT_MS 60000

struct gen {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *w;
	void                     *body; /* the chat request, msgpack */
	size_t                    len;
	char                      agent[64];
	/* run */
	agentd_request *req; /* the run request, until answered */
	int64_t         t_warm, t_end, outstanding, msgs, errors;
	int64_t        *lat;
	size_t          nlat, caplat;
	int             checked, check_done;
	/* hold */
	int64_t h_t0, h_started, h_answered, h_errors, h_first, h_last;
};

struct call {
	struct gen *g;
	int64_t     t0;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
reply_doc(struct gen *g, agentd_request *req)
{
	const void *p;
	size_t      n;

	p = agentd_writer_data(g->w, &n);
	return g->host->reply(g->ctx, req, p, n);
}

static void
run_answer(struct gen *g)
{
	size_t n = g->nlat;

	qsort(g->lat, n, sizeof(*g->lat), cmp64);
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 6);
	agentd_write_str(g->w, "msgs");
	agentd_write_int(g->w, g->msgs);
	agentd_write_str(g->w, "errors");
	agentd_write_int(g->w, g->errors);
	agentd_write_str(g->w, "secs_us");
	agentd_write_int(g->w, g->t_end - g->t_warm);
	agentd_write_str(g->w, "p50_us");
	agentd_write_int(g->w, n > 0 ? g->lat[(n - 1) / 2] : 0);
	agentd_write_str(g->w, "p99_us");
	agentd_write_int(g->w, n > 0 ? g->lat[(n * 99 + 99) / 100 - 1] : 0);
	agentd_write_str(g->w, "checked");
	agentd_write_bool(g->w, g->checked);
	reply_doc(g, g->req);
	g->req = NULL;
}

/* Is this the answer the fake gives ("ok")? */
static int
answer_ok(const void *reply, size_t len)
{
	agentd_doc *doc;
	char        text[16] = "";

	if (agentd_parse(reply, len, &doc) != 0)
		return 0;
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "text"), text, sizeof(text));
	agentd_doc_free(doc);
	return strcmp(text, "ok") == 0;
}

static int send_call(struct gen *g, struct call *c, agentd_reply_fn cb);

static void
on_run(void *arg, int status, const void *reply, size_t len)
{
	struct call *c = arg;
	struct gen  *g = c->g;
	int64_t      t = now_us();

	if (status != 0 || len == 0)
		g->errors++;
	else if (t >= g->t_warm && t < g->t_end) {
		if (!g->check_done) {
			g->check_done = 1;
			g->checked    = answer_ok(reply, len);
		}
		g->msgs++;
		if (g->nlat == g->caplat) {
			g->caplat = g->caplat ? 2 * g->caplat : 65536;
			g->lat = realloc(g->lat, g->caplat * sizeof(*g->lat));
			if (g->lat == NULL)
				abort();
		}
		g->lat[g->nlat++] = t - c->t0;
	}
	if (t < g->t_end && send_call(g, c, on_run) == 0)
		return;
	free(c);
	if (--g->outstanding == 0 && g->req != NULL)
		run_answer(g);
}

static void
on_hold(void *arg, int status, const void *reply, size_t len)
{
	struct call *c = arg;
	struct gen  *g = c->g;
	int64_t      t = (now_us() - g->h_t0) / 1000;

	(void)reply;
	if (status != 0 || len == 0)
		g->h_errors++;
	else
		g->h_answered++;
	if (g->h_answered + g->h_errors == 1)
		g->h_first = t;
	g->h_last = t;
	free(c);
}

static int
send_call(struct gen *g, struct call *c, agentd_reply_fn cb)
{
	c->t0 = now_us();
	return g->host->call_async(
	    g->ctx, g->agent, g->body, g->len, CALL_TIMEOUT_MS, cb, c);
}

static struct call *
new_call(struct gen *g)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->g = g;
	return c;
}

static int
start_run(struct gen *g, agentd_request *req, int64_t k, int64_t warm_ms,
    int64_t window_ms)
{
	int64_t now = now_us();

	if (k < 1 || warm_ms < 0 || window_ms < 1)
		return g->host->reply_error(g->ctx, req, AGENTD_EINVAL,
		    "inflight, window_ms: 1 or more; warm_ms: 0 or more");
	g->req    = req;
	g->t_warm = now + warm_ms * 1000;
	g->t_end  = g->t_warm + window_ms * 1000;
	g->msgs = g->errors = 0;
	g->nlat             = 0;
	g->checked = g->check_done = 0;
	g->outstanding             = 0;
	for (int64_t i = 0; i < k; i++) {
		struct call *c = new_call(g);

		if (send_call(g, c, on_run) != 0) {
			free(c);
			g->errors++;
			continue;
		}
		g->outstanding++;
	}
	if (g->outstanding == 0)
		run_answer(g);
	return 0;
}

static int
start_hold(struct gen *g, agentd_request *req, int64_t n)
{
	int64_t refused = 0;

	g->h_t0      = now_us();
	g->h_started = g->h_answered = g->h_errors = 0;
	g->h_first = g->h_last = -1;
	for (int64_t i = 0; i < n; i++) {
		struct call *c = new_call(g);

		if (send_call(g, c, on_hold) != 0) {
			free(c);
			refused++;
		} else
			g->h_started++;
	}
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 2);
	agentd_write_str(g->w, "started");
	agentd_write_int(g->w, g->h_started);
	agentd_write_str(g->w, "refused");
	agentd_write_int(g->w, refused);
	return reply_doc(g, req);
}

static int
held(struct gen *g, agentd_request *req)
{
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 5);
	agentd_write_str(g->w, "started");
	agentd_write_int(g->w, g->h_started);
	agentd_write_str(g->w, "answered");
	agentd_write_int(g->w, g->h_answered);
	agentd_write_str(g->w, "errors");
	agentd_write_int(g->w, g->h_errors);
	agentd_write_str(g->w, "first_ms");
	agentd_write_int(g->w, g->h_first);
	agentd_write_str(g->w, "last_ms");
	agentd_write_int(g->w, g->h_last);
	return reply_doc(g, req);
}

static int
gen_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct gen         *g = state;
	agentd_doc         *doc;
	const agentd_value *root;
	char                op[16] = "", agent[64] = "llm";
	int64_t             k = 64, warm = 500, window = 2000, n = 1000;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(root, "op"), op, sizeof(op));
	agentd_get_strcpy(agentd_map_get(root, "agent"), agent, sizeof(agent));
	agentd_get_int(agentd_map_get(root, "inflight"), &k);
	agentd_get_int(agentd_map_get(root, "warm_ms"), &warm);
	agentd_get_int(agentd_map_get(root, "window_ms"), &window);
	agentd_get_int(agentd_map_get(root, "n"), &n);
	agentd_doc_free(doc);
	if (strcmp(op, "held") == 0)
		return held(g, req);
	if (g->req != NULL)
		return g->host->reply_error(
		    g->ctx, req, AGENTD_EBUSY, "a run is going on");
	snprintf(g->agent, sizeof(g->agent), "%s", agent);
	if (strcmp(op, "run") == 0)
		rv = start_run(g, req, k, warm, window);
	else if (strcmp(op, "hold") == 0)
		rv = start_hold(g, req, n);
	else
		rv = g->host->reply_error(
		    g->ctx, req, AGENTD_EINVAL, "op: run, hold or held");
	return rv;
}

/* The chat request, once: {"route", "messages", "max_tokens"}. */
static void
write_body(agentd_writer *w)
{
	agentd_write_map(w, 3);
	agentd_write_str(w, "route");
	agentd_write_str(w, "default");
	agentd_write_str(w, "messages");
	agentd_write_array(w, 2);
	agentd_write_map(w, 2);
	agentd_write_str(w, "role");
	agentd_write_str(w, "system");
	agentd_write_str(w, "content");
	agentd_write_str(w, LLMREQ_SYSTEM);
	agentd_write_map(w, 2);
	agentd_write_str(w, "role");
	agentd_write_str(w, "user");
	agentd_write_str(w, "content");
	agentd_write_str(w, LLMREQ_USER);
	agentd_write_str(w, "max_tokens");
	agentd_write_int(w, LLMREQ_MAX_TOKENS);
}

static int
gen_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct gen *g = calloc(1, sizeof(*g));
	const void *p;

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->ctx  = ctx;
	g->host = host;
	snprintf(g->agent, sizeof(g->agent), "llm");
	agentd_writer_new(&g->w);
	write_body(g->w);
	p = agentd_writer_data(g->w, &g->len);
	if ((g->body = malloc(g->len)) == NULL) {
		agentd_writer_free(g->w);
		free(g);
		return AGENTD_ENOMEM;
	}
	memcpy(g->body, p, g->len);
	*state = g;
	return 0;
}

static void
gen_fini(void *state)
{
	struct gen *g = state;

	agentd_writer_free(g->w);
	free(g->body);
	free(g->lat);
	free(g);
}

AGENTD_PLUGIN(.name = "llmgen", .version = "1.0.0",
    .description = "bench: calls to the llm agent, many in flight",
    .init = gen_init, .on_request = gen_request, .fini = gen_fini);
