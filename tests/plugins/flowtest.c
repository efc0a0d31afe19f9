/*
 * flowtest - a callee whose behaviour each call chooses, for the
 * workflow tests.  The request (a map) says:
 *   "do":   "answer" (the default), "fail", "stall" or "crash";
 *   "n":    do it for the first n calls with this idempotency key, then
 *           answer (leave it out: every call);
 *   "code": the error to fail with ("EBUSY", "ETIMEOUT", ...; EFAILED
 *           by default);
 *   "answer": a value put in the reply.
 * Calls are counted per idempotency key in state (n/KEY), before
 * anything else, so that a test reads how often each step was called;
 * the answer is {"answer": ..., "calls": n, "key": KEY, "in": request}.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

struct ft {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	agentd_writer            *w;
};

static int
ft_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct ft *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return AGENTD_ENOMEM;
	t->ctx  = ctx;
	t->host = host;
	agentd_writer_new(&t->w);
	*state = t;
	return 0;
}

/* One more call with key: the count, stored before it is acted on. */
static int
count(struct ft *t, const char *key, int64_t *n)
{
	char        k[512];
	void       *val;
	size_t      len;
	agentd_doc *doc;
	const void *p;
	int         rv;

	snprintf(k, sizeof(k), "n/%s", key);
	*n = 0;
	rv = t->host->state_get(t->ctx, k, strlen(k), &val, &len);
	if (rv == 0) {
		if (agentd_parse(val, len, &doc) == 0) {
			agentd_get_int(agentd_doc_root(doc), n);
			agentd_doc_free(doc);
		}
		t->host->free(val);
	} else if (rv != AGENTD_ENOENT)
		return rv;
	(*n)++;
	agentd_writer_reset(t->w);
	agentd_write_int(t->w, *n);
	p = agentd_writer_data(t->w, &len);
	return t->host->state_put(t->ctx, k, strlen(k), p, len);
}

static int
str_is(const agentd_value *v, const char *s)
{
	const char *p;
	size_t      n;

	return agentd_get_str(v, &p, &n) == 0 && n == strlen(s)
	    && memcmp(p, s, n) == 0;
}

static int
ft_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct ft          *t = state;
	agentd_doc         *doc;
	const agentd_value *root, *act, *ans;
	char                key[256] = "nokey", code[32] = "EFAILED";
	int64_t             calls, n                     = INT64_MAX;
	const void         *p;
	size_t              plen;
	int                 rv, err = AGENTD_EFAILED;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	agentd_get_strcpy(
	    agentd_map_get(root, "idempotency_key"), key, sizeof(key));
	agentd_get_int(agentd_map_get(root, "n"), &n);
	agentd_get_strcpy(agentd_map_get(root, "code"), code, sizeof(code));
	for (int e = 1; e < 32; e++)
		if (strcmp(agentd_errname(e), code) == 0)
			err = e;
	if ((rv = count(t, key, &calls)) != 0) {
		agentd_doc_free(doc);
		return rv;
	}
	act = agentd_map_get(root, "do");
	if (calls <= n && str_is(act, "crash"))
		raise(SIGKILL);
	if (calls <= n && str_is(act, "stall")) {
		agentd_doc_free(doc);
		return 0; /* never answered: the caller's deadline passes */
	}
	if (calls <= n && str_is(act, "fail")) {
		agentd_doc_free(doc);
		return t->host->reply_error(t->ctx, req, err, "told to fail");
	}
	ans = agentd_map_get(root, "answer");
	agentd_writer_reset(t->w);
	agentd_write_map(t->w, 4);
	agentd_write_str(t->w, "answer");
	if (ans != NULL)
		agentd_write_value(t->w, ans);
	else
		agentd_write_nil(t->w);
	agentd_write_str(t->w, "calls");
	agentd_write_int(t->w, calls);
	agentd_write_str(t->w, "key");
	agentd_write_str(t->w, key);
	agentd_write_str(t->w, "in");
	agentd_write_value(t->w, root);
	agentd_doc_free(doc);
	p = agentd_writer_data(t->w, &plen);
	return t->host->reply(t->ctx, req, p, plen);
}

static void
ft_fini(void *state)
{
	struct ft *t = state;

	agentd_writer_free(t->w);
	free(t);
}

AGENTD_PLUGIN(.name = "flowtest", .version = "1.0.0",
    .description = "answers, fails, stalls or crashes as each call says",
    .init = ft_init, .on_request = ft_request, .fini = ft_fini);
