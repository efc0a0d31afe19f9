/*
 * gen.h - generations: the versions of an agent, and which one serves.
 *
 * A generation is one version of an agent: its configuration and its
 * plugin (a copy in the plugin store, STATE/plugins/HEX.so).  An agent
 * serves from its current generation (a->cur); a reload that changes the
 * plugin or the agent's section makes a new one (a->next, reload.c),
 * which becomes current once its instances are ready, while the one it
 * replaced stands by (a->prev) through a probation.  Instances point at
 * the generation they run.
 *
 * This file owns struct ad_gen, the generation list of each agent, which
 * generation plays which role, and their records in the store (the
 * agent's record, the versions database, "agent.configured" audit
 * records).  All with sv->mtx held unless said otherwise.
 */
#ifndef AD_GEN_H
#define AD_GEN_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/hist.h"
#include "common/ratelimit.h"
#include "config/conf.h"
#include "plugin/filecheck.h"
#include "sdk/counters.h"

struct ad_sv;
struct ad_agent;
struct ad_gen_status;

struct ad_gen {
	unsigned              number; /* 1, 2, ... per agent, per run */
	struct ad_agent_conf *conf;   /* owned */
	char                  hash[AD_HASH_LEN];
	char                  version[64]; /* the plugin's own */
	char                  prior[64];   /* version it replaced, or "" */
	char                 *plugin_path; /* the store's copy */
	int64_t               loaded_ms;   /* wall clock */
	char                  by[64];      /* who loaded it */
	/* set when one of its instances failed while it was on trial
	 * (starting, canary or probation): why, one line */
	char failed[256];
	/* its own counters, for canaries and comparisons */
	uint64_t       requests; /* answered by its instances */
	uint64_t       errors;   /* of those, not ok */
	struct ad_hist service;
	/* host->count() of its instances, summed, and the warning about
	 * names a full table left out */
	struct ad_counters  counters;
	struct ad_ratelimit counters_log;
	LIST_ENTRY(ad_gen) link;
};
LIST_HEAD(ad_gen_list, ad_gen);

/*
 * ad_gen_new adds a generation to a (conf is copied); ad_agent_use makes
 * g current; ad_agent_collect_gens frees those nothing refers to;
 * ad_agent_free_gens frees them all (the agent is going).
 */
struct ad_gen *ad_gen_new(struct ad_agent *a, const struct ad_agent_conf *conf,
    const char *hash, const char *version, const char *by);
void           ad_agent_use(struct ad_agent *a, struct ad_gen *g);
void           ad_agent_collect_gens(struct ad_agent *a);
void           ad_agent_free_gens(struct ad_agent *a);

/*
 * One of g's instances failed (why: one line).  If g is on trial, g has
 * failed (logged once; reload.c puts the one before back) and this
 * returns 1: the exit is then not counted as a crash of the agent.
 */
int ad_gen_trial_failed(struct ad_agent *a, struct ad_gen *g, const char *why);
/* How many instances generation g should have: the agent's desired
 * count, or a canary's share of it (at least one). */
unsigned ad_agent_wanted(const struct ad_agent *a, const struct ad_gen *g);
/* A request's outcome (status), counted for the generation that ran it;
 * service_us: how long it took, counted when ok. */
void ad_gen_count_reply(struct ad_gen *g, int status, uint64_t service_us);

/*
 * What one of g's instances counted (host->count()) since its last
 * message: body, a "counters" envelope's (borrowed for the call), added
 * to g's sums.  g is the generation of the instance whose connection
 * the envelope came on: nothing in the body names an agent or a
 * generation.  AGENTD_EPROTO, nothing added, for a malformed body.
 */
int ad_gen_add_counters(struct ad_agent *a, struct ad_gen *g,
    const char *instance, const void *body, size_t len);

/* A copy of what status shows of g. */
void ad_gen_status_get(const struct ad_agent *a, const struct ad_gen *g,
    struct ad_gen_status *out);

/* The role of the generation of a that runs the plugin with this hash:
 * "canary", "next", "current", "previous", or "-" for none of these. */
const char *ad_agent_hash_role(const struct ad_agent *a, const char *hash);

/* Copy g's plugin into the store (STATE/plugins), checking its hash.
 * Main loop; without mtx is fine (g is not shared yet). */
int ad_sv_store_plugin(
    struct ad_sv *sv, struct ad_gen *g, char *err, size_t errlen);
/* Record g as what its agent runs: store, versions, audit. */
int ad_sv_register(struct ad_sv *sv, const struct ad_gen *g);
/*
 * The same, or (current 0) only g's entry in the versions database (a
 * generation being tried), written later by ad_sv_write_records: mtx
 * held here, and a durable write must not hold every request up.
 */
void ad_sv_register_later(
    struct ad_sv *sv, const struct ad_gen *g, int current);
/* Write what ad_sv_register_later queued.  Main loop, without mtx. */
void ad_sv_write_records(struct ad_sv *sv);

#endif
