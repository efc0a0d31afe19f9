/*
 * test_route.c - dispatch's decisions on instances built in memory: the
 * least-busy pick, the queue bound, the canary split and what becomes of
 * a request whose instance died.
 */
#include "config.h"

#include <stdlib.h>

#include "tap.h"
#include "supervisor/dispatch.h"
#include "supervisor/gen.h"
#include "supervisor/instance.h"
#include "supervisor/route.h"

static struct ad_instance_list list = LIST_HEAD_INITIALIZER(list);
static struct ad_instance     *last;

/* An instance at the end of the list, with concurrency request slots of
 * which the first inflight are busy. */
static struct ad_instance *
add(struct ad_gen *g, enum ad_inst_state st, unsigned concurrency,
    unsigned inflight)
{
	struct ad_instance *i = calloc(1, sizeof(*i));

	i->gen      = g;
	i->state    = st;
	i->nslots   = 1 + concurrency;
	i->slots    = calloc(i->nslots, sizeof(*i->slots));
	i->inflight = inflight;
	for (unsigned k = 0; k < i->nslots; k++) {
		i->slots[k].inst    = i;
		i->slots[k].control = k == 0;
		i->slots[k].phase
		    = k >= 1 && k <= inflight ? AD_SLOT_BUSY : AD_SLOT_IDLE;
	}
	if (last == NULL)
		LIST_INSERT_HEAD(&list, i, link);
	else
		LIST_INSERT_AFTER(last, i, link);
	last = i;
	return i;
}

static void
clear(void)
{
	struct ad_instance *i;

	while ((i = LIST_FIRST(&list)) != NULL) {
		LIST_REMOVE(i, link);
		free(i->slots);
		free(i);
	}
	last = NULL;
}

static void
test_pick(void)
{
	struct ad_gen       g = { .number = 1 }, g2 = { .number = 2 };
	struct ad_instance *b, *d;
	struct ad_slot     *s;

	ok(ad_route_pick(&list, &g) == NULL, "no instance: nothing");
	add(&g, AD_INST_READY, 4, 3);
	b = add(&g, AD_INST_READY, 4, 1);
	add(&g, AD_INST_READY, 4, 2);
	add(&g2, AD_INST_READY, 4, 0);
	add(&g, AD_INST_STARTING, 4, 0);
	add(&g, AD_INST_STOPPING, 4, 0);
	add(&g, AD_INST_LOST, 4, 0);
	s = ad_route_pick(&list, &g);
	ok(s != NULL && s->inst == b,
	    "the ready instance of the generation with the fewest in "
	    "flight (not another generation's, nor starting, stopping, "
	    "lost)");
	ok(s == &b->slots[2], "its first free request slot");
	clear();

	add(&g, AD_INST_READY, 1, 1);
	d = add(&g, AD_INST_READY, 8, 5);
	ok(ad_route_pick(&list, &g) == &d->slots[6],
	    "a full instance is passed over for a busier one with room");
	d->inflight = 8;
	for (unsigned k = 1; k <= 8; k++)
		d->slots[k].phase = AD_SLOT_BUSY;
	ok(ad_route_pick(&list, &g) == NULL, "all full: nothing");
	clear();

	b = add(&g, AD_INST_READY, 2, 1);
	add(&g, AD_INST_READY, 2, 1);
	ok(ad_route_pick(&list, &g) == &b->slots[2],
	    "on a tie, the first in the list");
	clear();

	b                 = add(&g, AD_INST_READY, 3, 0);
	b->inflight       = 2;
	b->slots[1].phase = AD_SLOT_BUSY;
	b->slots[3].phase = AD_SLOT_BUSY;
	ok(ad_route_pick(&list, &g) == &b->slots[2],
	    "a free slot between busy ones; never the control slot");
	clear();
}

static void
test_admit(void)
{
	ok(ad_route_admit(0, 1, 0), "an empty queue takes one");
	ok(ad_route_admit(9, 10, 0), "room for the last");
	ok(!ad_route_admit(10, 10, 0), "a full queue: busy");
	ok(ad_route_admit(10, 10, 1),
	    "a retry goes to the front of a full "
	    "queue");
	ok(ad_route_admit(11, 10, 1), "even one over full");
}

/* Which of n requests the split gives the canary, as a bit string. */
static unsigned
split(unsigned pct, unsigned n, char *pattern)
{
	unsigned acc = 0, taken = 0;

	for (unsigned i = 0; i < n; i++) {
		int t = ad_route_canary(&acc, pct);

		taken += t;
		if (pattern != NULL)
			pattern[i] = t ? '1' : '0';
	}
	if (pattern != NULL)
		pattern[n] = '\0';
	return taken;
}

static void
test_canary(void)
{
	char p[32];

	is_int(split(20, 100, NULL), 20, "20%: 20 of 100");
	split(20, 10, p);
	is_str(p, "0000100001", "every fifth");
	is_int(split(33, 300, NULL), 99, "33%: 99 of 300");
	split(30, 10, p);
	is_str(p, "0001001001", "30%: three of ten, spread out");
	is_int(split(100, 50, NULL), 50, "100%: all");
	is_int(split(1, 99, NULL), 0, "1%: none of the first 99");
	is_int(split(1, 100, NULL), 1, "the hundredth");
}

static void
test_redispatch(void)
{
	is_int(ad_redispatch_verdict(1, 0, 0, 0), AD_REDISPATCH_AGAIN,
	    "tried once: to the front of the queue");
	is_int(ad_redispatch_verdict(AD_MAX_TRIES - 1, 0, 0, 0),
	    AD_REDISPATCH_AGAIN, "one try left: again");
	is_int(ad_redispatch_verdict(AD_MAX_TRIES, 0, 0, 0),
	    AD_REDISPATCH_FAILED, "tried AD_MAX_TRIES times: failed");
	is_int(ad_redispatch_verdict(1, 1, 0, 0), AD_REDISPATCH_FAILED,
	    "answered already (timeout): failed, not run again");
	is_int(ad_redispatch_verdict(1, 0, 1, 0), AD_REDISPATCH_UNAVAIL,
	    "the agent was stopped: unavailable");
	is_int(ad_redispatch_verdict(1, 0, 0, 1), AD_REDISPATCH_CLOSED,
	    "agentd is stopping it: closed");
	is_int(ad_redispatch_verdict(1, 0, 1, 1), AD_REDISPATCH_UNAVAIL,
	    "stopped and closing: unavailable");
	is_int(ad_redispatch_verdict(AD_MAX_TRIES, 1, 1, 1),
	    AD_REDISPATCH_FAILED, "too many tries wins over stopped");
}

int
main(void)
{
	plan(27);
	test_pick();
	test_admit();
	test_canary();
	test_redispatch();
	return done_testing();
}
