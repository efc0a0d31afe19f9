/*
 * host.h - the host side of the plugin boundary, inside agentd-worker.
 *
 * One agentd_ctx per worker process (one instance).  Everything the plugin
 * can ask of the host goes through ad_host_table; functions whose feature
 * is not there yet answer AGENTD_ENOTSUP, with their signatures settled.
 */
#ifndef AD_HOST_H
#define AD_HOST_H

#include <nng/nng.h>

#include <agentd/agent.h>

#include "bus/envelope.h"
#include "config/config.h"

struct agentd_ctx {
	nng_socket                  sock; /* raw REP, dialed to agentd */
	const struct agentd_plugin *desc;
	void                       *state;
	int                         initialized;
	char                        agent[AD_NAME_MAX];
	char                        instance[AD_NAME_MAX];
	struct ad_setting_value    *settings; /* owned */
	size_t                      nsettings;
	unsigned                    pending; /* requests not yet answered */
};

extern const struct agentd_host ad_host_table;

/*
 * Hand a request to the plugin.  msg (the received nng message, whose
 * header routes the reply back) ownership passes only on success; e
 * describes it and its body points into msg.
 */
int ad_host_request(
    struct agentd_ctx *ctx, nng_msg *msg, const struct ad_envelope *e);

/* Read the "settings" map of an init message into ctx->settings. */
int ad_host_load_settings(
    struct agentd_ctx *ctx, const agentd_value *map, char *err, size_t len);
void ad_host_free_settings(struct agentd_ctx *ctx);

#endif
