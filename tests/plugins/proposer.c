/*
 * proposer - a test plugin that proposes actions to the policy gate and
 * acts on them only when their decision says approved.
 *
 * Request body (a map), one operation:
 *   {"propose": {"type": T, "title": S, "reasoning": S, "amount": F,
 *                "confidence": F, "params": MAP}, "count": N}
 *       propose N times (default 1); reply {"status": NAME, "ids": [ID..]}
 *       (the ids of those accepted before the first failure); "nan":
 *       true in the proposal makes its amount NaN
 *   {"propose": {...}, "count": N, "async": true}
 *       the same N times with propose_async, in this one callback (the
 *       worker sends them as one batch); reply once every callback ran:
 *       {"status": "ok" or the first refusal's NAME, "ids": [ID..] (the
 *       accepted ones, in the order proposed), "errors": N}
 *   {"effects": true}
 *       reply {"seen": N, "applied": N, "repeats": N, "last": {id,
 *       outcome, params, by, note}}: outcomes seen (each id counted once,
 *       remembered in state so a restart does not forget them), actions
 *       applied (approved ones), and outcomes that came again
 * Setting "crash_on_decision": the instance dies (SIGKILL itself) on the
 * first decision event it gets, before taking it, once per state dir
 * (a state key remembers), to show the outcome goes to the replacement.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting proposer_settings[] = {
	{ "crash_on_decision", AGENTD_SETTING_BOOL, "false",
	    "die on the first decision event" },
	{ NULL, 0, NULL, NULL },
};

struct proposer {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int                       crash;
	int64_t                   repeats; /* in this instance */
	agentd_writer            *last;
};

static int
proposer_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct proposer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return AGENTD_ENOMEM;
	p->ctx  = ctx;
	p->host = host;
	host->setting_bool(ctx, "crash_on_decision", &p->crash);
	agentd_writer_new(&p->last);
	agentd_write_nil(p->last);
	*state = p;
	return 0;
}

static void
proposer_fini(void *state)
{
	struct proposer *p = state;

	agentd_writer_free(p->last);
	free(p);
}

static int64_t
counter(struct proposer *p, const char *key)
{
	void   *v;
	size_t  len;
	int64_t n = 0;

	if (p->host->state_get(p->ctx, key, strlen(key), &v, &len) == 0) {
		n = strtoll(v, NULL, 10);
		p->host->free(v);
	}
	return n;
}

/* {"status", "ids"}, and "errors" unless errors is -1. */
static void
reply_status(struct proposer *p, agentd_request *req, int status,
    int64_t errors, size_t n, char **idv)
{
	agentd_writer *w;
	const void    *out;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, (idv != NULL ? 2 : 1) + (errors >= 0));
	if (errors >= 0) {
		agentd_write_str(w, "errors");
		agentd_write_int(w, errors);
	}
	agentd_write_str(w, "status");
	agentd_write_str(w, status == 0 ? "ok" : agentd_errname(status));
	if (idv != NULL) {
		agentd_write_str(w, "ids");
		agentd_write_array(w, (uint32_t)n);
		for (size_t i = 0; i < n; i++)
			agentd_write_str(w, idv[i]);
	}
	out = agentd_writer_data(w, &len);
	p->host->reply(p->ctx, req, out, len);
	agentd_writer_free(w);
}

static char *
str_or(const agentd_value *v, const char *def)
{
	const char *s;
	size_t      len;
	char       *out;

	if (agentd_get_str(v, &s, &len) != 0)
		return def != NULL ? strdup(def) : NULL;
	out = malloc(len + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/* propose_async calls made by one request, answered together. */
struct async_batch {
	struct proposer *p;
	agentd_request  *req;
	int64_t          n, done, errors;
	int              first_error;
	char           **idv; /* in the order proposed; NULL: refused */
};

struct async_one {
	struct async_batch *b;
	int64_t             i;
};

static void
async_done(void *arg, int status, const char *id)
{
	struct async_one   *one = arg;
	struct async_batch *b   = one->b;
	size_t              n   = 0;

	if (status == 0)
		b->idv[one->i] = strdup(id);
	else if (b->errors++ == 0)
		b->first_error = status;
	free(one);
	if (++b->done < b->n)
		return;
	for (int64_t i = 0; i < b->n; i++)
		if (b->idv[i] != NULL)
			b->idv[n++] = b->idv[i];
	reply_status(b->p, b->req, b->first_error, b->errors, n, b->idv);
	for (size_t i = 0; i < n; i++)
		free(b->idv[i]);
	free(b->idv);
	free(b);
}

/* count propose_async calls of prop; the reply comes from the last
 * callback. */
static void
propose_async_all(struct proposer *p, agentd_request *req,
    const struct agentd_proposal *prop, int64_t count)
{
	struct async_batch *b = calloc(1, sizeof(*b));
	int64_t             i;

	b->p   = p;
	b->req = req;
	b->n   = count;
	b->idv = calloc((size_t)count, sizeof(*b->idv));
	for (i = 0; i < count; i++) {
		struct async_one *one = calloc(1, sizeof(*one));
		int               rv;

		one->b = b;
		one->i = i;
		if ((rv = p->host->propose_async(
		         p->ctx, prop, async_done, one))
		    != 0)
			async_done(one, rv, NULL); /* refused at once */
	}
}

static int
do_propose(struct proposer *p, agentd_request *req, const agentd_value *pr,
    int64_t count, int async)
{
	struct agentd_proposal prop;
	agentd_writer         *params;
	const agentd_value    *pv = agentd_map_get(pr, "params");
	char                  *type, *title, *reasoning, **idv;
	size_t                 n  = 0;
	int                    rv = 0;

	memset(&prop, 0, sizeof(prop));
	type       = str_or(agentd_map_get(pr, "type"), NULL);
	title      = str_or(agentd_map_get(pr, "title"), "a test proposal");
	reasoning  = str_or(agentd_map_get(pr, "reasoning"), NULL);
	prop.type  = type;
	prop.title = title;
	prop.reasoning = reasoning;
	prop.amount = prop.confidence = 0;
	if (agentd_get_double(agentd_map_get(pr, "amount"), &prop.amount) != 0)
		prop.amount = 0;
	if (agentd_map_get(pr, "nan") != NULL)
		prop.amount = NAN;
	agentd_get_double(agentd_map_get(pr, "confidence"), &prop.confidence);
	agentd_writer_new(&params);
	if (pv != NULL) {
		agentd_write_value(params, pv);
		prop.params = agentd_writer_data(params, &prop.params_len);
	}
	if (count < 1)
		count = 1;
	if (async) {
		propose_async_all(p, req, &prop, count);
		goto out;
	}
	idv = calloc((size_t)count, sizeof(*idv));
	for (int64_t i = 0; i < count; i++) {
		if ((rv = p->host->propose(p->ctx, &prop, &idv[n])) != 0)
			break;
		n++;
	}
	reply_status(p, req, rv, -1, n, idv);
	for (size_t i = 0; i < n; i++)
		p->host->free(idv[i]);
	free(idv);
out:
	agentd_writer_free(params);
	free(type);
	free(title);
	free(reasoning);
	return 0;
}

static int
proposer_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct proposer    *p = state;
	agentd_doc         *doc;
	const agentd_value *root, *v;
	int64_t             count = 1;
	int                 async = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	if ((v = agentd_map_get(root, "propose")) != NULL) {
		agentd_get_int(agentd_map_get(root, "count"), &count);
		agentd_get_bool(agentd_map_get(root, "async"), &async);
		do_propose(p, req, v, count, async);
	} else if (agentd_map_get(root, "effects") != NULL) {
		agentd_writer *w;
		const void    *out, *last;
		size_t         olen, llen;

		agentd_writer_new(&w);
		agentd_write_map(w, 4);
		agentd_write_str(w, "seen");
		agentd_write_int(w, counter(p, "seen"));
		agentd_write_str(w, "applied");
		agentd_write_int(w, counter(p, "applied"));
		agentd_write_str(w, "repeats");
		agentd_write_int(w, counter(p, "repeats"));
		agentd_write_str(w, "last");
		last = agentd_writer_data(p->last, &llen);
		agentd_write_raw(w, last, llen);
		out = agentd_writer_data(w, &olen);
		p->host->reply(p->ctx, req, out, olen);
		agentd_writer_free(w);
	} else {
		agentd_doc_free(doc);
		return AGENTD_EINVAL;
	}
	agentd_doc_free(doc);
	return 0;
}

/* decision.<id>: count it once, act once if approved. */
static void
proposer_event(void *state, const char *topic, const void *body, size_t len)
{
	struct proposer       *p = state;
	agentd_doc            *doc;
	const agentd_value    *root;
	char                   id[32] = "", outcome[16] = "", key[64], num[32];
	struct agentd_state_op ops[3];
	size_t                 nops = 0;
	void                  *v;
	size_t                 vlen;
	int                    approved;

	if (strncmp(topic, "decision.", 9) != 0
	    || agentd_parse(body, len, &doc) != 0)
		return;
	if (p->crash) {
		v = NULL;
		if (p->host->state_get(p->ctx, "crashed", 7, &v, &vlen) != 0) {
			p->host->state_put(p->ctx, "crashed", 7, "1", 1);
			kill(getpid(), SIGKILL);
		}
		p->host->free(v);
		p->crash = 0;
	}
	root = agentd_doc_root(doc);
	agentd_get_strcpy(agentd_map_get(root, "id"), id, sizeof(id));
	agentd_get_strcpy(
	    agentd_map_get(root, "outcome"), outcome, sizeof(outcome));
	agentd_writer_reset(p->last);
	agentd_write_value(p->last, root);
	snprintf(key, sizeof(key), "taken/%s", id);
	if (p->host->state_get(p->ctx, key, strlen(key), &v, &vlen) == 0) {
		p->host->free(v);
		snprintf(num, sizeof(num), "%lld",
		    (long long)counter(p, "repeats") + 1);
		p->host->state_put(p->ctx, "repeats", 7, num, strlen(num));
		agentd_doc_free(doc);
		return;
	}
	approved = strcmp(outcome, "approved") == 0;
	/* The action and the record that it ran, in one batch. */
	ops[nops++] = (struct agentd_state_op) { key, strlen(key), outcome,
		strlen(outcome) };
	{
		static char seen[32], applied[32];

		snprintf(seen, sizeof(seen), "%lld",
		    (long long)counter(p, "seen") + 1);
		ops[nops++] = (struct agentd_state_op) { "seen", 4, seen,
			strlen(seen) };
		if (approved) {
			snprintf(applied, sizeof(applied), "%lld",
			    (long long)counter(p, "applied") + 1);
			ops[nops++] = (struct agentd_state_op) { "applied", 7,
				applied, strlen(applied) };
		}
	}
	p->host->state_batch(p->ctx, ops, nops);
	agentd_doc_free(doc);
}

const struct agentd_plugin agentd_plugin_v1 = {
	.magic       = AGENTD_PLUGIN_MAGIC,
	.size        = sizeof(struct agentd_plugin),
	.abi_major   = AGENTD_ABI_MAJOR,
	.abi_minor   = AGENTD_ABI_MINOR,
	.name        = "proposer",
	.version     = "1.0.0",
	.description = "proposes to the policy gate, acts on approvals",
	.settings    = proposer_settings,
	.init        = proposer_init,
	.on_request  = proposer_request,
	.on_event    = proposer_event,
	.fini        = proposer_fini,
};
