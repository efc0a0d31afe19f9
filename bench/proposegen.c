/*
 * proposegen - the plugin bench/agentd_policy drives: each instance
 * proposes actions to agentd's policy gate through host->propose_async
 * (ABI 1.3), in two operations:
 *
 *   {"op":"propose","begin_us":B,"from_us":F,"until_us":U}
 *       the window of bench/genwin.h: keep `outstanding` (the setting)
 *       LOW proposals in flight from B until U, each of type
 *       PROPOSEGEN_LOW; a proposal ends when its outcome, the event
 *       "decision.<id>", reaches on_event (agentd approves a LOW one at
 *       once), and the next one takes its slot.  "recs" counts the
 *       proposals made at or after F whose event came by U, "hist" the
 *       time from the propose_async call to that event, "hist2" from
 *       the call to its callback (agentd's answer with the id, after
 *       the commit of the proposal and its approval); "errors" the
 *       refused ones and outcomes other than approved.
 *   {"op":"hold","n":N}
 *       make N HIGH proposals (type PROPOSEGEN_HOLD) at once, which stay
 *       pending (their deadline is a day away); reply {"ok": accepted,
 *       "errors": refused, "error": the first refusal's name or ""} once
 *       agentd has answered all N.
 *
 * Each proposal carries the audit bench's payload (bench/auditrec.h): its
 * summary as the title, its 100-byte msgpack detail as the params.
 *
 * The callback with the id and the event may come in either order (agent.h:
 * the event of a LOW decision may come first), both on the instance's
 * thread: an open-addressing table keyed by the decision id holds
 * whichever came first.  The outcome of a decision goes to a ready
 * instance of the agent, not necessarily the one that proposed it: the
 * driver runs one instance per agent.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "auditrec.h"
#include "genwin.h"

/* What bench/agentd_policy's configuration classifies as LOW and HIGH. */
#define PROPOSEGEN_LOW "low.bench"
#define PROPOSEGEN_HOLD "hold.bench"

#define OUTSTANDING_MAX 65536
/* Only a fallback: the events keep the window full. */
#define TICK_MS 10

struct proposegen;

/* One proposal in flight in the window: the callback's arg. */
struct slot {
	struct proposegen *g;
	int64_t            t0;    /* when propose_async was called */
	int64_t            t_ack; /* its callback (0: not yet) */
};

/* A decision id with what came first: its slot's callback (slot), or its
 * event (slot NULL, at t_event). */
struct entry {
	uint64_t     id; /* 0: empty */
	struct slot *slot;
	int64_t      t_event;
	int          approved;
};

struct proposegen {
	struct genwin      w;
	uint32_t           seq;
	struct genwin_pool pool;
	struct entry      *tab;
	size_t             mask, used;
	int64_t            strays; /* events of no proposal in flight */

	/* The hold operation. */
	agentd_request *hold_req;
	int64_t         hold_n, hold_ok, hold_err;
	int             hold_first;
};

static const struct agentd_setting proposegen_settings[] = {
	{ "outstanding", AGENTD_SETTING_INT, "64",
	    "LOW proposals kept in flight in the window" },
	{ NULL, 0, NULL, NULL },
};

/* ---- the table: linear probing, deletion by backward shift ---------- */

static size_t
tab_home(const struct proposegen *g, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & g->mask;
}

static struct entry *
tab_find(struct proposegen *g, uint64_t id)
{
	size_t i = tab_home(g, id);

	while (g->tab[i].id != 0) {
		if (g->tab[i].id == id)
			return &g->tab[i];
		i = (i + 1) & g->mask;
	}
	return NULL;
}

/* A new entry for id (not in the table); NULL when over half full. */
static struct entry *
tab_add(struct proposegen *g, uint64_t id)
{
	size_t i = tab_home(g, id);

	if (2 * (g->used + 1) > g->mask + 1)
		return NULL;
	while (g->tab[i].id != 0)
		i = (i + 1) & g->mask;
	memset(&g->tab[i], 0, sizeof(g->tab[i]));
	g->tab[i].id = id;
	g->used++;
	return &g->tab[i];
}

static void
tab_del(struct proposegen *g, struct entry *e)
{
	size_t i = (size_t)(e - g->tab), j = i, k;

	for (;;) {
		j = (j + 1) & g->mask;
		if (g->tab[j].id == 0)
			break;
		k = tab_home(g, g->tab[j].id);
		/* j's entry may move to i unless its home is in (i, j]. */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			g->tab[i] = g->tab[j];
			i         = j;
		}
	}
	g->tab[i].id = 0;
	g->used--;
}

/* ---- init, fini --------------------------------------------------------- */

static int
pg_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct proposegen *g   = calloc(1, sizeof(*g));
	int64_t            n   = 0;
	size_t             cap = 64, i;

	if (g == NULL)
		return AGENTD_ENOMEM;
	g->w.ctx       = ctx;
	g->w.host      = host;
	g->w.use_hist2 = 1;
	host->setting_int(ctx, "outstanding", &n);
	if (n < 1 || n > OUTSTANDING_MAX) {
		host->log(ctx, AGENTD_LOG_ERROR, "outstanding = %lld: 1 to %d",
		    (long long)n, OUTSTANDING_MAX);
		free(g);
		return AGENTD_ECONFIG;
	}
	while (cap < 4 * (size_t)n)
		cap *= 2;
	g->tab  = calloc(cap, sizeof(*g->tab));
	g->mask = cap - 1;
	if (g->tab == NULL
	    || genwin_pool_init(&g->pool, (size_t)n, sizeof(struct slot))
	        != 0) {
		free(g->tab);
		free(g);
		return AGENTD_ENOMEM;
	}
	for (i = 0; i < g->pool.n; i++)
		((struct slot *)genwin_slot(&g->pool, i))->g = g;
	*state = g;
	return 0;
}

static void
pg_fini(void *state)
{
	struct proposegen *g = state;

	genwin_pool_free(&g->pool);
	free(g->tab);
	free(g);
}

/* ---- the window: LOW proposals in flight ------------------------------ */

static void proposed(void *arg, int status, const char *decision_id);

static int
propose(
    struct proposegen *g, const char *type, agentd_propose_fn cb, void *arg)
{
	unsigned char          params[AUDITREC_DETAIL_LEN];
	struct agentd_proposal p;

	memset(&p, 0, sizeof(p));
	p.type       = type;
	p.title      = auditrec_summary();
	p.reasoning  = "bench";
	p.amount     = 1;
	p.confidence = 0.9;
	p.params     = params;
	p.params_len = auditrec_detail(params, ++g->seq);
	return g->w.host->propose_async(g->w.ctx, &p, cb, arg);
}

/* Propose in slot s; non-zero when the host refused it at once. */
static int
issue(struct proposegen *g, struct slot *s)
{
	s->t0    = genwin_now_us();
	s->t_ack = 0;
	return propose(g, PROPOSEGEN_LOW, proposed, s);
}

/* Until the window ends, put every free slot to work. */
static void
fill(struct proposegen *g)
{
	struct slot *s;

	while (g->w.req != NULL && (s = genwin_peek(&g->pool)) != NULL
	    && genwin_now_us() < g->w.until) {
		if (issue(g, s) != 0) {
			g->w.errors++; /* on_tick tries again */
			return;
		}
		genwin_take(&g->pool);
	}
}

/* Slot s's proposal is over (its event came at t1, or it failed): count
 * it, propose the next in its place until the window ends. */
static void
done(struct proposegen *g, struct slot *s, int ok, int64_t t1)
{
	if (g->w.req == NULL) { /* after the window: nobody counts it */
		genwin_release(&g->pool, s);
		return;
	}
	if (!ok) {
		g->w.errors++;
	} else {
		genwin_count(&g->w, s->t0, t1);
		genwin_count2(&g->w, s->t0, s->t_ack);
	}
	if (genwin_now_us() >= g->w.until) {
		genwin_release(&g->pool, s);
		genwin_finish(&g->w);
	} else if (issue(g, s) != 0) {
		g->w.errors++;
		genwin_release(&g->pool, s);
	}
}

/* agentd committed slot s's proposal (or refused it). */
static void
proposed(void *arg, int status, const char *decision_id)
{
	struct slot       *s = arg;
	struct proposegen *g = s->g;
	struct entry      *e;
	uint64_t           id;

	s->t_ack = genwin_now_us();
	if (status != 0 || (id = strtoull(decision_id, NULL, 10)) == 0) {
		done(g, s, 0, s->t_ack);
		return;
	}
	if ((e = tab_find(g, id)) != NULL && e->slot == NULL) {
		/* Its event came first. */
		int64_t t1 = e->t_event;
		int     ok = e->approved;

		tab_del(g, e);
		done(g, s, ok, t1);
	} else if (e == NULL && (e = tab_add(g, id)) != NULL) {
		e->slot = s;
	} else {
		done(g, s, 0, s->t_ack); /* cannot wait for it */
	}
}

static int
approved(const void *body, size_t len)
{
	agentd_doc *doc;
	char        outcome[16] = "";

	if (agentd_parse(body, len, &doc) != 0)
		return 0;
	agentd_get_strcpy(agentd_map_get(agentd_doc_root(doc), "outcome"),
	    outcome, sizeof(outcome));
	agentd_doc_free(doc);
	return strcmp(outcome, "approved") == 0;
}

static void
pg_event(void *state, const char *topic, const void *body, size_t len)
{
	struct proposegen *g  = state;
	int64_t            t1 = genwin_now_us();
	struct entry      *e;
	uint64_t           id;
	int                ok;

	if (strncmp(topic, "decision.", 9) != 0
	    || (id = strtoull(topic + 9, NULL, 10)) == 0)
		return;
	ok = approved(body, len);
	if ((e = tab_find(g, id)) != NULL && e->slot != NULL) {
		struct slot *s = e->slot;

		tab_del(g, e);
		done(g, s, ok, t1);
	} else if (e == NULL && (e = tab_add(g, id)) != NULL) {
		/* Before its callback (LOW), or not a proposal of this
		 * instance's window. */
		e->t_event  = t1;
		e->approved = ok;
	} else {
		g->strays++;
	}
}

static void
pg_tick(void *state)
{
	struct proposegen *g = state;

	if (g->w.req == NULL)
		return;
	if (genwin_now_us() >= g->w.until)
		genwin_finish(&g->w);
	else
		fill(g);
}

/* ---- hold: HIGH proposals left pending --------------------------------- */

static void
hold_reply(struct proposegen *g)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "ok");
	agentd_write_int(w, g->hold_ok);
	agentd_write_str(w, "errors");
	agentd_write_int(w, g->hold_err);
	agentd_write_str(w, "error");
	agentd_write_str(
	    w, g->hold_first != 0 ? agentd_errname(g->hold_first) : "");
	p = agentd_writer_data(w, &len);
	g->w.host->reply(g->w.ctx, g->hold_req, p, len);
	agentd_writer_free(w);
	g->hold_req = NULL;
}

static void
hold_failed(struct proposegen *g, int status)
{
	g->hold_err++;
	if (g->hold_first == 0)
		g->hold_first = status;
}

static void
held(void *arg, int status, const char *decision_id)
{
	struct proposegen *g = arg;

	(void)decision_id;
	if (status != 0)
		hold_failed(g, status);
	else
		g->hold_ok++;
	if (g->hold_req != NULL && g->hold_ok + g->hold_err == g->hold_n)
		hold_reply(g);
}

static int
op_hold(struct proposegen *g, agentd_request *req, const agentd_value *root)
{
	int64_t i, n = genwin_int(root, "n");
	int     rv;

	if (g->hold_req != NULL)
		return AGENTD_EBUSY;
	if (n < 1 || n > OUTSTANDING_MAX)
		return AGENTD_EINVAL;
	g->hold_req   = req;
	g->hold_n     = n;
	g->hold_ok    = 0;
	g->hold_err   = 0;
	g->hold_first = 0;
	for (i = 0; i < n; i++)
		if ((rv = propose(g, PROPOSEGEN_HOLD, held, g)) != 0)
			hold_failed(g, rv);
	/* Callbacks run only after this returns. */
	if (g->hold_err == n)
		hold_reply(g);
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static int
pg_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct proposegen *g = state;
	agentd_doc        *doc;
	char               op[16];
	int                rv;

	if (!AGENTD_HOST_HAS(g->w.host, propose_async))
		return AGENTD_ENOTSUP;
	if (genwin_parse(body, len, &doc, op, sizeof(op)) != 0)
		return AGENTD_EINVAL;
	if (strcmp(op, "hold") == 0) {
		rv = op_hold(g, req, agentd_doc_root(doc));
	} else if (strcmp(op, "propose") != 0) {
		rv = AGENTD_EINVAL;
	} else if ((rv = genwin_open(&g->w, req, agentd_doc_root(doc))) == 0) {
		fill(g); /* answered later, from done or pg_tick */
	}
	agentd_doc_free(doc);
	return rv;
}

AGENTD_PLUGIN(.name = "proposegen", .version = "0.1.0",
    .description = "policy-gate load generator (bench/agentd_policy)",
    .settings = proposegen_settings, .init = pg_init, .on_request = pg_request,
    .on_event = pg_event, .on_tick = pg_tick, .tick_ms = TICK_MS,
    .fini = pg_fini);
