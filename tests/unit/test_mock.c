/*
 * The mock host table (<agentd/mock.h>): against the test plugins and the
 * echo plugin built in the tree, and its own rules (state, call routing,
 * deferred async calls, answers given later, refused plugins).
 * Linked against libagentd-sdk.a only, as a plugin author's test is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

/* A plugin built in the tree: dir from the environment `make check` sets. */
static char *
plugin_path(const char *env, const char *fallback, const char *name)
{
	const char *dir = getenv(env);
	size_t      n;
	char       *p;

	if (dir == NULL)
		dir = fallback;
	n = strlen(dir) + strlen(name) + 2;
	p = malloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *
test_plugin(const char *name)
{
	return plugin_path("AGENTD_TEST_PLUGINS", "tests/plugins/.libs", name);
}

/* A new mock, or bail out: nothing below means anything without one. */
static agentd_mock *
mock(const char *agent)
{
	agentd_mock *m = NULL;

	if (agentd_mock_new(agent, &m) != 0) {
		printf("Bail out! agentd_mock_new failed\n");
		exit(1);
	}
	return m;
}

/* Load so (from the test plugins) into m. */
static int
load(agentd_mock *m, const char *so)
{
	char *path = test_plugin(so);
	int   rv   = agentd_mock_load(m, path);

	free(path);
	return rv;
}

/* The same when it must work: one test, and why not if it did not. */
static void
must_load(agentd_mock *m, const char *so, const char *name)
{
	int rv = load(m, so);

	if (!ok(rv == 0, name))
		diag("  %s: %s", agentd_errname(rv), agentd_mock_errmsg(m));
}

/* ---- reading replies --------------------------------------------------- */

static agentd_doc *reply_doc; /* the last reply parsed, freed by the next */

static const agentd_value *
parsed(const void *p, size_t len)
{
	agentd_doc_free(reply_doc);
	reply_doc = NULL;
	if (p == NULL || agentd_parse(p, len, &reply_doc) != 0)
		return NULL;
	return agentd_doc_root(reply_doc);
}

/* String at key of a map, copied into a static buffer ("" if none). */
static const char *
str_at(const agentd_value *map, const char *key)
{
	static char buf[256];

	buf[0] = '\0';
	agentd_get_strcpy(agentd_map_get(map, key), buf, sizeof(buf));
	return buf;
}

static int64_t
int_at(const agentd_value *map, const char *key)
{
	int64_t v = -1;

	agentd_get_int(agentd_map_get(map, key), &v);
	return v;
}

/*
 * One request to m whose body is one map of (key, string) pairs followed
 * by an optional raw value under "body"; returns the answer's status, the
 * parsed reply in *root.
 */
static int
ask(agentd_mock *m, agentd_writer *w, const agentd_value **root)
{
	const void *body, *reply = NULL;
	size_t      len, rlen    = 0;
	int         status = -1, rv;

	body = agentd_writer_data(w, &len);
	rv   = agentd_mock_request(m, body, len, &reply, &rlen, &status);
	if (rv != 0)
		diag("request: %s: %s", agentd_errname(rv),
		    agentd_mock_errmsg(m));
	*root = parsed(reply, rlen);
	return rv != 0 ? -rv : status;
}

/* {"state": op, "key": key, "val": val (a string, if not NULL)} to bus. */
static const agentd_value *
bus_state(agentd_mock *m, const char *op, const char *key, const char *val)
{
	const agentd_value *root;
	agentd_writer      *w;

	agentd_writer_new(&w);
	agentd_write_map(w, val ? 3 : 2);
	agentd_write_str(w, "state");
	agentd_write_str(w, op);
	agentd_write_str(w, "key");
	agentd_write_str(w, key);
	if (val != NULL) {
		agentd_write_str(w, "val");
		agentd_write_str(w, val);
	}
	ask(m, w, &root);
	agentd_writer_free(w);
	return root;
}

/* ---- settings and typed.so -------------------------------------------- */

static void
test_settings(void)
{
	const struct agentd_host *h;
	const agentd_value       *root;
	agentd_ctx               *ctx;
	agentd_mock              *m;
	agentd_writer            *w;
	double                    ratio;
	const char               *s;
	int                       b;

	m = mock(NULL);
	is_int(load(m, "typed.so"), AGENTD_EINVAL,
	    "typed.so without its required setting is refused (EINVAL)");
	like(agentd_mock_errmsg(m), "\"limit\" is required",
	    "... naming the missing setting");
	agentd_mock_setting(m, "limit", "7");
	agentd_mock_setting(m, "nope", "1");
	is_int(load(m, "typed.so"), AGENTD_ENOENT,
	    "a setting the plugin does not declare is refused (ENOENT)");
	agentd_mock_free(m);

	m = mock(NULL);
	agentd_mock_setting(m, "limit", "seven");
	is_int(load(m, "typed.so"), AGENTD_EINVAL,
	    "a setting not of its declared type is refused (EINVAL)");
	like(agentd_mock_errmsg(m), "is not of the type int",
	    "... saying which type");
	agentd_mock_setting(m, "limit", "7"); /* replaces "seven" */
	agentd_mock_setting(m, "verbose", "yes");
	must_load(m, "typed.so",
	    "typed.so loads after a failed attempt, settings fixed");
	is_int(agentd_mock_setting(m, "limit", "8"), AGENTD_EINVAL,
	    "settings cannot change after init");

	agentd_writer_new(&w);
	agentd_write_map(w, 0);
	is_int(ask(m, w, &root), 0, "a request is answered with status 0");
	is_int(
	    int_at(root, "limit"), 7, "the plugin reads the int it was given");
	is_str(str_at(root, "greeting"), "hello", "... the string's default");
	ok(agentd_get_double(agentd_map_get(root, "ratio"), &ratio) == 0
	        && ratio == 0.5,
	    "... the double's default");
	ok(agentd_get_bool(agentd_map_get(root, "verbose"), &b) == 0 && b == 1,
	    "... and \"yes\" as a bool true, as agentd reads it");
	ok(int_at(root, "pid") == getpid(), "the plugin runs in this process");

	h = agentd_mock_host(m, &ctx);
	is_str(h->agent_name(ctx), "typed", "agent name: the plugin's own");
	is_str(h->instance_id(ctx), "typed-1", "instance id: NAME-1");
	is_int(h->setting_string(ctx, "limit", &s), AGENTD_EINVAL,
	    "a setting read as another type is EINVAL");
	is_int(h->setting_string(ctx, "colour", &s), AGENTD_ENOENT,
	    "a setting not in the schema is ENOENT");

	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "fail");
	agentd_write_int(w, AGENTD_EDENIED);
	is_int(ask(m, w, &root), AGENTD_EDENIED,
	    "on_request failing without answering: the caller gets its code");
	is_str(str_at(root, "error"), "the plugin failed the request",
	    "... and {\"error\": ...} as agentd sends it");
	is_int(agentd_mock_pending(m), 0, "no request is left pending");
	agentd_writer_free(w);
	is_int(agentd_mock_load(m, "typed.so"), AGENTD_EINVAL,
	    "a second load into one mock is refused");
	agentd_mock_free(m);
}

/* ---- refused plugins ---------------------------------------------------- */

static void
test_refused(void)
{
	agentd_mock *m      = mock("x");
	char         text[] = "/tmp/agentd-mock-XXXXXX";
	int          fd;

	is_int(load(m, "nodesc.so"), AGENTD_EABI,
	    "a .so without descriptor is refused (EABI)");
	like(agentd_mock_errmsg(m), "no agentd_plugin_v1 symbol",
	    "... saying what is missing");
	is_int(
	    load(m, "badmagic.so"), AGENTD_EABI, "a wrong magic is refused");
	like(agentd_mock_errmsg(m), "wrong magic", "... saying so");
	is_int(
	    load(m, "abi2.so"), AGENTD_EABI, "another ABI major is refused");
	like(agentd_mock_errmsg(m), "ABI 2", "... naming it");
	fd = mkstemp(text);
	(void)!write(fd, "not a shared object\n", 20);
	close(fd);
	is_int(
	    agentd_mock_load(m, text), AGENTD_EABI, "a text file is refused");
	like(agentd_mock_errmsg(m), "cannot load plugin", "... with dlerror");
	unlink(text);
	is_int(agentd_mock_request(m, "\xc0", 1, NULL, NULL, NULL),
	    AGENTD_EINVAL, "no request without an initialized plugin");
	agentd_mock_free(m);
}

/* ---- echo.so: a real bundled plugin ------------------------------------ */

static void
test_echo(void)
{
	static const unsigned char arr[]
	    = { 0x92, 0x01, 0xa1, 'x' }; /* [1,"x"] */
	const agentd_value *root, *echo;
	char               *path;
	agentd_mock        *m = mock("parrot");
	const void         *reply;
	size_t              rlen;
	int                 status = -1;

	path = plugin_path(
	    "AGENTD_BUNDLED_PLUGINS", "plugins/.libs", "echo.so");
	is_int(agentd_mock_load(m, path), 0, "echo.so loads");
	free(path);
	is_int(
	    agentd_mock_request(m, arr, sizeof(arr), &reply, &rlen, &status),
	    0, "echo answers");
	root = parsed(reply, rlen);
	echo = agentd_map_get(root, "echo");
	ok(status == 0 && agentd_len(echo) == 2
	        && strcmp(str_at(root, "instance"), "parrot-1") == 0,
	    "with its body and the mock's instance id under the given name");
	agentd_mock_free(m);
}

/* ---- calls: routing, sync and deferred --------------------------------- */

struct calls_seen {
	int n;
	int last_len;
};

/* Plays "pricing": answers {"price": 42, "asked": <the body>}. */
static int
pricing(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct calls_seen *seen = arg;

	seen->n++;
	seen->last_len = (int)len;
	agentd_write_map(reply, 2);
	agentd_write_str(reply, "price");
	agentd_write_int(reply, 42);
	agentd_write_str(reply, "asked");
	return agentd_write_raw(reply, body, len);
}

static int
refuse(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	return AGENTD_EUNAVAIL;
}

/* {"call": agent, "async": async, "body": {"sku": "A"}} */
static void
write_call(agentd_writer *w, const char *agent, int async)
{
	agentd_writer_reset(w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "call");
	agentd_write_str(w, agent);
	agentd_write_str(w, "async");
	agentd_write_bool(w, async);
	agentd_write_str(w, "body");
	agentd_write_map(w, 1);
	agentd_write_str(w, "sku");
	agentd_write_str(w, "A");
}

static void
test_calls(void)
{
	struct calls_seen   seen = { 0, 0 };
	const agentd_value *root;
	agentd_mock        *m = mock("caller");
	agentd_writer      *w;
	const void         *body, *reply;
	size_t              len, rlen, id;
	int                 status;

	must_load(m, "bus.so", "bus.so loads (its setting defaulted)");
	is_int(agentd_mock_on_call(m, "pricing", pricing, &seen), 0,
	    "a handler plays agent pricing");
	agentd_mock_on_call(m, "stock", refuse, NULL);
	agentd_writer_new(&w);

	write_call(w, "pricing", 0);
	is_int(ask(m, w, &root), 0, "a request making a host->call");
	is_str(str_at(root, "status"), "ok", "the call succeeded");
	ok(int_at(agentd_map_get(root, "reply"), "price") == 42
	        && strcmp(str_at(agentd_map_get(
	                             agentd_map_get(root, "reply"), "asked"),
	                      "sku"),
	               "A")
	            == 0,
	    "the plugin got the handler's reply, and the handler its body");
	write_call(w, "nobody", 0);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "ENOENT",
	    "a call to an agent without a handler is ENOENT");
	write_call(w, "stock", 0);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "EUNAVAIL",
	    "a handler's error is the caller's status");

	/* call_async: sent at once, completed only by agentd_mock_run. */
	seen.n = 0;
	write_call(w, "pricing", 1);
	body = agentd_writer_data(w, &len);
	is_int(agentd_mock_send(m, body, len, &id), 0,
	    "a request making a call_async is delivered");
	is_int(seen.n, 1, "the call reached its handler at once");
	is_int(agentd_mock_pending(m), 1,
	    "the request is pending: its callback has not run");
	is_int(agentd_mock_answer(m, id, &reply, &rlen, &status),
	    AGENTD_ENOENT, "no answer yet");
	is_int(agentd_mock_run(m), 1, "agentd_mock_run runs one completion");
	is_int(agentd_mock_pending(m), 0, "... which answered the request");
	is_int(agentd_mock_answer(m, id, &reply, &rlen, &status), 0,
	    "the answer is there");
	root = parsed(reply, rlen);
	ok(status == 0 && strcmp(str_at(root, "status"), "ok") == 0
	        && int_at(agentd_map_get(root, "reply"), "price") == 42,
	    "... with the reply the callback received");
	is_int(agentd_mock_run(m), 0, "nothing is left to run");

	write_call(w, "pricing", 1);
	is_int(ask(m, w, &root), 0,
	    "agentd_mock_request runs completions until answered");
	ok(int_at(agentd_map_get(root, "reply"), "price") == 42,
	    "... and returns the answer made in the callback");
	write_call(w, "nobody", 1);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "ENOENT",
	    "an async call to an unknown agent completes with ENOENT");
	write_call(w, "bad name!", 1);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "EINVAL",
	    "an async call to an invalid name fails at once (EINVAL)");

	agentd_writer_free(w);
	agentd_mock_free(m);
	agentd_doc_free(reply_doc);
	reply_doc = NULL;
}

/* ---- publish, events, audit -------------------------------------------- */

static int      audit_cb_calls, audit_cb_status = -1;
static uint64_t audit_cb_seq;

static void
audit_cb(void *arg, int status, uint64_t seq)
{
	(void)arg;
	audit_cb_calls++;
	audit_cb_status = status;
	audit_cb_seq    = seq;
}

static void
test_records(void)
{
	const agentd_value *root;
	agentd_mock        *m = mock(NULL);
	agentd_writer      *w;
	const char         *topic, *kind, *summary;
	const void         *body, *detail;
	size_t              len, dlen;
	agentd_doc         *doc = NULL;

	must_load(m, "bus.so", "bus.so loads");
	agentd_writer_new(&w);
	agentd_write_map(w, 3);
	agentd_write_str(w, "publish");
	agentd_write_str(w, "orders.new");
	agentd_write_str(w, "count");
	agentd_write_int(w, 2);
	agentd_write_str(w, "body");
	agentd_write_map(w, 1);
	agentd_write_str(w, "id");
	agentd_write_int(w, 7);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "ok", "the plugin publishes");
	is_int(agentd_mock_published_count(m), 2, "two events are recorded");
	ok(agentd_mock_published(m, 1, &topic, &body, &len) == 0
	        && strcmp(topic, "orders.new") == 0
	        && agentd_parse(body, len, &doc) == 0
	        && int_at(agentd_doc_root(doc), "id") == 7,
	    "... with their topic and body");
	agentd_doc_free(doc);
	is_int(agentd_mock_published(m, 2, &topic, &body, &len), AGENTD_ENOENT,
	    "there is no third");

	agentd_writer_reset(w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "publish");
	agentd_write_str(w, "bad topic");
	agentd_write_str(w, "body");
	agentd_write_nil(w);
	ask(m, w, &root);
	ok(strcmp(str_at(root, "status"), "EINVAL") == 0
	        && agentd_mock_published_count(m) == 2,
	    "an invalid topic is EINVAL and not recorded");

	is_int(agentd_mock_event(m, "prices.changed", "\x2a", 1), 0,
	    "an event is delivered");
	is_int(agentd_mock_event(m, "no good", "\x2a", 1), AGENTD_EINVAL,
	    "an event on an invalid topic is refused");
	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "events");
	agentd_write_bool(w, 1);
	ask(m, w, &root);
	ok(int_at(root, "received") == 1
	        && strcmp(str_at(root, "last_topic"), "prices.changed") == 0
	        && int_at(root, "last") == 42,
	    "on_event saw its topic and body");

	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "audit");
	agentd_write_map(w, 3);
	agentd_write_str(w, "kind");
	agentd_write_str(w, "price.set");
	agentd_write_str(w, "summary");
	agentd_write_str(w, "refund 12.50 for order 7");
	agentd_write_str(w, "detail");
	agentd_write_map(w, 1);
	agentd_write_str(w, "order");
	agentd_write_int(w, 7);
	ask(m, w, &root);
	is_str(str_at(root, "status"), "ok",
	    "the plugin appends an audit record");
	ok(agentd_mock_audit_count(m) == 1
	        && agentd_mock_audit(m, 0, &kind, &summary, &detail, &dlen)
	            == 0
	        && strcmp(kind, "price.set") == 0
	        && strcmp(summary, "refund 12.50 for order 7") == 0
	        && agentd_parse(detail, dlen, &doc) == 0
	        && int_at(agentd_doc_root(doc), "order") == 7,
	    "... recorded with kind, summary and detail");
	agentd_doc_free(doc);

	agentd_writer_reset(w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "audit");
	agentd_write_map(w, 2);
	agentd_write_str(w, "kind");
	agentd_write_str(w, "");
	agentd_write_str(w, "summary");
	agentd_write_str(w, "x");
	ask(m, w, &root);
	ok(strcmp(str_at(root, "status"), "EINVAL") == 0
	        && agentd_mock_audit_count(m) == 1,
	    "an audit record without kind is EINVAL, as agentd says");

	/* audit_async, straight through the host table. */
	{
		agentd_ctx               *ctx;
		const struct agentd_host *h = agentd_mock_host(m, &ctx);

		ok(AGENTD_HOST_HAS(h, audit_async),
		    "the mock has audit_async");
		is_int(h->audit_async(ctx, "price.set", "async one", NULL, 0,
		           audit_cb, NULL),
		    0, "audit_async queues a record");
		is_int(h->audit_async(ctx, "", "x", NULL, 0, audit_cb, NULL),
		    AGENTD_EINVAL, "audit_async without kind is EINVAL");
		ok(agentd_mock_audit_count(m) == 2 && audit_cb_calls == 0,
		    "recorded at once; its callback waits");
		is_int((int)agentd_mock_run(m), 1, "agentd_mock_run runs it");
		ok(audit_cb_calls == 1 && audit_cb_status == 0
		        && audit_cb_seq == 2,
		    "committed, as record 2");
	}
	agentd_writer_free(w);
	agentd_mock_free(m);
}

/* ---- state: through bus.so, then the host table's rules ----------------- */

static void
test_state_bus(void)
{
	const agentd_value *root, *keys;
	agentd_mock        *m = mock(NULL);

	must_load(m, "bus.so", "bus.so loads");
	root = bus_state(m, "put", "sku/A", "2.50");
	is_str(str_at(root, "status"), "ok", "the plugin puts a key");
	root = bus_state(m, "get", "sku/A", NULL);
	is_str(str_at(root, "value"), "2.50", "and reads it back");
	bus_state(m, "put", "sku/C", "1");
	bus_state(m, "put", "sku/B", "1");
	bus_state(m, "put", "other", "1");
	root = bus_state(m, "scan", "sku/", NULL);
	keys = agentd_map_get(root, "value");
	ok(agentd_len(keys) == 3
	        && agentd_type_of(agentd_array_at(keys, 0)) == AGENTD_T_STR,
	    "a scan by prefix finds the three keys under it");
	{
		char a[8] = "", b[8] = "", c[8] = "";

		agentd_get_strcpy(agentd_array_at(keys, 0), a, sizeof(a));
		agentd_get_strcpy(agentd_array_at(keys, 1), b, sizeof(b));
		agentd_get_strcpy(agentd_array_at(keys, 2), c, sizeof(c));
		ok(strcmp(a, "sku/A") == 0 && strcmp(b, "sku/B") == 0
		        && strcmp(c, "sku/C") == 0,
		    "... in key order");
	}
	root = bus_state(m, "del", "sku/A", NULL);
	is_str(str_at(root, "status"), "ok", "the plugin deletes a key");
	root = bus_state(m, "get", "sku/A", NULL);
	is_str(str_at(root, "status"), "ENOENT", "a deleted key is ENOENT");
	root = bus_state(m, "del", "sku/A", NULL);
	is_str(str_at(root, "status"), "ENOENT",
	    "deleting a missing key is ENOENT");
	agentd_doc_free(reply_doc);
	reply_doc = NULL;
	agentd_mock_free(m);
}

struct collect {
	char                      buf[256];
	int                       n;
	int                       stop_after;
	const struct agentd_host *h;
	agentd_ctx               *ctx;
};

static int
collect(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct collect *c = arg;
	size_t          n = strlen(c->buf);

	snprintf(c->buf + n, sizeof(c->buf) - n, "%.*s=%.*s;", (int)keylen,
	    key, (int)vallen, (const char *)val);
	c->n++;
	if (c->h != NULL) /* writes during the scan: it reads a snapshot */
		c->h->state_put(c->ctx, "a/zz", 4, "new", 3);
	return c->stop_after != 0 && c->n == c->stop_after ? 99 : 0;
}

static const char *
scan(const struct agentd_host *h, agentd_ctx *ctx, const char *prefix,
    struct collect *c)
{
	int rv;

	c->buf[0] = '\0';
	c->n      = 0;
	rv        = h->state_scan(
	           ctx, prefix, prefix ? strlen(prefix) : 0, collect, c);
	if (rv != 0 && rv != 99)
		diag("scan: %s", agentd_errname(rv));
	return c->buf;
}

static int
put(const struct agentd_host *h, agentd_ctx *ctx, const char *k, const char *v)
{
	return h->state_put(ctx, k, strlen(k), v, strlen(v));
}

static void
test_state_rules(void)
{
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	agentd_mock              *m = mock("st");
	struct collect            c;
	struct agentd_state_op    ops[3];
	char                      key[AGENTD_MOCK_KEY_MAX + 1];
	char                     *big;
	void                     *val = NULL;
	size_t                    len = 0;

	memset(&c, 0, sizeof(c));
	h = agentd_mock_host(m, &ctx);
	is_int(h->state_get(ctx, "k", 1, &val, &len), AGENTD_ENOENT,
	    "get of a missing key is ENOENT");
	is_int(put(h, ctx, "k", "v1"), 0, "put");
	is_int(put(h, ctx, "k", "v22"), 0, "put again replaces");
	ok(h->state_get(ctx, "k", 1, &val, &len) == 0 && len == 3
	        && memcmp(val, "v22", 4) == 0,
	    "get reads the new value, followed by a NUL as the worker's");
	h->free(val);
	is_int(h->state_put(ctx, "e", 1, NULL, 0), 0,
	    "an empty value is a value");
	is_int(h->state_put(ctx, "", 0, "v", 1), AGENTD_EINVAL,
	    "an empty key is EINVAL");
	memset(key, 'k', sizeof(key));
	is_int(h->state_put(ctx, key, AGENTD_MOCK_KEY_MAX, "v", 1), 0,
	    "a key of AGENTD_MOCK_KEY_MAX bytes is fine");
	is_int(h->state_put(ctx, key, AGENTD_MOCK_KEY_MAX + 1, "v", 1),
	    AGENTD_EINVAL, "one byte more is EINVAL");
	big = calloc(1, AGENTD_MOCK_MAX_MESSAGE);
	is_int(h->state_put(ctx, "big", 3, big, AGENTD_MOCK_MAX_MESSAGE),
	    AGENTD_ETOOBIG, "a value of max_message_size is ETOOBIG");
	free(big);
	is_int(h->state_del(ctx, "nope", 4), AGENTD_ENOENT,
	    "del of a missing key is ENOENT");
	is_int(h->state_put(ctx, "n\0ul", 4, "x", 1), 0,
	    "a key may hold a NUL byte");
	ok(h->state_get(ctx, "n", 1, &val, &len) == AGENTD_ENOENT,
	    "... and is not its prefix before the NUL");

	/* Scans: prefix, bytewise order, snapshot, stop. */
	h->state_del(ctx, "k", 1);
	h->state_del(ctx, "e", 1);
	h->state_del(ctx, key, AGENTD_MOCK_KEY_MAX);
	h->state_del(ctx, "n\0ul", 4);
	put(h, ctx, "b", "4");
	put(h, ctx, "a/2", "3");
	put(h, ctx, "ab", "5");
	put(h, ctx, "a/1", "2");
	put(h, ctx, "a", "1");
	is_str(scan(h, ctx, NULL, &c), "a=1;a/1=2;a/2=3;ab=5;b=4;",
	    "a scan without prefix walks every key in bytewise order");
	is_str(scan(h, ctx, "a/", &c), "a/1=2;a/2=3;",
	    "a prefix scan stays under its prefix");
	is_str(scan(h, ctx, "zz", &c), "", "a prefix nothing starts with");
	c.stop_after = 2;
	ok(h->state_scan(ctx, "", 0, collect, &c) == 99 && c.n == 2,
	    "fn's non-zero return stops the scan and is returned");
	c.stop_after = 0;
	c.h          = h;
	c.ctx        = ctx;
	is_str(scan(h, ctx, "a/", &c), "a/1=2;a/2=3;",
	    "a scan reads a snapshot: fn may write, and its writes are not "
	    "seen");
	c.h = NULL;
	is_str(scan(h, ctx, "a/", &c), "a/1=2;a/2=3;a/zz=new;",
	    "... they are there afterwards");
	is_int(h->state_scan(ctx, key, AGENTD_MOCK_KEY_MAX + 1, collect, &c),
	    AGENTD_EINVAL, "a prefix over the key limit is EINVAL");

	/* Batches: all or nothing. */
	ops[0] = (struct agentd_state_op) { "a", 1, "one", 3 };
	ops[1] = (struct agentd_state_op) { "b", 1, NULL, 0 };
	ops[2] = (struct agentd_state_op) { "", 0, "x", 1 };
	is_int(h->state_batch(ctx, ops, 3), AGENTD_EINVAL,
	    "a batch with one bad key is EINVAL");
	is_str(scan(h, ctx, "", &c), "a=1;a/1=2;a/2=3;a/zz=new;ab=5;b=4;",
	    "... and writes nothing");
	ops[2] = (struct agentd_state_op) { "missing", 7, NULL, 0 };
	is_int(h->state_batch(ctx, ops, 3), 0,
	    "a batch of put, del and del of a missing key");
	is_str(scan(h, ctx, "", &c), "a=one;a/1=2;a/2=3;a/zz=new;ab=5;",
	    "... applied together");
	is_int(h->state_batch(ctx, NULL, 0), 0, "an empty batch is fine");
	is_int(h->propose(ctx, NULL, NULL), AGENTD_EINVAL,
	    "propose without a proposal is EINVAL (the gate: test_mock_gate)");
	h->log(ctx, AGENTD_LOG_WARN, "low stock: %d left", 3);
	{
		int level = 0;

		ok(agentd_mock_log_count(m) == 1
		        && strcmp(agentd_mock_last_log(m, &level),
		               "low stock: 3 left")
		            == 0
		        && level == AGENTD_LOG_WARN,
		    "log lines are recorded with their level");
	}
	agentd_mock_free(m);
}

/* ---- an attached descriptor: answers given later, ticks, init -------- */

struct later {
	const struct agentd_host *host;
	agentd_ctx               *ctx;
	agentd_request           *held;
	int                       second_reply;
};

static int           later_fini_count;
static struct later *later_last; /* the instance last started */

static int
later_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct later *l = calloc(1, sizeof(*l));

	l->host    = host;
	l->ctx     = ctx;
	*state     = l;
	later_last = l;
	return 0;
}

static int later_called_back;

static void
later_done(void *arg, int status, const void *reply, size_t len)
{
	later_called_back++;
}

/*
 * Hold every request; the next tick answers it.  A body of true also
 * starts an async call to agent "pricing".
 */
static int
later_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct later *l = state;

	l->held = req;
	if (len == 1 && memcmp(body, "\xc3", 1) == 0)
		return l->host->call_async(
		    l->ctx, "pricing", "\xc0", 1, 0, later_done, NULL);
	return 0;
}

static void
later_tick(void *state)
{
	struct later *l = state;

	if (l->held == NULL)
		return;
	l->host->reply(l->ctx, l->held, "\xa2ok", 3);
	l->second_reply = l->host->reply(l->ctx, l->held, "\xc0", 1);
	l->held         = NULL;
}

static void
later_fini(void *state)
{
	later_fini_count++;
	free(state);
}

static const struct agentd_plugin later_desc = {
	.magic      = AGENTD_PLUGIN_MAGIC,
	.size       = sizeof(struct agentd_plugin),
	.abi_major  = AGENTD_ABI_MAJOR,
	.abi_minor  = AGENTD_ABI_MINOR,
	.name       = "later",
	.version    = "1.0.0",
	.init       = later_init,
	.on_request = later_request,
	.on_tick    = later_tick,
	.tick_ms    = 1000,
	.fini       = later_fini,
};

static int
refuse_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	return AGENTD_ECONFIG;
}

static void
test_attached(void)
{
	struct agentd_plugin bad  = later_desc;
	struct calls_seen    seen = { 0, 0 };
	agentd_mock         *m    = mock(NULL);
	const void          *reply;
	size_t               rlen, id;
	int                  status;

	is_int(agentd_mock_attach(m, &later_desc), 0,
	    "a descriptor linked into the test attaches");
	is_int(agentd_mock_request(m, "\xc0", 1, &reply, &rlen, &status),
	    AGENTD_ETIMEOUT,
	    "a request left unanswered with nothing to run is ETIMEOUT");
	is_int(agentd_mock_pending(m), 1, "... and stays pending");
	is_int(agentd_mock_tick(m), 0, "a tick");
	is_int(agentd_mock_pending(m), 0, "... in which the plugin answered");
	ok(agentd_mock_answer(m, 0, &reply, &rlen, &status) == 0 && status == 0
	        && rlen == 3 && memcmp(reply, "\xa2ok", 3) == 0,
	    "the answer given later is request 0's");
	is_int(later_last->second_reply, AGENTD_EINVAL,
	    "a second reply to an answered request is EINVAL");
	agentd_mock_on_call(m, "pricing", pricing, &seen);
	is_int(agentd_mock_send(m, "\xc3", 1, &id), 0,
	    "another request, which makes an async call");
	is_int(id, 1, "... numbered 1");
	is_int(seen.n, 1, "the call was made");
	agentd_mock_tick(m);
	agentd_mock_free(m);
	is_int(later_fini_count, 1, "agentd_mock_free calls fini");
	is_int(later_called_back, 0,
	    "... and drops the waiting completion without calling back");

	m         = mock(NULL);
	bad.magic = 0x12345678;
	is_int(agentd_mock_attach(m, &bad), AGENTD_EABI,
	    "an attached descriptor with a wrong magic is refused");
	bad      = later_desc;
	bad.size = 8;
	is_int(agentd_mock_attach(m, &bad), AGENTD_EABI,
	    "... and one with an impossible size");
	bad         = later_desc;
	bad.tick_ms = 0;
	bad.init    = refuse_init;
	is_int(agentd_mock_attach(m, &bad), AGENTD_EPLUGIN,
	    "init failing is EPLUGIN, as the worker reports it");
	like(agentd_mock_errmsg(m),
	    "plugin init failed: invalid configuration",
	    "... with the plugin's own code in the message");
	bad.init = later_init;
	is_int(agentd_mock_attach(m, &bad), 0, "attaching again works");
	is_int(agentd_mock_tick(m), AGENTD_ENOTSUP,
	    "with tick_ms 0 agentd never ticks: ENOTSUP");
	agentd_mock_free(m);
	is_int(
	    later_fini_count, 2, "fini ran only for the init that succeeded");
}

int
main(void)
{
	plan(118 + 6);
	test_settings();
	test_refused();
	test_echo();
	test_calls();
	test_records();
	test_state_bus();
	test_state_rules();
	test_attached();
	agentd_doc_free(reply_doc);
	return done_testing();
}
