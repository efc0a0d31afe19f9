/*
 * gen.c - generations: the versions of an agent, and which one serves.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "supervisor/agent.h"
#include "supervisor/gen.h"
#include "supervisor/instance.h"
#include "supervisor/restart.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

struct ad_gen *
ad_gen_new(struct ad_agent *a, const struct ad_agent_conf *conf,
    const char *hash, const char *version, const char *by)
{
	struct ad_gen *g = ad_xcalloc(1, sizeof(*g));

	g->number    = ++a->ngen;
	g->conf      = ad_agent_conf_dup(conf);
	g->loaded_ms = ad_wall_ms();
	snprintf(g->hash, sizeof(g->hash), "%s", hash);
	snprintf(g->version, sizeof(g->version), "%s", version);
	snprintf(g->by, sizeof(g->by), "%s", by);
	LIST_INSERT_HEAD(&a->gens, g, link);
	return g;
}

static void
gen_free(struct ad_gen *g)
{
	LIST_REMOVE(g, link);
	ad_agent_conf_free(g->conf);
	free(g->plugin_path);
	free(g);
}

void
ad_agent_use(struct ad_agent *a, struct ad_gen *g)
{
	a->cur  = g;
	a->conf = g->conf;
	/* A reload may have moved instances { min max }: the count the
	 * agent keeps (and an operator's pin) stays within them. */
	if (a->pinned > (int)g->conf->max_instances)
		a->pinned = (int)g->conf->max_instances;
	if (a->desired < g->conf->min_instances && a->pinned < 0)
		a->desired = g->conf->min_instances;
	if (a->desired > g->conf->max_instances)
		a->desired = g->conf->max_instances;
	/* The restart window is sized by restart { intensity }. */
	ad_restarts_size(&a->restart, g->conf->restart_intensity);
}

/* Free generations nothing refers to any more.  mtx held. */
void
ad_agent_collect_gens(struct ad_agent *a)
{
	struct ad_gen            *g, *next;
	const struct ad_instance *i;

	for (g = LIST_FIRST(&a->gens); g != NULL; g = next) {
		int used = g == a->cur || g == a->next || g == a->prev;

		next = LIST_NEXT(g, link);
		LIST_FOREACH(i, &a->instances, link)
			used |= i->gen == g;
		if (!used)
			gen_free(g);
	}
}

/*
 * Record a generation in the store: the agent's record (what runs now)
 * and its plugin's entry in the versions database; and in the audit
 * trail.
 */
static void
gen_record(const struct ad_gen *g, struct ad_agent_record *r)
{
	memset(r, 0, sizeof(*r));
	r->name           = g->conf->name;
	r->plugin_path    = g->conf->plugin_path;
	r->plugin_hash    = (char *)g->hash;
	r->plugin_version = (char *)g->version;
	r->conf_file      = g->conf->file;
	r->loaded_ms      = g->loaded_ms;
	r->by             = (char *)g->by;
}

/* A generation's records, to write without sv->mtx. */
struct ad_unwritten {
	struct ad_unwritten    *next;
	struct ad_agent_record *r; /* owned */
	unsigned                gen;
	int                     current; /* the agent's record too */
};

/* One "agent.configured" record: what an agent runs from now on. */
static void
audit_configured(
    struct ad_sv *sv, const struct ad_agent_record *r, unsigned gen)
{
	ad_sv_audit(sv, r->name, NULL, "agent.configured",
	    "generation %u: plugin %s version %s (%s) from %s, loaded by %s",
	    gen, r->plugin_path, r->plugin_version, r->plugin_hash,
	    r->conf_file, r->by);
}

void
ad_sv_register_later(struct ad_sv *sv, const struct ad_gen *g, int current)
{
	struct ad_unwritten   *u = ad_xcalloc(1, sizeof(*u)), **tail;
	struct ad_agent_record r;

	gen_record(g, &r);
	u->r                 = ad_xcalloc(1, sizeof(*u->r));
	u->r->name           = ad_xstrdup_or_null(r.name);
	u->r->plugin_path    = ad_xstrdup_or_null(r.plugin_path);
	u->r->plugin_hash    = ad_xstrdup_or_null(r.plugin_hash);
	u->r->plugin_version = ad_xstrdup_or_null(r.plugin_version);
	u->r->conf_file      = ad_xstrdup_or_null(r.conf_file);
	u->r->by             = ad_xstrdup_or_null(r.by);
	u->r->loaded_ms      = r.loaded_ms;
	u->gen               = g->number;
	u->current           = current;
	for (tail = &sv->unwritten; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = u; /* in order: the last current record wins */
}

void
ad_sv_write_records(struct ad_sv *sv)
{
	struct ad_unwritten *u, *next;
	int                  rv = 0;

	pthread_mutex_lock(&sv->mtx);
	u             = sv->unwritten;
	sv->unwritten = NULL;
	pthread_mutex_unlock(&sv->mtx);
	for (; u != NULL; u = next) {
		const struct ad_agent_record *r = u->r;

		next = u->next;
		if (sv->store == NULL)
			;
		else if (u->current
		    && (rv = ad_store_agent_put(sv->store, r)) == 0)
			audit_configured(sv, r, u->gen);
		else if (u->current)
			ad_error("agent %s: cannot record generation %u: %s",
			    r->name, u->gen, agentd_strerror(rv));
		if (sv->store != NULL
		    && (rv = ad_store_version_put(sv->store, r)) != 0)
			ad_error("agent %s: cannot record version %s: %s",
			    r->name, r->plugin_version, agentd_strerror(rv));
		ad_agent_record_free(u->r);
		free(u);
	}
}

int
ad_sv_register(struct ad_sv *sv, const struct ad_gen *g)
{
	struct ad_agent_record r;
	int                    rv;

	gen_record(g, &r);
	if ((rv = ad_store_agent_put(sv->store, &r)) != 0
	    || (rv = ad_store_version_put(sv->store, &r)) != 0)
		return rv;
	audit_configured(sv, &r, g->number);
	return 0;
}

/* Copy a generation's plugin into the store; workers load the copy. */
int
ad_sv_store_plugin(
    struct ad_sv *sv, struct ad_gen *g, char *err, size_t errlen)
{
	char *dir = ad_path_join(sv->state_dir, "plugins");
	int   rv;

	rv = ad_plugin_store(
	    dir, g->conf->plugin_path, g->hash, &g->plugin_path, err, errlen);
	free(dir);
	return rv;
}

/* Is g being tried (starting, canary, probation)? */
static int
ad_gen_on_trial(const struct ad_agent *a, const struct ad_gen *g)
{
	return g != NULL
	    && (g == a->next || (g == a->cur && a->probation_until_ms != 0));
}

int
ad_gen_trial_failed(struct ad_agent *a, struct ad_gen *g, const char *why)
{
	if (!ad_gen_on_trial(a, g))
		return 0;
	if (g->failed[0] == '\0') {
		snprintf(g->failed, sizeof(g->failed), "%s", why);
		ad_warn(
		    "agent %s: generation %u (version %s) failed on trial: "
		    "%s",
		    a->conf->name, g->number, g->version, why);
	}
	return 1;
}

unsigned
ad_agent_wanted(const struct ad_agent *a, const struct ad_gen *g)
{
	unsigned n;

	if (g != a->next || a->canary_pct == 0)
		return a->desired;
	n = (a->desired * a->canary_pct + 99) / 100;
	return n > 0 ? n : 1;
}

void
ad_agent_free_gens(struct ad_agent *a)
{
	while (!LIST_EMPTY(&a->gens))
		gen_free(LIST_FIRST(&a->gens));
}

void
ad_gen_count_reply(struct ad_gen *g, int status, uint64_t service_us)
{
	g->requests++;
	if (status != 0)
		g->errors++;
	else
		ad_hist_add(&g->service, service_us);
}

int
ad_gen_add_counters(struct ad_agent *a, struct ad_gen *g, const char *instance,
    const void *body, size_t len)
{
	agentd_doc *doc;
	size_t      dropped = 0;
	char        note[AD_RATELIMIT_NOTE];
	int         rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	rv = ad_counters_merge(&g->counters, agentd_doc_root(doc), &dropped);
	agentd_doc_free(doc);
	if (rv != 0 || dropped == 0)
		return rv;
	/* Its instances counted more names between them than one may. */
	if (ad_ratelimit(&g->counters_log, ad_now_ms(), note, sizeof(note)))
		ad_warn(
		    "agent %s: generation %u has %d counter names already: "
		    "left out %zu new one(s) %s counted%s",
		    a->conf->name, g->number, AGENTD_COUNTERS_MAX, dropped,
		    instance, note);
	return 0;
}

/* "current", "canary", "next", "previous" or "retiring". */
static const char *
ad_gen_role(const struct ad_agent *a, const struct ad_gen *g)
{
	if (g == a->cur)
		return "current";
	if (g == a->next)
		return a->canary_pct > 0 ? "canary" : "next";
	if (g == a->prev)
		return "previous";
	return "retiring";
}

void
ad_gen_status_get(const struct ad_agent *a, const struct ad_gen *g,
    struct ad_gen_status *out)
{
	memset(out, 0, sizeof(*out));
	out->number = g->number;
	out->role   = ad_gen_role(a, g);
	snprintf(out->version, sizeof(out->version), "%s", g->version);
	snprintf(out->hash, sizeof(out->hash), "%s", g->hash);
	if (g == a->next)
		out->share = a->canary_pct;
	else if (g == a->cur)
		out->share = a->next != NULL ? 100 - a->canary_pct : 100;
	out->instances = ad_gen_count(a, g, AD_INST_STARTING)
	    + ad_gen_count(a, g, AD_INST_READY);
	out->requests  = g->requests;
	out->errors    = g->errors;
	out->loaded_ms = g->loaded_ms;
	out->service   = g->service;
	out->ncounters = g->counters.n;
	if (out->ncounters > 0)
		out->counters
		    = ad_xcalloc(out->ncounters, sizeof(*out->counters));
	for (size_t i = 0; i < out->ncounters; i++) {
		snprintf(out->counters[i].name, sizeof(out->counters[i].name),
		    "%s", g->counters.c[i].name);
		out->counters[i].value = g->counters.c[i].value;
	}
}

const char *
ad_agent_hash_role(const struct ad_agent *a, const char *hash)
{
	if (a->next != NULL && strcmp(a->next->hash, hash) == 0)
		return a->canary_pct > 0 ? "canary" : "next";
	if (strcmp(a->cur->hash, hash) == 0)
		return "current";
	if (a->prev != NULL && strcmp(a->prev->hash, hash) == 0)
		return "previous";
	return "-";
}
