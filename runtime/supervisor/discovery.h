/*
 * discovery.h - which agents can do what: the "agents" operation.
 *
 * One operation answers agentctl agents, GET /v1/agents and a worker's
 * host->find_agents (on the calls socket): the agents of the running
 * configuration, sorted by name, each with its capabilities (its
 * plugin's .capabilities and its .conf's capabilities = { }, merged by
 * config/conf.c), those with {"capability": NAME} only.  Agents a reload
 * removed are not listed; a reload that changes an agent's capabilities
 * is seen once its new generation is current.
 */
#ifndef AD_DISCOVERY_H
#define AD_DISCOVERY_H

#include "bus/envelope.h"
#include "supervisor/server.h"

/*
 * Answer e, a request for AD_OP_AGENTS (sv->mtx held): {"agents":
 * [{"name", "version", "state", "capabilities": [..]}, ...]}, or
 * AGENTD_EINVAL for a "capability" that is not one.
 */
void ad_discovery_agents(struct ad_srvctx *c, const struct ad_envelope *e);

#endif
