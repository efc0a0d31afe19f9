/*
 * loadgen - the plugin bench/agentd_bus drives: the same workload as the
 * raw nng and Redis programs, but from one plugin instance to another
 * through agentd.  One plugin, three roles, chosen per request:
 *
 *   {"op":"rr","target":A,"payload":P,"inflight":K,"secs":D,"warmup":W}
 *       call agent A with a P-byte bin, K calls in flight, for W + D
 *       seconds; reply {"msgs","secs","p50_us","p99_us"} over the last D.
 *   any other body (the callee): reply with the body unchanged.
 *   {"op":"ps","topic":T,"payload":P,"secs":D,"rate":R}
 *       publish [send_us, P-byte bin] on T for D seconds (R/s if R > 0);
 *       reply {"sent","first_us"}.
 *   on_event (the subscriber): count, and latency from send_us.
 *   {"op":"stats"}: reply {"delivered","last_us","p50_us","p99_us"}.
 * CLOCK_MONOTONIC is one clock for every process of the machine, so the
 * publisher's send time and the subscriber's arrival time compare.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define MAX_SAMPLES (4 * 1024 * 1024)

struct samples {
	int64_t *v;
	size_t   n;
};

struct loadgen {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	/* rr, as caller */
	agentd_request *req;
	char            target[64];
	void           *payload;
	size_t          payload_len;
	int64_t         warm_end, end, measure_start;
	unsigned        outstanding;
	uint64_t        msgs;
	struct samples  lat;
	/* as subscriber */
	uint64_t       delivered;
	int64_t        last_us;
	struct samples evlat;
};

struct call {
	struct loadgen *g;
	int64_t         sent;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sample(struct samples *s, int64_t v)
{
	if (s->v == NULL)
		s->v = malloc(MAX_SAMPLES * sizeof(*s->v));
	if (s->v != NULL && s->n < MAX_SAMPLES)
		s->v[s->n++] = v;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(struct samples *s, double q)
{
	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp64);
	return s->v[(size_t)(q * (double)(s->n - 1))];
}

static int
lg_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct loadgen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->ctx  = ctx;
	g->host = host;
	*state  = g;
	return 0;
}

static void
reply_map(struct loadgen *g, agentd_request *req, const char **keys,
    const int64_t *vals, unsigned n)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;
	unsigned       i;

	agentd_writer_new(&w);
	agentd_write_map(w, n);
	for (i = 0; i < n; i++) {
		agentd_write_str(w, keys[i]);
		agentd_write_int(w, vals[i]);
	}
	p = agentd_writer_data(w, &len);
	g->host->reply(g->ctx, req, p, len);
	agentd_writer_free(w);
}

static void call_one(struct loadgen *g);

static void
rr_done(void *arg, int status, const void *reply, size_t len)
{
	struct call    *c = arg;
	struct loadgen *g = c->g;
	int64_t         t = now_us();

	g->outstanding--;
	if (status == 0 && c->sent >= g->warm_end && t <= g->end) {
		g->msgs++;
		sample(&g->lat, t - c->sent);
	}
	free(c);
	if (t < g->end) {
		call_one(g);
	} else if (g->outstanding == 0) {
		const char *k[] = { "msgs", "secs_us", "p50_us", "p99_us" };
		int64_t     v[] = { (int64_t)g->msgs, g->end - g->warm_end,
			    pct(&g->lat, 0.50), pct(&g->lat, 0.99) };

		reply_map(g, g->req, k, v, 4);
		g->req = NULL;
	}
}

static void
call_one(struct loadgen *g)
{
	struct call   *c = malloc(sizeof(*c));
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_bin(w, g->payload, g->payload_len);
	p       = agentd_writer_data(w, &len);
	c->g    = g;
	c->sent = now_us();
	if (g->host->call_async(g->ctx, g->target, p, len, 0, rr_done, c) == 0)
		g->outstanding++;
	else
		free(c);
	agentd_writer_free(w);
}

static int64_t
get_int(const agentd_value *root, const char *key, int64_t dflt)
{
	int64_t v;

	return agentd_get_int(agentd_map_get(root, key), &v) == 0 ? v : dflt;
}

static int
op_rr(struct loadgen *g, agentd_request *req, const agentd_value *root)
{
	int64_t k = get_int(root, "inflight", 1), i;

	if (g->req != NULL)
		return AGENTD_EBUSY;
	agentd_get_strcpy(
	    agentd_map_get(root, "target"), g->target, sizeof(g->target));
	free(g->payload);
	g->payload_len = (size_t)get_int(root, "payload", 64);
	g->payload     = calloc(1, g->payload_len + 1);
	g->req         = req;
	g->msgs        = 0;
	g->lat.n       = 0;
	g->warm_end    = now_us() + get_int(root, "warmup_ms", 200) * 1000;
	g->end         = g->warm_end + get_int(root, "secs_ms", 2000) * 1000;
	for (i = 0; i < k; i++)
		call_one(g);
	return 0;
}

static int
op_ps(struct loadgen *g, agentd_request *req, const agentd_value *root)
{
	char           topic[128];
	int64_t        rate = get_int(root, "rate", 0);
	size_t         plen = (size_t)get_int(root, "payload", 64);
	int64_t        start, end, t;
	int64_t        sent    = 0;
	void          *payload = calloc(1, plen + 1);
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_get_strcpy(agentd_map_get(root, "topic"), topic, sizeof(topic));
	agentd_writer_new(&w);
	start = now_us();
	end   = start + get_int(root, "secs_ms", 2000) * 1000;
	while ((t = now_us()) < end) {
		if (rate > 0 && sent >= rate * (t - start) / 1000000) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
			continue;
		}
		agentd_writer_reset(w);
		agentd_write_array(w, 2);
		agentd_write_int(w, t);
		agentd_write_bin(w, payload, plen);
		p = agentd_writer_data(w, &len);
		if (g->host->publish(g->ctx, topic, p, len) == 0)
			sent++;
	}
	agentd_writer_free(w);
	free(payload);
	{
		const char *k[] = { "sent", "first_us" };
		int64_t     v[] = { sent, start };

		reply_map(g, req, k, v, 2);
	}
	return 0;
}

static int
op_stats(struct loadgen *g, agentd_request *req)
{
	const char *k[] = { "delivered", "last_us", "p50_us", "p99_us" };
	int64_t     v[] = { (int64_t)g->delivered, g->last_us,
		    pct(&g->evlat, 0.50), pct(&g->evlat, 0.99) };

	reply_map(g, req, k, v, 4);
	return 0;
}

static int
lg_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct loadgen     *g = state;
	agentd_doc         *doc;
	const agentd_value *root;
	char                op[16] = "";
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	root = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(root, "op"), op, sizeof(op));
	if (strcmp(op, "rr") == 0)
		rv = op_rr(g, req, root);
	else if (strcmp(op, "ps") == 0)
		rv = op_ps(g, req, root);
	else if (strcmp(op, "stats") == 0)
		rv = op_stats(g, req);
	else
		rv = g->host->reply(g->ctx, req, body, len);
	agentd_doc_free(doc);
	return rv;
}

static void
lg_event(void *state, const char *topic, const void *body, size_t len)
{
	struct loadgen *g = state;
	agentd_doc     *doc;
	int64_t         sent;

	g->last_us = now_us();
	g->delivered++;
	if (agentd_parse(body, len, &doc) == 0) {
		if (agentd_get_int(
		        agentd_array_at(agentd_doc_root(doc), 0), &sent)
		    == 0)
			sample(&g->evlat, g->last_us - sent);
		agentd_doc_free(doc);
	}
}

static void
lg_fini(void *state)
{
	struct loadgen *g = state;

	free(g->payload);
	free(g->lat.v);
	free(g->evlat.v);
	free(g);
}

AGENTD_PLUGIN(.name = "loadgen", .version = "0.1.0",
    .description = "benchmark load generator (bench/agentd_bus)",
    .init = lg_init, .on_request = lg_request, .on_event = lg_event,
    .fini = lg_fini);
