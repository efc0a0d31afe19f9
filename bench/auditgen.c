/*
 * auditgen - the plugin bench/agentd_audit drives: each instance appends
 * audit records as fast as agentd acknowledges them, in one of two modes
 * chosen by the setting `outstanding`:
 *
 *   0 (default)  host->audit in a loop.  host->audit returns only after
 *                agentd has committed the record (agentd/agent.h), so one
 *                instance has one append outstanding at a time; agentd
 *                groups what all instances have outstanding into one
 *                transaction.
 *   N > 0        host->audit_async (ABI 1.2), N records always
 *                outstanding: each record's callback (the commit's
 *                acknowledgement) queues the next one, on_tick tops the
 *                window up after a refused call.  The worker sends what
 *                gathers in batches.
 *
 *   {"op":"audit","begin_us":B,"from_us":F,"until_us":U}
 *       wait until CLOCK_MONOTONIC reaches B, then append
 *       bench/auditrec.h's record until U; reply
 *       {"recs": appends that began at or after F and were acknowledged
 *        by U, "errors": failed appends, "hist": their latencies, from
 *        the host->audit or host->audit_async call to its return or its
 *        callback, as bench/auditrec.h's histogram}
 *
 * In the asynchronous mode on_request returns as soon as it has queued
 * the first N records (callbacks run only between plugin callbacks) and
 * the request is answered from the first callback or tick at or after U;
 * records still outstanding then are not counted.
 *
 * CLOCK_MONOTONIC is one clock for every process of the machine, so the
 * driver sets one window for all instances.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "auditrec.h"

/* The worker refuses more than 65536 records queued per instance. */
#define OUTSTANDING_MAX 65536
/* Only a fallback: the callbacks keep the window full. */
#define TICK_MS 10

struct auditgen;

/* One record on its way (asynchronous mode): the callback's arg. */
struct slot {
	struct auditgen *g;
	int64_t          t0; /* when audit_async was called */
};

struct auditgen {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	uint32_t                  seq;

	/* The window being measured; req is NULL when none is. */
	agentd_request *req;
	int64_t         from, until;
	int64_t         recs, errors;
	uint32_t        hist[AUDITREC_HIST_N];
	unsigned char   wire[AUDITREC_HIST_N * 4];

	/* Asynchronous mode (slots not NULL): one slot per record kept
	 * outstanding, the free ones' indexes in free_slots[0 .. nfree). */
	struct slot *slots;
	size_t      *free_slots;
	size_t       nfree;
};

static const struct agentd_setting auditgen_settings[] = {
	{ "outstanding", AGENTD_SETTING_INT, "0",
	    "records kept outstanding with audit_async (0: synchronous "
	    "audit in a loop)" },
	{ NULL, 0, NULL, NULL },
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_until_us(int64_t t)
{
	int64_t d;

	while ((d = t - now_us()) > 0) {
		struct timespec ts
		    = { (time_t)(d / 1000000), (long)(d % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

static int
ag_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct auditgen *g = calloc(1, sizeof(*g));
	int64_t          n = 0;
	size_t           i;

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->ctx  = ctx;
	g->host = host;
	host->setting_int(ctx, "outstanding", &n);
	if (n < 0 || n > OUTSTANDING_MAX) {
		host->log(ctx, AGENTD_LOG_ERROR, "outstanding = %lld: 0 to %d",
		    (long long)n, OUTSTANDING_MAX);
		free(g);
		return AGENTD_ECONFIG;
	}
	if (n > 0) {
		g->slots      = calloc((size_t)n, sizeof(*g->slots));
		g->free_slots = calloc((size_t)n, sizeof(*g->free_slots));
		if (g->slots == NULL || g->free_slots == NULL) {
			free(g->slots);
			free(g->free_slots);
			free(g);
			return AGENTD_ENOMEM;
		}
		for (i = 0; i < (size_t)n; i++) {
			g->slots[i].g    = g;
			g->free_slots[i] = i;
		}
		g->nfree = (size_t)n;
	}
	*state = g;
	return 0;
}

static int64_t
get_int(const agentd_value *root, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(root, key), &v);
	return v;
}

/* An append that began at t0 and was acknowledged at t1. */
static void
count(struct auditgen *g, int64_t t0, int64_t t1)
{
	if (t0 >= g->from && t1 <= g->until) {
		g->recs++;
		g->hist[auditrec_bucket((uint64_t)(t1 - t0))]++;
	}
}

/* Answer the window's request with its counts; it is over. */
static int
finish(struct auditgen *g)
{
	agentd_request *req = g->req;
	agentd_writer  *w;
	const void     *p;
	size_t          len;
	unsigned        b;
	int             rv;

	g->req = NULL;
	for (b = 0; b < AUDITREC_HIST_N; b++) {
		g->wire[4 * b]     = (unsigned char)g->hist[b];
		g->wire[4 * b + 1] = (unsigned char)(g->hist[b] >> 8);
		g->wire[4 * b + 2] = (unsigned char)(g->hist[b] >> 16);
		g->wire[4 * b + 3] = (unsigned char)(g->hist[b] >> 24);
	}
	if ((rv = agentd_writer_new(&w)) != 0)
		return g->host->reply_error(
		    g->ctx, req, rv, "auditgen: no memory for the reply");
	agentd_write_map(w, 3);
	agentd_write_str(w, "recs");
	agentd_write_int(w, g->recs);
	agentd_write_str(w, "errors");
	agentd_write_int(w, g->errors);
	agentd_write_str(w, "hist");
	agentd_write_bin(w, g->wire, sizeof(g->wire));
	p  = agentd_writer_data(w, &len);
	rv = g->host->reply(g->ctx, req, p, len);
	agentd_writer_free(w);
	return rv;
}

/* ---- synchronous: host->audit in a loop ------------------------------ */

static int
run_sync(struct auditgen *g)
{
	unsigned char detail[AUDITREC_DETAIL_LEN];
	size_t        dlen;
	int64_t       t0, t1;

	while ((t0 = now_us()) < g->until) {
		dlen = auditrec_detail(detail, ++g->seq);
		if (g->host->audit(g->ctx, AUDITREC_KIND, auditrec_summary(),
		        detail, dlen)
		    != 0) {
			g->errors++;
			continue;
		}
		t1 = now_us();
		count(g, t0, t1);
	}
	return finish(g);
}

/* ---- asynchronous: N records outstanding through host->audit_async --- */

static void audit_done(void *arg, int status, uint64_t seq);

/* Queue one record in slot s; non-zero when the host refused it. */
static int
issue(struct auditgen *g, struct slot *s)
{
	unsigned char detail[AUDITREC_DETAIL_LEN];
	size_t        dlen = auditrec_detail(detail, ++g->seq);

	s->t0 = now_us();
	return g->host->audit_async(g->ctx, AUDITREC_KIND, auditrec_summary(),
	    detail, dlen, audit_done, s);
}

/* Until the window ends, put every free slot to work. */
static void
fill(struct auditgen *g)
{
	struct slot *s;

	while (g->nfree > 0 && now_us() < g->until) {
		s = &g->slots[g->free_slots[g->nfree - 1]];
		if (issue(g, s) != 0) {
			/* Refused (EBUSY...): on_tick tries again. */
			g->errors++;
			return;
		}
		g->nfree--;
	}
}

static void
release(struct auditgen *g, struct slot *s)
{
	g->free_slots[g->nfree++] = (size_t)(s - g->slots);
}

/* A record's outcome (the instance's thread): count it, queue the next. */
static void
audit_done(void *arg, int status, uint64_t seq)
{
	struct slot     *s  = arg;
	struct auditgen *g  = s->g;
	int64_t          t1 = now_us();

	(void)seq;
	if (g->req == NULL) { /* after the window: nobody counts it */
		release(g, s);
		return;
	}
	if (status != 0)
		g->errors++;
	else
		count(g, s->t0, t1);
	if (t1 >= g->until) {
		release(g, s);
		finish(g);
	} else if (issue(g, s) != 0) {
		g->errors++;
		release(g, s);
	}
}

static int
run_async(struct auditgen *g)
{
	if (!AGENTD_HOST_HAS(g->host, audit_async)) {
		g->req = NULL;
		return AGENTD_ENOTSUP;
	}
	fill(g);
	/* Answered later, from audit_done or ag_tick. */
	return 0;
}

static void
ag_tick(void *state)
{
	struct auditgen *g = state;

	if (g->slots == NULL || g->req == NULL)
		return;
	if (now_us() >= g->until)
		finish(g);
	else
		fill(g);
}

/* ---- requests ----------------------------------------------------------- */

static int
op_audit(struct auditgen *g, agentd_request *req, const agentd_value *root)
{
	int64_t begin = get_int(root, "begin_us");

	if (g->req != NULL)
		return AGENTD_EBUSY; /* one window at a time */
	g->req    = req;
	g->from   = get_int(root, "from_us");
	g->until  = get_int(root, "until_us");
	g->recs   = 0;
	g->errors = 0;
	memset(g->hist, 0, sizeof(g->hist));
	sleep_until_us(begin);
	return g->slots == NULL ? run_sync(g) : run_async(g);
}

static int
ag_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct auditgen    *g = state;
	agentd_doc         *doc;
	const agentd_value *root;
	char                op[16] = "";
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	root = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(root, "op"), op, sizeof(op));
	if (strcmp(op, "audit") == 0)
		rv = op_audit(g, req, root);
	else
		rv = AGENTD_EINVAL;
	agentd_doc_free(doc);
	return rv;
}

/* The host has run every outstanding record's callback by now. */
static void
ag_fini(void *state)
{
	struct auditgen *g = state;

	free(g->slots);
	free(g->free_slots);
	free(g);
}

AGENTD_PLUGIN(.name = "auditgen", .version = "0.2.0",
    .description = "audit-append load generator (bench/agentd_audit)",
    .settings = auditgen_settings, .init = ag_init, .on_request = ag_request,
    .on_tick = ag_tick, .tick_ms = TICK_MS, .fini = ag_fini);
