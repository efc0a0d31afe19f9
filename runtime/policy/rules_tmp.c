/* TEMPORARY until policy/rules.c and ad_proposal_check land: every
 * proposal is high. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <agentd/error.h>

#include "policy/rules.h"
#include "sdk/contract.h"

void
ad_policy_classify(const struct ad_policy *agent,
    const struct ad_policy *global, const char *type, double amount,
    double confidence, struct ad_policy_match *out)
{
	(void)agent;
	(void)global;
	(void)amount;
	(void)confidence;
	memset(out, 0, sizeof(*out));
	out->rule_name   = "default";
	out->risk        = strncmp(type, "low", 3) == 0 ? AD_RISK_LOW
	           : strncmp(type, "medium", 6) == 0    ? AD_RISK_MEDIUM
	                                                : AD_RISK_HIGH;
	out->deadline_ms = strncmp(type, "quick", 5) == 0 ? 1500 : 86400000;
}

unsigned
ad_policy_max_pending(
    const struct ad_policy *agent, const struct ad_policy *global)
{
	(void)agent;
	(void)global;
	return 1000;
}

const char *
ad_risk_name(enum ad_risk r)
{
	return r == AD_RISK_LOW   ? "low"
	    : r == AD_RISK_MEDIUM ? "medium"
	                          : "high";
}

int
ad_risk_parse(const char *s)
{
	return strcmp(s, "low") == 0   ? AD_RISK_LOW
	    : strcmp(s, "medium") == 0 ? AD_RISK_MEDIUM
	    : strcmp(s, "high") == 0   ? AD_RISK_HIGH
	                               : -1;
}
