/*
 * run.c - the run state machine.
 *
 * A run is RUNNING in one of three phases (READY to enter step cur,
 * CALLING it, waiting in BACKOFF) until it is DONE, FAILED or CANCELLED.
 * Every transition is written to state in one batch (run/ID, sum/ID and,
 * the first and last time, active/ID and key/...) before anything follows
 * from it, then audited as flow.*: a step is called only once the record
 * saying so is on disk, so a resumed run knows exactly what was in
 * flight.  See doc/workflows.md for the record's fields.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"

int64_t
flow_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
flow_run_state_name(enum flow_run_state s)
{
	static const char *names[]
	    = { "running", "done", "failed", "cancelled" };

	return names[s];
}

static const char *phase_names[] = { "ready", "calling", "backoff",
	"proposing", "approval", "waiting", "group" };
static const char *br_names[]
    = { "calling", "backoff", "done", "failed", "cancelled" };

static void
blob_set(struct flow_blob *b, const void *p, size_t len)
{
	free(b->p);
	b->p   = NULL;
	b->len = 0;
	if (p == NULL)
		return;
	b->p = malloc(len > 0 ? len : 1);
	if (b->p == NULL)
		abort();
	memcpy(b->p, p, len);
	b->len = len;
}

static void
blob_writer(struct flow_blob *b, agentd_writer *w)
{
	const void *p;
	size_t      len;

	p = agentd_writer_data(w, &len);
	blob_set(b, p, len);
}

/* ---- the record ----------------------------------------------------- */

static void
write_blob(agentd_writer *w, const struct flow_blob *b)
{
	if (b->p == NULL || agentd_write_raw(w, b->p, b->len) != 0)
		agentd_write_nil(w);
}

static void
write_str_or_nil(agentd_writer *w, const char *s)
{
	if (s != NULL)
		agentd_write_str(w, s);
	else
		agentd_write_nil(w);
}

static void
step_key(const struct flow_run *r, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%d", r->id, r->def->steps[r->cur].name,
	    r->iters[r->cur]);
}

/* A parallel group's branches as the record keeps them, or nil. */
static void
write_branches(const struct flow_run *r, agentd_writer *w)
{
	const struct flow_step *st;
	char                    key[200];

	if (r->br == NULL || r->cur < 0) {
		agentd_write_nil(w);
		return;
	}
	st = &r->def->steps[r->cur];
	agentd_write_array(w, (uint32_t)st->nbranches);
	for (size_t i = 0; i < st->nbranches; i++) {
		const struct flow_brun *b = &r->br[i];

		snprintf(key, sizeof(key), "%s/%s/%d/%s", r->id, st->name,
		    r->iters[r->cur], st->branches[i].name);
		agentd_write_map(w, 8);
		agentd_write_str(w, "branch");
		agentd_write_str(w, st->branches[i].name);
		agentd_write_str(w, "state");
		agentd_write_str(w, br_names[b->state]);
		agentd_write_str(w, "attempts");
		agentd_write_int(w, b->attempt);
		agentd_write_str(w, "due_ms");
		agentd_write_int(w, b->due_ms);
		agentd_write_str(w, "input");
		write_blob(w, &b->input);
		agentd_write_str(w, "output");
		write_blob(w, &b->output);
		agentd_write_str(w, "error");
		write_str_or_nil(w, b->error);
		agentd_write_str(w, "idempotency_key");
		agentd_write_str(w, key);
	}
}

void
flow_run_encode(const struct flow_run *r, agentd_writer *w)
{
	const struct flow_def *d    = r->def;
	uint32_t               nout = 0;
	char                   key[128];

	agentd_write_map(w, 17);
	agentd_write_str(w, "id");
	agentd_write_str(w, r->id);
	agentd_write_str(w, "workflow");
	agentd_write_str(w, d->name);
	agentd_write_str(w, "version");
	agentd_write_str(w, d->version);
	agentd_write_str(w, "state");
	agentd_write_str(w, flow_run_state_name(r->state));
	agentd_write_str(w, "phase");
	agentd_write_str(w, phase_names[r->phase]);
	agentd_write_str(w, "key");
	write_str_or_nil(w, r->key);
	agentd_write_str(w, "dry_run");
	agentd_write_bool(w, r->dry);
	agentd_write_str(w, "created_ms");
	agentd_write_int(w, r->created_ms);
	agentd_write_str(w, "updated_ms");
	agentd_write_int(w, r->updated_ms);
	agentd_write_str(w, "input");
	write_blob(w, &r->input);
	agentd_write_str(w, "step");
	write_str_or_nil(w, r->cur >= 0 ? d->steps[r->cur].name : NULL);
	agentd_write_str(w, "due_ms");
	agentd_write_int(w, r->due_ms);
	/* The entry of cur in progress: what a resumed run calls again. */
	agentd_write_str(w, "current");
	if (r->cur >= 0 && r->phase != PH_READY) {
		step_key(r, key, sizeof(key));
		agentd_write_map(w, 7);
		agentd_write_str(w, "decision");
		write_str_or_nil(
		    w, r->decision[0] != '\0' ? r->decision : NULL);
		agentd_write_str(w, "branches");
		write_branches(r, w);
		agentd_write_str(w, "iteration");
		agentd_write_int(w, r->iters[r->cur]);
		agentd_write_str(w, "attempts");
		agentd_write_int(w, r->attempt);
		agentd_write_str(w, "input");
		write_blob(w, &r->cur_input);
		agentd_write_str(w, "idempotency_key");
		agentd_write_str(w, key);
		agentd_write_str(w, "started_ms");
		agentd_write_int(w, r->started_ms);
	} else
		agentd_write_nil(w);
	agentd_write_str(w, "iterations");
	agentd_write_map(w, (uint32_t)d->nsteps);
	for (size_t i = 0; i < d->nsteps; i++) {
		agentd_write_str(w, d->steps[i].name);
		agentd_write_int(w, r->iters[i]);
	}
	agentd_write_str(w, "outputs");
	for (size_t i = 0; i < d->nsteps; i++)
		nout += r->outputs[i].p != NULL;
	agentd_write_map(w, nout);
	for (size_t i = 0; i < d->nsteps; i++)
		if (r->outputs[i].p != NULL) {
			agentd_write_str(w, d->steps[i].output);
			write_blob(w, &r->outputs[i]);
		}
	agentd_write_str(w, "steps");
	agentd_write_array(w, (uint32_t)r->nhist);
	for (size_t i = 0; i < r->nhist; i++)
		write_blob(w, &r->hist[i]);
	agentd_write_str(w, "error");
	write_str_or_nil(w, r->error);
}

/* One finished entry of step cur: done, failed, skipped or dry. */
static void
hist_add(struct flow_run *r, const char *state, const struct flow_blob *out,
    const char *error)
{
	agentd_writer *w;
	char           key[128];

	agentd_writer_new(&w);
	step_key(r, key, sizeof(key));
	agentd_write_map(w, 12);
	agentd_write_str(w, "decision");
	write_blob(w, &r->decided);
	agentd_write_str(w, "branches");
	write_branches(r, w);
	agentd_write_str(w, "step");
	agentd_write_str(w, r->def->steps[r->cur].name);
	agentd_write_str(w, "iteration");
	agentd_write_int(w, r->iters[r->cur]);
	agentd_write_str(w, "state");
	agentd_write_str(w, state);
	agentd_write_str(w, "attempts");
	agentd_write_int(w, r->attempt);
	agentd_write_str(w, "input");
	write_blob(w, &r->cur_input);
	agentd_write_str(w, "output");
	if (out != NULL)
		write_blob(w, out);
	else
		agentd_write_nil(w);
	agentd_write_str(w, "error");
	write_str_or_nil(w, error);
	agentd_write_str(w, "idempotency_key");
	agentd_write_str(w, key);
	agentd_write_str(w, "started_ms");
	agentd_write_int(w, r->started_ms);
	agentd_write_str(w, "ended_ms");
	agentd_write_int(w, flow_now_ms());
	r->hist = realloc(r->hist, (r->nhist + 1) * sizeof(*r->hist));
	if (r->hist == NULL)
		abort();
	r->hist[r->nhist] = (struct flow_blob) { 0 };
	blob_writer(&r->hist[r->nhist++], w);
	agentd_writer_free(w);
}

/* ---- checkpoints and audit -------------------------------------------- */

/*
 * Write r's record: synchronously (cb NULL), or with state_batch_async,
 * cb(arg, status) running once the batch is committed (0 returned then
 * only says it was queued).  The ops are copied by the host either way.
 */
static int
checkpoint_write(struct flow *f, struct flow_run *r,
    void (*cb)(void *arg, int status), void      *arg)
{
	struct agentd_state_op ops[6];
	char                   k[6][512];
	agentd_writer         *rec, *sum;
	size_t                 n = 0;
	const void            *p;
	size_t                 len;
	int                    rv, finished = r->state != RUN_RUNNING;
	static const uint8_t   nil = 0xc0;

	f->dirty      = 1; /* the next tick looks at the runs again */
	r->updated_ms = flow_now_ms();
	agentd_writer_new(&rec);
	agentd_writer_new(&sum);
	flow_run_encode(r, rec);
	agentd_write_map(sum, 5);
	agentd_write_str(sum, "workflow");
	agentd_write_str(sum, r->def->name);
	agentd_write_str(sum, "version");
	agentd_write_str(sum, r->def->version);
	agentd_write_str(sum, "state");
	agentd_write_str(sum, flow_run_state_name(r->state));
	agentd_write_str(sum, "created_ms");
	agentd_write_int(sum, r->created_ms);
	agentd_write_str(sum, "updated_ms");
	agentd_write_int(sum, r->updated_ms);

	snprintf(k[n], sizeof(k[n]), "run/%s", r->id);
	p      = agentd_writer_data(rec, &len);
	ops[n] = (struct agentd_state_op) { k[n], strlen(k[n]), p, len };
	n++;
	snprintf(k[n], sizeof(k[n]), "sum/%s", r->id);
	p      = agentd_writer_data(sum, &len);
	ops[n] = (struct agentd_state_op) { k[n], strlen(k[n]), p, len };
	n++;
	snprintf(k[n], sizeof(k[n]), "active/%s", r->id);
	if (finished || !r->persisted) {
		ops[n] = (struct agentd_state_op) { k[n], strlen(k[n]),
			finished ? NULL : &nil, finished ? 0 : 1 };
		n++;
	}
	if (!r->persisted && r->key != NULL) {
		snprintf(
		    k[n], sizeof(k[n]), "key/%s/%s", r->def->name, r->key);
		ops[n] = (struct agentd_state_op) { k[n], strlen(k[n]), r->id,
			strlen(r->id) };
		n++;
	}
	if (!r->def->stored) {
		agentd_writer_reset(f->w);
		agentd_write_str(f->w, r->def->text);
		snprintf(k[n], sizeof(k[n]), "def/%s/%s", r->def->name,
		    r->def->version);
		p = agentd_writer_data(f->w, &len);
		ops[n]
		    = (struct agentd_state_op) { k[n], strlen(k[n]), p, len };
		n++;
	}
	rv = cb != NULL ? f->host->state_batch_async(f->ctx, ops, n, cb, arg)
	                : f->host->state_batch(f->ctx, ops, n);
	agentd_writer_free(rec);
	agentd_writer_free(sum);
	/* Queued counts as written for what the next checkpoints carry:
	 * the host commits an instance's batches in order, and a batch that
	 * fails says so in its cb (checkpoint_lost). */
	if (rv == 0) {
		r->persisted   = 1;
		r->def->stored = 1;
	} else
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "run %s: checkpoint failed: %s", r->id,
		    agentd_strerror(rv));
	return rv;
}

static int
checkpoint(struct flow *f, struct flow_run *r)
{
	return checkpoint_write(f, r, NULL, NULL);
}

/* An asynchronous checkpoint of r failed: the next one writes all. */
static void
checkpoint_lost(struct flow *f, struct flow_run *r, int status)
{
	r->persisted   = 0;
	r->def->stored = 0;
	f->host->log(f->ctx, AGENTD_LOG_ERROR, "run %s: checkpoint failed: %s",
	    r->id, agentd_strerror(status));
}

/* A flow.* record: the run, its version, the step and what happened. */
static void
record(struct flow *f, const struct flow_run *r, const char *kind,
    const char *what)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;
	char           summary[512];
	const char    *step = r->cur >= 0 ? r->def->steps[r->cur].name : NULL;

	agentd_writer_new(&w);
	agentd_write_map(w, 7);
	agentd_write_str(w, "run");
	agentd_write_str(w, r->id);
	agentd_write_str(w, "workflow");
	agentd_write_str(w, r->def->name);
	agentd_write_str(w, "version");
	agentd_write_str(w, r->def->version);
	agentd_write_str(w, "step");
	write_str_or_nil(w, step);
	agentd_write_str(w, "iteration");
	agentd_write_int(w, r->cur >= 0 ? r->iters[r->cur] : 0);
	agentd_write_str(w, "attempt");
	agentd_write_int(w, r->attempt);
	agentd_write_str(w, "error");
	write_str_or_nil(w, r->error);
	p = agentd_writer_data(w, &len);
	snprintf(summary, sizeof(summary), "run %s of %s: %s%s%s", r->id,
	    r->def->name, step != NULL ? step : "", step != NULL ? " " : "",
	    what);
	if (AGENTD_HOST_HAS(f->host, audit_async))
		f->host->audit_async(
		    f->ctx, kind, summary, p, len, NULL, NULL);
	else
		f->host->audit(f->ctx, kind, summary, p, len);
	/* The same record as an event, for whoever watches runs (notify's
	 * events, a dashboard): best effort, an event is answered to no one
	 * and a refused topic is agentd's to log. */
	if (f->events)
		(void)f->host->publish(f->ctx, kind, p, len);
	agentd_writer_free(w);
}

/* ---- transitions ------------------------------------------------------ */

static void
scope_of(const struct flow_run *r, struct flow_scope *s, const void **outs,
    size_t *lens)
{
	for (size_t i = 0; i < r->def->nsteps; i++) {
		outs[i] = r->outputs[i].p;
		lens[i] = r->outputs[i].len;
	}
	*s = (struct flow_scope) { r->input.p, r->input.len, r->def, outs,
		lens };
}

/* Leave the in-memory table: the record in state is what remains. */
static void
run_drop(struct flow *f, struct flow_run *r)
{
	for (size_t i = 0; i < f->nruns; i++)
		if (f->runs[i] == r) {
			f->runs[i] = f->runs[--f->nruns];
			break;
		}
	flow_run_free(f, r);
}

static const char *end_kinds[]
    = { "", "flow.run.done", "flow.run.failed", "flow.run.cancelled" };

/* A run's end checkpoint on its way. */
struct ending {
	struct flow     *f;
	struct flow_run *r;
};

/* The end is committed, then audited (or it failed: the record in state
 * is then the one before, and a new instance resumes the run from it,
 * as when a synchronous end fails): r leaves memory, where status read
 * it until now. */
static void
on_ended(void *arg, int status)
{
	struct ending   *e = arg;
	struct flow_run *r = e->r;

	if (status != 0)
		e->f->host->log(e->f->ctx, AGENTD_LOG_ERROR,
		    "run %s: checkpoint failed: %s", r->id,
		    agentd_strerror(status));
	if (r->acked) /* else nobody was told of it: its start failed */
		record(e->f, r, end_kinds[r->state],
		    flow_run_state_name(r->state));
	run_drop(e->f, r);
	free(e);
}

/*
 * The end.  With state_batch_async the run stays in memory, no longer
 * running (ticks, answers and cancel pass it by), until its record is
 * committed, so that a status read between sees the end.
 */
static void
finish(struct flow *f, struct flow_run *r, enum flow_run_state st,
    const char *error)
{
	struct ending *e;

	r->state = st;
	if (error != NULL && r->error == NULL) {
		r->error = strdup(error);
		if (r->error == NULL)
			abort();
	}
	r->call_seq = 0;
	if (AGENTD_HOST_HAS(f->host, state_batch_async)) {
		if ((e = malloc(sizeof(*e))) == NULL)
			abort();
		*e = (struct ending) { f, r };
		if (checkpoint_write(f, r, on_ended, e) == 0)
			return;
		free(e);
	} else
		checkpoint(f, r);
	record(f, r, end_kinds[st], flow_run_state_name(st));
	run_drop(f, r);
}

/* Where step cur goes once done: the first goto whose when holds. */
static int
next_of(struct flow_run *r, int *to, char *err, size_t errlen)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	struct flow_scope       s;
	const void             *outs[r->def->nsteps];
	size_t                  lens[r->def->nsteps];
	int                     truth, rv;

	scope_of(r, &s, outs, lens);
	for (size_t k = 0; k < st->ngotos; k++) {
		rv = flow_when(&s, st->gotos[k].when, &truth, err, errlen);
		if (rv != 0)
			return rv;
		if (truth) {
			*to = st->gotos[k].to;
			return 0;
		}
	}
	*to = st->next;
	return 0;
}

static void on_reply(void *arg, int status, const void *reply, size_t len);
static void on_reply_status(struct flow *f, struct flow_run *r, int status,
    const char *msg, const void *reply, size_t len);
static int  on_branch_status(struct flow *f, struct flow_run *r, size_t b,
     int status, const char *msg, const void *reply, size_t len);
static void on_proposed_status(
    struct flow *f, struct flow_run *r, int status, const char *id);

/* A call or a proposal in flight; on f->pending until its answer comes or
 * fini. */
struct pending {
	struct flow    *f;
	struct pending *prev, *next;
	char            id[48];
	uint64_t        seq;
	int             branch; /* -1: the step's own call */
	/* While its capability's agent is being found: the request, owned
	 * (freed with the pending), and the call's deadline. */
	void  *body;
	size_t len;
	int    timeout_ms;
	char   cap[AGENTD_NAME_MAX + 1];
	int    again; /* a checkpoint before a call: the call is a resume */
};

static void
pending_unlink(struct pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->f->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

static void
pending_link(struct flow *f, struct pending *p)
{
	p->prev = NULL;
	p->next = f->pending;
	if (p->next != NULL)
		p->next->prev = p;
	f->pending = p;
}

static struct pending *
pending_new(struct flow *f, struct flow_run *r, uint64_t seq, int branch)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		abort();
	p->f      = f;
	p->seq    = seq;
	p->branch = branch;
	snprintf(p->id, sizeof(p->id), "%s", r->id);
	return p;
}

void
flow_pending_free(struct flow *f)
{
	while (f->pending != NULL) {
		struct pending *p = f->pending;

		pending_unlink(p);
		free(p->body);
		free(p);
	}
}

static void pending_answer(struct pending *p, int status, const char *msg,
    const void *reply, size_t len);

/* The run still waiting for p's answer, or NULL: cancelled, moved on, or
 * a call from before a restart, that nobody waits for. */
static struct flow_run *
pending_run(const struct pending *p)
{
	struct flow_run *r = flow_run_find(p->f, p->id);

	if (r == NULL || r->state != RUN_RUNNING)
		return NULL;
	if (p->branch < 0 && r->phase == PH_CALLING && r->call_seq == p->seq)
		return r;
	if (p->branch >= 0 && r->phase == PH_GROUP && r->br != NULL
	    && r->br[p->branch].state == BR_CALLING
	    && r->br[p->branch].seq == p->seq)
		return r;
	return NULL;
}

/* find_agents' answer for a step or branch with capability = "NAME": the
 * call goes to the first of the sorted names.  Nobody having it is the
 * call's ENOENT, as an agent that does not exist would be. */
static void
on_found(void *arg, int status, const char *const *names, size_t n)
{
	struct pending *p = arg;
	char            msg[160];
	int             rv;

	if (pending_run(p) == NULL) { /* nobody waits: call no one */
		pending_answer(p, AGENTD_ECLOSED, NULL, NULL, 0);
		return;
	}
	if (status != 0) {
		snprintf(msg, sizeof(msg),
		    "agents with capability \"%s\" could not be found",
		    p->cap);
		pending_answer(p, status, msg, NULL, 0);
		return;
	}
	if (n == 0) {
		snprintf(msg, sizeof(msg), "no agent has capability \"%s\"",
		    p->cap);
		pending_answer(p, AGENTD_ENOENT, msg, NULL, 0);
		return;
	}
	rv = p->f->host->call_async(
	    p->f->ctx, names[0], p->body, p->len, p->timeout_ms, on_reply, p);
	free(p->body);
	p->body = NULL;
	if (rv != 0)
		pending_answer(p, rv,
		    AGENTD_HOST_HAS(p->f->host, call_error)
		        ? p->f->host->call_error(p->f->ctx)
		        : NULL,
		    NULL, 0);
}

/* Send body to cs's agent, or to the one found by its capability; p is
 * on f->pending while it waits.  0, or the error of the send. */
static int
send_to(struct flow *f, const struct flow_step *cs, struct pending *p,
    const void *body, size_t len)
{
	int rv;

	if (cs->capability == NULL) {
		rv = f->host->call_async(f->ctx, cs->agent, body, len,
		    (int)cs->timeout_ms, on_reply, p);
	} else if (!AGENTD_HOST_HAS(f->host, find_agents)) {
		rv = AGENTD_ENOTSUP; /* an agentd before ABI 1.5 */
	} else {
		if ((p->body = malloc(len > 0 ? len : 1)) == NULL)
			abort();
		memcpy(p->body, body, len);
		p->len        = len;
		p->timeout_ms = (int)cs->timeout_ms;
		snprintf(p->cap, sizeof(p->cap), "%s", cs->capability);
		rv = f->host->find_agents(f->ctx, cs->capability, on_found, p);
		if (rv != 0) {
			free(p->body);
			p->body = NULL;
		}
	}
	if (rv == 0)
		pending_link(f, p);
	else
		free(p);
	return rv;
}

/* Send one call: the built input plus the flow's own two fields. */
static int
send_call(struct flow *f, struct flow_run *r, const struct flow_step *cs,
    const struct flow_blob *input, const char *key, int attempt, uint64_t seq,
    int branch)
{
	struct pending     *p;
	agentd_writer      *w;
	agentd_doc         *doc = NULL;
	const agentd_value *in;
	const void         *body;
	size_t              len;
	int                 rv;

	agentd_writer_new(&w);
	agentd_parse(input->p, input->len, &doc);
	in = agentd_doc_root(doc);
	agentd_write_map(w, (uint32_t)agentd_len(in) + 2);
	for (size_t i = 0; i < agentd_len(in); i++) {
		agentd_write_value(w, agentd_map_key_at(in, i));
		agentd_write_value(w, agentd_map_value_at(in, i));
	}
	agentd_doc_free(doc);
	agentd_write_str(w, "idempotency_key");
	agentd_write_str(w, key);
	agentd_write_str(w, "flow");
	agentd_write_map(w, branch >= 0 ? 6 : 5);
	agentd_write_str(w, "run");
	agentd_write_str(w, r->id);
	agentd_write_str(w, "workflow");
	agentd_write_str(w, r->def->name);
	agentd_write_str(w, "step");
	agentd_write_str(w, r->def->steps[r->cur].name);
	if (branch >= 0) {
		agentd_write_str(w, "branch");
		agentd_write_str(w, cs->name);
	}
	agentd_write_str(w, "attempt");
	agentd_write_int(w, attempt);
	agentd_write_str(w, "dry_run");
	agentd_write_bool(w, r->dry);
	body = agentd_writer_data(w, &len);
	p    = pending_new(f, r, seq, branch);
	rv   = send_to(f, cs, p, body, len);
	agentd_writer_free(w);
	return rv;
}

/* The checkpoint before a call did not reach the disk: not called.
 * Try again after a backoff. */
static void
call_later(struct flow_run *r)
{
	r->phase  = PH_BACKOFF;
	r->due_ms = flow_now_ms() + 1000;
	r->redo   = 1;
}

/* Step cur's checkpoint is on disk: call it. */
static void
call_send(struct flow *f, struct flow_run *r, int again)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	char                    key[128];
	int                     rv;

	record(f, r, again ? "flow.step.resumed" : "flow.step.started",
	    again ? "called again" : "called");
	step_key(r, key, sizeof(key));
	rv = send_call(
	    f, r, st, &r->cur_input, key, r->attempt, r->call_seq, -1);
	if (rv != 0)
		on_reply_status(f, r, rv, NULL, NULL, 0);
}

/* state_batch_async's answer for the checkpoint before a call: the call
 * goes only now, if the run still waits for it (not cancelled, not moved
 * on); p is freed. */
static void
on_checkpointed(void *arg, int status)
{
	struct pending  *p = arg;
	struct flow_run *r = pending_run(p);

	if (r != NULL && status != 0) {
		checkpoint_lost(p->f, r, status);
		call_later(r);
		p->f->dirty = 1;
	} else if (r != NULL)
		call_send(p->f, r, p->again);
	free(p);
}

/*
 * Call step cur (again).  The checkpoint saying so comes first: the call
 * leaves once it is on disk, from on_checkpointed when the host commits
 * asynchronously (many runs' checkpoints then share a commit).
 */
static void
call_step(struct flow *f, struct flow_run *r)
{
	struct pending *p;
	int             again = r->redo;

	if (!r->redo)
		r->attempt++;
	r->redo     = 0;
	r->phase    = PH_CALLING;
	r->call_seq = ++f->seq;
	if (AGENTD_HOST_HAS(f->host, state_batch_async)) {
		p        = pending_new(f, r, r->call_seq, -1);
		p->again = again;
		if (checkpoint_write(f, r, on_checkpointed, p) != 0) {
			free(p);
			call_later(r);
		}
		return;
	}
	if (checkpoint(f, r) != 0) {
		call_later(r);
		return;
	}
	call_send(f, r, again);
}

/* The delay before attempt n + 1: backoff doubled per attempt, capped,
 * spread by +-jitter. */
static int64_t
retry_delay(struct flow *f, const struct flow_step *st, int attempt)
{
	double d = (double)st->backoff_ms, u;

	for (int i = 1; i < attempt && d < (double)st->backoff_max_ms; i++)
		d *= 2;
	if (d > (double)st->backoff_max_ms)
		d = (double)st->backoff_max_ms;
	u = (double)rand_r(&f->rand) / RAND_MAX; /* 0..1 */
	d *= 1 + st->jitter * (2 * u - 1);
	return d < 0 ? 0 : (int64_t)d;
}

/* An error status (and a reply that cannot be an output) as text, with
 * the callee's message (msg, NULL or "": none) when it gave one; 0 when
 * the reply is an output. */
static int
reply_check(int status, const char *msg, const void *reply, size_t len,
    char *why, size_t whylen)
{
	agentd_doc *doc;

	if (status == 0 && (len == 0 || agentd_parse(reply, len, &doc) != 0))
		status = AGENTD_EPROTO; /* no output a path could read */
	else if (status == 0)
		agentd_doc_free(doc);
	if (status != 0)
		snprintf(why, whylen, "%s: %s", agentd_errname(status),
		    msg != NULL && *msg != '\0' ? msg
		                                : agentd_strerror(status));
	return status;
}

static int
retryable(const struct flow_step *cs, int status, int attempt)
{
	return status > 0 && status < 32
	    && (cs->no_retry & (1u << status)) == 0 && attempt < cs->attempts;
}

/* Step cur failed for good with why: the run fails. */
static void
step_failed(struct flow *f, struct flow_run *r, char *why, size_t whylen)
{
	const struct flow_step *st = &r->def->steps[r->cur];

	hist_add(r, "failed", NULL, why);
	snprintf(why + strlen(why), whylen - strlen(why),
	    " (step \"%s\", attempt %d of %d)", st->name, r->attempt,
	    st->attempts);
	record(f, r, "flow.step.failed", why);
	finish(f, r, RUN_FAILED, why);
}

/* Step cur failed with status: retried after a backoff, or the end. */
static void
step_error(
    struct flow *f, struct flow_run *r, int status, char *why, size_t whylen)
{
	const struct flow_step *st = &r->def->steps[r->cur];

	if (retryable(st, status, r->attempt)) {
		r->phase  = PH_BACKOFF;
		r->due_ms = flow_now_ms() + retry_delay(f, st, r->attempt);
		free(r->error);
		r->error = strdup(why);
		if (checkpoint(f, r) == 0)
			record(f, r, "flow.step.retry", why);
		free(r->error);
		r->error = NULL;
		return;
	}
	step_failed(f, r, why, whylen);
}

static void
branches_free(struct flow_run *r)
{
	const struct flow_step *st;

	if (r->br == NULL || r->cur < 0)
		return;
	st = &r->def->steps[r->cur];
	for (size_t i = 0; i < st->nbranches; i++) {
		free(r->br[i].input.p);
		free(r->br[i].output.p);
		free(r->br[i].error);
	}
	free(r->br);
	r->br = NULL;
}

/* Step cur is done with output out (taken): on to where it goes. */
static void
step_done(
    struct flow *f, struct flow_run *r, struct flow_blob out, const char *what)
{
	char why[FLOW_ERRLEN];
	int  to;

	free(r->outputs[r->cur].p);
	r->outputs[r->cur] = out;
	hist_add(r, "done", &out, NULL);
	record(f, r, "flow.step.done", what);
	blob_set(&r->decided, NULL, 0);
	r->decision[0] = '\0';
	branches_free(r);
	if (next_of(r, &to, why, sizeof(why)) != 0) {
		finish(f, r, RUN_FAILED, why);
		return;
	}
	r->cur   = to;
	r->phase = PH_READY;
	flow_run_advance(f, r);
}

static void
on_reply_status(struct flow *f, struct flow_run *r, int status,
    const char *msg, const void *reply, size_t len)
{
	struct flow_blob out = { 0 };
	char             why[FLOW_ERRLEN];

	r->call_seq = 0;
	if ((status = reply_check(status, msg, reply, len, why, sizeof(why)))
	    != 0) {
		step_error(f, r, status, why, sizeof(why));
		return;
	}
	blob_set(&out, reply, len);
	step_done(f, r, out, "answered");
}

static void
on_reply(void *arg, int status, const void *reply, size_t len)
{
	struct pending *p   = arg;
	const char     *msg = NULL;

	/* Why it failed, in the callee's (or agentd's) words: valid while
	 * this callback runs. */
	if (status != 0 && AGENTD_HOST_HAS(p->f->host, call_error))
		msg = p->f->host->call_error(p->f->ctx);
	pending_answer(p, status, msg, reply, len);
}

/* The end of a pending call, answered or failed: to its run, if it still
 * waits for it; p is freed. */
static void
pending_answer(struct pending *p, int status, const char *msg,
    const void *reply, size_t len)
{
	struct flow_run *r = pending_run(p);

	pending_unlink(p);
	if (r != NULL && p->branch < 0)
		on_reply_status(p->f, r, status, msg, reply, len);
	else if (r != NULL)
		on_branch_status(
		    p->f, r, (size_t)p->branch, status, msg, reply, len);
	free(p->body);
	free(p);
}

/* ---- approval steps ---------------------------------------------------- */

/* The value of one path or literal v: *out in *doc, which borrows from
 * *keep (the caller frees both). */
static int
eval(const struct flow_run *r, const char *v, agentd_writer **keep,
    agentd_doc **doc, const agentd_value **out, char *why, size_t whylen)
{
	struct flow_field fl = { "v", (char *)v, 0 };
	struct flow_scope s;
	const void       *outs[r->def->nsteps];
	size_t            lens[r->def->nsteps];
	agentd_writer    *w;
	const void       *p;
	size_t            len;
	int               rv;

	scope_of(r, &s, outs, lens);
	agentd_writer_new(&w);
	rv = flow_build_fields(&s, &fl, 1, w, 0, why, whylen);
	if (rv == 0) {
		p  = agentd_writer_data(w, &len);
		rv = agentd_parse(p, len, doc);
		if (rv == 0)
			*out = agentd_map_get(agentd_doc_root(*doc), "v");
	}
	*keep = w;
	return rv;
}

static void
on_proposed(void *arg, int status, const char *decision_id)
{
	struct pending  *p = arg;
	struct flow_run *r = flow_run_find(p->f, p->id);

	pending_unlink(p);
	if (r != NULL && r->phase == PH_PROPOSING && r->call_seq == p->seq)
		on_proposed_status(p->f, r, status, decision_id);
	free(p);
}

/* Propose step cur's approval (again): params are its built input. */
static void
propose_step(struct flow *f, struct flow_run *r)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	struct agentd_proposal  prop;
	struct pending         *p;
	char                    why[FLOW_ERRLEN], *id = NULL;
	double                  amount = 0;
	int                     rv, again = r->redo;

	if (st->ap_amount != NULL) {
		agentd_doc         *doc = NULL;
		agentd_writer      *keep;
		const agentd_value *v = NULL;

		rv = eval(r, st->ap_amount, &keep, &doc, &v, why, sizeof(why));
		if (rv == 0 && agentd_get_double(v, &amount) != 0) {
			int64_t i;

			if (agentd_get_int(v, &i) == 0)
				amount = (double)i;
			else {
				snprintf(why, sizeof(why),
				    "amount %s is not a number",
				    st->ap_amount);
				rv = AGENTD_EINVAL;
			}
		}
		agentd_doc_free(doc);
		agentd_writer_free(keep);
		if (rv != 0) {
			r->attempt = 1;
			step_failed(f, r, why, sizeof(why));
			return;
		}
	}
	if (!r->redo)
		r->attempt++;
	r->redo        = 0;
	r->phase       = PH_PROPOSING;
	r->call_seq    = ++f->seq;
	r->decision[0] = '\0';
	if (checkpoint(f, r) != 0) {
		r->phase  = PH_BACKOFF;
		r->due_ms = flow_now_ms() + 1000;
		r->redo   = 1;
		return;
	}
	record(f, r, again ? "flow.step.resumed" : "flow.step.started",
	    again ? "proposed again" : "proposed");
	prop = (struct agentd_proposal) { .type = st->ap_type,
		.title                          = st->ap_title,
		.reasoning                      = st->ap_reasoning,
		.amount                         = amount,
		.confidence                     = st->ap_confidence,
		.params                         = r->cur_input.p,
		.params_len                     = r->cur_input.len };
	if (AGENTD_HOST_HAS(f->host, propose_async)) {
		p  = pending_new(f, r, r->call_seq, -1);
		rv = f->host->propose_async(f->ctx, &prop, on_proposed, p);
		if (rv == 0) {
			pending_link(f, p);
			return;
		}
		free(p);
		on_proposed_status(f, r, rv, NULL);
		return;
	}
	rv = f->host->propose(f->ctx, &prop, &id);
	on_proposed_status(f, r, rv, id);
	if (id != NULL)
		f->host->free(id);
}

static void apply_outcome(
    struct flow *f, struct flow_run *r, const agentd_value *root);

static void
on_proposed_status(
    struct flow *f, struct flow_run *r, int status, const char *id)
{
	char why[FLOW_ERRLEN];

	r->call_seq = 0;
	if (status != 0) {
		snprintf(why, sizeof(why), "%s: %s (proposing)",
		    agentd_errname(status), agentd_strerror(status));
		step_error(f, r, status, why, sizeof(why));
		return;
	}
	snprintf(r->decision, sizeof(r->decision), "%s", id);
	r->phase = PH_APPROVAL;
	checkpoint(f, r);
	snprintf(why, sizeof(why), "waits on decision %s", id);
	record(f, r, "flow.step.proposed", why);
	/* A low decision's outcome may have come first. */
	for (unsigned i = 0; i < f->nearly; i++) {
		agentd_doc *doc;
		char        eid[32];

		if (agentd_parse(f->early[i].p, f->early[i].len, &doc) != 0)
			continue;
		if (agentd_get_strcpy(
		        agentd_map_get(agentd_doc_root(doc), "id"), eid,
		        sizeof(eid))
		        == 0
		    && strcmp(eid, id) == 0) {
			struct flow_blob b = f->early[i];

			f->early[i] = f->early[--f->nearly];
			apply_outcome(f, r, agentd_doc_root(doc));
			agentd_doc_free(doc);
			free(b.p);
			return;
		}
		agentd_doc_free(doc);
	}
}

/* decision.<id>'s outcome for run r, waiting on it. */
static void
apply_outcome(struct flow *f, struct flow_run *r, const agentd_value *root)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	char outcome[16] = "", by[128] = "", note[256] = "", why[FLOW_ERRLEN];
	const agentd_value *params = agentd_map_get(root, "params");
	agentd_writer      *w;
	int                 to;

	agentd_get_strcpy(
	    agentd_map_get(root, "outcome"), outcome, sizeof(outcome));
	agentd_get_strcpy(agentd_map_get(root, "by"), by, sizeof(by));
	agentd_get_strcpy(agentd_map_get(root, "note"), note, sizeof(note));
	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "id");
	agentd_write_str(w, r->decision);
	agentd_write_str(w, "outcome");
	agentd_write_str(w, outcome);
	agentd_write_str(w, "by");
	agentd_write_str(w, by);
	agentd_write_str(w, "note");
	agentd_write_str(w, note);
	blob_writer(&r->decided, w);
	if (strcmp(outcome, "approved") == 0) {
		struct flow_blob out = { 0 };

		agentd_writer_reset(w);
		if (params != NULL && agentd_type_of(params) == AGENTD_T_MAP)
			agentd_write_value(w, params);
		else
			agentd_write_map(w, 0);
		blob_writer(&out, w);
		agentd_writer_free(w);
		snprintf(why, sizeof(why), "approved by %s (decision %s)", by,
		    r->decision);
		step_done(f, r, out, why);
		return;
	}
	agentd_writer_free(w);
	if (strcmp(outcome, "rejected") == 0)
		snprintf(why, sizeof(why),
		    "step \"%s\": decision %s rejected by %s: %s", st->name,
		    r->decision, by, note);
	else
		snprintf(why, sizeof(why), "step \"%s\": decision %s %s",
		    st->name, r->decision, outcome[0] ? outcome : "expired");
	to = strcmp(outcome, "rejected") == 0 ? st->on_rejected
	                                      : st->on_expired;
	hist_add(r, strcmp(outcome, "rejected") == 0 ? "rejected" : "expired",
	    NULL, why);
	record(f, r,
	    strcmp(outcome, "rejected") == 0 ? "flow.step.rejected"
	                                     : "flow.step.expired",
	    why);
	blob_set(&r->decided, NULL, 0);
	r->decision[0] = '\0';
	if (to == FLOW_FAIL) {
		finish(f, r, RUN_FAILED, why);
		return;
	}
	r->cur   = to;
	r->phase = PH_READY;
	flow_run_advance(f, r);
}

/* An event decision.<id>: the run waiting on it goes on.  Delivered at
 * least once: a repeat finds no run waiting and is dropped. */
void
flow_run_decision(struct flow *f, const void *body, size_t len)
{
	agentd_doc *doc;
	char        id[32];
	int         proposing = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return;
	if (agentd_get_strcpy(
	        agentd_map_get(agentd_doc_root(doc), "id"), id, sizeof(id))
	    == 0) {
		for (size_t i = 0; i < f->nruns; i++) {
			struct flow_run *r = f->runs[i];

			if (r->state == RUN_RUNNING && r->phase == PH_APPROVAL
			    && strcmp(r->decision, id) == 0) {
				apply_outcome(f, r, agentd_doc_root(doc));
				agentd_doc_free(doc);
				return;
			}
			proposing |= r->phase == PH_PROPOSING;
		}
		/* Before propose_async's answer: kept until it comes. */
		if (proposing) {
			if (f->nearly
			    == sizeof(f->early) / sizeof(f->early[0])) {
				free(f->early[0].p);
				memmove(&f->early[0], &f->early[1],
				    (f->nearly - 1) * sizeof(f->early[0]));
				f->nearly--;
			}
			f->early[f->nearly] = (struct flow_blob) { 0 };
			blob_set(&f->early[f->nearly++], body, len);
		}
	}
	agentd_doc_free(doc);
}

/* ---- wait steps --------------------------------------------------------- */

static void
wait_step(struct flow *f, struct flow_run *r)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	char                    why[FLOW_ERRLEN];
	int64_t                 due = flow_now_ms() + st->wait_ms;

	r->attempt = 1;
	if (st->until != NULL && st->until[0] != '$')
		due = st->until_ms;
	else if (st->until != NULL) {
		agentd_doc         *doc = NULL;
		agentd_writer      *keep;
		const agentd_value *v = NULL;
		const char         *s;
		size_t              n;
		char                buf[64];
		int                 rv;

		rv = eval(r, st->until, &keep, &doc, &v, why, sizeof(why));
		if (rv == 0 && agentd_get_int(v, &due) != 0) {
			if (agentd_get_str(v, &s, &n) != 0 || n >= sizeof(buf)
			    || (memcpy(buf, s, n), buf[n] = '\0',
			        flow_time(buf, &due) != 0)) {
				snprintf(why, sizeof(why),
				    "until %s is not a time", st->until);
				rv = AGENTD_EINVAL;
			}
		}
		agentd_doc_free(doc);
		agentd_writer_free(keep);
		if (rv != 0) {
			step_failed(f, r, why, sizeof(why));
			return;
		}
	}
	r->due_ms = due;
	r->phase  = PH_WAITING;
	checkpoint(f, r);
	snprintf(why, sizeof(why), "waits until %lld ms", (long long)due);
	record(f, r, "flow.step.waiting", why);
}

static void
wait_over(struct flow *f, struct flow_run *r)
{
	struct flow_blob out = { 0 };
	agentd_writer   *w;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "due_ms");
	agentd_write_int(w, r->due_ms);
	agentd_write_str(w, "woke_ms");
	agentd_write_int(w, flow_now_ms());
	blob_writer(&out, w);
	agentd_writer_free(w);
	step_done(f, r, out, "waited");
}

/* ---- parallel groups ---------------------------------------------------- */

/* Joined, or failed, or neither (1, -1, 0).  Joined: out is the map of
 * the branches that answered. */
static int
group_settled(
    struct flow_run *r, struct flow_blob *out, char *why, size_t whylen)
{
	const struct flow_step *st   = &r->def->steps[r->cur];
	size_t                  done = 0, failed = 0, m = st->nbranches;
	agentd_writer          *w;

	for (size_t i = 0; i < m; i++) {
		done += r->br[i].state == BR_DONE;
		failed += r->br[i].state == BR_FAILED;
	}
	if (done >= (size_t)st->join) {
		agentd_writer_new(&w);
		agentd_write_map(w, (uint32_t)done);
		for (size_t i = 0; i < m; i++)
			if (r->br[i].state == BR_DONE) {
				agentd_write_str(w, st->branches[i].name);
				write_blob(w, &r->br[i].output);
			}
		blob_writer(out, w);
		agentd_writer_free(w);
	} else if (failed <= m - (size_t)st->join)
		return 0;
	for (size_t i = 0; i < m; i++)
		if (r->br[i].state == BR_CALLING
		    || r->br[i].state == BR_BACKOFF)
			r->br[i].state = BR_DROPPED;
	if (done >= (size_t)st->join)
		return 1;
	for (size_t i = 0; i < m; i++)
		if (r->br[i].state == BR_FAILED) {
			snprintf(why, whylen, "branch \"%s\": %s",
			    st->branches[i].name, r->br[i].error);
			break;
		}
	snprintf(why + strlen(why), whylen - strlen(why),
	    "; %zu of %zu branches failed, join needs %d", failed, m,
	    st->join);
	return -1;
}

/* After a branch's answer: the group joined or failed, else recorded.
 * Non-zero when the run left the group (it may be gone). */
static int
group_after(struct flow *f, struct flow_run *r)
{
	struct flow_blob out              = { 0 };
	char             why[FLOW_ERRLEN] = "";
	int              s = group_settled(r, &out, why, sizeof(why));

	if (s > 0) {
		step_done(f, r, out, "joined");
		return 1;
	}
	if (s < 0) {
		step_failed(f, r, why, sizeof(why));
		return 1;
	}
	checkpoint(f, r);
	return 0;
}

/* Call every branch whose time has come (first, all of them), after one
 * checkpoint saying so. */
static void
call_branches(struct flow *f, struct flow_run *r, int64_t now)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	size_t                  m  = st->nbranches;
	int                     go[m], rv[m], any = 0;
	char                    key[200], what[128];

	for (size_t i = 0; i < m; i++) {
		struct flow_brun *b = &r->br[i];

		go[i] = b->state == BR_BACKOFF && b->due_ms <= now;
		if (!go[i])
			continue;
		any = 1;
		if (!b->redo)
			b->attempt++;
		b->state = BR_CALLING;
		b->seq   = ++f->seq;
	}
	if (!any)
		return;
	if (checkpoint(f, r) != 0) {
		for (size_t i = 0; i < m; i++)
			if (go[i]) {
				r->br[i].state  = BR_BACKOFF;
				r->br[i].due_ms = now + 1000;
				r->br[i].redo   = 1;
			}
		return;
	}
	for (size_t i = 0; i < m; i++) {
		struct flow_brun *b = &r->br[i];

		rv[i] = 0;
		if (!go[i])
			continue;
		snprintf(what, sizeof(what), "branch %s %s (attempt %d)",
		    st->branches[i].name, b->redo ? "called again" : "called",
		    b->attempt);
		record(f, r,
		    b->redo ? "flow.branch.resumed" : "flow.branch.started",
		    what);
		b->redo = 0;
		snprintf(key, sizeof(key), "%s/%s/%d/%s", r->id, st->name,
		    r->iters[r->cur], st->branches[i].name);
		rv[i] = send_call(f, r, &st->branches[i], &b->input, key,
		    b->attempt, b->seq, (int)i);
	}
	for (size_t i = 0; i < m; i++)
		if (go[i] && rv[i] != 0
		    && on_branch_status(f, r, i, rv[i], NULL, NULL, 0) != 0)
			return;
}

static int
on_branch_status(struct flow *f, struct flow_run *r, size_t i, int status,
    const char *msg, const void *reply, size_t len)
{
	const struct flow_step *cs = &r->def->steps[r->cur].branches[i];
	struct flow_brun       *b  = &r->br[i];
	char                    why[FLOW_ERRLEN], what[FLOW_ERRLEN + 128];

	b->seq = 0;
	if ((status = reply_check(status, msg, reply, len, why, sizeof(why)))
	    != 0) {
		if (retryable(cs, status, b->attempt)) {
			b->state = BR_BACKOFF;
			b->due_ms
			    = flow_now_ms() + retry_delay(f, cs, b->attempt);
			checkpoint(f, r);
			snprintf(what, sizeof(what), "branch %s retried: %s",
			    cs->name, why);
			record(f, r, "flow.branch.retry", what);
			return 0;
		}
		b->state = BR_FAILED;
		free(b->error);
		if ((b->error = strdup(why)) == NULL)
			abort();
		snprintf(
		    what, sizeof(what), "branch %s failed: %s", cs->name, why);
		record(f, r, "flow.branch.failed", what);
	} else {
		b->state = BR_DONE;
		blob_set(&b->output, reply, len);
		snprintf(what, sizeof(what), "branch %s answered", cs->name);
		record(f, r, "flow.branch.done", what);
	}
	return group_after(f, r);
}

/* Enter a parallel group: every branch's input, then every call. */
static int
group_step(struct flow *f, struct flow_run *r, char *why, size_t whylen)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	struct flow_scope       s;
	const void             *outs[r->def->nsteps];
	size_t                  lens[r->def->nsteps];

	scope_of(r, &s, outs, lens);
	r->br = calloc(st->nbranches, sizeof(*r->br));
	if (r->br == NULL)
		abort();
	for (size_t i = 0; i < st->nbranches; i++) {
		agentd_writer *w;
		int            rv;

		r->br[i].state = BR_BACKOFF;
		agentd_writer_new(&w);
		rv = flow_build_fields(&s, st->branches[i].input,
		    st->branches[i].ninput, w, 0, why, whylen);
		if (rv == 0)
			blob_writer(&r->br[i].input, w);
		agentd_writer_free(w);
		if (rv != 0) {
			char tmp[FLOW_ERRLEN + 96];

			snprintf(tmp, sizeof(tmp), "branch \"%s\": %s",
			    st->branches[i].name, why);
			snprintf(why, whylen, "%.*s", (int)(whylen - 1), tmp);
			return rv;
		}
	}
	r->attempt = 1;
	r->phase   = PH_GROUP;
	call_branches(f, r, flow_now_ms());
	return 0;
}

/* Call, propose or wait: what step cur does once entered. */
static void
act(struct flow *f, struct flow_run *r)
{
	if (r->def->steps[r->cur].kind == SK_APPROVAL)
		propose_step(f, r);
	else
		call_step(f, r);
}

/* A step a dry run does not call: its placeholder is its output. */
static int
dry_step(struct flow *f, struct flow_run *r, char *why, size_t whylen)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	struct flow_scope       s;
	const void             *outs[r->def->nsteps];
	size_t                  lens[r->def->nsteps];
	agentd_writer          *w;
	int                     rv, to;

	scope_of(r, &s, outs, lens);
	agentd_writer_new(&w);
	rv = flow_build_fields(
	    &s, st->placeholder, st->nplaceholder, w, 0, why, whylen);
	if (rv == 0) {
		blob_writer(&r->outputs[r->cur], w);
		hist_add(r, "dry", &r->outputs[r->cur], NULL);
		record(f, r, "flow.step.dry", "not called (dry run)");
		rv = next_of(r, &to, why, whylen);
		if (rv == 0)
			r->cur = to;
	}
	agentd_writer_free(w);
	return rv;
}

/*
 * Enter steps from cur until one is called or the run ends: skip those
 * whose when is false, stand in for effects in a dry run.
 */
void
flow_run_advance(struct flow *f, struct flow_run *r)
{
	char why[FLOW_ERRLEN], msg[FLOW_ERRLEN + 64];

	while (r->state == RUN_RUNNING && r->phase == PH_READY) {
		const struct flow_step *st;
		struct flow_scope       s;
		const void             *outs[r->def->nsteps];
		size_t                  lens[r->def->nsteps];
		agentd_writer          *w;
		int                     truth, rv, limit;

		if (r->cur < 0) {
			finish(f, r, RUN_DONE, NULL);
			return;
		}
		st = &r->def->steps[r->cur];
		/* Every cycle goes through a step with max_iterations (def.c
		 * checks), so bounding those bounds every loop. */
		limit = st->max_iterations;
		if (limit > 0 && r->iters[r->cur] >= limit) {
			snprintf(msg, sizeof(msg),
			    "step \"%s\" reached max_iterations (%d)",
			    st->name, limit);
			finish(f, r, RUN_FAILED, msg);
			return;
		}
		scope_of(r, &s, outs, lens);
		if (flow_when(&s, st->when, &truth, why, sizeof(why)) != 0) {
			snprintf(msg, sizeof(msg), "step \"%s\": when: %s",
			    st->name, why);
			finish(f, r, RUN_FAILED, msg);
			return;
		}
		r->iters[r->cur]++;
		r->attempt    = 0;
		r->started_ms = flow_now_ms();
		blob_set(&r->cur_input, NULL, 0);
		if (!truth) {
			hist_add(r, "skipped", NULL, NULL);
			record(f, r, "flow.step.skipped", "skipped (when)");
			r->cur = st->next;
			continue;
		}
		agentd_writer_new(&w);
		rv = flow_build_fields(
		    &s, st->input, st->ninput, w, 0, why, sizeof(why));
		if (rv == 0)
			blob_writer(&r->cur_input, w);
		agentd_writer_free(w);
		if (rv != 0) {
			snprintf(msg, sizeof(msg), "step \"%s\": input: %s",
			    st->name, why);
			hist_add(r, "failed", NULL, msg);
			finish(f, r, RUN_FAILED, msg);
			return;
		}
		if (r->dry && st->effect) {
			if (dry_step(f, r, why, sizeof(why)) != 0) {
				snprintf(msg, sizeof(msg),
				    "step \"%s\": placeholder: %s", st->name,
				    why);
				finish(f, r, RUN_FAILED, msg);
				return;
			}
			continue;
		}
		if (st->kind == SK_WAIT) {
			wait_step(f, r);
			return;
		}
		if (st->kind == SK_GROUP) {
			if (group_step(f, r, why, sizeof(why)) != 0) {
				snprintf(msg, sizeof(msg), "step \"%s\": %s",
				    st->name, why);
				hist_add(r, "failed", NULL, msg);
				finish(f, r, RUN_FAILED, msg);
			}
			return;
		}
		act(f, r);
		return;
	}
}

/* Is anything of run r due at now? */
static int
group_due(const struct flow_run *r, int64_t now)
{
	if (r->br == NULL)
		return 0;
	for (size_t i = 0; i < r->def->steps[r->cur].nbranches; i++)
		if (r->br[i].state == BR_BACKOFF && r->br[i].due_ms <= now)
			return 1;
	return 0;
}

/* When run r next has something to do by itself, or INT64_MAX. */
static int64_t
due_of(const struct flow_run *r)
{
	int64_t due = INT64_MAX;

	if (r->phase == PH_BACKOFF || r->phase == PH_WAITING)
		return r->due_ms;
	if (r->phase == PH_READY)
		return 0;
	if (r->phase == PH_GROUP && r->br != NULL)
		for (size_t i = 0; i < r->def->steps[r->cur].nbranches; i++)
			if (r->br[i].state == BR_BACKOFF
			    && r->br[i].due_ms < due)
				due = r->br[i].due_ms;
	return due;
}

/*
 * Whatever is due.  Every change of a run goes through checkpoint(),
 * which sets f->dirty; until then, and until the earliest due time seen
 * by the last scan, there is nothing to do and the runs are not scanned
 * (10 000 runs waiting cost nothing per tick).
 */
void
flow_run_tick(struct flow *f)
{
	int64_t now = flow_now_ms(), wake = INT64_MAX;

	if (!f->dirty && now < f->wake_ms)
		return;
	f->dirty = 0;
	for (size_t i = 0; i < f->nruns; i++) {
		struct flow_run *r = f->runs[i];
		int64_t          due;

		/* Neither acknowledged yet nor still running: their
		 * checkpoint's answer moves them on. */
		if (r->state != RUN_RUNNING || !r->acked)
			continue;
		if (r->phase == PH_BACKOFF && r->due_ms <= now)
			act(f, r);
		else if (r->phase == PH_WAITING && r->due_ms <= now)
			wait_over(f, r);
		else if (r->phase == PH_GROUP && group_due(r, now))
			call_branches(f, r, now);
		else if (r->phase == PH_READY)
			flow_run_advance(f, r);
		else {
			if ((due = due_of(r)) < wake)
				wake = due;
			continue;
		}
		/* r moved on, or ended and another run took its slot (run_drop
		 * moves the last one there): look at slot i again. */
		i--;
		now = flow_now_ms();
	}
	f->wake_ms = wake;
}

int
flow_run_cancel(struct flow *f, struct flow_run *r)
{
	if (r->br != NULL)
		for (size_t i = 0; i < r->def->steps[r->cur].nbranches; i++)
			if (r->br[i].state == BR_CALLING
			    || r->br[i].state == BR_BACKOFF)
				r->br[i].state = BR_DROPPED;
	if (r->cur >= 0 && r->phase != PH_READY)
		hist_add(r, "cancelled", NULL, "the run was cancelled");
	finish(f, r, RUN_CANCELLED, "cancelled");
	return 0;
}

struct flow_run *
flow_run_find(struct flow *f, const char *id)
{
	for (size_t i = 0; i < f->nruns; i++)
		if (strcmp(f->runs[i]->id, id) == 0)
			return f->runs[i];
	return NULL;
}

/* The run in memory (starting, running, or ended and not yet committed)
 * that start key `key` of `workflow` made, or NULL. */
struct flow_run *
flow_run_find_key(struct flow *f, const char *workflow, const char *key)
{
	for (size_t i = 0; i < f->nruns; i++) {
		const struct flow_run *r = f->runs[i];

		if (r->key != NULL && strcmp(r->key, key) == 0
		    && strcmp(r->def->name, workflow) == 0)
			return f->runs[i];
	}
	return NULL;
}

void
flow_run_free(struct flow *f, struct flow_run *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->outputs != NULL && i < r->def->nsteps; i++)
		free(r->outputs[i].p);
	for (size_t i = 0; i < r->nhist; i++)
		free(r->hist[i].p);
	free(r->hist);
	free(r->outputs);
	free(r->iters);
	free(r->input.p);
	free(r->cur_input.p);
	free(r->key);
	free(r->error);
	free(r->decided.p);
	branches_free(r);
	flow_def_unref(f, r->def);
	free(r);
}

static struct flow_run *
run_new(struct flow *f, struct flow_def *d)
{
	struct flow_run *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->def = d;
	d->refs++;
	r->outputs = calloc(d->nsteps, sizeof(*r->outputs));
	r->iters   = calloc(d->nsteps, sizeof(*r->iters));
	if (r->outputs == NULL || r->iters == NULL)
		abort();
	f->runs = realloc(f->runs, (f->nruns + 1) * sizeof(*f->runs));
	if (f->runs == NULL)
		abort();
	f->runs[f->nruns++] = r;
	f->dirty            = 1;
	return r;
}

/* Is step 0 a call that is made whatever the input (no when, not a dry
 * run's effect)? */
static int
first_is_call(const struct flow_run *r)
{
	const struct flow_step *st
	    = r->def->nsteps > 0 ? &r->def->steps[0] : NULL;

	return st != NULL && st->kind == SK_CALL && st->when == NULL
	    && !(r->dry && st->effect);
}

/* A start's first checkpoint on its way. */
struct starting {
	struct flow     *f;
	struct flow_run *r;
	flow_started_fn  cb;
	void            *arg;
};

static void
started(struct flow *f, struct flow_run *r)
{
	r->acked = 1;
	record(f, r, "flow.run.started",
	    r->dry ? "started (dry run)" : "started");
}

static void
on_started(void *arg, int status)
{
	struct starting *s = arg;

	if (status != 0) {
		struct agentd_state_op ops[2];
		char                   k[2][80];

		checkpoint_lost(s->f, s->r, status);
		s->cb(s->f, s->r, status, s->arg);
		/* The first call's record, queued with the start's, may have
		 * been written: no record of a run nobody was told of. */
		for (int i = 0; i < 2; i++) {
			snprintf(k[i], sizeof(k[i]), i ? "sum/%s" : "run/%s",
			    s->r->id);
			ops[i] = (struct agentd_state_op) { k[i], strlen(k[i]),
				NULL, 0 };
		}
		(void)s->f->host->state_batch_async(
		    s->f->ctx, ops, 2, NULL, NULL);
		/* Its first step may have failed it already: then on_ended,
		 * queued after this, drops it. */
		if (s->r->state == RUN_RUNNING)
			run_drop(s->f, s->r);
	} else {
		started(s->f, s->r);
		s->cb(s->f, s->r, 0, s->arg);
	}
	free(s);
}

/*
 * A new run, whose first checkpoint is queued (state_batch_async) or
 * written: cb hears when it is durable, from on_started or before this
 * returns, and only then does the run exist for anyone (status, cancel,
 * ticks).  0 when cb will run; else the error, cb not run, no run.
 */
int
flow_run_start(struct flow *f, struct flow_def *d, const void *input,
    size_t input_len, const char *key, int dry, flow_started_fn cb, void *arg)
{
	struct flow_run *r = run_new(f, d);
	struct starting *s;
	int              rv;

	r->created_ms = flow_now_ms();
	snprintf(r->id, sizeof(r->id), "%013lld-%x-%u",
	    (long long)r->created_ms, (unsigned)getpid(), ++f->counter);
	blob_set(&r->input, input, input_len);
	if (key != NULL && (r->key = strdup(key)) == NULL)
		abort();
	r->dry   = dry;
	r->cur   = 0;
	r->phase = PH_READY;
	if (AGENTD_HOST_HAS(f->host, state_batch_async)) {
		if ((s = malloc(sizeof(*s))) == NULL)
			abort();
		*s = (struct starting) { f, r, cb, arg };
		if ((rv = checkpoint_write(f, r, on_started, s)) != 0) {
			free(s);
			run_drop(f, r);
			return rv;
		}
		/* Its first call's record then travels with the start's and
		 * shares its commit (batches commit in order, their callbacks
		 * run in order: the start is answered, then the step called).
		 * Only a plain call: the other kinds checkpoint synchronously,
		 * which could land before the start's record and be
		 * overwritten by it, and skipped or dry steps are audited,
		 * which must come after flow.run.started. */
		if (first_is_call(r))
			flow_run_advance(f, r);
		return 0;
	}
	if ((rv = checkpoint(f, r)) != 0) {
		run_drop(f, r);
		return rv;
	}
	started(f, r);
	cb(f, r, 0, arg);
	return 0;
}

/* ---- resuming from a record ------------------------------------------- */

static int
get_blob(const agentd_value *v, struct flow_blob *b)
{
	agentd_writer *w;

	if (v == NULL || agentd_type_of(v) == AGENTD_T_NIL)
		return 0;
	agentd_writer_new(&w);
	agentd_write_value(w, v);
	blob_writer(b, w);
	agentd_writer_free(w);
	return 0;
}

static int64_t
get_i(const agentd_value *v)
{
	int64_t i = 0;

	agentd_get_int(v, &i);
	return i;
}

/* A group's branches from the record: those in flight called again. */
static void
resume_group(struct flow_run *r, const agentd_value *v)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	char                    bs[16];

	r->phase = PH_GROUP;
	r->br    = calloc(st->nbranches + 1, sizeof(*r->br));
	if (r->br == NULL)
		abort();
	for (size_t i = 0; i < st->nbranches; i++) {
		const agentd_value *e = agentd_array_at(v, i);
		struct flow_brun   *b = &r->br[i];
		const char         *err;
		size_t              n;

		b->attempt = (int)get_i(agentd_map_get(e, "attempts"));
		b->due_ms  = get_i(agentd_map_get(e, "due_ms"));
		get_blob(agentd_map_get(e, "input"), &b->input);
		get_blob(agentd_map_get(e, "output"), &b->output);
		if (agentd_get_str(agentd_map_get(e, "error"), &err, &n) == 0
		    && (b->error = strndup(err, n)) == NULL)
			abort();
		bs[0] = '\0';
		agentd_get_strcpy(agentd_map_get(e, "state"), bs, sizeof(bs));
		b->state = BR_BACKOFF;
		if (strcmp(bs, "done") == 0)
			b->state = BR_DONE;
		else if (strcmp(bs, "failed") == 0)
			b->state = BR_FAILED;
		else if (strcmp(bs, "cancelled") == 0)
			b->state = BR_DROPPED;
		else if (strcmp(bs, "calling") == 0) {
			b->redo   = 1;
			b->due_ms = 0;
		}
	}
}

/* A running run's record, read back after a restart. */
int
flow_run_resume(struct flow *f, const void *rec, size_t len)
{
	agentd_doc         *doc;
	const agentd_value *root, *v, *cur;
	char                wf[AGENTD_NAME_MAX + 1], ver[FLOW_VERSION_LEN + 1];
	char                id[48], step[AGENTD_NAME_MAX + 1], ph[16];
	struct flow_def    *d;
	struct flow_run    *r;

	if (agentd_parse(rec, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	if (agentd_get_strcpy(agentd_map_get(root, "id"), id, sizeof(id)) != 0
	    || agentd_get_strcpy(
	           agentd_map_get(root, "workflow"), wf, sizeof(wf))
	        != 0
	    || agentd_get_strcpy(
	           agentd_map_get(root, "version"), ver, sizeof(ver))
	        != 0
	    || agentd_get_strcpy(agentd_map_get(root, "phase"), ph, sizeof(ph))
	        != 0
	    || (d = flow_def_find(f, wf, ver)) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOENT;
	}
	if (flow_run_find(f, id) != NULL) {
		/* Started by this instance before its first tick. */
		flow_def_unref(f, d);
		agentd_doc_free(doc);
		return 0;
	}
	r = run_new(f, d);
	flow_def_unref(f, d); /* flow_def_find's reference */
	r->persisted = 1;
	r->acked     = 1;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->created_ms = get_i(agentd_map_get(root, "created_ms"));
	r->due_ms     = get_i(agentd_map_get(root, "due_ms"));
	agentd_get_bool(agentd_map_get(root, "dry_run"), &r->dry);
	get_blob(agentd_map_get(root, "input"), &r->input);
	if (agentd_get_strcpy(agentd_map_get(root, "key"), step, sizeof(step))
	    == 0)
		r->key = strdup(step);
	r->cur = -1;
	if (agentd_get_strcpy(agentd_map_get(root, "step"), step, sizeof(step))
	    == 0)
		r->cur = flow_def_step(d, step);
	v = agentd_map_get(root, "iterations");
	for (size_t k = 0; k < d->nsteps; k++)
		r->iters[k] = (int)get_i(agentd_map_get(v, d->steps[k].name));
	v = agentd_map_get(root, "outputs");
	for (size_t k = 0; k < d->nsteps; k++)
		get_blob(
		    agentd_map_get(v, d->steps[k].output), &r->outputs[k]);
	v       = agentd_map_get(root, "steps");
	r->hist = calloc(agentd_len(v) + 1, sizeof(*r->hist));
	for (size_t k = 0; k < agentd_len(v); k++)
		get_blob(agentd_array_at(v, k), &r->hist[r->nhist++]);
	cur      = agentd_map_get(root, "current");
	r->phase = PH_READY;
	if (r->cur >= 0 && strcmp(ph, "ready") != 0 && cur != NULL
	    && agentd_type_of(cur) == AGENTD_T_MAP) {
		r->attempt    = (int)get_i(agentd_map_get(cur, "attempts"));
		r->started_ms = get_i(agentd_map_get(cur, "started_ms"));
		get_blob(agentd_map_get(cur, "input"), &r->cur_input);
		/* In flight when the instance died: the same call again. */
		r->phase = PH_BACKOFF;
		r->redo  = strcmp(ph, "calling") == 0
		    || strcmp(ph, "proposing") == 0;
		if (r->redo)
			r->due_ms = 0;
		if (strcmp(ph, "waiting") == 0)
			r->phase = PH_WAITING;
		if (strcmp(ph, "approval") == 0) {
			r->phase = PH_APPROVAL;
			agentd_get_strcpy(agentd_map_get(cur, "decision"),
			    r->decision, sizeof(r->decision));
		}
		if (strcmp(ph, "group") == 0)
			resume_group(r, agentd_map_get(cur, "branches"));
	}
	agentd_doc_free(doc);
	return 0;
}
