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

/* What a step does: call an agent, ask the policy gate, wait, or call
 * several agents at once. */
enum flow_kind { SK_CALL, SK_APPROVAL, SK_WAIT, SK_GROUP };

#define FLOW_FAIL (-2) /* a rejected or expired target: the run fails */

struct flow_step {
	char              *name;
	enum flow_kind     kind;
	int                line;
	char              *agent;      /* called; or NULL, and then: */
	char              *capability; /* its first agent, at each call */
	char              *output;     /* the name later paths use */
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
	/* SK_APPROVAL: the proposal; input is its params. */
	char  *ap_type, *ap_title, *ap_reasoning;
	char  *ap_amount; /* a path or a number, or NULL */
	int    ap_amount_line;
	double ap_confidence;
	int    on_rejected, on_expired; /* step, -1 end, FAIL */
	/* SK_WAIT: wait_ms, or until (a path or a time) */
	int64_t wait_ms;
	char   *until;
	int64_t until_ms; /* a literal until */
	int     until_line;
	/* SK_GROUP: branches (agent, input, timeout, retry each), joined
	 * once `join` of them answered. */
	struct flow_step *branches;
	size_t            nbranches;
	int               join;
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
int  flow_time(const char *s, int64_t *ms); /* ms since the epoch or
                                             * "2026-12-07T08:00:00Z" */
int flow_errcode(const char *name); /* "EBUSY" -> AGENTD_EBUSY, or -1 */

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
enum flow_phase {
	PH_READY,
	PH_CALLING,
	PH_BACKOFF,
	PH_PROPOSING, /* an approval's proposal sent, no decision id yet */
	PH_APPROVAL,  /* waiting on decision.<decision> */
	PH_WAITING,   /* a wait step, until due_ms */
	PH_GROUP,     /* a parallel group's branches in flight (br) */
};

struct flow_blob {
	void  *p;
	size_t len;
};

/* One branch of a parallel group in progress. */
enum flow_br_state { BR_CALLING, BR_BACKOFF, BR_DONE, BR_FAILED, BR_DROPPED };

struct flow_brun {
	enum flow_br_state state;
	int                attempt, redo;
	int64_t            due_ms;
	uint64_t           seq;
	struct flow_blob   input, output;
	char              *error;
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
	int                 persisted;  /* active/ and key/ are written */
	int                 acked;      /* its start is durable (and answered):
	                                 * until then status, cancel and ticks
	                                 * pass it by */
	char              decision[32]; /* PH_APPROVAL: its id */
	struct flow_blob  decided;      /* its outcome, for the record */
	struct flow_brun *br;           /* PH_GROUP: per branch */
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
	struct pending           *pending;   /* calls in flight (run.c) */
	struct flow_blob          early[64]; /* outcomes before their id */
	int                       dirty;     /* a run changed since the scan */
	int64_t                   wake_ms;   /* the earliest due time then */
	unsigned                  nearly;
	int                       events; /* publish each record too */
};

int64_t          flow_now_ms(void);
void             flow_def_unref(struct flow *f, struct flow_def *d);
struct flow_def *flow_def_find(
    struct flow *f, const char *name, const char *version);

/* A start's first checkpoint is durable (status 0; the run is then
 * ready, not yet advanced) or failed (the run is dropped once this
 * returns). */
typedef void (*flow_started_fn)(
    struct flow *f, struct flow_run *r, int status, void *arg);

int  flow_run_start(struct flow *f, struct flow_def *d, const void *input,
     size_t input_len, const char *key, int dry, flow_started_fn cb, void *arg);
void flow_run_advance(struct flow *f, struct flow_run *r);
void flow_run_tick(struct flow *f);
int  flow_run_cancel(struct flow *f, struct flow_run *r);
struct flow_run *flow_run_find(struct flow *f, const char *id);
struct flow_run *flow_run_find_key(
    struct flow *f, const char *workflow, const char *key);
void        flow_run_encode(const struct flow_run *r, agentd_writer *w);
int         flow_run_resume(struct flow *f, const void *rec, size_t len);
void        flow_run_free(struct flow *f, struct flow_run *r);
void        flow_pending_free(struct flow *f);
const char *flow_run_state_name(enum flow_run_state s);
void        flow_run_decision(struct flow *f, const void *body, size_t len);

#endif /* FLOW_H */
