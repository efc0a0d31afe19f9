/*
 * test_policy_rules.c - the policy gate's classifier on policies built in
 * memory: which rule decides (the first, the agent's before agentd's),
 * how types and bounds match at their exact edges, what is inherited
 * when nothing decides, and the copies and comparisons reload relies on.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/rules.h"
#include "tap.h"

#define H ((int64_t)60 * 60 * 1000)

/* Appends a rule of this risk covering the NULL-terminated types (none:
 * any type), every bound unset; the policy owns it. */
static struct ad_policy_rule *
add_rule(struct ad_policy *p, const char *name, enum ad_risk risk, ...)
{
	struct ad_policy_rule *r;
	const char            *t;
	va_list                ap;

	p->rules = ad_xrealloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
	r        = &p->rules[p->nrules++];
	memset(r, 0, sizeof(*r));
	r->name           = ad_xstrdup(name);
	r->file           = ad_xstrdup("test.conf");
	r->line           = (int)p->nrules * 10;
	r->amount_min     = NAN;
	r->amount_max     = NAN;
	r->confidence_min = NAN;
	r->confidence_max = NAN;
	r->risk           = risk;
	va_start(ap, risk);
	while ((t = va_arg(ap, const char *)) != NULL) {
		r->types = ad_xrealloc(
		    r->types, (r->ntypes + 1) * sizeof(*r->types));
		r->types[r->ntypes++] = ad_xstrdup(t);
	}
	va_end(ap);
	return r;
}

/* An agent's policy: nothing written. */
static void
empty(struct ad_policy *p)
{
	memset(p, 0, sizeof(*p));
}

/* The risk agent's and agentd's policies give a proposal. */
static enum ad_risk
risk_of(const struct ad_policy *agent, const struct ad_policy *global,
    const char *type, double amount, double confidence)
{
	struct ad_policy_match m;

	ad_policy_classify(agent, global, type, amount, confidence, &m);
	return m.risk;
}

/* The name of the rule that decides, "default" if none. */
static const char *
rule_of(const struct ad_policy *agent, const struct ad_policy *global,
    const char *type, double amount, double confidence)
{
	struct ad_policy_match m;

	ad_policy_classify(agent, global, type, amount, confidence, &m);
	return m.rule_name;
}

static void
test_order(void)
{
	struct ad_policy       g, a;
	struct ad_policy_match m;

	ad_policy_defaults(&g);
	empty(&a);
	add_rule(&g, "first", AD_RISK_LOW, "price", NULL);
	add_rule(&g, "second", AD_RISK_MEDIUM, "price", NULL);
	add_rule(&g, "refunds", AD_RISK_MEDIUM, "refund", NULL);
	is_str(rule_of(NULL, &g, "price", 1, 1), "first",
	    "order: of two rules that match, the first decides");
	is_int(risk_of(NULL, &g, "price", 1, 1), AD_RISK_LOW,
	    "order: with the first one's risk");
	is_str(rule_of(NULL, &g, "refund", 1, 1), "refunds",
	    "order: a rule that does not match is passed over");

	add_rule(&a, "agents", AD_RISK_HIGH, "price", NULL);
	is_str(rule_of(&a, &g, "price", 1, 1), "agents",
	    "order: the agent's rule before agentd's");
	is_int(risk_of(&a, &g, "price", 1, 1), AD_RISK_HIGH,
	    "order: with the agent's risk");
	is_str(rule_of(&a, &g, "refund", 1, 1), "refunds",
	    "order: agentd's rule when none of the agent's matches");

	ad_policy_classify(&a, &g, "refund", 1, 1, &m);
	ok(m.rule == &g.rules[2] && strcmp(m.file, "test.conf") == 0
	        && m.line == 30,
	    "order: the match points at the rule, its file and line");
	ad_policy_classify(&a, &g, "other", 1, 1, &m);
	ok(m.rule == NULL && strcmp(m.rule_name, "default") == 0
	        && m.file == NULL && m.line == 0 && m.risk == AD_RISK_HIGH,
	    "order: no rule matches: \"default\", no file, high");
	ad_policy_clear(&a);
	ad_policy_clear(&g);
}

static void
test_types(void)
{
	struct ad_policy g;

	ad_policy_defaults(&g);
	add_rule(&g, "price", AD_RISK_LOW, "price", NULL);
	add_rule(&g, "exact", AD_RISK_MEDIUM, "order.new", "x.y.z", NULL);
	is_str(rule_of(NULL, &g, "price", 0, 0), "price",
	    "types: a pattern covers itself");
	is_str(rule_of(NULL, &g, "price.change", 0, 0), "price",
	    "types: and a type one segment below");
	is_str(rule_of(NULL, &g, "price.change.big", 0, 0), "price",
	    "types: and two below");
	is_str(rule_of(NULL, &g, "prices", 0, 0), "default",
	    "types: not a longer segment (prices)");
	is_str(rule_of(NULL, &g, "pric", 0, 0), "default",
	    "types: not a shorter one");
	is_str(rule_of(NULL, &g, "x.price", 0, 0), "default",
	    "types: not the same segment further down");
	is_str(rule_of(NULL, &g, "order", 0, 0), "default",
	    "types: a pattern does not cover what is above it");
	is_str(rule_of(NULL, &g, "x.y.z", 0, 0), "exact",
	    "types: any of a rule's patterns");
	ad_policy_clear(&g);

	ad_policy_defaults(&g);
	add_rule(&g, "refunds", AD_RISK_HIGH, "refund", NULL);
	add_rule(&g, "all", AD_RISK_LOW, "*", NULL);
	is_str(rule_of(NULL, &g, "anything.at.all", 0, 0), "all",
	    "types: \"*\" covers every type");
	is_str(rule_of(NULL, &g, "refund", 0, 0), "refunds",
	    "types: after a rule that matched first");
	ad_policy_clear(&g);

	ad_policy_defaults(&g);
	add_rule(&g, "any", AD_RISK_MEDIUM, NULL);
	is_str(rule_of(NULL, &g, "whatever", 0, 0), "any",
	    "types: a rule without types covers every type");
	ad_policy_clear(&g);
}

/* Each bound at its value and at the nearest double on the other side. */
static void
test_bounds(void)
{
	struct ad_policy       g;
	struct ad_policy_rule *r;

	ad_policy_defaults(&g);
	r             = add_rule(&g, "amount", AD_RISK_LOW, "a", NULL);
	r->amount_min = 10;
	r->amount_max = 50;
	is_str(rule_of(NULL, &g, "a", 10, 0.5), "amount",
	    "bounds: amount_at_least includes its value");
	is_str(rule_of(NULL, &g, "a", nextafter(10, 0), 0.5), "default",
	    "bounds: and nothing under it");
	is_str(rule_of(NULL, &g, "a", nextafter(50, 0), 0.5), "amount",
	    "bounds: amount_below takes what is under it");
	is_str(rule_of(NULL, &g, "a", 50, 0.5), "default",
	    "bounds: but not its value");

	r                 = add_rule(&g, "conf", AD_RISK_LOW, "c", NULL);
	r->confidence_min = 0.8;
	r->confidence_max = 0.9;
	is_str(rule_of(NULL, &g, "c", 1, 0.8), "conf",
	    "bounds: confidence_at_least includes its value");
	is_str(rule_of(NULL, &g, "c", 1, nextafter(0.8, 0)), "default",
	    "bounds: and nothing under it");
	is_str(rule_of(NULL, &g, "c", 1, nextafter(0.9, 0)), "conf",
	    "bounds: confidence_below takes what is under it");
	is_str(rule_of(NULL, &g, "c", 1, 0.9), "default",
	    "bounds: but not its value");

	/* One bound alone: the others do not count. */
	r             = add_rule(&g, "floor", AD_RISK_MEDIUM, "f", NULL);
	r->amount_min = 100;
	is_str(rule_of(NULL, &g, "f", 1e300, 0), "floor",
	    "bounds: only amount_at_least: no ceiling");
	is_str(rule_of(NULL, &g, "f", 99, 0), "default",
	    "bounds: only amount_at_least: under it");
	r                 = add_rule(&g, "ceiling", AD_RISK_MEDIUM, "g", NULL);
	r->confidence_max = 0.5;
	is_str(rule_of(NULL, &g, "g", 0, 0), "ceiling",
	    "bounds: only confidence_below: no floor");
	is_str(rule_of(NULL, &g, "g", 0, 0.5), "default",
	    "bounds: only confidence_below: at it");

	/* NAN bounds are unset: every amount and confidence matches. */
	add_rule(&g, "open", AD_RISK_LOW, "n", NULL);
	ok(strcmp(rule_of(NULL, &g, "n", 0, 0), "open") == 0
	        && strcmp(rule_of(NULL, &g, "n", 1e12, 1), "open") == 0,
	    "bounds: unset (NAN) bounds hold for any value");
	/* A NaN that got past the contract check matches no bound set. */
	is_str(rule_of(NULL, &g, "a", NAN, 0.5), "default",
	    "bounds: a NaN amount fails amount bounds");
	is_str(rule_of(NULL, &g, "c", 1, NAN), "default",
	    "bounds: a NaN confidence fails confidence bounds");
	is_int(risk_of(NULL, &g, "c", 1, NAN), AD_RISK_HIGH,
	    "bounds: and is high, the default");
	ad_policy_clear(&g);
}

static void
test_default_risk(void)
{
	struct ad_policy g, a, zero;

	ad_policy_defaults(&g);
	empty(&a);
	empty(&zero);
	is_int(risk_of(NULL, &g, "x", 0, 1), AD_RISK_HIGH,
	    "default: high when nothing is written");
	is_int(risk_of(NULL, NULL, "x", 0, 1), AD_RISK_HIGH,
	    "default: high without agentd's policy");
	is_int(risk_of(&a, &zero, "x", 0, 1), AD_RISK_HIGH,
	    "default: high with a zeroed one (LOW is 0, not written)");
	g.default_risk     = AD_RISK_MEDIUM;
	g.default_risk_set = 1;
	is_int(risk_of(&a, &g, "x", 0, 1), AD_RISK_MEDIUM,
	    "default: agentd's when written and the agent's is not");
	a.default_risk     = AD_RISK_LOW;
	a.default_risk_set = 1;
	is_int(risk_of(&a, &g, "x", 0, 1), AD_RISK_LOW,
	    "default: the agent's over agentd's");
	is_int(risk_of(NULL, &g, "x", 0, 1), AD_RISK_MEDIUM,
	    "default: agentd's for an agent without a policy");
	a.default_risk = AD_RISK_HIGH;
	g.default_risk = AD_RISK_LOW;
	is_int(risk_of(&a, &g, "x", 0, 1), AD_RISK_HIGH,
	    "default: the agent's, also when it is the stricter");
	a.default_risk_set = 0;
	a.default_risk     = AD_RISK_LOW;
	g.default_risk_set = 0;
	is_int(risk_of(&a, &g, "x", 0, 1), AD_RISK_HIGH,
	    "default: a value not marked written counts for nothing");
}

static void
test_inheritance(void)
{
	struct ad_policy       g, a;
	struct ad_policy_rule *r;
	struct ad_policy_match m;

	ad_policy_defaults(&g);
	empty(&a);
	add_rule(&g, "timed", AD_RISK_HIGH, "t", NULL);
	add_rule(&g, "plain", AD_RISK_HIGH, "p", NULL);
	r = &g.rules[0]; /* add_rule() moves the rules */

	ad_policy_classify(&a, &g, "p", 0, 1, &m);
	ok(m.deadline_ms == 24 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: nothing written: 24h, reject");
	ad_policy_classify(NULL, NULL, "p", 0, 1, &m);
	ok(m.deadline_ms == 24 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: no policy at all: 24h, reject");

	g.deadline_ms     = 12 * H;
	g.deadline_set    = 1;
	g.at_deadline     = AD_AT_DEADLINE_APPROVE;
	g.at_deadline_set = 1;
	ad_policy_classify(&a, &g, "p", 0, 1, &m);
	ok(m.deadline_ms == 12 * H && m.at_deadline == AD_AT_DEADLINE_APPROVE,
	    "inherit: agentd's when written");

	a.deadline_ms     = 2 * H;
	a.deadline_set    = 1;
	a.at_deadline     = AD_AT_DEADLINE_REJECT;
	a.at_deadline_set = 1;
	ad_policy_classify(&a, &g, "p", 0, 1, &m);
	ok(m.deadline_ms == 2 * H && m.at_deadline == AD_AT_DEADLINE_REJECT
	        && m.rule == &g.rules[1],
	    "inherit: the agent's over agentd's, for agentd's rule too");
	ad_policy_classify(&a, &g, "none", 0, 1, &m);
	ok(m.deadline_ms == 2 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: the agent's for the default risk");

	r->deadline_ms     = 4 * H;
	r->at_deadline     = AD_AT_DEADLINE_APPROVE;
	r->at_deadline_set = 1;
	ad_policy_classify(&a, &g, "t", 0, 1, &m);
	ok(m.deadline_ms == 4 * H && m.at_deadline == AD_AT_DEADLINE_APPROVE,
	    "inherit: the rule's over the agent's");

	/* Values whose flag is clear are not read. */
	r->at_deadline_set = 0;
	a.deadline_set     = 0;
	a.at_deadline      = AD_AT_DEADLINE_APPROVE;
	a.at_deadline_set  = 0;
	g.at_deadline      = AD_AT_DEADLINE_REJECT;
	ad_policy_classify(&a, &g, "p", 0, 1, &m);
	ok(m.deadline_ms == 12 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: unmarked agent values fall through to agentd's");
	g.deadline_set    = 0;
	g.at_deadline     = AD_AT_DEADLINE_APPROVE;
	g.at_deadline_set = 0;
	ad_policy_classify(&a, &g, "p", 0, 1, &m);
	ok(m.deadline_ms == 24 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: unmarked agentd values fall through to the defaults");
	ad_policy_classify(&a, &g, "t", 0, 1, &m);
	ok(m.deadline_ms == 4 * H && m.at_deadline == AD_AT_DEADLINE_REJECT,
	    "inherit: a rule's deadline alone, at_deadline from above");
	ad_policy_clear(&g);
}

static void
test_max_pending(void)
{
	struct ad_policy g, a;

	ad_policy_defaults(&g);
	empty(&a);
	is_int(ad_policy_max_pending(&a, &g), 1000,
	    "max_pending: 1000 by default");
	is_int(ad_policy_max_pending(NULL, NULL), 1000,
	    "max_pending: 1000 without any policy");
	g.max_pending = 200;
	is_int(ad_policy_max_pending(&a, &g), 200,
	    "max_pending: agentd's when the agent writes none");
	is_int(ad_policy_max_pending(NULL, &g), 200,
	    "max_pending: agentd's for an agent without a policy");
	a.max_pending = 5;
	is_int(ad_policy_max_pending(&a, &g), 5,
	    "max_pending: the agent's over agentd's");
	is_int(ad_policy_max_pending(&a, NULL), 5,
	    "max_pending: the agent's without agentd's");
	g.max_pending = 0;
	a.max_pending = 0;
	is_int(ad_policy_max_pending(&a, &g), 1000,
	    "max_pending: 0 is not written, on both sides");
}

static void
test_names(void)
{
	struct ad_policy d;

	ok(strcmp(ad_risk_name(AD_RISK_LOW), "low") == 0
	        && strcmp(ad_risk_name(AD_RISK_MEDIUM), "medium") == 0
	        && strcmp(ad_risk_name(AD_RISK_HIGH), "high") == 0,
	    "names: low, medium, high");
	is_str(ad_risk_name((enum ad_risk)3), "?", "names: not a risk");
	ok(ad_risk_parse("low") == AD_RISK_LOW
	        && ad_risk_parse("medium") == AD_RISK_MEDIUM
	        && ad_risk_parse("high") == AD_RISK_HIGH,
	    "names: parsed back");
	ok(ad_risk_parse("High") == -1 && ad_risk_parse("") == -1
	        && ad_risk_parse("highest") == -1 && ad_risk_parse(NULL) == -1,
	    "names: other case, empty, longer, NULL: not a risk");
	memset(&d, 0xff, sizeof(d));
	ad_policy_defaults(&d);
	ok(d.default_risk == AD_RISK_HIGH && !d.default_risk_set
	        && d.deadline_ms == 24 * H && !d.deadline_set
	        && d.at_deadline == AD_AT_DEADLINE_REJECT && !d.at_deadline_set
	        && d.max_pending == 1000 && d.deadline_min_ms == 60000
	        && d.deadline_max_ms == 30 * 24 * H && d.nrules == 0
	        && d.rules == NULL && d.file == NULL && d.line == 0,
	    "defaults: high, 24h, reject, 1000, 1m to 30d; nothing else");
}

/* A policy with something in every field. */
static void
full(struct ad_policy *p)
{
	struct ad_policy_rule *r;

	ad_policy_defaults(p);
	p->file             = ad_xstrdup("a.conf");
	p->line             = 3;
	p->default_risk     = AD_RISK_MEDIUM;
	p->default_risk_set = 1;
	p->deadline_ms      = 2 * H;
	p->deadline_set     = 1;
	p->at_deadline      = AD_AT_DEADLINE_APPROVE;
	p->at_deadline_set  = 1;
	r = add_rule(p, "one", AD_RISK_LOW, "price", "refund.small", NULL);
	r->amount_min      = 0;
	r->amount_max      = 50;
	r->confidence_min  = 0.8;
	r->confidence_max  = 1.1;
	r->deadline_ms     = H;
	r->at_deadline     = AD_AT_DEADLINE_APPROVE;
	r->at_deadline_set = 1;
	add_rule(p, "two", AD_RISK_HIGH, NULL);
}

/* Which change to a copy the comparison notices. */
enum change {
	NAME,
	TYPE,
	NTYPES,
	AMOUNT_MIN,
	AMOUNT_MAX,
	CONFIDENCE_MIN,
	CONFIDENCE_MAX,
	RISK,
	RULE_DEADLINE,
	RULE_AT_DEADLINE,
	RULE_AT_DEADLINE_SET,
	NRULES,
	DEFAULT_RISK,
	DEFAULT_RISK_SET,
	DEADLINE,
	DEADLINE_SET,
	AT_DEADLINE,
	AT_DEADLINE_SET,
	MAX_PENDING,
	DEADLINE_MIN,
	DEADLINE_MAX,
	NCHANGES
};

static void
change(struct ad_policy *p, enum change c)
{
	struct ad_policy_rule *r = &p->rules[0];

	switch (c) {
	case NAME:
		r->name[0] = 'x';
		break;
	case TYPE:
		r->types[1][0] = 'x';
		break;
	case NTYPES:
		r->ntypes--;
		break;
	case AMOUNT_MIN:
		r->amount_min = NAN;
		break;
	case AMOUNT_MAX:
		r->amount_max = nextafter(50, 0);
		break;
	case CONFIDENCE_MIN:
		r->confidence_min = 0.7;
		break;
	case CONFIDENCE_MAX:
		r->confidence_max = NAN;
		break;
	case RISK:
		r->risk = AD_RISK_MEDIUM;
		break;
	case RULE_DEADLINE:
		r->deadline_ms++;
		break;
	case RULE_AT_DEADLINE:
		r->at_deadline = AD_AT_DEADLINE_REJECT;
		break;
	case RULE_AT_DEADLINE_SET:
		r->at_deadline_set = 0;
		break;
	case NRULES:
		p->nrules--;
		break;
	case DEFAULT_RISK:
		p->default_risk = AD_RISK_HIGH;
		break;
	case DEFAULT_RISK_SET:
		p->default_risk_set = 0;
		break;
	case DEADLINE:
		p->deadline_ms++;
		break;
	case DEADLINE_SET:
		p->deadline_set = 0;
		break;
	case AT_DEADLINE:
		p->at_deadline = AD_AT_DEADLINE_REJECT;
		break;
	case AT_DEADLINE_SET:
		p->at_deadline_set = 0;
		break;
	case MAX_PENDING:
		p->max_pending++;
		break;
	case DEADLINE_MIN:
		p->deadline_min_ms++;
		break;
	case DEADLINE_MAX:
		p->deadline_max_ms--;
		break;
	case NCHANGES:
		break;
	}
}

static void
test_copies(void)
{
	struct ad_policy p, d, e;
	int              c, missed = 0;
	size_t           ntypes, nrules;

	full(&p);
	ad_policy_copy(&d, &p);
	ok(ad_policy_same(&d, &p) && ad_policy_same(&p, &d),
	    "copy: the same as its original");
	ok(d.rules != p.rules && d.rules[0].name != p.rules[0].name
	        && d.rules[0].types != p.rules[0].types
	        && d.rules[0].types[0] != p.rules[0].types[0]
	        && d.file != p.file && strcmp(d.file, "a.conf") == 0
	        && strcmp(d.rules[0].types[1], "refund.small") == 0
	        && d.rules[1].ntypes == 0,
	    "copy: deep, every string its own");
	ad_policy_clear(&d);

	/* Each field changed in a copy makes it differ. */
	for (c = 0; c < NCHANGES; c++) {
		ad_policy_copy(&d, &p);
		ntypes = d.rules[0].ntypes;
		nrules = d.nrules;
		change(&d, (enum change)c);
		if (ad_policy_same(&d, &p) || ad_policy_same(&p, &d)) {
			diag("change %d went unnoticed", c);
			missed++;
		}
		/* Put counts back, so that clear frees every entry. */
		d.rules[0].ntypes = ntypes;
		d.nrules          = nrules;
		ad_policy_clear(&d);
	}
	is_int(missed, 0, "same: a change to any field is a difference");

	/* Where it is written, and values not marked written, do not. */
	ad_policy_copy(&d, &p);
	free(d.file);
	d.file          = ad_xstrdup("b.conf");
	d.line          = 99;
	d.rules[0].line = 7;
	free(d.rules[1].file);
	d.rules[1].file = NULL;
	ok(ad_policy_same(&d, &p), "same: file and line do not count");
	ad_policy_clear(&d);
	ad_policy_copy(&d, &p);
	ad_policy_copy(&e, &p);
	d.default_risk_set     = 0;
	e.default_risk_set     = 0;
	e.default_risk         = AD_RISK_LOW;
	d.rules[1].at_deadline = AD_AT_DEADLINE_APPROVE;
	d.rules[1].amount_min  = NAN;
	e.rules[1].amount_min  = NAN;
	ok(ad_policy_same(&d, &e),
	    "same: values not marked written, and NAN and NAN, are alike");
	ad_policy_clear(&e);

	ok(ad_policy_same(NULL, NULL) && !ad_policy_same(&d, NULL)
	        && !ad_policy_same(NULL, &d),
	    "same: two NULLs alike, NULL and a policy not");
	ad_policy_clear(&d);
	ok(d.rules == NULL && d.nrules == 0 && d.file == NULL
	        && d.default_risk_set == 0 && d.max_pending == 0,
	    "clear: zeroed");
	ad_policy_clear(&d);
	ad_policy_clear(NULL);
	ok(1, "clear: twice, and NULL, are harmless");

	/* A copy of a policy without rules, and of one with an empty one. */
	ad_policy_defaults(&e);
	ad_policy_copy(&d, &e);
	ok(d.nrules == 0 && ad_policy_same(&d, &e), "copy: without rules");
	ad_policy_clear(&d);
	ad_policy_clear(&p);
}

int
main(void)
{
	plan(73);
	test_order();
	test_types();
	test_bounds();
	test_default_risk();
	test_inheritance();
	test_max_pending();
	test_names();
	test_copies();
	return done_testing();
}
