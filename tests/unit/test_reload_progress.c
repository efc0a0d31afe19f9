/*
 * test_reload_progress.c - every row of the table that says what a
 * reload does next for one agent.
 */
#include "config.h"

#include "tap.h"
#include "supervisor/reload_progress.h"

/* Facts: gone, superseded, probation, failed, ready, wanted, new agent,
 * canary %, probation configured, probation ended. */
#define F(gone, sup, prob, failed, rdy, want, new, pct, conf, ended)          \
	{                                                                     \
		.agent_gone = gone, .superseded = sup, .probation = prob,     \
		.gen_failed = failed, .ready = rdy, .wanted = want,           \
		.new_agent = new, .canary_pct = pct,                          \
		.probation_configured = conf, .probation_ended = ended        \
	}

static const struct row {
	const char              *name;
	struct ad_progress_facts f;
	enum ad_progress         want;
} rows[] = {
	{ "the agent was removed meanwhile: refused, whatever else holds",
	    F(1, 1, 1, 1, 2, 2, 0, 0, 1, 1), AD_PROGRESS_REFUSE_REMOVED },
	{ "its generation was rolled back by an operator: refused",
	    F(0, 1, 0, 1, 2, 2, 0, 0, 1, 0), AD_PROGRESS_REFUSE_SUPERSEDED },
	{ "superseded during probation: refused",
	    F(0, 1, 1, 1, 2, 2, 0, 0, 1, 1), AD_PROGRESS_REFUSE_SUPERSEDED },
	{ "a new agent failed starting: dropped",
	    F(0, 0, 0, 1, 0, 2, 1, 0, 0, 0), AD_PROGRESS_DROP_NEW_AGENT },
	{ "a new generation failed starting: abandoned",
	    F(0, 0, 0, 1, 1, 2, 0, 0, 1, 0), AD_PROGRESS_ABANDON },
	{ "failed, even with enough ready: abandoned",
	    F(0, 0, 0, 1, 2, 2, 0, 0, 1, 0), AD_PROGRESS_ABANDON },
	{ "a failed canary is abandoned too", F(0, 0, 0, 1, 1, 1, 0, 20, 0, 0),
	    AD_PROGRESS_ABANDON },
	{ "a new agent not all ready: wait", F(0, 0, 0, 0, 1, 2, 1, 0, 0, 0),
	    AD_PROGRESS_WAIT },
	{ "a new generation not all ready: wait",
	    F(0, 0, 0, 0, 1, 2, 0, 0, 1, 0), AD_PROGRESS_WAIT },
	{ "a canary not ready: wait", F(0, 0, 0, 0, 0, 1, 0, 20, 0, 0),
	    AD_PROGRESS_WAIT },
	{ "a new agent ready: started (no canary, no probation for it)",
	    F(0, 0, 0, 0, 2, 2, 1, 20, 1, 0), AD_PROGRESS_SETTLE_STARTED },
	{ "a canary ready: settled as a canary, not switched",
	    F(0, 0, 0, 0, 1, 1, 0, 20, 1, 0), AD_PROGRESS_SETTLE_CANARY },
	{ "ready, probation configured: it serves, on probation",
	    F(0, 0, 0, 0, 2, 2, 0, 0, 1, 0), AD_PROGRESS_SWITCH_PROBATION },
	{ "more ready than wanted counts as ready",
	    F(0, 0, 0, 0, 3, 2, 0, 0, 1, 0), AD_PROGRESS_SWITCH_PROBATION },
	{ "ready, no probation (or skipped): it serves, settled",
	    F(0, 0, 0, 0, 2, 2, 0, 0, 0, 0), AD_PROGRESS_SWITCH_SETTLE },
	{ "on probation, still running: wait", F(0, 0, 1, 0, 2, 2, 0, 0, 1, 0),
	    AD_PROGRESS_WAIT },
	{ "on probation, one instance failed: the previous one is back",
	    F(0, 0, 1, 1, 2, 2, 0, 0, 1, 0), AD_PROGRESS_ROLL_BACK },
	{ "failed as the probation ends: rolled back, not settled",
	    F(0, 0, 1, 1, 2, 2, 0, 0, 1, 1), AD_PROGRESS_ROLL_BACK },
	{ "probation over: settled", F(0, 0, 1, 0, 2, 2, 0, 0, 1, 1),
	    AD_PROGRESS_END_PROBATION },
	{ "on probation, readiness no longer matters",
	    F(0, 0, 1, 0, 0, 2, 0, 0, 1, 1), AD_PROGRESS_END_PROBATION },
};

int
main(void)
{
	size_t n = sizeof(rows) / sizeof(*rows);

	plan((int)n + 1);
	for (size_t i = 0; i < n; i++)
		is_str(ad_progress_name(ad_progress_next(&rows[i].f)),
		    ad_progress_name(rows[i].want), rows[i].name);
	is_str(ad_progress_name(AD_PROGRESS_END_PROBATION), "end-probation",
	    "actions have names");
	return done_testing();
}
