/* A descriptor with the right name but a wrong magic number. */
#include <agentd/agent.h>

__attribute__((visibility("default")))
const struct agentd_plugin agentd_plugin_v1
    = {
	      .magic     = 0xdeadbeef,
	      .size      = sizeof(struct agentd_plugin),
	      .abi_major = AGENTD_ABI_MAJOR,
	      .abi_minor = AGENTD_ABI_MINOR,
	      .name      = "badmagic",
	      .version   = "0.0.1",
      };
