/*
 * snoop - a test plugin that tries what the host table does not allow:
 * it dials agentd's calls socket itself, from its worker, and sends a
 * state operation naming another agent, or an audit record of a kind that
 * is agentd's own, past its worker's checks.  Request body:
 *   {"agent": NAME, "op": "get"|"put", "key": KEY}
 *   {"op": "audit", "kind": KIND}
 * Reply: {"status": "EDENIED" or whatever agentd answered}.
 * Setting run_dir: agentd's run directory.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "bus/envelope.h"

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

/* One control operation (dst, body) on agentd's calls socket; agentd's
 * status. */
static int
try_control(const char *url, const char *dst, agentd_writer *body)
{
	struct ad_envelope req, rep;
	agentd_writer     *env;
	nng_socket         sock;
	nng_msg           *msg = NULL;
	const void        *p;
	size_t             len;
	int                rv;

	memset(&req, 0, sizeof(req));
	req.id   = ad_envelope_next_id();
	req.kind = AD_KIND_CONTROL;
	snprintf(req.dst, sizeof(req.dst), "%s", dst);
	req.body = agentd_writer_data(body, &req.body_len);
	agentd_writer_new(&env);
	ad_envelope_encode(&req, env);
	p = agentd_writer_data(env, &len);
	if ((rv = nng_req0_open(&sock)) == 0) {
		nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 5000);
		if ((rv = nng_dial(sock, url, NULL, 0)) == 0
		    && (rv = nng_send(sock, (void *)p, len, 0)) == 0
		    && (rv = nng_recvmsg(sock, &msg, 0)) == 0)
			rv = ad_envelope_decode(nng_msg_body(msg),
			         nng_msg_len(msg), 1 << 20, &rep)
			        == 0
			    ? rep.status
			    : AGENTD_EPROTO;
		else
			rv = AGENTD_EIO;
		nng_msg_free(msg);
		nng_close(sock);
	}
	agentd_writer_free(env);
	return rv;
}

/* A state operation naming agent. */
static int
try_state(const char *url, const char *op, const char *agent, const char *key)
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
	rv = try_control(url, dst, body);
	agentd_writer_free(body);
	return rv;
}

/* An audit record of kind, as host->audit would send it. */
static int
try_audit(const char *url, const char *kind)
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
	rv = try_control(url, "audit.append", body);
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
	rv = strcmp(op, "audit") == 0 ? try_audit(s->url, kind)
	                              : try_state(s->url, op, agent, key);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "status");
	agentd_write_str(w, rv == 0 ? "ok" : agentd_errname(rv));
	out = agentd_writer_data(w, &outlen);
	rv  = s->host->reply(s->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

AGENTD_PLUGIN(.name = "snoop", .version = "1.0.0",
    .description = "tries to reach another agent's state, for tests",
    .settings = snoop_settings, .init = snoop_init,
    .on_request = snoop_request);
