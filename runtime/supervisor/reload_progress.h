/*
 * reload_progress.h - what a reload does next for one agent, from what is
 * true of it now.
 *
 * A reload brings a generation in (a new agent's first, a changed one's
 * next, a canary, a rollback's earlier one) and then waits, once a tick,
 * for it to be ready, and maybe through a probation.  Which step comes
 * next depends only on the facts below; reload.c gathers them, asks, and
 * does the step (its log lines, audit records and answers).
 *
 * This file owns nothing: it decides on what it is given.
 */
#ifndef AD_RELOAD_PROGRESS_H
#define AD_RELOAD_PROGRESS_H

/*
 * What is true of one agent's reload.  Once agent_gone or superseded is
 * set, the rest is not read (there may be no generation to ask about).
 * Whether the reload is a rollback only picks the words of the answer,
 * so it is not here.
 */
struct ad_progress_facts {
	int agent_gone; /* a later reload removed the agent */
	/* the generation the reload brought in no longer holds its role
	 * (an operator rolled it back or promoted another) */
	int      superseded;
	int      probation;  /* it serves, and the previous one stands by */
	int      gen_failed; /* one of its instances failed on trial */
	unsigned ready;      /* its instances ready */
	unsigned wanted;     /* how many it should have (a canary: a share) */
	int      new_agent;  /* the agent's first generation */
	unsigned canary_pct; /* its share of requests once ready; 0: all */
	/* health { probation } is set and the operator did not skip it
	 * (promote and rollback do) */
	int probation_configured;
	int probation_ended; /* now is past the probation's end */
};

enum ad_progress {
	AD_PROGRESS_WAIT = 0,          /* nothing to do this tick */
	AD_PROGRESS_REFUSE_REMOVED,    /* settle: refused, agent removed */
	AD_PROGRESS_REFUSE_SUPERSEDED, /* settle: refused, superseded */
	AD_PROGRESS_DROP_NEW_AGENT,    /* a new agent failed: remove it */
	AD_PROGRESS_ABANDON,           /* it failed starting: current stays */
	AD_PROGRESS_SETTLE_STARTED,    /* a new agent is ready: started */
	AD_PROGRESS_SETTLE_CANARY,     /* a canary is ready: takes its share */
	AD_PROGRESS_SWITCH_PROBATION,  /* ready: it serves, on probation */
	AD_PROGRESS_SWITCH_SETTLE,     /* ready: it serves, settled */
	AD_PROGRESS_ROLL_BACK,         /* failed on probation: previous back */
	AD_PROGRESS_END_PROBATION,     /* probation passed: settled */
};

enum ad_progress ad_progress_next(const struct ad_progress_facts *f);

/* "wait", "refuse-removed", ...: for tests and debugging. */
const char *ad_progress_name(enum ad_progress p);

#endif
