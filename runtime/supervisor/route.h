/*
 * route.h - dispatch's decisions: which slot a request goes to, whether
 * the queue takes it, which generation a canary split gives it, and what
 * becomes of it when the instance holding it dies.
 *
 * Each decides on what it is given and changes nothing else, so a test
 * can build the instances in memory; dispatch.c acts on the answers.
 * All run once per request: none allocates or walks more than the
 * agent's instances.
 *
 * This file owns nothing: it decides on what it is given.
 */
#ifndef AD_ROUTE_H
#define AD_ROUTE_H

struct ad_gen;
struct ad_slot;
struct ad_instance_list;

/*
 * The least busy: g's ready instance with the fewest in flight that has a
 * free slot (the first such in the list on a tie), and that free slot; or
 * NULL.  mtx held.
 */
struct ad_slot *ad_route_pick(
    const struct ad_instance_list *instances, const struct ad_gen *g);

/*
 * May a request join a queue holding nqueued?  Not at the back of a full
 * one (the caller hears busy); a retry to the front always may, since it
 * was let in once and an instance died with it.
 */
int ad_route_admit(unsigned nqueued, unsigned queue_max, int front);

/*
 * The canary split, counted out exactly: each request adds pct (its share,
 * 1 to 100) to *acc, and every time that reaches 100 the request goes to
 * the canary (returns 1): with 20%, every fifth.
 */
int ad_route_canary(unsigned *acc, unsigned pct);

/* What becomes of a request whose instance died holding it. */
enum ad_redispatch {
	AD_REDISPATCH_AGAIN = 0, /* to the front of the queue */
	AD_REDISPATCH_FAILED,    /* answered already, or tried too often */
	AD_REDISPATCH_UNAVAIL,   /* the agent was stopped: none will run it */
	AD_REDISPATCH_CLOSED,    /* agentd is stopping the agent */
};

/* tries: sends so far (AD_MAX_TRIES at most); answered: its deadline
 * passed and the caller heard timeout; stopped, closing: the agent's. */
enum ad_redispatch ad_redispatch_verdict(
    unsigned tries, int answered, int stopped, int closing);

#endif
