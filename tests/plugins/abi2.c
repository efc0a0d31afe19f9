/*
 * A plugin as a future agentd 2.x SDK would build it: its descriptor is
 * agentd_plugin_v2 and says ABI 2.0.
 */
#include <agentd/agent.h>

static int
abi2_request(void *state, agentd_request *req, const void *body, size_t len)
{
	return AGENTD_ENOTSUP;
}

__attribute__((visibility("default")))
const struct agentd_plugin agentd_plugin_v2
    = {
	      .magic      = AGENTD_PLUGIN_MAGIC,
	      .size       = sizeof(struct agentd_plugin),
	      .abi_major  = 2,
	      .abi_minor  = 0,
	      .name       = "abi2",
	      .version    = "2.0.0",
	      .on_request = abi2_request,
      };
