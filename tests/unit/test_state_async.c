/*
 * test_state_async - host->state_batch_async (ABI 1.6) in the mock host:
 * written at once with state_batch's checks, refused batches never call
 * back, callbacks in order from agentd_mock_poll() or agentd_mock_run(),
 * and those still waiting run before fini.
 */
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/mock.h>

#include "tap.h"

static const struct agentd_host *host;
static agentd_ctx               *hctx;
static int                       order[16], statuses[16];
static size_t                    ncalled;
static size_t                    at_fini = (size_t)-1;

static void
done(void *arg, int status)
{
	order[ncalled]      = (int)(intptr_t)arg;
	statuses[ncalled++] = status;
}

static int
sa_init(agentd_ctx *ctx, const struct agentd_host *h, void **state)
{
	host   = h;
	hctx   = ctx;
	*state = NULL;
	return 0;
}

static void
sa_fini(void *state)
{
	(void)state;
	at_fini = ncalled;
}

static int
sa_request(void *state, agentd_request *req, const void *body, size_t len)
{
	(void)state;
	(void)req;
	(void)body;
	(void)len;
	return AGENTD_EINVAL;
}

static const struct agentd_plugin plugin = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "sa",
	.version    = "1",
	.init       = sa_init,
	.on_request = sa_request,
	.fini       = sa_fini,
};

static int
batch(const char *k1, const char *k2, const char *v, int i)
{
	struct agentd_state_op ops[2] = {
		{ k1, strlen(k1), v, v != NULL ? strlen(v) : 0 },
		{ k2, strlen(k2), v, v != NULL ? strlen(v) : 0 },
	};

	return host->state_batch_async(
	    hctx, ops, 2, done, (void *)(intptr_t)i);
}

int
main(void)
{
	agentd_mock *m;
	void        *val;
	size_t       len;
	int          rv;

	plan(14);
	agentd_mock_new(NULL, &m);
	rv = agentd_mock_attach(m, &plugin);
	is_int(rv, 0, "the plugin attached");
	if (rv != 0) {
		diag("%s", agentd_mock_errmsg(m));
		return done_testing();
	}
	ok(AGENTD_HOST_HAS(host, state_batch_async),
	    "the mock's table has state_batch_async");
	is_int(batch("a", "b", "1", 0), 0, "a batch is queued");
	is_int(batch("c", "", "2", 1), AGENTD_EINVAL,
	    "a batch with an empty key is refused at once");
	is_int(batch("a", "d", "3", 2), 0, "a second batch is queued");
	is_int(batch("b", "d", NULL, 3), 0, "a third, of deletes");
	is_int((int)ncalled, 0, "no callback inside the host call");
	is_int(host->state_get(hctx, "c", 1, &val, &len), AGENTD_ENOENT,
	    "nothing of the refused batch is written");
	is_int(host->state_get(hctx, "a", 1, &val, &len), 0,
	    "the others are, at once");
	ok(len == 1 && memcmp(val, "3", 1) == 0, "...in their order");
	host->free(val);
	is_int((int)agentd_mock_poll(m, 0), 3, "agentd_mock_poll runs 3");
	ok(ncalled == 3 && order[0] == 0 && order[1] == 2 && order[2] == 3
	        && statuses[0] == 0 && statuses[1] == 0 && statuses[2] == 0,
	    "...in order, each 0");
	batch("e", "f", "4", 4);
	agentd_mock_free(m);
	is_int((int)at_fini, 4, "one still waiting runs before fini");
	is_int(order[3], 4, "...it is the last one");
	return done_testing();
}
