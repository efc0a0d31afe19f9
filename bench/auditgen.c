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
 *       the window of bench/genwin.h: append bench/auditrec.h's record
 *       from B until U; "recs" counts the appends that began at or after
 *       F and were acknowledged by U, "hist" their latencies, from the
 *       host->audit or host->audit_async call to its return or its
 *       callback
 *
 * In the asynchronous mode on_request returns as soon as it has queued
 * the first N records (callbacks run only between plugin callbacks) and
 * the request is answered from the first callback or tick at or after U;
 * records still outstanding then are not counted.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "auditrec.h"
#include "genwin.h"

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
	struct genwin w;
	uint32_t      seq;
	/* Asynchronous mode (pool.n > 0): one slot per record kept
	 * outstanding. */
	struct genwin_pool pool;
};

static const struct agentd_setting auditgen_settings[] = {
	{ "outstanding", AGENTD_SETTING_INT, "0",
	    "records kept outstanding with audit_async (0: synchronous "
	    "audit in a loop)" },
	{ NULL, 0, NULL, NULL },
};

static int
ag_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct auditgen *g = calloc(1, sizeof(*g));
	int64_t          n = 0;
	size_t           i;

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->w.ctx  = ctx;
	g->w.host = host;
	host->setting_int(ctx, "outstanding", &n);
	if (n < 0 || n > OUTSTANDING_MAX) {
		host->log(ctx, AGENTD_LOG_ERROR, "outstanding = %lld: 0 to %d",
		    (long long)n, OUTSTANDING_MAX);
		free(g);
		return AGENTD_ECONFIG;
	}
	if (genwin_pool_init(&g->pool, (size_t)n, sizeof(struct slot)) != 0) {
		free(g);
		return AGENTD_ENOMEM;
	}
	for (i = 0; i < g->pool.n; i++)
		((struct slot *)genwin_slot(&g->pool, i))->g = g;
	*state = g;
	return 0;
}

/* ---- synchronous: host->audit in a loop ------------------------------ */

static int
run_sync(struct auditgen *g)
{
	unsigned char detail[AUDITREC_DETAIL_LEN];
	size_t        dlen;
	int64_t       t0;

	while ((t0 = genwin_now_us()) < g->w.until) {
		dlen = auditrec_detail(detail, ++g->seq);
		if (g->w.host->audit(g->w.ctx, AUDITREC_KIND,
		        auditrec_summary(), detail, dlen)
		    != 0) {
			g->w.errors++;
			continue;
		}
		genwin_count(&g->w, t0, genwin_now_us());
	}
	return genwin_finish(&g->w);
}

/* ---- asynchronous: N records outstanding through host->audit_async --- */

static void audit_done(void *arg, int status, uint64_t seq);

/* Queue one record in slot s; non-zero when the host refused it. */
static int
issue(struct auditgen *g, struct slot *s)
{
	unsigned char detail[AUDITREC_DETAIL_LEN];
	size_t        dlen = auditrec_detail(detail, ++g->seq);

	s->t0 = genwin_now_us();
	return g->w.host->audit_async(g->w.ctx, AUDITREC_KIND,
	    auditrec_summary(), detail, dlen, audit_done, s);
}

/* Until the window ends, put every free slot to work. */
static void
fill(struct auditgen *g)
{
	struct slot *s;

	while ((s = genwin_peek(&g->pool)) != NULL
	    && genwin_now_us() < g->w.until) {
		if (issue(g, s) != 0) {
			/* Refused (EBUSY...): on_tick tries again. */
			g->w.errors++;
			return;
		}
		genwin_take(&g->pool);
	}
}

/* A record's outcome (the instance's thread): count it, queue the next. */
static void
audit_done(void *arg, int status, uint64_t seq)
{
	struct slot     *s  = arg;
	struct auditgen *g  = s->g;
	int64_t          t1 = genwin_now_us();

	(void)seq;
	if (g->w.req == NULL) { /* after the window: nobody counts it */
		genwin_release(&g->pool, s);
		return;
	}
	if (status != 0)
		g->w.errors++;
	else
		genwin_count(&g->w, s->t0, t1);
	if (t1 >= g->w.until) {
		genwin_release(&g->pool, s);
		genwin_finish(&g->w);
	} else if (issue(g, s) != 0) {
		g->w.errors++;
		genwin_release(&g->pool, s);
	}
}

static int
run_async(struct auditgen *g)
{
	if (!AGENTD_HOST_HAS(g->w.host, audit_async)) {
		g->w.req = NULL;
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

	if (g->pool.n == 0 || g->w.req == NULL)
		return;
	if (genwin_now_us() >= g->w.until)
		genwin_finish(&g->w);
	else
		fill(g);
}

/* ---- requests ----------------------------------------------------------- */

static int
ag_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct auditgen *g = state;
	agentd_doc      *doc;
	char             op[16];
	int              rv;

	if (genwin_parse(body, len, &doc, op, sizeof(op)) != 0)
		return AGENTD_EINVAL;
	if (strcmp(op, "audit") != 0)
		rv = AGENTD_EINVAL;
	else if ((rv = genwin_open(&g->w, req, agentd_doc_root(doc))) == 0)
		rv = g->pool.n == 0 ? run_sync(g) : run_async(g);
	agentd_doc_free(doc);
	return rv;
}

/* The host has run every outstanding record's callback by now. */
static void
ag_fini(void *state)
{
	struct auditgen *g = state;

	genwin_pool_free(&g->pool);
	free(g);
}

AGENTD_PLUGIN(.name = "auditgen", .version = "0.2.0",
    .description = "audit-append load generator (bench/agentd_audit)",
    .settings = auditgen_settings, .init = ag_init, .on_request = ag_request,
    .on_tick = ag_tick, .tick_ms = TICK_MS, .fini = ag_fini);
