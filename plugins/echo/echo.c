/*
 * echo - replies with what it was sent and which instance answered.
 *
 * The smallest useful agent, and a template: it keeps its host table and
 * context from init, answers every request at once, and frees what it
 * allocated in fini.
 */
#include <stdlib.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

struct echo {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *out;
};

static int
echo_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct echo *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return AGENTD_ENOMEM;
	e->ctx  = ctx;
	e->host = host;
	if (agentd_writer_new(&e->out) != 0) {
		free(e);
		return AGENTD_ENOMEM;
	}
	*state = e;
	return 0;
}

static int
echo_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct echo *e = state;
	const void  *out;
	size_t       outlen;
	int          rv;

	agentd_writer_reset(e->out);
	agentd_write_map(e->out, 3);
	agentd_write_str(e->out, "echo");
	/* The body is already one msgpack value: embed it unchanged. */
	if (len > 0)
		rv = agentd_write_raw(e->out, body, len);
	else
		rv = agentd_write_nil(e->out);
	if (rv != 0)
		return rv;
	agentd_write_str(e->out, "instance");
	agentd_write_str(e->out, e->host->instance_id(e->ctx));
	agentd_write_str(e->out, "pid");
	agentd_write_int(e->out, getpid());
	out = agentd_writer_data(e->out, &outlen);
	return e->host->reply(e->ctx, req, out, outlen);
}

static void
echo_fini(void *state)
{
	struct echo *e = state;

	agentd_writer_free(e->out);
	free(e);
}

/* What other agents find it by (host->find_agents). */
static const char *const echo_capabilities[] = { "echo", NULL };

AGENTD_PLUGIN(.name = "echo", .version = "1.0.0",
    .description = "replies with its input and the instance that answered",
    .init = echo_init, .on_request = echo_request, .fini = echo_fini,
    .capabilities = echo_capabilities);
