/*
 * rules.h - the policy gate's rules: which risk a proposal has.
 *
 * Owns struct ad_policy (one `policy { }` section: agentd's, or an
 * agent's override) and the pure decision of which rule a proposal
 * matches (doc/policy.md).  No I/O, no clock: config/conf.c fills the
 * structs, the supervisor's gate asks ad_policy_classify().
 */
#ifndef AD_POLICY_RULES_H
#define AD_POLICY_RULES_H

#include <stddef.h>
#include <stdint.h>

enum ad_risk {
	AD_RISK_LOW = 0, /* runs at once */
	AD_RISK_MEDIUM,  /* runs at once, published on approvals.notify */
	AD_RISK_HIGH,    /* waits for a person until its deadline */
};

/* What a pending HIGH decision becomes when its deadline passes. */
enum ad_at_deadline {
	AD_AT_DEADLINE_REJECT = 0, /* outcome "expired", not approved */
	AD_AT_DEADLINE_APPROVE,    /* outcome "approved" by the policy */
};

/*
 * One `rule "NAME" { }`.  A proposal matches when its type is covered by
 * one of types (whole-segment prefixes and "*", as topics; no types: any
 * type) and every bound that is set holds.  Unset bounds are NAN.
 */
struct ad_policy_rule {
	char  *name;
	char  *file;
	int    line;
	char **types;
	size_t ntypes;
	double amount_min;     /* amount >= amount_min */
	double amount_max;     /* amount <  amount_max */
	double confidence_min; /* confidence >= confidence_min */
	double confidence_max; /* confidence <  confidence_max */

	enum ad_risk        risk;
	int64_t             deadline_ms; /* HIGH: 0 means the policy's */
	enum ad_at_deadline at_deadline;
	int                 at_deadline_set; /* else the policy's */
};

/*
 * One `policy { }` section.  In an agent's section only the options
 * written are set (the *_set flags, max_pending > 0); the rest come from
 * agentd's.  agentd's, as the loader fills it, holds a value in every
 * field (written, else ad_policy_defaults()'s) and the *_set flags say
 * which were written; ad_policy_classify() reads a value only where its
 * flag is set, so a zeroed agentd's policy acts as the defaults too.
 */
struct ad_policy {
	char *file;
	int   line;

	struct ad_policy_rule *rules; /* in file order: first match wins */
	size_t                 nrules;

	enum ad_risk        default_risk; /* HIGH unless written */
	int                 default_risk_set;
	int64_t             deadline_ms; /* HIGH's deadline by default */
	int                 deadline_set;
	enum ad_at_deadline at_deadline;
	int                 at_deadline_set;
	unsigned            max_pending; /* per agent; 0: not written */

	/* Bounds every deadline must lie within (agentd's section only). */
	int64_t deadline_min_ms;
	int64_t deadline_max_ms;
};

/* agentd's policy when nothing is written (doc/policy.md). */
#define AD_POLICY_DEFAULT_RISK AD_RISK_HIGH
#define AD_POLICY_DEFAULT_DEADLINE_MS ((int64_t)24 * 60 * 60 * 1000)
#define AD_POLICY_DEFAULT_AT_DEADLINE AD_AT_DEADLINE_REJECT
#define AD_POLICY_DEFAULT_MAX_PENDING 1000u
#define AD_POLICY_DEFAULT_DEADLINE_MIN_MS ((int64_t)60 * 1000)
#define AD_POLICY_DEFAULT_DEADLINE_MAX_MS ((int64_t)30 * 24 * 60 * 60 * 1000)

/* *p as agentd's policy { } is when it writes nothing: the defaults above,
 * no rule, no *_set flag, no file. */
void ad_policy_defaults(struct ad_policy *p);

/* What ad_policy_classify() found. */
struct ad_policy_match {
	const struct ad_policy_rule *rule; /* NULL: no rule, default_risk */
	const char                  *rule_name; /* "default" without rule */
	const char                  *file;      /* the rule's, or NULL */
	int                          line;
	enum ad_risk                 risk;
	int64_t                      deadline_ms; /* for HIGH */
	enum ad_at_deadline          at_deadline;
};

/*
 * Classify a proposal: the agent's rules (agent may be NULL) first, then
 * agentd's; the first that matches decides.  No match: the agent's
 * default_risk if it sets one, else agentd's.  Deadline and at_deadline
 * come from the rule if it sets them, else the agent's policy, else
 * agentd's (global NULL: the defaults above).  type is a valid topic,
 * amount >= 0, confidence in 0..1 (checked before: ad_proposal_check());
 * a NaN matches no bound that is set.  out borrows from the policies.
 */
void ad_policy_classify(const struct ad_policy *agent,
    const struct ad_policy *global, const char *type, double amount,
    double confidence, struct ad_policy_match *out);

/* The effective pending bound of an agent (agent's, else agentd's). */
unsigned ad_policy_max_pending(
    const struct ad_policy *agent, const struct ad_policy *global);

/* "low", "medium", "high" ("?" for no risk); and back (-1: not a risk,
 * NULL included). */
const char *ad_risk_name(enum ad_risk r);
int         ad_risk_parse(const char *s);

/*
 * Deep copy into dst (whatever it held is not freed); always 0, running
 * out of memory aborts as everywhere in agentd.  Clear frees the struct's
 * contents, not the struct, and zeroes it.  Same: 1 if a and b ask for
 * the same thing (where they are written, file and line, does not count;
 * a value whose *_set flag is clear neither); two NULLs are the same.
 */
int  ad_policy_copy(struct ad_policy *dst, const struct ad_policy *src);
void ad_policy_clear(struct ad_policy *p);
int  ad_policy_same(const struct ad_policy *a, const struct ad_policy *b);

#endif
