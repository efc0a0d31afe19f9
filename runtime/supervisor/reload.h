/*
 * reload.h - new configuration and plugin versions while traffic flows.
 *
 * A reload (SIGHUP, agentctl reload) reads the configuration again and
 * decides per agent: unchanged, new (started), removed (drained and
 * stopped), changed (a new generation), or refused (its file or section
 * has an error: it keeps running what it ran).  A new generation starts
 * beside the current one, takes the traffic once all its instances are
 * ready, and is on probation for health { probation }: if one of its
 * instances fails meanwhile, the previous generation, kept ready and idle,
 * serves again at once.  Canaries, promote and rollback use the same
 * machinery.  Every request keeps exactly one answer throughout: new
 * requests go to the serving generation, requests held by the old one
 * finish there.
 *
 * Reloads are queued and run one at a time by the main loop; whoever
 * asked (an agentctl connection) is answered once every agent of the
 * reload has settled, with one outcome per agent.
 *
 * This file owns the queue of reloads and each one's outcomes (private to
 * reload.c); the generations it brings in belong to gen.h, and what a
 * reload does next for one agent is decided by reload_progress.h.
 */
#ifndef AD_RELOAD_H
#define AD_RELOAD_H

struct ad_sv;
struct ad_srvctx;

enum ad_reload_kind {
	AD_RELOAD_ALL = 0,  /* every agent: SIGHUP, agentctl reload */
	AD_RELOAD_CANARY,   /* one agent, a share of its requests */
	AD_RELOAD_PROMOTE,  /* the canary takes all */
	AD_RELOAD_ROLLBACK, /* back to the previous generation */
};

/*
 * Queue a reload (mtx held).  agent and pct: for the kinds about one
 * agent.  by: who asked, recorded with the versions it loads.  waiter:
 * the control connection to answer when it has settled, or NULL.
 */
void ad_reload_ask(struct ad_sv *sv, enum ad_reload_kind kind,
    const char *agent, unsigned pct, const char *by, struct ad_srvctx *waiter);

/* Start the next reload or move the one under way on; main loop, without
 * mtx. */
void ad_reload_step(struct ad_sv *sv);

/* agentd is stopping: answer whoever waits, drop the queue (mtx held). */
void ad_reload_abort(struct ad_sv *sv);

#endif
