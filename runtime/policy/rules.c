/*
 * rules.c - the policy gate's rules: which risk a proposal has; see
 * rules.h.  Pure: the structs come from config/conf.c, the answers go to
 * the supervisor's gate.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/rules.h"

/* In the order of enum ad_risk. */
static const char *const risk_names[] = { "low", "medium", "high" };

#define NRISKS (sizeof(risk_names) / sizeof(risk_names[0]))

const char *
ad_risk_name(enum ad_risk r)
{
	return (unsigned)r < NRISKS ? risk_names[r] : "?";
}

int
ad_risk_parse(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < NRISKS; i++)
		if (strcmp(s, risk_names[i]) == 0)
			return (int)i;
	return -1;
}

void
ad_policy_defaults(struct ad_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->default_risk    = AD_POLICY_DEFAULT_RISK;
	p->deadline_ms     = AD_POLICY_DEFAULT_DEADLINE_MS;
	p->at_deadline     = AD_POLICY_DEFAULT_AT_DEADLINE;
	p->max_pending     = AD_POLICY_DEFAULT_MAX_PENDING;
	p->deadline_min_ms = AD_POLICY_DEFAULT_DEADLINE_MIN_MS;
	p->deadline_max_ms = AD_POLICY_DEFAULT_DEADLINE_MAX_MS;
}

/* ---- matching -------------------------------------------------------- */

/*
 * A bound that is set holds.  Written as !(x >= min) rather than
 * x < min so that a NaN amount or confidence fails every bound set
 * (and falls through to the default risk, HIGH unless written).
 */
static int
rule_matches(const struct ad_policy_rule *r, const char *type, double amount,
    double confidence)
{
	if (r->ntypes > 0 && !ad_topic_any(r->types, r->ntypes, type))
		return 0;
	if (!isnan(r->amount_min) && !(amount >= r->amount_min))
		return 0;
	if (!isnan(r->amount_max) && !(amount < r->amount_max))
		return 0;
	if (!isnan(r->confidence_min) && !(confidence >= r->confidence_min))
		return 0;
	if (!isnan(r->confidence_max) && !(confidence < r->confidence_max))
		return 0;
	return 1;
}

static const struct ad_policy_rule *
first_match(const struct ad_policy *p, const char *type, double amount,
    double confidence)
{
	size_t i;

	for (i = 0; p != NULL && i < p->nrules; i++)
		if (rule_matches(&p->rules[i], type, amount, confidence))
			return &p->rules[i];
	return NULL;
}

/* Each value: the agent's if written, else agentd's if written, else the
 * default.  agentd's holds its defaults anyway; the flags make a zeroed
 * one safe (HIGH, not LOW, which is 0). */
static enum ad_risk
default_risk(const struct ad_policy *agent, const struct ad_policy *global)
{
	if (agent != NULL && agent->default_risk_set)
		return agent->default_risk;
	if (global != NULL && global->default_risk_set)
		return global->default_risk;
	return AD_POLICY_DEFAULT_RISK;
}

static int64_t
deadline(const struct ad_policy_rule *r, const struct ad_policy *agent,
    const struct ad_policy *global)
{
	if (r != NULL && r->deadline_ms > 0)
		return r->deadline_ms;
	if (agent != NULL && agent->deadline_set)
		return agent->deadline_ms;
	if (global != NULL && global->deadline_set)
		return global->deadline_ms;
	return AD_POLICY_DEFAULT_DEADLINE_MS;
}

static enum ad_at_deadline
at_deadline(const struct ad_policy_rule *r, const struct ad_policy *agent,
    const struct ad_policy *global)
{
	if (r != NULL && r->at_deadline_set)
		return r->at_deadline;
	if (agent != NULL && agent->at_deadline_set)
		return agent->at_deadline;
	if (global != NULL && global->at_deadline_set)
		return global->at_deadline;
	return AD_POLICY_DEFAULT_AT_DEADLINE;
}

void
ad_policy_classify(const struct ad_policy *agent,
    const struct ad_policy *global, const char *type, double amount,
    double confidence, struct ad_policy_match *out)
{
	const struct ad_policy_rule *r;

	r = first_match(agent, type, amount, confidence);
	if (r == NULL)
		r = first_match(global, type, amount, confidence);
	memset(out, 0, sizeof(*out));
	out->rule        = r;
	out->rule_name   = r != NULL ? r->name : "default";
	out->file        = r != NULL ? r->file : NULL;
	out->line        = r != NULL ? r->line : 0;
	out->risk        = r != NULL ? r->risk : default_risk(agent, global);
	out->deadline_ms = deadline(r, agent, global);
	out->at_deadline = at_deadline(r, agent, global);
}

unsigned
ad_policy_max_pending(
    const struct ad_policy *agent, const struct ad_policy *global)
{
	if (agent != NULL && agent->max_pending > 0)
		return agent->max_pending;
	if (global != NULL && global->max_pending > 0)
		return global->max_pending;
	return AD_POLICY_DEFAULT_MAX_PENDING;
}

/* ---- copies and comparisons ------------------------------------------ */

static void
rule_copy(struct ad_policy_rule *d, const struct ad_policy_rule *s)
{
	size_t i;

	*d       = *s;
	d->name  = ad_xstrdup_or_null(s->name);
	d->file  = ad_xstrdup_or_null(s->file);
	d->types = ad_xcalloc(s->ntypes, sizeof(*d->types));
	for (i = 0; i < s->ntypes; i++)
		d->types[i] = ad_xstrdup(s->types[i]);
}

static void
rule_clear(struct ad_policy_rule *r)
{
	size_t i;

	free(r->name);
	free(r->file);
	for (i = 0; i < r->ntypes; i++)
		free(r->types[i]);
	free(r->types);
	memset(r, 0, sizeof(*r));
}

int
ad_policy_copy(struct ad_policy *dst, const struct ad_policy *src)
{
	size_t i;

	*dst       = *src;
	dst->file  = ad_xstrdup_or_null(src->file);
	dst->rules = ad_xcalloc(src->nrules, sizeof(*dst->rules));
	for (i = 0; i < src->nrules; i++)
		rule_copy(&dst->rules[i], &src->rules[i]);
	return 0;
}

void
ad_policy_clear(struct ad_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Two bounds are the same when both are unset (NAN) or equal. */
static int
same_bound(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static int
rule_same(const struct ad_policy_rule *a, const struct ad_policy_rule *b)
{
	size_t i;

	if (!same_str(a->name, b->name) || a->ntypes != b->ntypes
	    || !same_bound(a->amount_min, b->amount_min)
	    || !same_bound(a->amount_max, b->amount_max)
	    || !same_bound(a->confidence_min, b->confidence_min)
	    || !same_bound(a->confidence_max, b->confidence_max)
	    || a->risk != b->risk || a->deadline_ms != b->deadline_ms
	    || a->at_deadline_set != b->at_deadline_set
	    || (a->at_deadline_set && a->at_deadline != b->at_deadline))
		return 0;
	for (i = 0; i < a->ntypes; i++)
		if (!same_str(a->types[i], b->types[i]))
			return 0;
	return 1;
}

int
ad_policy_same(const struct ad_policy *a, const struct ad_policy *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->nrules != b->nrules
	    || a->default_risk_set != b->default_risk_set
	    || (a->default_risk_set && a->default_risk != b->default_risk)
	    || a->deadline_set != b->deadline_set
	    || (a->deadline_set && a->deadline_ms != b->deadline_ms)
	    || a->at_deadline_set != b->at_deadline_set
	    || (a->at_deadline_set && a->at_deadline != b->at_deadline)
	    || a->max_pending != b->max_pending
	    || a->deadline_min_ms != b->deadline_min_ms
	    || a->deadline_max_ms != b->deadline_max_ms)
		return 0;
	for (i = 0; i < a->nrules; i++)
		if (!rule_same(&a->rules[i], &b->rules[i]))
			return 0;
	return 1;
}
