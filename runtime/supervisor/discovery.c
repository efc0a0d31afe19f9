/*
 * discovery.c - the "agents" operation (discovery.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <agentd/msg.h>

#include "sdk/contract.h"
#include "supervisor/discovery.h"
#include "supervisor/status.h"
#include "supervisor/supervisor.h"

/*
 * The capability asked for into cap ("" for every agent): 0, or
 * AGENTD_EINVAL when the body is not a map or its "capability" is not a
 * capability's name.
 */
static int
wanted_capability(const struct ad_envelope *e, char *cap, size_t caplen)
{
	agentd_doc         *doc = NULL;
	const agentd_value *v;
	int                 rv = 0;

	cap[0] = '\0';
	if (e->body_len == 0)
		return 0;
	if (agentd_parse(e->body, e->body_len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP)
		rv = AGENTD_EINVAL;
	else if ((v = agentd_map_get(agentd_doc_root(doc), "capability"))
	        != NULL
	    && (agentd_get_strcpy(v, cap, caplen) != 0
	        || !ad_valid_capability(cap)))
		rv = AGENTD_EINVAL;
	agentd_doc_free(doc);
	return rv;
}

static int
has_capability(const struct ad_agent_brief *a, const char *cap)
{
	size_t i;

	if (cap[0] == '\0')
		return 1;
	for (i = 0; i < a->ncapabilities; i++)
		if (strcmp(a->capabilities[i], cap) == 0)
			return 1;
	return 0;
}

static int
by_name(const void *x, const void *y)
{
	return strcmp(((const struct ad_agent_brief *)x)->name,
	    ((const struct ad_agent_brief *)y)->name);
}

static void
write_one(agentd_writer *w, const struct ad_agent_brief *a)
{
	size_t i;

	agentd_write_map(w, 4);
	agentd_write_str(w, "name");
	agentd_write_str(w, a->name);
	agentd_write_str(w, "version");
	agentd_write_str(w, a->version);
	agentd_write_str(w, "state");
	agentd_write_str(w, a->state);
	agentd_write_str(w, "capabilities");
	agentd_write_array(w, (uint32_t)a->ncapabilities);
	for (i = 0; i < a->ncapabilities; i++)
		agentd_write_str(w, a->capabilities[i]);
}

/*
 * Only the agents with the capability are sorted and written: a plugin
 * asking find_agents in a loop holds sv->mtx for a few microseconds per
 * agent agentd runs, not for a snapshot of each (status.h).
 */
void
ad_discovery_agents(struct ad_srvctx *c, const struct ad_envelope *e)
{
	struct ad_agent_brief *all;
	agentd_writer         *w;
	char                   cap[AGENTD_NAME_MAX + 2];
	const void            *body;
	size_t                 i, k, n, len;

	if (wanted_capability(e, cap, sizeof(cap)) != 0) {
		ad_srv_fail(c, AGENTD_EINVAL,
		    "agents: {\"capability\": NAME} wants 1 to %d characters "
		    "of [a-z0-9_.-]",
		    AGENTD_NAME_MAX);
		return;
	}
	ad_status_briefs(c->srv->sv, &all, &n);
	for (i = k = 0; i < n; i++)
		if (has_capability(&all[i], cap))
			all[k++] = all[i];
	qsort(all, k, sizeof(*all), by_name);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "agents");
	agentd_write_array(w, (uint32_t)k);
	for (i = 0; i < k; i++)
		write_one(w, &all[i]);
	free(all);
	body = agentd_writer_data(w, &len);
	ad_srv_reply(c, 0, body, len);
	agentd_writer_free(w);
}
