/*
 * auditgen - the plugin bench/agentd_audit drives: each instance appends
 * audit records through host->audit in a loop, as fast as agentd
 * acknowledges them.  host->audit returns only after agentd has committed
 * the record (agentd/agent.h), so one instance has one append outstanding
 * at a time; agentd groups what all instances have outstanding into one
 * transaction.
 *
 *   {"op":"audit","begin_us":B,"from_us":F,"until_us":U}
 *       wait until CLOCK_MONOTONIC reaches B, then append
 *       bench/auditrec.h's record until U; reply
 *       {"recs": appends that began at or after F and were acknowledged
 *        by U, "errors": failed appends, "hist": their latencies, from
 *        the call to its return, as bench/auditrec.h's histogram}
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

struct auditgen {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	uint32_t                  seq;
	uint32_t                  hist[AUDITREC_HIST_N];
	unsigned char             wire[AUDITREC_HIST_N * 4];
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

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->ctx  = ctx;
	g->host = host;
	*state  = g;
	return 0;
}

static int64_t
get_int(const agentd_value *root, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(root, key), &v);
	return v;
}

static int
op_audit(struct auditgen *g, agentd_request *req, const agentd_value *root)
{
	int64_t        begin = get_int(root, "begin_us");
	int64_t        from  = get_int(root, "from_us");
	int64_t        until = get_int(root, "until_us");
	int64_t        recs = 0, errors = 0, t0, t1;
	unsigned char  detail[AUDITREC_DETAIL_LEN];
	agentd_writer *w;
	const void    *p;
	size_t         len, dlen;
	unsigned       b;
	int            rv;

	memset(g->hist, 0, sizeof(g->hist));
	sleep_until_us(begin);
	while ((t0 = now_us()) < until) {
		dlen = auditrec_detail(detail, ++g->seq);
		rv   = g->host->audit(
		      g->ctx, AUDITREC_KIND, auditrec_summary(), detail, dlen);
		t1 = now_us();
		if (rv != 0) {
			errors++;
			continue;
		}
		if (t0 >= from && t1 <= until) {
			recs++;
			g->hist[auditrec_bucket((uint64_t)(t1 - t0))]++;
		}
	}
	for (b = 0; b < AUDITREC_HIST_N; b++) {
		g->wire[4 * b]     = (unsigned char)g->hist[b];
		g->wire[4 * b + 1] = (unsigned char)(g->hist[b] >> 8);
		g->wire[4 * b + 2] = (unsigned char)(g->hist[b] >> 16);
		g->wire[4 * b + 3] = (unsigned char)(g->hist[b] >> 24);
	}
	if ((rv = agentd_writer_new(&w)) != 0)
		return rv;
	agentd_write_map(w, 3);
	agentd_write_str(w, "recs");
	agentd_write_int(w, recs);
	agentd_write_str(w, "errors");
	agentd_write_int(w, errors);
	agentd_write_str(w, "hist");
	agentd_write_bin(w, g->wire, sizeof(g->wire));
	p  = agentd_writer_data(w, &len);
	rv = g->host->reply(g->ctx, req, p, len);
	agentd_writer_free(w);
	return rv;
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

static void
ag_fini(void *state)
{
	free(state);
}

AGENTD_PLUGIN(.name = "auditgen", .version = "0.1.0",
    .description = "audit-append load generator (bench/agentd_audit)",
    .init = ag_init, .on_request = ag_request, .fini = ag_fini);
