/*
 * sbatch - a test plugin of host->state_batch_async (ABI 1.6).
 *
 * {"op": "go", "n": N, "bad": K}: makes N batches in this one callback,
 * batch i writing b/G/i/a, b/G/i/b (both i) and last/G (i), G counting
 * the go requests from 1; batch K (if 0..N-1) also has an empty key, and
 * is refused at once.  Answered once every callback ran:
 *   {"made": N, "refused": [STATUS...], "called": C, "in_order": BOOL,
 *    "statuses": [STATUS of each batch accepted, in callback order]}
 * {"op": "stream"}: from then on every tick makes 20 batches s/SEQ = SEQ
 * (SEQ from 1, at most 20000).  {"op": "acked"}: how many of them were
 * acknowledged (status 0).  {"op": "keys"}: the SEQs found under s/.
 * At fini, with setting out_file, the stream's outcome is written there:
 * "queued Q", "called C" (callbacks run before fini), then "SEQ STATUS"
 * for each.  tests/system/state_async.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define STREAM_MAX 20000

static const struct agentd_setting sbatch_settings[] = {
	{ "out_file", AGENTD_SETTING_STRING, "", "where fini reports" },
	{ NULL, 0, NULL, NULL },
};

struct go {
	agentd_request *req;
	int64_t         n, waiting, called, last, in_order;
	int             statuses[256];
	int             refused[256];
	size_t          nrefused;
};

struct sb {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int64_t                   gen;
	int                       streaming;
	uint32_t                  queued, called, acked;
	int                       status[STREAM_MAX + 1];
	unsigned char             seen[STREAM_MAX + 1]; /* its cb ran */
};

static struct sb sb;

static void
go_reply(struct go *g)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "made");
	agentd_write_int(w, g->n);
	agentd_write_str(w, "refused");
	agentd_write_array(w, (uint32_t)g->nrefused);
	for (size_t i = 0; i < g->nrefused; i++)
		agentd_write_int(w, g->refused[i]);
	agentd_write_str(w, "called");
	agentd_write_int(w, g->called);
	agentd_write_str(w, "in_order");
	agentd_write_bool(w, g->in_order);
	agentd_write_str(w, "statuses");
	agentd_write_array(w, (uint32_t)g->called);
	for (int64_t i = 0; i < g->called; i++)
		agentd_write_int(w, g->statuses[i]);
	p = agentd_writer_data(w, &len);
	sb.host->reply(sb.ctx, g->req, p, len);
	agentd_writer_free(w);
	free(g);
}

/* A go's batch: its go and index. */
struct cookie {
	struct go *g;
	int64_t    i;
};

static void
go_done(void *arg, int status)
{
	struct cookie *c = arg;
	struct go     *g = c->g;

	if (c->i <= g->last)
		g->in_order = 0;
	g->last                  = c->i;
	g->statuses[g->called++] = status;
	free(c);
	if (--g->waiting == 0)
		go_reply(g);
}

static void
int_val(agentd_writer *w, int64_t v)
{
	agentd_writer_reset(w);
	agentd_write_int(w, v);
}

static void
go(agentd_request *req, int64_t n, int64_t bad)
{
	struct go     *g = calloc(1, sizeof(*g));
	agentd_writer *v;
	char           k[3][64];
	const void    *p;
	size_t         len;

	if (g == NULL || n < 0 || n > 256)
		abort();
	g->req      = req;
	g->n        = n;
	g->last     = -1;
	g->in_order = 1;
	sb.gen++;
	agentd_writer_new(&v);
	for (int64_t i = 0; i < n; i++) {
		struct agentd_state_op ops[4];
		struct cookie         *c = malloc(sizeof(*c));
		size_t                 nops;
		int                    rv;

		int_val(v, i);
		p = agentd_writer_data(v, &len);
		snprintf(k[0], sizeof(k[0]), "b/%lld/%lld/a",
		    (long long)sb.gen, (long long)i);
		snprintf(k[1], sizeof(k[1]), "b/%lld/%lld/b",
		    (long long)sb.gen, (long long)i);
		snprintf(k[2], sizeof(k[2]), "last/%lld", (long long)sb.gen);
		for (nops = 0; nops < 3; nops++)
			ops[nops] = (struct agentd_state_op) { k[nops],
				strlen(k[nops]), p, len };
		if (i == bad)
			ops[nops++]
			    = (struct agentd_state_op) { "", 0, p, len };
		c->g = g;
		c->i = i;
		rv = sb.host->state_batch_async(sb.ctx, ops, nops, go_done, c);
		if (rv != 0) {
			free(c);
			g->refused[g->nrefused++] = rv;
		} else
			g->waiting++;
	}
	agentd_writer_free(v);
	if (g->waiting == 0)
		go_reply(g);
}

static void
stream_done(void *arg, int status)
{
	uint32_t seq = (uint32_t)(uintptr_t)arg;

	sb.status[seq] = status;
	sb.called += !sb.seen[seq];
	sb.seen[seq] = 1;
	if (status == 0)
		sb.acked++;
}

static void
sb_tick(void *state)
{
	agentd_writer *v;
	char           k[32];
	const void    *p;
	size_t         len;

	(void)state;
	if (!sb.streaming)
		return;
	agentd_writer_new(&v);
	for (int i = 0; i < 20 && sb.queued < STREAM_MAX; i++) {
		struct agentd_state_op op;
		uint32_t               seq = sb.queued + 1;

		int_val(v, seq);
		p = agentd_writer_data(v, &len);
		snprintf(k, sizeof(k), "s/%u", seq);
		op = (struct agentd_state_op) { k, strlen(k), p, len };
		if (sb.host->state_batch_async(
		        sb.ctx, &op, 1, stream_done, (void *)(uintptr_t)seq)
		    != 0)
			break;
		sb.queued = seq;
	}
	agentd_writer_free(v);
}

static int
key_seq(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	agentd_writer *w = arg;

	(void)keylen;
	(void)val;
	(void)vallen;
	agentd_write_int(w, strtoll(key + 2, NULL, 10));
	return 0;
}

static int
count_keys(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	(void)key;
	(void)keylen;
	(void)val;
	(void)vallen;
	(*(uint32_t *)arg)++;
	return 0;
}

static int
sb_request(void *state, agentd_request *req, const void *body, size_t len)
{
	agentd_doc    *doc;
	agentd_writer *w;
	char           op[16] = "";
	int64_t        n = 0, bad = -1;
	uint32_t       nkeys = 0;
	const void    *p;
	size_t         plen;

	(void)state;
	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "op"), op, sizeof(op));
	agentd_get_int(agentd_map_get(agentd_doc_root(doc), "n"), &n);
	agentd_get_int(agentd_map_get(agentd_doc_root(doc), "bad"), &bad);
	agentd_doc_free(doc);
	if (strcmp(op, "go") == 0) {
		go(req, n, bad);
		return 0;
	}
	agentd_writer_new(&w);
	if (strcmp(op, "stream") == 0) {
		sb.streaming = 1;
		agentd_write_bool(w, 1);
	} else if (strcmp(op, "acked") == 0)
		agentd_write_int(w, sb.acked);
	else if (strcmp(op, "keys") == 0) {
		sb.host->state_scan(sb.ctx, "s/", 2, count_keys, &nkeys);
		agentd_write_array(w, nkeys);
		sb.host->state_scan(sb.ctx, "s/", 2, key_seq, w);
	} else {
		agentd_writer_free(w);
		return AGENTD_EINVAL;
	}
	p = agentd_writer_data(w, &plen);
	sb.host->reply(sb.ctx, req, p, plen);
	agentd_writer_free(w);
	return 0;
}

static int
sb_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	if (!AGENTD_HOST_HAS(host, state_batch_async))
		return AGENTD_ENOTSUP;
	sb.ctx  = ctx;
	sb.host = host;
	*state  = &sb;
	return 0;
}

static void
sb_fini(void *state)
{
	const char *out = "";
	FILE       *f;

	(void)state;
	sb.host->setting_string(sb.ctx, "out_file", &out);
	if (*out == '\0' || sb.queued == 0 || (f = fopen(out, "w")) == NULL)
		return;
	fprintf(f, "queued %u\ncalled %u\n", sb.queued, sb.called);
	for (uint32_t s = 1; s <= sb.queued; s++)
		if (sb.seen[s])
			fprintf(f, "%u %d\n", s, sb.status[s]);
		else
			fprintf(f, "%u none\n", s);
	fclose(f);
}

AGENTD_PLUGIN(.name = "sbatch", .version = "1.0.0",
    .description = "state_batch_async under test", .settings = sbatch_settings,
    .init = sb_init, .on_request = sb_request, .on_tick = sb_tick,
    .tick_ms = 5, .fini = sb_fini);
