/*
 * status.c - a copy of what runs, for those who report it (status.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/agent.h"
#include "supervisor/gate.h"
#include "supervisor/instance.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

void
ad_status_take(struct ad_sv *sv, struct ad_status *st)
{
	size_t i, n;

	memset(st, 0, sizeof(*st));
	st->started_ms = sv->started_ms;
	/* Agents a reload removed are draining: not listed. */
	for (i = n = 0; i < sv->nagents; i++)
		n += !sv->agents[i]->removed;
	st->agents = ad_xcalloc(n ? n : 1, sizeof(*st->agents));
	for (i = 0; i < sv->nagents; i++)
		if (!sv->agents[i]->removed) {
			struct ad_agent_status *as
			    = &st->agents[st->nagents++];

			ad_agent_status_get(sv->agents[i], as);
			as->pending = ad_gate_pending(
			    sv, as->name, &as->next_deadline_ms);
		}
}

void
ad_status_briefs(struct ad_sv *sv, struct ad_agent_brief **out, size_t *n)
{
	size_t i;

	*out = ad_xcalloc(sv->nagents ? sv->nagents : 1, sizeof(**out));
	*n   = 0;
	for (i = 0; i < sv->nagents; i++)
		if (!sv->agents[i]->removed)
			ad_agent_brief_get(sv->agents[i], &(*out)[(*n)++]);
}

void
ad_status_release(struct ad_status *st)
{
	size_t i;

	for (i = 0; i < st->nagents; i++)
		ad_agent_status_release(&st->agents[i]);
	free(st->agents);
	memset(st, 0, sizeof(*st));
}
