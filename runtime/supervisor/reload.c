#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "config/options.h"
#include "store/audit.h"
#include "store/store.h"
#include "supervisor/agent.h"
#include "supervisor/dispatch.h"
#include "supervisor/instance.h"
#include "supervisor/reload.h"
#include "supervisor/reload_progress.h"
#include "supervisor/supervisor.h"

/* What happened to one agent; settled once `what` is set. */
enum phase {
	WAIT_READY = 0, /* the generation brought in is starting */
	WAIT_PROBATION, /* it serves; the previous one stands by */
	SETTLED,
};

struct outcome {
	char        agent[AD_NAME_MAX]; /* "" for a file that held none */
	char        file[256];
	enum phase  phase;
	const char *what; /* "unchanged", "started", ... */
	unsigned    gen;  /* the generation on trial */
	int         new_agent;
	int         no_probation; /* promote, rollback: the operator chose */
	int         rollback;
	char        from[96], to[96]; /* "1.0 (3f2a9c1e)" */
	char        fromv[64], tov[64];
	char        fromh[AD_HASH_LEN], toh[AD_HASH_LEN];
	char        why[AD_ERRLEN];
};

struct ad_reload {
	enum ad_reload_kind kind;
	char                agent[AD_NAME_MAX];
	unsigned            pct;
	char                by[64];
	struct ad_srvctx   *waiter;
	int                 started;
	struct outcome     *v;
	size_t              n;
	struct ad_reload   *next;
};

/* "1.0 (3f2a9c1e)": the plugin's version and the start of its hash. */
static void
ver(char *out, size_t len, const struct ad_gen *g)
{
	const char *h
	    = strncmp(g->hash, "sha256:", 7) == 0 ? g->hash + 7 : g->hash;

	snprintf(out, len, "%s (%.8s)", g->version[0] ? g->version : "?", h);
}

static void
set_from(struct outcome *o, const struct ad_gen *g)
{
	ver(o->from, sizeof(o->from), g);
	snprintf(o->fromv, sizeof(o->fromv), "%s", g->version);
	snprintf(o->fromh, sizeof(o->fromh), "%s", g->hash);
}

static void
set_to(struct outcome *o, const struct ad_gen *g)
{
	ver(o->to, sizeof(o->to), g);
	snprintf(o->tov, sizeof(o->tov), "%s", g->version);
	snprintf(o->toh, sizeof(o->toh), "%s", g->hash);
}

static struct outcome *
item(struct ad_reload *r, const char *agent)
{
	struct outcome *o;

	r->v = ad_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	o    = &r->v[r->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->agent, sizeof(o->agent), "%s", agent ? agent : "");
	return o;
}

static struct outcome *
item_of(struct ad_reload *r, const char *agent)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].agent, agent) == 0)
			return &r->v[i];
	return NULL;
}

static void settle(struct outcome *o, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
settle(struct outcome *o, const char *what, const char *fmt, ...)
{
	va_list ap;

	o->phase = SETTLED;
	o->what  = what;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(o->why, sizeof(o->why), fmt, ap);
		va_end(ap);
	}
}

void
ad_reload_ask(struct ad_sv *sv, enum ad_reload_kind kind, const char *agent,
    unsigned pct, const char *by, struct ad_srvctx *waiter)
{
	struct ad_reload **tail, *r;

	for (tail = &sv->reload; *tail != NULL; tail = &(*tail)->next) {
		/* A SIGHUP while one waits to start: that one covers it. */
		if (waiter == NULL && kind == AD_RELOAD_ALL
		    && (*tail)->kind == AD_RELOAD_ALL && !(*tail)->started)
			return;
	}
	r         = ad_xcalloc(1, sizeof(*r));
	r->kind   = kind;
	r->pct    = pct;
	r->waiter = waiter;
	snprintf(r->agent, sizeof(r->agent), "%s", agent ? agent : "");
	snprintf(r->by, sizeof(r->by), "%s", by);
	*tail = r;
	ad_sv_wake(sv);
}

/* ---- what changed --------------------------------------------------- */

/* The configuration as a reload read it, with each plugin stored. */
struct plan {
	struct ad_config    *cfg;
	struct ad_described *dv;
	size_t               dn;
	char               **stored; /* per cfg agent: the store's copy */
	char               **why;    /* or why it could not be stored */
};

static void
plan_free(struct plan *p)
{
	size_t i;

	for (i = 0; p->cfg != NULL && i < p->cfg->nagents; i++) {
		free(p->stored[i]);
		free(p->why[i]);
	}
	free(p->stored);
	free(p->why);
	free(p->dv);
	ad_config_free(p->cfg);
}

/*
 * Read the configuration and copy every plugin it names into the store
 * (a copy already there is the same bytes).  Without mtx: this runs the
 * worker to describe each plugin.
 */
static int
plan_read(struct ad_sv *sv, struct plan *p, char *err, size_t errlen)
{
	char  *dir = ad_path_join(sv->state_dir, "plugins");
	char   why[AD_ERRLEN];
	size_t i;
	int    rv;

	memset(p, 0, sizeof(*p));
	rv = ad_sv_read_config(sv, 1, &p->cfg, &p->dv, &p->dn, err, errlen);
	if (rv != 0) {
		free(dir);
		return rv;
	}
	p->stored = ad_xcalloc(p->cfg->nagents + 1, sizeof(*p->stored));
	p->why    = ad_xcalloc(p->cfg->nagents + 1, sizeof(*p->why));
	for (i = 0; i < p->cfg->nagents; i++) {
		const struct ad_agent_conf *c = &p->cfg->agents[i];
		const struct ad_described  *d
		    = ad_described_find(p->dv, p->dn, c->name);

		if (d == NULL)
			continue; /* left out: a problem says why */
		if (ad_plugin_store(dir, c->plugin_path, d->hash,
		        &p->stored[i], why, sizeof(why))
		    != 0)
			p->why[i] = ad_xstrdup(why);
	}
	free(dir);
	return 0;
}

static const struct ad_config_problem *
problem_of_agent(const struct ad_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nproblems; i++)
		if (cfg->problems[i].agent != NULL
		    && strcmp(cfg->problems[i].agent, name) == 0)
			return &cfg->problems[i];
	return NULL;
}

static const struct ad_config_problem *
problem_of_file(const struct ad_config *cfg, const char *file)
{
	size_t i;

	for (i = 0; i < cfg->nproblems; i++)
		if (cfg->problems[i].agent == NULL
		    && strcmp(cfg->problems[i].file, file) == 0)
			return &cfg->problems[i];
	return NULL;
}

/* ---- the steps, each with mtx held ---------------------------------- */

static void
refuse(struct outcome *o, const struct ad_agent *a, const char *why)
{
	char now[96];

	if (a == NULL) {
		settle(o, "refused", "%s", why);
		return;
	}
	ver(now, sizeof(now), a->cur);
	set_from(o, a->cur);
	settle(o, "refused", "%s; keeps running %s", why, now);
}

static void
remove_agent(struct ad_agent *a)
{
	struct ad_instance *inst;

	a->removed = 1;
	a->next    = NULL;
	LIST_FOREACH(inst, &a->instances, link)
		ad_instance_drain(inst);
	/* Queued requests would wait for instances that will not come. */
	ad_dispatch_fail_queue(a, AGENTD_ENOENT);
	ad_store_agent_del(a->sv->store, a->conf->name);
}

static void
start_agent(struct ad_sv *sv, struct ad_reload *r, struct outcome *o,
    const struct ad_agent_conf *c, const struct ad_described *d,
    const char *stored)
{
	struct ad_agent *a;
	struct ad_gen   *g;

	a              = ad_agent_new(sv, &g, c, d->hash, d->version, r->by);
	g->plugin_path = ad_xstrdup(stored);
	set_to(o, g);
	ad_sv_register_later(sv, g, 1);
	o->new_agent = 1;
	o->gen       = g->number;
	if (a->desired == 0) {
		settle(o, "started", "%s", o->to);
		return;
	}
	/* On trial until its instances are ready: a failure removes it. */
	a->probation_until_ms = INT64_MAX;
	ad_agent_maintain(a);
}

static void
change_agent(struct ad_reload *r, struct outcome *o, struct ad_agent *a,
    const struct ad_agent_conf *c, const struct ad_described *d,
    const char *stored)
{
	struct ad_gen *g = ad_gen_new(a, c, d->hash, d->version, r->by);

	g->plugin_path = ad_xstrdup(stored);
	snprintf(g->prior, sizeof(g->prior), "%s", a->cur->version);
	set_from(o, a->cur);
	set_to(o, g);
	o->gen = g->number;
	/* Nothing runs to hand over from: the next start uses it. */
	if (r->pct == 0 && (a->stopped || a->failed || a->desired == 0)) {
		a->prev = a->cur;
		ad_agent_use(a, g);
		ad_sv_register_later(a->sv, g, 1);
		if (a->failed)
			ad_agent_restart(a, r->by);
		settle(o, "upgraded", NULL);
		return;
	}
	a->next       = g;
	a->canary_pct = r->pct;
	a->canary_acc = 0;
	/* Listed by agentctl versions while it is tried. */
	ad_sv_register_later(a->sv, g, 0);
	ad_agent_maintain(a);
}

/*
 * The policy is read by the gate at each proposal: a change of an agent's
 * policy { } alone takes effect at once, without new instances (decided
 * in doc/policy.md).  1 if that was all that changed.
 */
static int
policy_only(
    struct ad_sv *sv, struct ad_agent *a, const struct ad_agent_conf *c)
{
	struct ad_agent_conf  tmp = *c;
	struct ad_agent_conf *cur = a->cur->conf;

	tmp.policy = cur->policy;
	if (ad_policy_same(cur->policy, c->policy)
	    || !ad_agent_conf_same(cur, &tmp))
		return 0;
	if (cur->policy != NULL)
		ad_policy_clear(cur->policy);
	if (c->policy == NULL) {
		free(cur->policy);
		cur->policy = NULL;
	} else {
		if (cur->policy == NULL)
			cur->policy = ad_xcalloc(1, sizeof(*cur->policy));
		ad_policy_copy(cur->policy, c->policy);
	}
	ad_info("agent %s: its policy { } reloaded from %s", c->name, c->file);
	ad_sv_audit(sv, c->name, NULL, "policy.reload",
	    "the agent's policy reloaded from %s", c->file);
	return 1;
}

/* agentd's policy { } from a reload of every agent, unless a whole file
 * was refused (it may have held it): then the one in force stays. */
static void
reload_global_policy(struct ad_sv *sv, const struct ad_config *cfg)
{
	struct ad_policy *now = &sv->cfg->global.policy;

	for (size_t i = 0; i < cfg->nproblems; i++)
		if (cfg->problems[i].agent == NULL) {
			if (!ad_policy_same(now, &cfg->global.policy))
				ad_warn("policy: agentd's policy { } is kept "
				        "as it was: %s",
				    cfg->problems[i].err);
			return;
		}
	if (ad_policy_same(now, &cfg->global.policy))
		return;
	ad_policy_clear(now);
	ad_policy_copy(now, &cfg->global.policy);
	ad_info("policy: agentd's policy { } reloaded (%zu rule(s)%s%s)",
	    now->nrules, now->file ? " from " : "",
	    now->file ? now->file : "");
	ad_sv_audit(sv, NULL, NULL, "policy.reload",
	    "agentd's policy reloaded: %zu rule(s)", now->nrules);
}

/* http { } is read at start: a reload that changes it says so. */
static void
warn_http_changed(struct ad_sv *sv, const struct ad_config *cfg)
{
	const struct ad_global_conf *a = &sv->cfg->global, *b = &cfg->global;

	if (ad_opts_same(ad_http_opts, a, b))
		return;
	ad_warn("%s:%d: http { } changed: the HTTP server keeps what it "
	        "started with until agentd restarts",
	    b->file != NULL ? b->file : sv->confdir, b->http_line);
}

/* log { } is read at start too. */
static void
warn_log_changed(struct ad_sv *sv, const struct ad_config *cfg)
{
	const struct ad_global_conf *a = &sv->cfg->global, *b = &cfg->global;

	if (ad_opts_same(ad_log_opts, a, b))
		return;
	ad_warn("%s: log { } changed: agentd keeps logging where it started "
	        "until it restarts",
	    b->file != NULL ? b->file : sv->confdir);
}

/* control { } is read at start too: the sockets keep their group. */
static void
warn_control_changed(struct ad_sv *sv, const struct ad_config *cfg)
{
	const struct ad_global_conf *a = &sv->cfg->global, *b = &cfg->global;

	if (ad_opts_same(ad_control_opts, a, b))
		return;
	ad_warn("%s: control { } changed: control.sock and tail.sock keep "
	        "the group they started with until agentd restarts",
	    b->file != NULL ? b->file : sv->confdir);
}

/* A reload of every agent, or (canary) of one. */
static void
apply_plan(struct ad_sv *sv, struct ad_reload *r, const struct plan *p)
{
	const struct ad_config *cfg = p->cfg;
	struct outcome         *o;
	struct ad_agent        *a;
	size_t                  i;
	int                     seen = 0;

	if (r->kind == AD_RELOAD_ALL) {
		reload_global_policy(sv, cfg);
		warn_http_changed(sv, cfg);
		warn_log_changed(sv, cfg);
		warn_control_changed(sv, cfg);
	}
	for (i = 0; i < cfg->nagents; i++) {
		const struct ad_agent_conf     *c = &cfg->agents[i];
		const struct ad_config_problem *pr;
		const struct ad_described      *d
		    = ad_described_find(p->dv, p->dn, c->name);

		if (r->kind == AD_RELOAD_CANARY
		    && strcmp(c->name, r->agent) != 0)
			continue;
		seen = 1;
		a    = ad_sv_agent(sv, c->name);
		o    = item(r, c->name);
		if ((pr = problem_of_agent(cfg, c->name)) != NULL)
			refuse(o, a, pr->err);
		else if (d == NULL || p->stored[i] == NULL)
			refuse(
			    o, a, p->why[i] ? p->why[i] : "plugin not stored");
		else if (a == NULL && r->kind == AD_RELOAD_CANARY)
			refuse(o, a,
			    "it does not run yet: a canary needs a running "
			    "version; agentctl reload starts it");
		else if (a == NULL)
			start_agent(sv, r, o, c, d, p->stored[i]);
		else if (strcmp(a->cur->hash, d->hash) == 0
		    && policy_only(sv, a, c))
			settle(o, "unchanged", NULL);
		else if (strcmp(a->cur->hash, d->hash) == 0
		    && ad_agent_conf_same(a->cur->conf, c)) {
			if (r->kind == AD_RELOAD_CANARY)
				refuse(o, a,
				    "nothing changed: install the new plugin "
				    "or edit the agent's section first");
			else
				settle(o, "unchanged", NULL);
		} else if (a->next != NULL) {
			char nv[96];

			ver(nv, sizeof(nv), a->next);
			refuse(o, a, "");
			snprintf(o->why, sizeof(o->why),
			    "%s is being tried (canary or start): agentctl "
			    "promote %s or agentctl rollback %s first; keeps "
			    "running %s",
			    nv, c->name, c->name, o->from);
		} else if (r->kind == AD_RELOAD_CANARY
		    && (a->stopped || a->failed)) {
			refuse(o, a,
			    "it is stopped or failed: a canary needs running "
			    "instances to compare with");
		} else
			change_agent(r, o, a, c, d, p->stored[i]);
	}
	if (r->kind == AD_RELOAD_CANARY) {
		const struct ad_config_problem *pr
		    = problem_of_agent(cfg, r->agent);

		if (!seen)
			refuse(item(r, r->agent), ad_sv_agent(sv, r->agent),
			    pr ? pr->err
			       : "no such agent in the configuration");
		return;
	}
	/* Agents the configuration no longer has (or could not say). */
	for (i = 0; i < sv->nagents; i++) {
		const struct ad_config_problem *pr;

		a = sv->agents[i];
		if (a->removed || item_of(r, a->conf->name) != NULL)
			continue;
		o = item(r, a->conf->name);
		if ((pr = problem_of_agent(cfg, a->conf->name)) != NULL
		    || (pr = problem_of_file(cfg, a->conf->file)) != NULL)
			refuse(o, a, pr->err);
		else {
			set_from(o, a->cur);
			remove_agent(a);
			settle(o, "stopped", NULL);
		}
	}
	/* Errors about no running agent: a new agent, or a file. */
	for (i = 0; i < cfg->nproblems; i++) {
		const struct ad_config_problem *pr = &cfg->problems[i];

		if (pr->agent != NULL && item_of(r, pr->agent) == NULL)
			refuse(item(r, pr->agent), NULL, pr->err);
		else if (pr->agent == NULL) {
			size_t j, used = 0;

			for (j = 0; j < r->n; j++)
				used |= strcmp(r->v[j].why, pr->err) == 0
				    || strstr(r->v[j].why, pr->err) != NULL;
			if (!used) {
				o = item(r, NULL);
				snprintf(
				    o->file, sizeof(o->file), "%s", pr->file);
				refuse(o, NULL, pr->err);
			}
		}
	}
}

static void
apply_promote(struct ad_sv *sv, struct ad_reload *r)
{
	struct ad_agent *a = ad_sv_agent(sv, r->agent);
	struct outcome  *o = item(r, r->agent);

	if (a == NULL) {
		refuse(o, NULL, "no such agent: agentctl status lists them");
		return;
	}
	if (a->next == NULL || a->canary_pct == 0) {
		refuse(o, a,
		    "no canary to promote: agentctl reload --canary "
		    "AGENT PERCENT starts one");
		return;
	}
	set_from(o, a->cur);
	set_to(o, a->next);
	/* All traffic to it once it has as many instances as the current
	 * one; until then the current one serves. */
	o->gen          = a->next->number;
	o->no_probation = 1;
	a->canary_pct   = 0;
	ad_agent_maintain(a);
}

static void
apply_rollback(struct ad_sv *sv, struct ad_reload *r)
{
	struct ad_agent *a = ad_sv_agent(sv, r->agent);
	struct outcome  *o = item(r, r->agent);
	struct ad_gen   *g;

	if (a == NULL) {
		refuse(o, NULL, "no such agent: agentctl status lists them");
		return;
	}
	set_from(o, a->cur);
	if (a->next != NULL) {
		/* A canary, or a generation still starting: abandoned. */
		set_from(o, a->next);
		set_to(o, a->cur);
		a->next       = NULL;
		a->canary_pct = 0;
		/* Requests the split gave it go to the current one now. */
		ad_dispatch_pump(a);
		ad_agent_maintain(a);
		settle(o, "rolled back", "from %s to %s", o->from, o->to);
		return;
	}
	if ((g = a->prev) == NULL) {
		refuse(o, a,
		    "no earlier version since agentd started: agentctl "
		    "versions lists the plugins it has run; install one and "
		    "reload");
		return;
	}
	set_to(o, g);
	a->prev      = NULL;
	g->failed[0] = '\0';
	snprintf(g->prior, sizeof(g->prior), "%s", a->cur->version);
	snprintf(g->by, sizeof(g->by), "%s", r->by);
	g->loaded_ms    = ad_wall_ms();
	o->gen          = g->number;
	o->no_probation = 1;
	o->rollback     = 1;
	a->next         = g;
	a->canary_pct   = 0;
	if (a->stopped || a->failed || a->desired == 0) {
		a->next = NULL;
		a->prev = a->cur;
		ad_agent_use(a, g);
		ad_sv_register_later(sv, g, 1);
		settle(o, "rolled back", "from %s to %s", o->from, o->to);
		return;
	}
	ad_agent_maintain(a);
}

/* The generation on trial takes the traffic. */
static void
switch_to(struct ad_agent *a, struct ad_gen *g)
{
	a->prev = a->cur;
	ad_agent_use(a, g);
	a->next       = NULL;
	a->canary_pct = 0;
	ad_sv_register_later(a->sv, g, 1);
	ad_dispatch_pump(a);
}

/*
 * What progress_one decides on (reload_progress.h); *ap and *gp: the
 * agent and the generation on trial, when there are.
 */
static void
progress_facts(struct ad_sv *sv, const struct outcome *o, int64_t now,
    struct ad_agent **ap, struct ad_gen **gp, struct ad_progress_facts *f)
{
	struct ad_agent *a = ad_sv_agent(sv, o->agent);
	struct ad_gen   *g = NULL;

	memset(f, 0, sizeof(*f));
	if (a != NULL)
		g = o->new_agent || o->phase == WAIT_PROBATION ? a->cur
		                                               : a->next;
	*ap           = a;
	*gp           = g;
	f->agent_gone = a == NULL;
	f->superseded = g == NULL || g->number != o->gen;
	if (f->agent_gone || f->superseded)
		return;
	f->probation  = o->phase == WAIT_PROBATION;
	f->gen_failed = g->failed[0] != '\0';
	f->ready      = ad_gen_count(a, g, AD_INST_READY);
	f->wanted     = ad_agent_wanted(a, g);
	f->new_agent  = o->new_agent;
	f->canary_pct = a->canary_pct;
	f->probation_configured
	    = !o->no_probation && g->conf->probation_ms > 0;
	f->probation_ended = now >= a->probation_until_ms;
}

static void
progress_one(struct ad_sv *sv, struct outcome *o, int64_t now)
{
	struct ad_progress_facts f;
	struct ad_agent         *a;
	struct ad_gen           *g, *back;

	progress_facts(sv, o, now, &a, &g, &f);
	switch (ad_progress_next(&f)) {
	case AD_PROGRESS_WAIT:
		break;
	case AD_PROGRESS_REFUSE_REMOVED:
		settle(o, "refused", "the agent was removed meanwhile");
		break;
	case AD_PROGRESS_REFUSE_SUPERSEDED:
		settle(o, "refused", "superseded by an operator's rollback");
		break;
	case AD_PROGRESS_DROP_NEW_AGENT:
		remove_agent(a);
		settle(o, "refused", "%s: not started", g->failed);
		break;
	case AD_PROGRESS_ABANDON:
		a->next       = NULL;
		a->canary_pct = 0;
		/* Requests the split gave it go to the current one now. */
		ad_dispatch_pump(a);
		ad_agent_maintain(a);
		settle(o, "refused", "%s %s failed: %s; keeps running %s",
		    o->rollback ? "the earlier generation"
		                : "the new generation",
		    o->to, g->failed, o->from);
		break;
	case AD_PROGRESS_SETTLE_STARTED:
		a->probation_until_ms = 0;
		settle(o, "started", "%s", o->to);
		ad_agent_maintain(a);
		break;
	case AD_PROGRESS_SETTLE_CANARY:
		settle(o, "canary",
		    "%s takes %u%% of requests; %s serves the rest", o->to,
		    a->canary_pct, o->from);
		ad_agent_maintain(a);
		break;
	case AD_PROGRESS_SWITCH_PROBATION:
		switch_to(a, g);
		a->probation_until_ms = now + g->conf->probation_ms;
		o->phase              = WAIT_PROBATION;
		ad_agent_maintain(a);
		break;
	case AD_PROGRESS_SWITCH_SETTLE:
		switch_to(a, g);
		if (o->rollback)
			settle(
			    o, "rolled back", "from %s to %s", o->from, o->to);
		else
			settle(o, "upgraded", NULL);
		ad_agent_maintain(a);
		break;
	case AD_PROGRESS_ROLL_BACK:
		/* The previous generation stood by, ready: it serves again
		 * now, and the failed one's instances are stopped. */
		back                  = a->prev;
		a->probation_until_ms = 0;
		a->prev               = NULL;
		ad_agent_use(a, back);
		ad_sv_register_later(sv, back, 1);
		ad_dispatch_pump(a);
		ad_agent_maintain(a);
		settle(o, "rolled back",
		    "%s during probation; %s serves again", g->failed,
		    o->from);
		break;
	case AD_PROGRESS_END_PROBATION:
		a->probation_until_ms = 0;
		ad_agent_maintain(a); /* the previous one's instances go */
		settle(o, "upgraded", NULL);
		break;
	}
}

/* A canary that failed after its reload settled is abandoned. */
static void
watch_canaries(struct ad_sv *sv)
{
	size_t i;

	for (i = 0; i < sv->nagents; i++) {
		struct ad_agent *a = sv->agents[i];
		char             nv[96];

		if (a->next == NULL || a->canary_pct == 0
		    || a->next->failed[0] == '\0'
		    || (sv->reload != NULL && sv->reload->started
		        && item_of(sv->reload, a->conf->name) != NULL))
			continue;
		ver(nv, sizeof(nv), a->next);
		ad_error("agent %s: canary %s failed (%s): abandoned, the "
		         "current version serves all requests",
		    a->conf->name, nv, a->next->failed);
		ad_sv_audit(sv, a->conf->name, NULL, "agent.reload",
		    "canary %s failed (%s): abandoned", nv, a->next->failed);
		a->next       = NULL;
		a->canary_pct = 0;
		/* Requests the split gave it go to the current one now. */
		ad_dispatch_pump(a);
		ad_agent_maintain(a);
	}
}

/* ---- answering ------------------------------------------------------ */

/* "upgraded from 1.0 (..) to 2.0 (..)", "refused: why", ... */
static void
line(const struct outcome *o, char *out, size_t len)
{
	if (strcmp(o->what, "upgraded") == 0 && strcmp(o->from, o->to) == 0)
		snprintf(
		    out, len, "upgraded to a new configuration of %s", o->to);
	else if (strcmp(o->what, "upgraded") == 0)
		snprintf(out, len, "upgraded from %s to %s", o->from, o->to);
	else if (o->why[0] != '\0')
		/* "started 1.0 (..)", "canary 2.0 (..) takes ...", "rolled
		 * back from 2.0 (..) to 1.0 (..)"; else "refused: why" */
		snprintf(out, len, "%s%s%s", o->what,
		    strcmp(o->what, "started") == 0
		            || strcmp(o->what, "canary") == 0
		            || strncmp(o->why, "from ", 5) == 0
		        ? " "
		        : ": ",
		    o->why);
	else
		snprintf(out, len, "%s", o->what);
}

static void
write_kv(agentd_writer *w, const char *k, const char *v)
{
	agentd_write_str(w, k);
	agentd_write_str(w, v);
}

static void
finish(struct ad_sv *sv, struct ad_reload *r)
{
	agentd_writer *w;
	const void    *body;
	char           text[AD_ERRLEN + 256];
	size_t         i, len;
	unsigned       bad = 0;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "agents");
	agentd_write_array(w, (uint32_t)r->n);
	for (i = 0; i < r->n; i++) {
		const struct outcome *o   = &r->v[i];
		const char           *who = o->agent[0] ? o->agent : o->file;

		line(o, text, sizeof(text));
		agentd_write_map(w, 9);
		write_kv(w, "agent", o->agent);
		write_kv(w, "file", o->file);
		write_kv(w, "outcome", o->what);
		write_kv(w, "from", o->fromv);
		write_kv(w, "from_hash", o->fromh);
		write_kv(w, "to", o->tov);
		write_kv(w, "to_hash", o->toh);
		write_kv(w, "why", o->why);
		write_kv(w, "line", text);
		if (strcmp(o->what, "unchanged") == 0)
			continue;
		if (strcmp(o->what, "refused") == 0
		    || (strcmp(o->what, "rolled back") == 0 && !o->rollback)) {
			bad++;
			ad_error("reload: %s: %s", who, text);
		} else
			ad_info("reload: %s: %s", who, text);
		ad_sv_audit(sv, o->agent[0] ? o->agent : NULL, NULL,
		    "agent.reload", "%s (by %s)", text, r->by);
	}
	ad_info("reload by %s done: %zu agent(s), %u refused or rolled back",
	    r->by, r->n, bad);
	body = agentd_writer_data(w, &len);
	if (r->waiter != NULL)
		ad_srv_reply(r->waiter, 0, body, len);
	agentd_writer_free(w);
}

static void
reload_free(struct ad_reload *r)
{
	free(r->v);
	free(r);
}

void
ad_reload_step(struct ad_sv *sv)
{
	struct ad_reload *r;
	struct plan       p;
	char              err[AD_ERRLEN];
	size_t            i, pending = 0;
	int64_t           now = ad_now_ms();

	pthread_mutex_lock(&sv->mtx);
	watch_canaries(sv);
	if ((r = sv->reload) == NULL || sv->stopping) {
		pthread_mutex_unlock(&sv->mtx);
		return;
	}
	if (!r->started) {
		r->started = 1;
		pthread_mutex_unlock(&sv->mtx);
		ad_sd_notify("RELOADING=1\nSTATUS=reloading (%s)", r->by);
		ad_info("reload asked by %s", r->by);
		memset(&p, 0, sizeof(p));
		if (r->kind == AD_RELOAD_ALL || r->kind == AD_RELOAD_CANARY) {
			if (plan_read(sv, &p, err, sizeof(err)) != 0) {
				pthread_mutex_lock(&sv->mtx);
				struct outcome *o = item(r, NULL);

				snprintf(o->file, sizeof(o->file), "%s",
				    sv->confdir);
				refuse(o, NULL, err);
				goto progress;
			}
		}
		pthread_mutex_lock(&sv->mtx);
		if (p.cfg != NULL)
			apply_plan(sv, r, &p);
		else if (r->kind == AD_RELOAD_PROMOTE)
			apply_promote(sv, r);
		else
			apply_rollback(sv, r);
	progress:
		pthread_mutex_unlock(&sv->mtx);
		plan_free(&p);
		ad_sv_write_records(sv);
		pthread_mutex_lock(&sv->mtx);
	}
	for (i = 0; i < r->n; i++) {
		if (r->v[i].phase != SETTLED)
			progress_one(sv, &r->v[i], now);
		pending += r->v[i].phase != SETTLED;
	}
	if (pending > 0 || sv->unwritten != NULL) {
		/* Written before the answer: agentctl versions then agrees. */
		pthread_mutex_unlock(&sv->mtx);
		ad_sv_write_records(sv);
		if (pending > 0)
			return;
		pthread_mutex_lock(&sv->mtx);
	}
	finish(sv, r);
	sv->reload = r->next;
	pthread_mutex_unlock(&sv->mtx);
	reload_free(r);
	ad_sd_notify("READY=1");
	/* The main loop sends a fresh STATUS= (it said "reloading"). */
	pthread_mutex_lock(&sv->mtx);
	sv->sd_status[0] = '\0';
	pthread_mutex_unlock(&sv->mtx);
}

void
ad_reload_abort(struct ad_sv *sv)
{
	struct ad_reload *r;

	while ((r = sv->reload) != NULL) {
		sv->reload = r->next;
		if (r->waiter != NULL)
			ad_srv_fail(r->waiter, AGENTD_ECLOSED,
			    "agentd is stopping: the reload did not finish");
		reload_free(r);
	}
}
