#include "config.h"

#include "supervisor/reload_progress.h"

/* Waiting for the generation brought in to become ready. */
static enum ad_progress
starting(const struct ad_progress_facts *f)
{
	if (f->gen_failed)
		return f->new_agent ? AD_PROGRESS_DROP_NEW_AGENT
		                    : AD_PROGRESS_ABANDON;
	if (f->ready < f->wanted)
		return AD_PROGRESS_WAIT;
	if (f->new_agent)
		return AD_PROGRESS_SETTLE_STARTED;
	if (f->canary_pct > 0)
		return AD_PROGRESS_SETTLE_CANARY;
	return f->probation_configured ? AD_PROGRESS_SWITCH_PROBATION
	                               : AD_PROGRESS_SWITCH_SETTLE;
}

enum ad_progress
ad_progress_next(const struct ad_progress_facts *f)
{
	if (f->agent_gone)
		return AD_PROGRESS_REFUSE_REMOVED;
	if (f->superseded)
		return AD_PROGRESS_REFUSE_SUPERSEDED;
	if (!f->probation)
		return starting(f);
	/* The previous generation stood by, ready, for exactly this. */
	if (f->gen_failed)
		return AD_PROGRESS_ROLL_BACK;
	return f->probation_ended ? AD_PROGRESS_END_PROBATION
	                          : AD_PROGRESS_WAIT;
}

const char *
ad_progress_name(enum ad_progress p)
{
	switch (p) {
	case AD_PROGRESS_WAIT:
		return "wait";
	case AD_PROGRESS_REFUSE_REMOVED:
		return "refuse-removed";
	case AD_PROGRESS_REFUSE_SUPERSEDED:
		return "refuse-superseded";
	case AD_PROGRESS_DROP_NEW_AGENT:
		return "drop-failed-new-agent";
	case AD_PROGRESS_ABANDON:
		return "abandon-failed-generation";
	case AD_PROGRESS_SETTLE_STARTED:
		return "settle-started";
	case AD_PROGRESS_SETTLE_CANARY:
		return "settle-canary";
	case AD_PROGRESS_SWITCH_PROBATION:
		return "switch-and-probation";
	case AD_PROGRESS_SWITCH_SETTLE:
		return "switch-and-settle";
	case AD_PROGRESS_ROLL_BACK:
		return "roll-back-during-probation";
	case AD_PROGRESS_END_PROBATION:
		return "end-probation";
	}
	return "unknown";
}
