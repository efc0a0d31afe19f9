/*
 * genwin.h - what the load-generator plugins bench/auditgen.c and
 * bench/proposegen.c share: the measured window their driver opens with
 * one request per instance (bench/gendrive.c sends it), and the pool of
 * slots an instance keeps outstanding.
 *
 *   {"op": OP, "begin_us": B, "from_us": F, "until_us": U}
 *       wait until CLOCK_MONOTONIC reaches B, then generate load until
 *       U; reply {"recs": operations that began at or after F and ended
 *       by U, "errors": failed ones, "hist": their latencies as
 *       bench/auditrec.h's histogram} and, when the plugin measures a
 *       second latency, "hist2" the same for it.
 *
 * CLOCK_MONOTONIC is one clock for every process of the machine, so the
 * driver sets one window for all instances.  Header only: the plugins
 * link only the SDK.
 */
#ifndef BENCH_GENWIN_H
#define BENCH_GENWIN_H

/* Needs _POSIX_C_SOURCE 200809L (clock_gettime, nanosleep) defined
 * before the first system header. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "auditrec.h"

struct genwin {
	agentd_ctx               *ctx;
	const struct agentd_host *host;

	/* The window being measured; req is NULL when none is. */
	agentd_request *req;
	int64_t         from, until;
	int64_t         recs, errors;
	uint32_t        hist[AUDITREC_HIST_N];
	uint32_t        hist2[AUDITREC_HIST_N]; /* sent when use_hist2 */
	int             use_hist2;
	unsigned char   wire[AUDITREC_HIST_N * 4];
};

static inline int64_t
genwin_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void
genwin_sleep_until_us(int64_t t)
{
	int64_t d;

	while ((d = t - genwin_now_us()) > 0) {
		struct timespec ts
		    = { (time_t)(d / 1000000), (long)(d % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

static inline int64_t
genwin_int(const agentd_value *root, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(root, key), &v);
	return v;
}

/*
 * The request's operation, into op (empty if none); *doc to free with
 * agentd_doc_free.  AGENTD_EINVAL when the body is not msgpack.
 */
static inline int
genwin_parse(
    const void *body, size_t len, agentd_doc **doc, char *op, size_t oplen)
{
	if (agentd_parse(body, len, doc) != 0)
		return AGENTD_EINVAL;
	op[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(*doc), "op"), op, oplen);
	return 0;
}

/*
 * Open req's window (root: its body), then sleep until its begin_us.
 * AGENTD_EBUSY while another is open.
 */
static inline int
genwin_open(struct genwin *w, agentd_request *req, const agentd_value *root)
{
	if (w->req != NULL)
		return AGENTD_EBUSY; /* one window at a time */
	w->req    = req;
	w->from   = genwin_int(root, "from_us");
	w->until  = genwin_int(root, "until_us");
	w->recs   = 0;
	w->errors = 0;
	memset(w->hist, 0, sizeof(w->hist));
	memset(w->hist2, 0, sizeof(w->hist2));
	genwin_sleep_until_us(genwin_int(root, "begin_us"));
	return 0;
}

/* An operation that began at t0 and ended at t1. */
static inline void
genwin_count(struct genwin *w, int64_t t0, int64_t t1)
{
	if (t0 >= w->from && t1 <= w->until) {
		w->recs++;
		w->hist[auditrec_bucket((uint64_t)(t1 - t0))]++;
	}
}

/* The second latency of an operation that began at t0 (hist2). */
static inline void
genwin_count2(struct genwin *w, int64_t t0, int64_t t1)
{
	if (t0 >= w->from && t1 <= w->until)
		w->hist2[auditrec_bucket((uint64_t)(t1 - t0))]++;
}

static inline void
genwin_write_hist(
    struct genwin *w, agentd_writer *out, const char *key, const uint32_t *h)
{
	unsigned b;

	for (b = 0; b < AUDITREC_HIST_N; b++) {
		w->wire[4 * b]     = (unsigned char)h[b];
		w->wire[4 * b + 1] = (unsigned char)(h[b] >> 8);
		w->wire[4 * b + 2] = (unsigned char)(h[b] >> 16);
		w->wire[4 * b + 3] = (unsigned char)(h[b] >> 24);
	}
	agentd_write_str(out, key);
	agentd_write_bin(out, w->wire, sizeof(w->wire));
}

/* Answer the window's request with its counts; it is over. */
static inline int
genwin_finish(struct genwin *w)
{
	agentd_request *req = w->req;
	agentd_writer  *out;
	const void     *p;
	size_t          len;
	int             rv;

	w->req = NULL;
	if ((rv = agentd_writer_new(&out)) != 0)
		return w->host->reply_error(
		    w->ctx, req, rv, "no memory for the window's reply");
	agentd_write_map(out, w->use_hist2 ? 4 : 3);
	agentd_write_str(out, "recs");
	agentd_write_int(out, w->recs);
	agentd_write_str(out, "errors");
	agentd_write_int(out, w->errors);
	genwin_write_hist(w, out, "hist", w->hist);
	if (w->use_hist2)
		genwin_write_hist(w, out, "hist2", w->hist2);
	p  = agentd_writer_data(out, &len);
	rv = w->host->reply(w->ctx, req, p, len);
	agentd_writer_free(out);
	return rv;
}

/* ---- slots: what an instance keeps outstanding ----------------------- */

/* n slots of size bytes each, the free ones' indexes on a stack. */
struct genwin_pool {
	void   *slots;
	size_t  size, n;
	size_t *free_idx;
	size_t  nfree;
};

static inline int
genwin_pool_init(struct genwin_pool *p, size_t n, size_t size)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	if (n == 0)
		return 0;
	p->slots    = calloc(n, size);
	p->free_idx = calloc(n, sizeof(*p->free_idx));
	if (p->slots == NULL || p->free_idx == NULL) {
		free(p->slots);
		free(p->free_idx);
		return AGENTD_ENOMEM;
	}
	p->size = size;
	p->n    = n;
	for (i = 0; i < n; i++)
		p->free_idx[i] = n - 1 - i;
	p->nfree = n;
	return 0;
}

static inline void *
genwin_slot(struct genwin_pool *p, size_t i)
{
	return (char *)p->slots + i * p->size;
}

/* The next free slot, not taken yet (NULL: none). */
static inline void *
genwin_peek(struct genwin_pool *p)
{
	return p->nfree > 0 ? genwin_slot(p, p->free_idx[p->nfree - 1]) : NULL;
}

static inline void
genwin_take(struct genwin_pool *p)
{
	p->nfree--;
}

static inline void
genwin_release(struct genwin_pool *p, void *slot)
{
	p->free_idx[p->nfree++]
	    = (size_t)((char *)slot - (char *)p->slots) / p->size;
}

static inline void
genwin_pool_free(struct genwin_pool *p)
{
	free(p->slots);
	free(p->free_idx);
}

#endif
