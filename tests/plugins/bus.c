/*
 * bus - a test plugin that exercises calls and events on demand.
 * Request body (a map), one operation:
 *   {"call": AGENT, "body": X, "async": BOOL, "timeout_ms": N}
 *       call AGENT with X; reply {"status": NAME, "reply": REPLY}, and
 *       when the call failed "why": host->call_error()
 *   {"fail": CODE, "why": TEXT}
 *       host->reply_error(CODE, TEXT)
 *   {"publish": TOPIC, "count": N, "body": X}
 *       publish N events; reply {"published": N, "status": NAME}
 *   {"events": true}
 *       reply {"received": N, "last_topic": T, "last": BODY, "src": S,
 *       "first": BODY (the instance's first event)}
 *   {"audit": {"kind": K, "summary": S, "detail": X}}
 *       append an audit record; reply {"status": NAME, "audited": nil}
 *   {"state": "put"|"get"|"del"|"scan"|"batch", "key": K, "val": X,
 *    "ops": [[K, X or nil], ...]}
 *       reply {"status": NAME, "value": X (get) or [keys] (scan)}
 * Setting "event_sleep_ms" makes on_event slow, to play a slow subscriber.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting bus_settings[] = {
	{ "event_sleep_ms", AGENTD_SETTING_INT, "0", "sleep per event" },
	{ NULL, 0, NULL, NULL },
};

struct bus {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	int64_t                   event_sleep_ms;
	int64_t                   received;
	char                      last_topic[256];
	agentd_writer            *last;  /* body of the last event */
	agentd_writer            *first; /* and of the first */
};

/* An asynchronous call waiting for its answer. */
struct pending {
	struct bus     *b;
	agentd_request *req;
};

static int
bus_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return AGENTD_ENOMEM;
	b->ctx  = ctx;
	b->host = host;
	host->setting_int(ctx, "event_sleep_ms", &b->event_sleep_ms);
	agentd_writer_new(&b->last);
	agentd_write_nil(b->last);
	agentd_writer_new(&b->first);
	agentd_write_nil(b->first);
	*state = b;
	return 0;
}

/* Reply {"status": NAME, KEY: raw msgpack VALUE (or nil)}, and "why":
 * why when it is not NULL. */
static int
answer_why(struct bus *b, agentd_request *req, int status, const char *key,
    const void *val, size_t len, const char *why)
{
	agentd_writer *w;
	const void    *out;
	size_t         outlen;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, why != NULL ? 3 : 2);
	if (why != NULL) {
		agentd_write_str(w, "why");
		agentd_write_str(w, why);
	}
	agentd_write_str(w, "status");
	agentd_write_str(w, status == 0 ? "ok" : agentd_errname(status));
	agentd_write_str(w, key);
	if (val != NULL && len > 0)
		agentd_write_raw(w, val, len);
	else
		agentd_write_nil(w);
	out = agentd_writer_data(w, &outlen);
	rv  = b->host->reply(b->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

static int
answer(struct bus *b, agentd_request *req, int status, const char *key,
    const void *val, size_t len)
{
	return answer_why(b, req, status, key, val, len, NULL);
}

/* Why the call that just failed failed (host->call_error), or NULL. */
static const char *
call_why(struct bus *b, int status)
{
	if (status == 0 || !AGENTD_HOST_HAS(b->host, call_error))
		return NULL;
	return b->host->call_error(b->ctx);
}

static void
call_done(void *arg, int status, const void *reply, size_t len)
{
	struct pending *p = arg;

	answer_why(
	    p->b, p->req, status, "reply", reply, len, call_why(p->b, status));
	free(p);
}

/* The raw msgpack bytes of value v, re-encoded into w. */
static const void *
raw_of(agentd_writer *w, const agentd_value *v, size_t *len)
{
	agentd_writer_reset(w);
	if (v == NULL)
		agentd_write_nil(w);
	else
		agentd_write_value(w, v);
	return agentd_writer_data(w, len);
}

static int
op_call(struct bus *b, agentd_request *req, const agentd_value *root)
{
	char           agent[64];
	int64_t        timeout = 0;
	int            async   = 0, rv;
	agentd_writer *w;
	const void    *body;
	size_t         len;

	agentd_get_strcpy(agentd_map_get(root, "call"), agent, sizeof(agent));
	agentd_get_int(agentd_map_get(root, "timeout_ms"), &timeout);
	agentd_get_bool(agentd_map_get(root, "async"), &async);
	agentd_writer_new(&w);
	body = raw_of(w, agentd_map_get(root, "body"), &len);
	if (async) {
		struct pending *p = calloc(1, sizeof(*p));

		p->b   = b;
		p->req = req;
		rv     = b->host->call_async(
		        b->ctx, agent, body, len, (int)timeout, call_done, p);
		if (rv != 0) {
			free(p);
			rv = answer(b, req, rv, "reply", NULL, 0);
		}
	} else {
		void  *reply = NULL;
		size_t rlen  = 0;

		rv = b->host->call(
		    b->ctx, agent, body, len, (int)timeout, &reply, &rlen);
		rv = answer_why(
		    b, req, rv, "reply", reply, rlen, call_why(b, rv));
		b->host->free(reply);
	}
	agentd_writer_free(w);
	return rv;
}

static int
op_fail(struct bus *b, agentd_request *req, const agentd_value *root)
{
	char    why[1200] = "";
	int64_t code      = AGENTD_EPLUGIN;

	agentd_get_int(agentd_map_get(root, "fail"), &code);
	agentd_get_strcpy(agentd_map_get(root, "why"), why, sizeof(why));
	return b->host->reply_error(b->ctx, req, (int)code, why);
}

static int
op_publish(struct bus *b, agentd_request *req, const agentd_value *root)
{
	char           topic[256];
	int64_t        count  = 1, i;
	int            status = 0, rv;
	agentd_writer *w, *n;
	const void    *body;
	size_t         len;

	agentd_get_strcpy(
	    agentd_map_get(root, "publish"), topic, sizeof(topic));
	agentd_get_int(agentd_map_get(root, "count"), &count);
	agentd_writer_new(&w);
	body = raw_of(w, agentd_map_get(root, "body"), &len);
	for (i = 0; i < count; i++) {
		rv = b->host->publish(b->ctx, topic, body, len);
		if (rv != 0 && status == 0)
			status = rv;
	}
	agentd_writer_new(&n);
	agentd_write_int(n, count);
	body = agentd_writer_data(n, &len);
	rv   = answer(b, req, status, "published", body, len);
	agentd_writer_free(n);
	agentd_writer_free(w);
	return rv;
}

static int
op_events(struct bus *b, agentd_request *req)
{
	agentd_writer *w;
	const void    *out, *last, *first;
	size_t         outlen, lastlen, firstlen;
	int            rv;

	last  = agentd_writer_data(b->last, &lastlen);
	first = agentd_writer_data(b->first, &firstlen);
	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "received");
	agentd_write_int(w, b->received);
	agentd_write_str(w, "last_topic");
	agentd_write_str(w, b->last_topic);
	agentd_write_str(w, "last");
	agentd_write_raw(w, last, lastlen);
	agentd_write_str(w, "first");
	agentd_write_raw(w, first, firstlen);
	out = agentd_writer_data(w, &outlen);
	rv  = b->host->reply(b->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

static int
op_audit(struct bus *b, agentd_request *req, const agentd_value *a)
{
	char           kind[256] = "", summary[1024] = "";
	agentd_writer *w;
	const void    *detail;
	size_t         dlen = 0;
	int            rv;

	agentd_get_strcpy(agentd_map_get(a, "kind"), kind, sizeof(kind));
	agentd_get_strcpy(
	    agentd_map_get(a, "summary"), summary, sizeof(summary));
	agentd_writer_new(&w);
	detail = agentd_map_get(a, "detail") != NULL
	    ? raw_of(w, agentd_map_get(a, "detail"), &dlen)
	    : NULL;
	rv     = b->host->audit(b->ctx, kind, summary, detail, dlen);
	agentd_writer_free(w);
	return answer(b, req, rv, "audited", NULL, 0);
}

static int
add_key(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	agentd_writer *w = arg;

	agentd_write_strn(w, key, keylen);
	return 0;
}

static int
count_key(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static int
op_state(struct bus *b, agentd_request *req, const agentd_value *root)
{
	const struct agentd_host *h      = b->host;
	char                      op[16] = "", key[128] = "";
	agentd_writer            *w, *out;
	const void               *v;
	void                     *got  = NULL;
	size_t                    vlen = 0, gotlen = 0;
	uint32_t                  n = 0;
	int                       rv;

	agentd_get_strcpy(agentd_map_get(root, "state"), op, sizeof(op));
	agentd_get_strcpy(agentd_map_get(root, "key"), key, sizeof(key));
	agentd_writer_new(&w);
	agentd_writer_new(&out);
	v = raw_of(w, agentd_map_get(root, "val"), &vlen);
	if (strcmp(op, "put") == 0) {
		rv = h->state_put(b->ctx, key, strlen(key), v, vlen);
	} else if (strcmp(op, "get") == 0) {
		rv = h->state_get(b->ctx, key, strlen(key), &got, &gotlen);
		if (rv == 0)
			agentd_write_raw(out, got, gotlen);
		h->free(got);
	} else if (strcmp(op, "del") == 0) {
		rv = h->state_del(b->ctx, key, strlen(key));
	} else if (strcmp(op, "scan") == 0) {
		rv = h->state_scan(b->ctx, key, strlen(key), count_key, &n);
		agentd_write_array(out, n);
		if (rv == 0)
			rv = h->state_scan(
			    b->ctx, key, strlen(key), add_key, out);
	} else if (strcmp(op, "batch") == 0) {
		const agentd_value    *ops = agentd_map_get(root, "ops");
		struct agentd_state_op o[8];
		char                   k[8][64];
		agentd_writer         *vw[8];
		size_t                 i, cnt = agentd_len(ops);

		for (i = 0; i < cnt && i < 8; i++) {
			const agentd_value *op2 = agentd_array_at(ops, i);

			agentd_get_strcpy(
			    agentd_array_at(op2, 0), k[i], sizeof(k[i]));
			agentd_writer_new(&vw[i]);
			o[i].key    = k[i];
			o[i].keylen = strlen(k[i]);
			o[i].val    = agentd_type_of(agentd_array_at(op2, 1))
                                == AGENTD_T_NIL
			       ? NULL
			       : raw_of(
			           vw[i], agentd_array_at(op2, 1), &o[i].vallen);
		}
		rv = h->state_batch(b->ctx, o, i);
		while (i-- > 0)
			agentd_writer_free(vw[i]);
	} else {
		rv = AGENTD_EINVAL;
	}
	{
		size_t      olen;
		const void *p = agentd_writer_data(out, &olen);

		rv = answer(b, req, rv, "value", olen ? p : NULL, olen);
	}
	agentd_writer_free(out);
	agentd_writer_free(w);
	return rv;
}

static int
bus_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct bus         *b = state;
	agentd_doc         *doc;
	const agentd_value *root;
	int                 rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	root = agentd_doc_root(doc);
	if (agentd_map_get(root, "call") != NULL)
		rv = op_call(b, req, root);
	else if (agentd_map_get(root, "fail") != NULL)
		rv = op_fail(b, req, root);
	else if (agentd_map_get(root, "publish") != NULL)
		rv = op_publish(b, req, root);
	else if (agentd_map_get(root, "events") != NULL)
		rv = op_events(b, req);
	else if (agentd_map_get(root, "audit") != NULL)
		rv = op_audit(b, req, agentd_map_get(root, "audit"));
	else if (agentd_map_get(root, "state") != NULL)
		rv = op_state(b, req, root);
	else
		rv = AGENTD_EINVAL;
	agentd_doc_free(doc);
	return rv;
}

static void
bus_event(void *state, const char *topic, const void *body, size_t len)
{
	struct bus *b = state;

	if (b->event_sleep_ms > 0) {
		struct timespec ts = { b->event_sleep_ms / 1000,
			(b->event_sleep_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (b->received++ == 0) {
		agentd_writer_reset(b->first);
		if (agentd_write_raw(b->first, body, len) != 0)
			agentd_write_nil(b->first);
	}
	strncpy(b->last_topic, topic, sizeof(b->last_topic) - 1);
	agentd_writer_reset(b->last);
	if (agentd_write_raw(b->last, body, len) != 0)
		agentd_write_nil(b->last);
}

static void
bus_fini(void *state)
{
	struct bus *b = state;

	agentd_writer_free(b->last);
	agentd_writer_free(b->first);
	free(b);
}

AGENTD_PLUGIN(.name = "bus", .version = "0.1.0",
    .description = "test plugin: calls and events on demand",
    .settings = bus_settings, .init = bus_init, .on_request = bus_request,
    .on_event = bus_event, .fini = bus_fini);
