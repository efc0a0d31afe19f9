#include "config.h"

#include "supervisor/dispatch.h"
#include "supervisor/instance.h"
#include "supervisor/route.h"

struct ad_slot *
ad_route_pick(const struct ad_instance_list *instances, const struct ad_gen *g)
{
	struct ad_instance *inst, *best = NULL;
	unsigned            i;

	LIST_FOREACH(inst, instances, link) {
		if (inst->gen != g || inst->state != AD_INST_READY
		    || inst->inflight >= inst->nslots - 1)
			continue;
		if (best == NULL || inst->inflight < best->inflight)
			best = inst;
	}
	if (best == NULL)
		return NULL;
	for (i = 1; i < best->nslots; i++) {
		if (best->slots[i].phase == AD_SLOT_IDLE)
			return &best->slots[i];
	}
	return NULL;
}

int
ad_route_admit(unsigned nqueued, unsigned queue_max, int front)
{
	return front || nqueued < queue_max;
}

int
ad_route_canary(unsigned *acc, unsigned pct)
{
	*acc += pct;
	if (*acc < 100)
		return 0;
	*acc -= 100;
	return 1;
}

enum ad_redispatch
ad_redispatch_verdict(unsigned tries, int answered, int stopped, int closing)
{
	/* Answered already (its deadline passed): nothing to run again. */
	if (answered || tries >= AD_MAX_TRIES)
		return AD_REDISPATCH_FAILED;
	/* No instance will come to run it again. */
	if (stopped)
		return AD_REDISPATCH_UNAVAIL;
	if (closing)
		return AD_REDISPATCH_CLOSED;
	return AD_REDISPATCH_AGAIN;
}
