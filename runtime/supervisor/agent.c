/*
 * agent.c - one configured agent: how many instances it runs, restarts
 * and their backoff, the autoscaler's decisions applied, operator
 * actions (restart, scale, stop), and what status shows of it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/dispatch.h"
#include "supervisor/gen.h"
#include "supervisor/instance.h"
#include "supervisor/restart.h"
#include "supervisor/scale.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

/*
 * At most this many instances (of all agents) start at once: a thousand
 * spawned together would share the CPU so thinly that none finished its
 * init in time.  The main loop starts more as these become ready.
 */
#define SPAWN_BURST 32

struct ad_agent *
ad_agent_new(struct ad_sv *sv, struct ad_gen **first,
    const struct ad_agent_conf *conf, const char *hash, const char *version,
    const char *by)
{
	struct ad_agent *a = ad_xcalloc(1, sizeof(*a));
	size_t           i;

	a->sv     = sv;
	a->pinned = -1;
	LIST_INIT(&a->instances);
	LIST_INIT(&a->gens);
	TAILQ_INIT(&a->queue);
	/* An agent removed and added back while its old instances still
	 * drain: new instance names must not meet theirs. */
	for (i = 0; i < sv->nagents; i++)
		if (strcmp(sv->agents[i]->conf->name, conf->name) == 0
		    && sv->agents[i]->next_seq > a->next_seq)
			a->next_seq = sv->agents[i]->next_seq;
	*first = ad_gen_new(a, conf, hash, version, by);
	ad_agent_use(a, *first);
	a->desired = a->conf->min_instances;
	sv->agents
	    = ad_xrealloc(sv->agents, (sv->nagents + 1) * sizeof(*sv->agents));
	sv->agents[sv->nagents++] = a;
	return a;
}

void
ad_agent_free(struct ad_agent *a)
{
	ad_agent_free_gens(a);
	ad_restarts_free(&a->restart);
	ad_schedules_free(&a->sched);
	free(a);
}

int
ad_agent_may_call(const struct ad_agent *a, const char *target)
{
	size_t i;

	for (i = 0; i < a->conf->ncalls; i++) {
		if (strcmp(a->conf->calls[i], target) == 0)
			return 1;
	}
	return 0;
}
static void
schedule_restart(struct ad_agent *a)
{
	const struct ad_agent_conf *c = a->conf;

	ad_restarts_schedule(&a->restart, c->backoff_initial_ms,
	    c->backoff_max_ms, random(), ad_now_ms());
}

/*
 * Count an exit that asks for a restart.  The last intensity + 1 of
 * their times are kept; when all of them fall within period, the agent
 * would restart more than its restart { intensity } allows and is marked
 * failed: no more restarts
 * until an operator says (agentctl restart) or agentd starts again.
 * Returns 1 when this exit failed the agent, 0 when it is restarted.
 */
static int
count_restart(struct ad_agent *a, int64_t now)
{
	const struct ad_agent_conf *c   = a->conf;
	unsigned                    cap = c->restart_intensity + 1;
	int64_t                     span;

	if (ad_restart_count(a->restart.exits_ms, &a->restart.nexits,
	        c->restart_intensity, c->restart_period_ms, now, &span)
	    == AD_EXIT_RESTART) {
		a->restarts++;
		return 0;
	}
	a->failed = 1;
	/* cap exits, of which the last is not restarted: cap - 1 restarts,
	 * as agentctl status counts them. */
	ad_error("agent %s: %u exits within %lld ms (%u restarts), more than "
	         "restart { intensity = %u period = %lld ms } allows: the "
	         "agent is failed and will not be restarted; fix the cause "
	         "(see the exits above), then run agentctl restart %s",
	    c->name, cap, (long long)span, cap - 1, c->restart_intensity,
	    (long long)c->restart_period_ms, c->name);
	ad_sv_audit(a->sv, c->name, NULL, "agent.failed",
	    "%u exits within %lld ms (%u restarts), more than restart { "
	    "intensity = %u period = %lld ms } allows; not restarted until "
	    "agentctl restart",
	    cap, (long long)span, cap - 1, c->restart_intensity,
	    (long long)c->restart_period_ms);
	ad_dispatch_fail_queue(a, AGENTD_EFAILED);
	return 1;
}

void
ad_agent_restart(struct ad_agent *a, const char *who)
{
	struct ad_instance *inst;
	int                 was_failed = a->failed, was_stopped = a->stopped;

	a->failed  = 0;
	a->stopped = 0;
	ad_restarts_reset(&a->restart);
	if (a->desired == 0 && a->pinned < 0)
		a->desired = a->conf->min_instances;
	/* A running agent gets fresh instances: the old ones drain (finish
	 * what they hold) and maintain starts new ones. */
	if (!was_failed)
		LIST_FOREACH(inst, &a->instances, link)
			if (inst->state == AD_INST_STARTING
			    || inst->state == AD_INST_READY)
				ad_instance_drain(inst);
	ad_info("agent %s: restarted by %s%s", a->conf->name, who,
	    was_failed        ? " (it had failed)"
	        : was_stopped ? " (it was stopped)"
	                      : "");
	ad_sv_audit(a->sv, a->conf->name, NULL, "agent.restart",
	    "restarted by %s%s", who,
	    was_failed        ? " (it had failed)"
	        : was_stopped ? " (it was stopped)"
	                      : "");
	ad_agent_maintain(a);
}

/* "running", "starting", "backing off", "failed", "stopping" or
 * "stopped".  mtx held. */
static const char *
ad_agent_state(const struct ad_agent *a)
{
	if (a->failed)
		return "failed";
	if (a->stopped || a->closing)
		return ad_agent_live(a) > 0 ? "stopping" : "stopped";
	if (ad_agent_count(a, AD_INST_READY) >= a->conf->min_instances)
		return "running";
	if (a->restart.next_start_ms > ad_now_ms())
		return "backing off";
	return "starting";
}

unsigned
ad_agent_live(const struct ad_agent *a)
{
	const struct ad_instance *i;
	unsigned                  n = 0;

	LIST_FOREACH(i, &a->instances, link)
		n += i->state != AD_INST_EXITED;
	return n;
}

/* Does this exit ask for a restart under the agent's policy? */
static int
wants_restart(const struct ad_agent *a, int status)
{
	switch (a->conf->restart_policy) {
	case AD_RESTART_PERMANENT:
		return 1;
	case AD_RESTART_TRANSIENT:
		return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	case AD_RESTART_TEMPORARY:
		break;
	}
	return 0;
}

void
ad_agent_instance_failed(
    struct ad_agent *a, struct ad_gen *g, int status, const char *why)
{
	/* A new generation on trial fails as a whole (reload.c rolls it
	 * back); one that no longer serves is not replaced. */
	if (ad_gen_trial_failed(a, g, why) || g != a->cur)
		return;
	/* Failed already: the other instances' ends are logged, not counted
	 * again (one failure, one record). */
	if (a->failed)
		return;
	if (!wants_restart(a, status)) {
		/* Its place is not filled again. */
		if (a->desired > 0)
			a->desired--;
	} else if (!count_restart(a, ad_now_ms()))
		schedule_restart(a);
}

/* ---- how many instances -------------------------------------------------
 */

/* Change how many instances a should have; one log line, one record. */
static void set_desired(struct ad_agent *a, unsigned n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_desired(struct ad_agent *a, unsigned n, const char *fmt, ...)
{
	char    why[200];
	va_list ap;

	if (n == a->desired)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_info("agent %s: %u -> %u instances: %s", a->conf->name, a->desired,
	    n, why);
	ad_sv_audit(a->sv, a->conf->name, NULL, "agent.scale",
	    "%u -> %u instances: %s", a->desired, n, why);
	a->desired = n;
}

static void
scale_reset(struct ad_agent *a)
{
	ad_scaler_reset(&a->scale);
}

/* The autoscaler (scale.h) on this tick's load: in flight plus queued. */
void
ad_agent_scale_sample(struct ad_agent *a, int64_t now)
{
	const struct ad_agent_conf *c = a->conf;
	const struct ad_instance   *i;
	double                      load = a->nqueued;
	struct ad_scale_decision    d;

	struct ad_scale_params p = {
		.desired            = a->desired,
		.min                = c->min_instances,
		.max                = c->max_instances,
		.target_inflight    = c->target_inflight,
		.upscale_delay_ms   = c->upscale_delay_ms,
		.downscale_delay_ms = c->downscale_delay_ms,
	};

	p.may_scale = a->pinned < 0 && !a->stopped && !a->failed && !a->closing
	    && c->min_instances != c->max_instances;
	LIST_FOREACH(i, &a->instances, link)
		load += i->inflight;
	switch (ad_scaler_sample(&a->scale, load, &p, now, &d)) {
	case AD_SCALE_UP:
		set_desired(a, d.want,
		    "load %.1f (in flight + queued) above %u x "
		    "target_inflight %u for %lld ms",
		    d.load, a->desired, c->target_inflight,
		    (long long)d.for_ms);
		break;
	case AD_SCALE_DOWN:
		set_desired(a, d.want,
		    "load at most %.1f (in flight + queued) for %lld "
		    "ms, below %u x target_inflight %u",
		    d.load, (long long)d.for_ms, a->desired - 1,
		    c->target_inflight);
		break;
	case AD_SCALE_KEEP:
		break;
	}
}

int
ad_agent_scale(
    struct ad_agent *a, long n, const char *who, char *err, size_t errlen)
{
	const struct ad_agent_conf *c = a->conf;

	if (n < 0) {
		a->pinned = -1;
		scale_reset(a);
		ad_info(
		    "agent %s: automatic scaling again (%s)", c->name, who);
		ad_sv_audit(a->sv, c->name, NULL, "agent.scale",
		    "automatic scaling again, by %s", who);
		return 0;
	}
	if ((unsigned long)n > c->max_instances) {
		ad_seterr(err, errlen,
		    "agent \"%s\": %ld is more than instances { max = %u } "
		    "in %s: raise max there and reload, or ask for fewer",
		    c->name, n, c->max_instances, c->file);
		return AGENTD_EINVAL;
	}
	a->pinned = (int)n;
	set_desired(a, (unsigned)n, "pinned by %s", who);
	ad_agent_maintain(a);
	return 0;
}

void
ad_agent_stop(struct ad_agent *a, const char *who)
{
	struct ad_instance *inst;

	a->stopped = 1;
	LIST_FOREACH(inst, &a->instances, link)
		ad_instance_drain(inst);
	/* Queued requests would wait for instances that will not come. */
	ad_dispatch_fail_queue(a, AGENTD_EUNAVAIL);
	ad_info("agent %s: stopped by %s", a->conf->name, who);
	ad_sv_audit(
	    a->sv, a->conf->name, NULL, "agent.stop", "stopped by %s", who);
}

/* The instance to let go first: not yet ready, else the least busy. */
static struct ad_instance *
pick_surplus(struct ad_agent *a)
{
	struct ad_instance *i, *best = NULL;

	LIST_FOREACH(i, &a->instances, link) {
		if (i->gen != a->cur)
			continue;
		if (i->state == AD_INST_STARTING)
			return i;
		if (i->state == AD_INST_READY
		    && (best == NULL || i->inflight < best->inflight))
			best = i;
	}
	return best;
}

/* Instances of every agent still starting.  mtx held. */
static unsigned
sv_starting(struct ad_sv *sv)
{
	unsigned n = 0;
	size_t   i;

	for (i = 0; i < sv->nagents; i++)
		n += ad_agent_count(sv->agents[i], AD_INST_STARTING);
	return n;
}

/*
 * Instances of a generation that neither serves nor is on its way in
 * (and is not kept through a probation) are drained.
 */
static void
retire_old(struct ad_agent *a)
{
	struct ad_instance *i;

	LIST_FOREACH(i, &a->instances, link) {
		if (i->gen == a->cur || i->gen == a->next
		    || (i->gen == a->prev && a->probation_until_ms != 0))
			continue;
		if (i->state == AD_INST_STARTING || i->state == AD_INST_READY)
			ad_instance_drain(i);
	}
}

void
ad_agent_maintain(struct ad_agent *a)
{
	char     err[AD_ERRLEN];
	unsigned live, starting;

	/* An instance that has been ready for stable_after ends the crash
	 * loop, if there was one: the next failure starts from the first
	 * backoff again. */
	if (a->restart.backoff_ms != 0) {
		struct ad_instance *i;

		LIST_FOREACH(i, &a->instances, link)
			if (i->gen == a->cur && i->state == AD_INST_READY)
				ad_restarts_ran(&a->restart,
				    i->ready_us / 1000,
				    a->conf->stable_after_ms, ad_now_ms());
	}
	if (a->sv->stopping || a->failed || a->stopped || a->closing
	    || a->removed)
		return;
	retire_old(a);
	/* min = 0 and nothing running: the first request starts one. */
	if (a->desired == 0 && a->pinned < 0 && a->nqueued > 0
	    && a->conf->max_instances > 0)
		set_desired(a, 1, "a request arrived and no instance runs");
	live = ad_gen_count(a, a->cur, AD_INST_STARTING)
	    + ad_gen_count(a, a->cur, AD_INST_READY);
	while (live > a->desired) {
		ad_instance_drain(pick_surplus(a));
		live--;
	}
	starting = sv_starting(a->sv);
	while (live < a->desired && ad_now_ms() >= a->restart.next_start_ms
	    && starting++ < SPAWN_BURST) {
		if (ad_instance_spawn(a, a->cur, err, sizeof(err)) != 0) {
			ad_error("agent %s: %s", a->conf->name, err);
			return;
		}
		live++;
	}
	/* The generation a reload brings in: no restarts while on trial,
	 * its first failure fails it. */
	if (a->next == NULL || a->next->failed[0] != '\0')
		return;
	live = ad_gen_count(a, a->next, AD_INST_STARTING)
	    + ad_gen_count(a, a->next, AD_INST_READY);
	while (
	    live < ad_agent_wanted(a, a->next) && starting++ < SPAWN_BURST) {
		if (ad_instance_spawn(a, a->next, err, sizeof(err)) != 0) {
			ad_error("agent %s: %s", a->conf->name, err);
			return;
		}
		live++;
	}
}

/* ---- what status shows ------------------------------------------------ */

void
ad_agent_status_get(const struct ad_agent *a, struct ad_agent_status *out)
{
	const struct ad_gen      *g;
	const struct ad_instance *i;
	size_t                    n;
	int                       k;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", a->conf->name);
	out->plugin = ad_xstrdup(a->conf->plugin_path);
	snprintf(out->version, sizeof(out->version), "%s", a->cur->version);
	snprintf(out->hash, sizeof(out->hash), "%s", a->cur->hash);
	out->generation = a->cur->number;
	LIST_FOREACH(g, &a->gens, link)
		out->ngens++;
	out->gens
	    = ad_xcalloc(out->ngens ? out->ngens : 1, sizeof(*out->gens));
	n = 0;
	LIST_FOREACH(g, &a->gens, link)
		ad_gen_status_get(a, g, &out->gens[n++]);
	out->desired  = a->desired;
	out->pinned   = a->pinned >= 0;
	out->ready    = ad_agent_count(a, AD_INST_READY);
	out->starting = ad_agent_count(a, AD_INST_STARTING);
	out->draining = ad_agent_count(a, AD_INST_STOPPING);
	out->min      = a->conf->min_instances;
	out->max      = a->conf->max_instances;
	out->queued   = a->nqueued;
	out->st       = a->st;
	for (k = 1; k < AD_STATUS_SLOTS; k++)
		out->errors += a->st.replies[k];
	out->restarts = a->restarts;
	out->state    = ad_agent_state(a);
	LIST_FOREACH(i, &a->instances, link)
		out->ninstances++;
	out->instances = ad_xcalloc(
	    out->ninstances ? out->ninstances : 1, sizeof(*out->instances));
	n = 0;
	LIST_FOREACH(i, &a->instances, link) {
		out->inflight += i->inflight;
		ad_instance_status_get(i, &out->instances[n++]);
	}
	out->ncapabilities = a->conf->ncapabilities;
	out->capabilities
	    = ad_xcalloc(out->ncapabilities ? out->ncapabilities : 1,
	        sizeof(*out->capabilities));
	for (n = 0; n < out->ncapabilities; n++)
		out->capabilities[n] = ad_xstrdup(a->conf->capabilities[n]);
	ad_schedules_status_get(&a->sched, &out->schedules, &out->nschedules);
}

void
ad_agent_brief_get(const struct ad_agent *a, struct ad_agent_brief *out)
{
	out->name          = a->conf->name;
	out->version       = a->cur->version;
	out->state         = ad_agent_state(a);
	out->capabilities  = (const char *const *)a->conf->capabilities;
	out->ncapabilities = a->conf->ncapabilities;
}

void
ad_agent_status_release(struct ad_agent_status *st)
{
	free(st->plugin);
	for (size_t i = 0; i < st->ngens; i++)
		free(st->gens[i].counters);
	free(st->gens);
	free(st->instances);
	for (size_t i = 0; i < st->ncapabilities; i++)
		free(st->capabilities[i]);
	free(st->capabilities);
	free(st->schedules);
	memset(st, 0, sizeof(*st));
}

void
ad_agent_wake(struct ad_agent *a, const char *why)
{
	if (a->desired == 0 && a->pinned < 0 && !a->stopped && !a->failed
	    && !a->removed && a->conf->max_instances > 0)
		set_desired(a, 1, "%s and no instance runs", why);
}

void
ad_agent_start_failed(struct ad_agent *a, struct ad_gen *g, const char *why)
{
	if (ad_gen_trial_failed(a, g, why))
		;
	else if (!count_restart(a, ad_now_ms()))
		schedule_restart(a);
}
