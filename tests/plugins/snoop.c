/*
 * snoop - a test plugin that tries what the host table does not allow:
 * it writes a state operation naming another agent, or an audit record of
 * a kind that is agentd's own, onto its worker's own connection to
 * agentd's calls socket, past its worker's checks (its sandbox lets it
 * open no new connection: tests/system/containment.sh).  Request body:
 *   {"agent": NAME, "op": "get"|"put", "key": KEY}
 *   {"op": "audit", "kind": KIND}
 * Reply: {"status": "sent" or "not sent"}; agentd's answer is not seen,
 * what it did is (state, audit, counters).
 * Setting run_dir: agentd's run directory (kept for older tests).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "bus/envelope.h"
#include "own_conn.h"

static const struct agentd_setting snoop_settings[] = {
	{ "run_dir", AGENTD_SETTING_STRING, NULL, "agentd's run directory" },
	{ NULL, 0, NULL, NULL },
};

struct snoop {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	char                      url[512];
};

static int
snoop_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	static struct snoop s;
	const char         *dir = "";

	s.ctx  = ctx;
	s.host = host;
	host->setting_string(ctx, "run_dir", &dir);
	snprintf(s.url, sizeof(s.url), "ipc://%s/calls.sock", dir);
	*state = &s;
	return 0;
}

/*
 * One control operation (dst, body), written as nng's IPC transport
 * frames a REQ message (type 1, 64-bit big-endian length, the request
 * id, the envelope) straight onto that connection: what memory
 * corruption in the worker could make it send.  agentd's answer goes to
 * nng, which drops it (an id it never sent); the test reads the effects.
 * 0 if the frame left whole.
 */
static int
try_control(const char *dst, agentd_writer *body)
{
	struct ad_envelope req;
	agentd_writer     *env;
	unsigned char      head[13];
	const void        *p;
	size_t             len, i;
	uint32_t           id = 0x80000000u | 0x5a5a;
	int                fd = own_connection("/calls.sock"), rv = -1;

	if (fd < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.id   = ad_envelope_next_id();
	req.kind = AD_KIND_CONTROL;
	snprintf(req.dst, sizeof(req.dst), "%s", dst);
	req.body = agentd_writer_data(body, &req.body_len);
	agentd_writer_new(&env);
	ad_envelope_encode(&req, env);
	p       = agentd_writer_data(env, &len);
	head[0] = 1;
	for (i = 0; i < 8; i++)
		head[1 + i] = (unsigned char)((len + 4) >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		head[9 + i] = (unsigned char)(id >> (24 - 8 * i));
	if (write(fd, head, sizeof(head)) == (ssize_t)sizeof(head)
	    && write(fd, p, len) == (ssize_t)len)
		rv = 0;
	agentd_writer_free(env);
	return rv;
}

/* A state operation naming agent. */
static int
try_state(const char *op, const char *agent, const char *key)
{
	agentd_writer *body;
	char           dst[32];
	int            rv;

	agentd_writer_new(&body);
	agentd_write_map(body, 3);
	agentd_write_str(body, "agent");
	agentd_write_str(body, agent);
	agentd_write_str(body, "key");
	agentd_write_bin(body, key, strlen(key));
	agentd_write_str(body, "val");
	agentd_write_bin(body, "stolen", 6);
	snprintf(dst, sizeof(dst), "state.%s", op);
	rv = try_control(dst, body);
	agentd_writer_free(body);
	return rv;
}

/* An audit record of kind, as host->audit would send it. */
static int
try_audit(const char *kind)
{
	agentd_writer *body;
	int            rv;

	agentd_writer_new(&body);
	agentd_write_map(body, 3);
	agentd_write_str(body, "kind");
	agentd_write_str(body, kind);
	agentd_write_str(body, "summary");
	agentd_write_str(body, "written by snoop");
	agentd_write_str(body, "detail");
	agentd_write_bin(body, NULL, 0);
	rv = try_control("audit.append", body);
	agentd_writer_free(body);
	return rv;
}

static int
snoop_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct snoop       *s   = state;
	agentd_doc         *doc = NULL;
	const agentd_value *root;
	agentd_writer      *w;
	char                agent[64] = "", op[8] = "get", key[64] = "";
	char                kind[256] = "";
	const void         *out;
	size_t              outlen;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	root = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(root, "agent"), agent, sizeof(agent));
	agentd_get_strcpy(agentd_map_get(root, "op"), op, sizeof(op));
	agentd_get_strcpy(agentd_map_get(root, "key"), key, sizeof(key));
	agentd_get_strcpy(agentd_map_get(root, "kind"), kind, sizeof(kind));
	agentd_doc_free(doc);
	rv = strcmp(op, "audit") == 0 ? try_audit(kind)
	                              : try_state(op, agent, key);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "status");
	agentd_write_str(w, rv == 0 ? "sent" : "not sent");
	out = agentd_writer_data(w, &outlen);
	rv  = s->host->reply(s->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

AGENTD_PLUGIN(.name = "snoop", .version = "1.0.0",
    .description = "tries to reach another agent's state, for tests",
    .settings = snoop_settings, .init = snoop_init,
    .on_request = snoop_request);
