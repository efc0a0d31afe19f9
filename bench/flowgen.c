/*
 * flowgen - bench/agentd_flow's load generator (bench/README.md,
 * "Workflows").  One instance; requests (msgpack maps, field "op"):
 *
 *   {"op": "flow", "runs": N, "inflight": K}
 *       N runs of the workflow "five" (five steps: four calls to "echo",
 *       then one to this agent, op "sink"), K started and not yet ended
 *       at any time.  Each run's input holds its start time; the sink
 *       call of its last step ends it.  Answered once the N runs ended.
 *   {"op": "direct", "runs": N, "inflight": K}
 *       The same five calls made by this plugin, one after the other per
 *       chain (call_async, the next from the previous one's callback), K
 *       chains at any time, N in all.
 *   {"op": "sink", "t0": US}
 *       The last call of both: answered at once ({}); in a flow run it
 *       ends the run.
 *   {"op": "park", "runs": N, "inflight": K, "agent": NAME}
 *       Start N runs of "park" (one wait step of an hour) in flow agent
 *       NAME (default "flow") and answer once each start is answered:
 *       runs waiting, for their memory.
 *
 * Answers of flow and direct: {"runs", "errors", "secs_us", "p50_us",
 * "p99_us"}: secs_us from the first start to the last end, latencies
 * from a run's (a chain's) start to its sink call.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

enum mode { M_IDLE, M_FLOW, M_DIRECT, M_PARK };

struct fg {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *w;
	agentd_request           *req; /* the flow/direct/park request */
	enum mode                 mode;
	int64_t                   total, started, ended, errors;
	int64_t                   t_first, t_last;
	int64_t                  *lat;       /* per ended run, us */
	char                      agent[64]; /* the flow agent started on */
};

/* One chain of direct calls. */
struct chain {
	struct fg *g;
	int64_t    t0;
	int        step; /* calls answered */
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
answer(struct fg *g)
{
	const void *p;
	size_t      len;
	int64_t     n = g->ended;

	qsort(g->lat, (size_t)n, sizeof(*g->lat), cmp64);
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 5);
	agentd_write_str(g->w, "runs");
	agentd_write_int(g->w, n);
	agentd_write_str(g->w, "errors");
	agentd_write_int(g->w, g->errors);
	agentd_write_str(g->w, "secs_us");
	agentd_write_int(g->w, g->t_last - g->t_first);
	agentd_write_str(g->w, "p50_us");
	agentd_write_int(g->w, n > 0 ? g->lat[n / 2] : 0);
	agentd_write_str(g->w, "p99_us");
	agentd_write_int(g->w, n > 0 ? g->lat[(n * 99) / 100] : 0);
	p = agentd_writer_data(g->w, &len);
	g->host->reply(g->ctx, g->req, p, len);
	g->req  = NULL;
	g->mode = M_IDLE;
	free(g->lat);
	g->lat = NULL;
}

static void one_ended(struct fg *g, int64_t t0, int ok);
static void start_one(struct fg *g);

static void
on_start(void *arg, int status, const void *reply, size_t len)
{
	struct fg *g = arg;

	(void)reply;
	(void)len;
	if (g->mode == M_PARK) {
		one_ended(g, now_us(), status == 0);
		return;
	}
	if (status != 0) /* no run: it ends here */
		one_ended(g, now_us(), 0);
}

static void on_direct(void *arg, int status, const void *reply, size_t len);

static int
call_next(struct chain *c)
{
	struct fg  *g = c->g;
	const void *p;
	size_t      len;

	agentd_writer_reset(g->w);
	if (c->step < 4) {
		agentd_write_map(g->w, 1);
		agentd_write_str(g->w, "step");
		agentd_write_int(g->w, c->step);
	} else {
		agentd_write_map(g->w, 2);
		agentd_write_str(g->w, "op");
		agentd_write_str(g->w, "sink");
		agentd_write_str(g->w, "t0");
		agentd_write_int(g->w, c->t0);
	}
	p = agentd_writer_data(g->w, &len);
	return g->host->call_async(g->ctx, c->step < 4 ? "echo" : "flowgen", p,
	    len, 10000, on_direct, c);
}

static void
on_direct(void *arg, int status, const void *reply, size_t len)
{
	struct chain *c = arg;

	(void)reply;
	(void)len;
	if (status == 0 && ++c->step < 5 && call_next(c) == 0)
		return;
	one_ended(c->g, c->t0, status == 0 && c->step == 5);
	free(c);
}

static void
start_one(struct fg *g)
{
	const void *p;
	size_t      len;
	int64_t     t0 = now_us();
	int         rv;

	if (g->started == 0)
		g->t_first = t0;
	g->started++;
	if (g->mode == M_DIRECT) {
		struct chain *c = calloc(1, sizeof(*c));

		if (c == NULL)
			abort();
		c->g  = g;
		c->t0 = t0;
		if (call_next(c) != 0) {
			free(c);
			one_ended(g, t0, 0);
		}
		return;
	}
	agentd_writer_reset(g->w);
	agentd_write_map(g->w, 3);
	agentd_write_str(g->w, "op");
	agentd_write_str(g->w, "start");
	agentd_write_str(g->w, "workflow");
	agentd_write_str(g->w, g->mode == M_PARK ? "park" : "five");
	agentd_write_str(g->w, "input");
	agentd_write_map(g->w, 1);
	agentd_write_str(g->w, "t0");
	agentd_write_int(g->w, t0);
	p  = agentd_writer_data(g->w, &len);
	rv = g->host->call_async(g->ctx, g->agent, p, len, 30000, on_start, g);
	if (rv != 0)
		one_ended(g, t0, 0);
}

/* A run (a chain, a park start) ended; another starts while any is left. */
static void
one_ended(struct fg *g, int64_t t0, int ok)
{
	int64_t t = now_us();

	if (g->mode == M_IDLE)
		return;
	if (!ok)
		g->errors++;
	g->lat[g->ended++] = t - t0;
	g->t_last          = t;
	if (g->started < g->total)
		start_one(g);
	else if (g->ended == g->total)
		answer(g);
}

static int
fg_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct fg          *g = state;
	agentd_doc         *doc;
	const agentd_value *root;
	const char         *op;
	size_t              n;
	int64_t             k = 1, t0 = 0;
	int                 rv = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	if (agentd_get_str(agentd_map_get(root, "op"), &op, &n) != 0)
		n = 0;
	if (n == 4 && memcmp(op, "sink", 4) == 0) {
		agentd_get_int(agentd_map_get(root, "t0"), &t0);
		agentd_writer_reset(g->w);
		agentd_write_map(g->w, 0);
		{
			const void *p;
			size_t      plen;

			p  = agentd_writer_data(g->w, &plen);
			rv = g->host->reply(g->ctx, req, p, plen);
		}
		if (g->mode == M_FLOW)
			one_ended(g, t0, 1);
		agentd_doc_free(doc);
		return rv;
	}
	if (g->mode != M_IDLE) {
		agentd_doc_free(doc);
		return g->host->reply_error(
		    g->ctx, req, AGENTD_EBUSY, "a measurement is running");
	}
	if (n == 4 && memcmp(op, "flow", 4) == 0)
		g->mode = M_FLOW;
	else if (n == 6 && memcmp(op, "direct", 6) == 0)
		g->mode = M_DIRECT;
	else if (n == 4 && memcmp(op, "park", 4) == 0)
		g->mode = M_PARK;
	else {
		agentd_doc_free(doc);
		return g->host->reply_error(g->ctx, req, AGENTD_EINVAL,
		    "op: flow, direct, park or sink");
	}
	g->total = 0;
	agentd_get_int(agentd_map_get(root, "runs"), &g->total);
	agentd_get_int(agentd_map_get(root, "inflight"), &k);
	snprintf(g->agent, sizeof(g->agent), "flow");
	agentd_get_strcpy(
	    agentd_map_get(root, "agent"), g->agent, sizeof(g->agent));
	agentd_doc_free(doc);
	if (g->total < 1 || k < 1) {
		g->mode = M_IDLE;
		return g->host->reply_error(g->ctx, req, AGENTD_EINVAL,
		    "runs and inflight: 1 or more");
	}
	g->lat = calloc((size_t)g->total, sizeof(*g->lat));
	if (g->lat == NULL) {
		g->mode = M_IDLE;
		return AGENTD_ENOMEM;
	}
	g->req     = req;
	g->started = g->ended = g->errors = 0;
	for (int64_t i = 0; i < k && g->started < g->total; i++)
		start_one(g);
	return 0;
}

static int
fg_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct fg *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->ctx  = ctx;
	g->host = host;
	agentd_writer_new(&g->w);
	*state = g;
	return 0;
}

static void
fg_fini(void *state)
{
	struct fg *g = state;

	agentd_writer_free(g->w);
	free(g->lat);
	free(g);
}

AGENTD_PLUGIN(.name = "flowgen", .version = "1.0.0",
    .description = "bench: workflow runs against the same calls made "
                   "directly",
    .init = fg_init, .on_request = fg_request, .fini = fg_fini);
