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

static const char *phase_names[] = { "ready", "calling", "backoff" };

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
		agentd_write_map(w, 5);
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
	agentd_write_map(w, 10);
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

static int
checkpoint(struct flow *f, struct flow_run *r)
{
	struct agentd_state_op ops[6];
	char                   k[6][512];
	agentd_writer         *rec, *sum;
	size_t                 n = 0;
	const void            *p;
	size_t                 len;
	int                    rv, finished = r->state != RUN_RUNNING;
	static const uint8_t   nil = 0xc0;

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
	rv = f->host->state_batch(f->ctx, ops, n);
	agentd_writer_free(rec);
	agentd_writer_free(sum);
	if (rv == 0) {
		r->persisted   = 1;
		r->def->stored = 1;
	} else
		f->host->log(f->ctx, AGENTD_LOG_ERROR,
		    "run %s: checkpoint failed: %s", r->id,
		    agentd_strerror(rv));
	return rv;
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

static void
finish(struct flow *f, struct flow_run *r, enum flow_run_state st,
    const char *error)
{
	static const char *kinds[]
	    = { "", "flow.run.done", "flow.run.failed", "flow.run.cancelled" };

	r->state = st;
	if (error != NULL && r->error == NULL) {
		r->error = strdup(error);
		if (r->error == NULL)
			abort();
	}
	r->call_seq = 0;
	checkpoint(f, r);
	record(f, r, kinds[st], flow_run_state_name(st));
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
    const void *reply, size_t len);

/* A call in flight; on f->pending until its reply comes or fini. */
struct pending {
	struct flow    *f;
	struct pending *prev, *next;
	char            id[48];
	uint64_t        seq;
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

void
flow_pending_free(struct flow *f)
{
	while (f->pending != NULL) {
		struct pending *p = f->pending;

		pending_unlink(p);
		free(p);
	}
}

/* Call step cur (again).  The checkpoint saying so comes first. */
static void
call_step(struct flow *f, struct flow_run *r)
{
	const struct flow_step *st = &r->def->steps[r->cur];
	struct pending         *p;
	agentd_writer          *w;
	agentd_doc             *doc = NULL;
	const agentd_value     *in;
	const void             *body;
	size_t                  len;
	char                    key[128];
	int                     rv, again = r->redo;

	if (!r->redo)
		r->attempt++;
	r->redo     = 0;
	r->phase    = PH_CALLING;
	r->call_seq = ++f->seq;
	if (checkpoint(f, r) != 0) {
		/* Not on disk: not called.  Try again after a backoff. */
		r->phase  = PH_BACKOFF;
		r->due_ms = flow_now_ms() + 1000;
		r->redo   = 1;
		return;
	}
	record(f, r, again ? "flow.step.resumed" : "flow.step.started",
	    again ? "called again" : "called");
	/* The body: the built input, plus the flow's own two fields. */
	step_key(r, key, sizeof(key));
	agentd_writer_new(&w);
	agentd_parse(r->cur_input.p, r->cur_input.len, &doc);
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
	agentd_write_map(w, 5);
	agentd_write_str(w, "run");
	agentd_write_str(w, r->id);
	agentd_write_str(w, "workflow");
	agentd_write_str(w, r->def->name);
	agentd_write_str(w, "step");
	agentd_write_str(w, st->name);
	agentd_write_str(w, "attempt");
	agentd_write_int(w, r->attempt);
	agentd_write_str(w, "dry_run");
	agentd_write_bool(w, r->dry);
	body = agentd_writer_data(w, &len);
	p    = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->f   = f;
	p->seq = r->call_seq;
	snprintf(p->id, sizeof(p->id), "%s", r->id);
	rv = f->host->call_async(
	    f->ctx, st->agent, body, len, (int)st->timeout_ms, on_reply, p);
	agentd_writer_free(w);
	if (rv == 0) {
		p->next = f->pending;
		if (p->next != NULL)
			p->next->prev = p;
		f->pending = p;
	} else {
		free(p);
		on_reply_status(f, r, rv, NULL, 0);
	}
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

static void
on_reply_status(struct flow *f, struct flow_run *r, int status,
    const void *reply, size_t len)
{
	const struct flow_step *st  = &r->def->steps[r->cur];
	struct flow_blob        out = { 0 };
	agentd_doc             *doc;
	char                    why[FLOW_ERRLEN];
	int                     to;

	r->call_seq = 0;
	if (status == 0 && (len == 0 || agentd_parse(reply, len, &doc) != 0))
		status = AGENTD_EPROTO; /* no output a path could read */
	else if (status == 0)
		agentd_doc_free(doc);
	if (status != 0) {
		snprintf(why, sizeof(why), "%s: %s", agentd_errname(status),
		    agentd_strerror(status));
		if ((st->no_retry & (1u << status)) == 0
		    && r->attempt < st->attempts) {
			r->phase = PH_BACKOFF;
			r->due_ms
			    = flow_now_ms() + retry_delay(f, st, r->attempt);
			free(r->error);
			r->error = strdup(why);
			if (checkpoint(f, r) == 0)
				record(f, r, "flow.step.retry", why);
			free(r->error);
			r->error = NULL;
			return;
		}
		hist_add(r, "failed", NULL, why);
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    " (step \"%s\", attempt %d of %d)", st->name, r->attempt,
		    st->attempts);
		record(f, r, "flow.step.failed", why);
		finish(f, r, RUN_FAILED, why);
		return;
	}
	blob_set(&out, reply, len);
	free(r->outputs[r->cur].p);
	r->outputs[r->cur] = out;
	hist_add(r, "done", &out, NULL);
	record(f, r, "flow.step.done", "answered");
	if (next_of(r, &to, why, sizeof(why)) != 0) {
		finish(f, r, RUN_FAILED, why);
		return;
	}
	r->cur   = to;
	r->phase = PH_READY;
	flow_run_advance(f, r);
}

static void
on_reply(void *arg, int status, const void *reply, size_t len)
{
	struct pending  *p = arg;
	struct flow_run *r = flow_run_find(p->f, p->id);

	pending_unlink(p);
	/* Cancelled, or a call from before a restart: nobody waits. */
	if (r != NULL && r->phase == PH_CALLING && r->call_seq == p->seq)
		on_reply_status(p->f, r, status, reply, len);
	free(p);
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
		call_step(f, r);
		return;
	}
}

void
flow_run_tick(struct flow *f)
{
	int64_t now = flow_now_ms();

	/* call_step may end a run (and so reorder f->runs): start over. */
	for (size_t i = 0; i < f->nruns; i++) {
		struct flow_run *r = f->runs[i];

		if (r->phase == PH_BACKOFF && r->due_ms <= now) {
			call_step(f, r);
			i   = (size_t)-1;
			now = flow_now_ms();
		} else if (r->phase == PH_READY) {
			flow_run_advance(f, r);
			i = (size_t)-1;
		}
	}
}

int
flow_run_cancel(struct flow *f, struct flow_run *r)
{
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
	return r;
}

int
flow_run_start(struct flow *f, struct flow_def *d, const void *input,
    size_t input_len, const char *key, int dry, struct flow_run **out)
{
	struct flow_run *r = run_new(f, d);
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
	if ((rv = checkpoint(f, r)) != 0) {
		run_drop(f, r);
		return rv;
	}
	record(
	    f, r, "flow.run.started", dry ? "started (dry run)" : "started");
	*out = r;
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
	int                 i;

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
		r->redo  = strcmp(ph, "calling") == 0;
		if (r->redo)
			r->due_ms = 0;
	}
	i = r->cur;
	(void)i;
	agentd_doc_free(doc);
	return 0;
}
