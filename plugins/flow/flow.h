/*
 * flow.h - the workflow agent's definitions, runs and their paths.
 *
 * def.c   reads definition files (libconfuse) into struct flow_def and
 *         checks them; a definition's version is its text's SHA-256.
 * path.c  resolves "$name.a.0" paths, builds step inputs, tests `when`.
 * run.c   the run state machine: each transition checkpointed in state,
 *         then audited, before the next call (doc/workflows.md).
 * flow.c  the plugin: settings, requests (start, status, list, cancel,
 *         definitions, reload), ticks.
 */
#ifndef FLOW_H
#define FLOW_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define FLOW_ERRLEN 512
#define FLOW_VERSION_LEN 16 /* hex digits of the SHA-256 kept */

/* One "name = value" of a step's input or placeholder. */
struct flow_field {
	char *name;
	char *value; /* "$path" or a literal */
	int   line;
};

/* One goto "target" { when = "..." } of a step. */
struct flow_goto {
	char *target;
	char *when;
	int   to; /* step index, -1: end */
	int   line;
};

struct flow_step {
	char              *name;
	int                line;
	char              *agent;
	char              *output; /* the name later paths use */
	struct flow_field *input;
	size_t             ninput;
	struct flow_field *placeholder; /* output of a dry run's effect */
	size_t             nplaceholder;
	char              *when; /* NULL: always */
	struct flow_goto  *gotos;
	size_t             ngotos;
	int                next; /* when no goto matches; -1: end */
	int64_t            timeout_ms;
	int                attempts; /* calls at most, retries included */
	int64_t            backoff_ms;
	int64_t            backoff_max_ms;
	double             jitter;         /* 0..1 */
	uint32_t           no_retry;       /* bit e: error code e is final */
	int                max_iterations; /* 0: entered once per run */
	int                effect;
};

struct flow_def {
	char             *name; /* the file's name less ".flow" */
	char             *file; /* where it was read, for messages */
	char             *text; /* what was parsed: stored with runs */
	char              version[FLOW_VERSION_LEN + 1];
	struct flow_step *steps;
	size_t            nsteps;
	unsigned          refs;   /* runs in memory using it, plus loaded */
	int               stored; /* its text is in state (def/...) */
};

/* def.c */
int  flow_def_parse(const char *name, const char *file, const char *text,
     struct flow_def **out, char *err, size_t errlen);
void flow_def_free(struct flow_def *d);
int  flow_def_step(const struct flow_def *d, const char *name);
int  flow_duration(const char *s, int64_t *ms);
int  flow_errcode(const char *name); /* "EBUSY" -> AGENTD_EBUSY, or -1 */

/* path.c */

/* Values a path may start from: "input" and each step's output name. */
struct flow_scope {
	const void            *input;
	size_t                 input_len;
	const struct flow_def *def;
	const void *const     *outputs; /* per step index, NULL: none yet */
	const size_t          *output_lens;
};

int flow_path_check(
    const struct flow_def *d, const char *value, char *err, size_t errlen);
int flow_cond_check(
    const struct flow_def *d, const char *cond, char *err, size_t errlen);
int flow_build_fields(const struct flow_scope *s, const struct flow_field *f,
    size_t n, agentd_writer *w, size_t extra, char *err, size_t errlen);
int flow_when(const struct flow_scope *s, const char *cond, int *truth,
    char *err, size_t errlen);
int flow_write_literal(agentd_writer *w, const char *text);

/* run.c */

enum flow_run_state { RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_CANCELLED };
/* Where a running run is: about to enter cur, waiting for its call, or
 * waiting out a backoff (or a resumed call) until due_ms. */
enum flow_phase { PH_READY, PH_CALLING, PH_BACKOFF };

struct flow_blob {
	void  *p;
	size_t len;
};

struct flow_run {
	char                id[48];
	struct flow_def    *def;
	char               *key; /* the start's idempotency key, or NULL */
	int                 dry;
	enum flow_run_state state;
	enum flow_phase     phase;
	int64_t             created_ms, updated_ms;
	struct flow_blob    input;
	struct flow_blob   *outputs; /* per step; p NULL: none yet */
	int                *iters;   /* per step: times entered */
	int                 cur;     /* step index; -1 once finished */
	int                 attempt; /* calls made of this entry of cur */
	int                 redo;    /* resumed: call again, same attempt */
	int64_t             due_ms;
	int64_t             started_ms; /* of cur's entry */
	struct flow_blob    cur_input;  /* what cur is called with */
	uint64_t            call_seq;   /* which reply is awaited */
	char               *error;
	struct flow_blob   *hist; /* finished steps, encoded */
	size_t              nhist;
	int                 persisted; /* active/ and key/ are written */
};

struct flow {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	char                     *dir;
	struct flow_def         **defs; /* what serves new runs */
	size_t                    ndefs;
	struct flow_run         **runs; /* running ones only */
	size_t                    nruns;
	agentd_writer            *w;
	uint64_t                  seq;
	unsigned                  counter;
	unsigned                  rand;
	int                       resumed;
	struct pending           *pending; /* calls in flight (run.c) */
};

int64_t          flow_now_ms(void);
void             flow_def_unref(struct flow *f, struct flow_def *d);
struct flow_def *flow_def_find(
    struct flow *f, const char *name, const char *version);

int  flow_run_start(struct flow *f, struct flow_def *d, const void *input,
     size_t input_len, const char *key, int dry, struct flow_run **out);
void flow_run_advance(struct flow *f, struct flow_run *r);
void flow_run_tick(struct flow *f);
int  flow_run_cancel(struct flow *f, struct flow_run *r);
struct flow_run *flow_run_find(struct flow *f, const char *id);
void             flow_run_encode(const struct flow_run *r, agentd_writer *w);
int              flow_run_resume(struct flow *f, const void *rec, size_t len);
void             flow_run_free(struct flow *f, struct flow_run *r);
void             flow_pending_free(struct flow *f);
const char      *flow_run_state_name(enum flow_run_state s);

#endif /* FLOW_H */
