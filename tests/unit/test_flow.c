/*
 * The flow plugin (plugins/flow) against the mock host: definitions
 * refused with file:line, paths, retries, when/goto loops, dry runs,
 * idempotent starts, cancel, and a run resumed by a new instance from the
 * state the first one left.  Linked as a plugin author's test is.
 */
#define _GNU_SOURCE

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static char dir[256];

static void
write_def(const char *name, const char *text)
{
	char  path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
}

static void
remove_def(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* ---- a callee the test drives ------------------------------------------- */

struct callee {
	int         calls;
	int         fail; /* fail this many calls first */
	int         code;
	const char *msg; /* the failure's message, as reply_error gives it */
	char        key[256]; /* the last idempotency_key */
	char        got[256]; /* the last "sku" field */
};

static int
callee_fn(void *arg, const char *agent, const void *body, size_t len,
    agentd_writer *reply)
{
	struct callee      *c = arg;
	agentd_doc         *doc;
	const agentd_value *root;

	(void)agent;
	c->calls++;
	if (agentd_parse(body, len, &doc) == 0) {
		root = agentd_doc_root(doc);
		agentd_get_strcpy(agentd_map_get(root, "idempotency_key"),
		    c->key, sizeof(c->key));
		c->got[0] = '\0';
		agentd_get_strcpy(
		    agentd_map_get(root, "sku"), c->got, sizeof(c->got));
		agentd_doc_free(doc);
	}
	if (c->fail > 0) {
		c->fail--;
		return c->msg != NULL
		    ? agentd_mock_call_fail(reply, c->code, c->msg)
		    : c->code;
	}
	agentd_write_map(reply, 3);
	agentd_write_str(reply, "sku");
	agentd_write_str(reply, "A-1");
	agentd_write_str(reply, "ok");
	agentd_write_bool(reply, 1);
	agentd_write_str(reply, "n");
	agentd_write_int(reply, c->calls);
	return 0;
}

/* ---- requests ------------------------------------------------------------
 */

static agentd_mock *
flow_mock(struct callee *a, struct callee *b, struct callee *c)
{
	agentd_mock *m = NULL;

	agentd_mock_new("flow", &m);
	agentd_mock_setting(m, "definitions", dir);
	agentd_mock_on_call(m, "scout", callee_fn, a);
	agentd_mock_on_call(m, "vet", callee_fn, b);
	agentd_mock_on_call(m, "shop", callee_fn, c);
	return m;
}

static int
load(agentd_mock *m)
{
	const char *d = getenv("AGENTD_BUNDLED_PLUGINS");
	char        path[512];

	snprintf(
	    path, sizeof(path), "%s/flow.so", d != NULL ? d : "plugins/.libs");
	return agentd_mock_load(m, path);
}

/* Send w's request; *doc (caller frees) is the answer; returns status. */
static int
ask(agentd_mock *m, agentd_writer *w, agentd_doc **doc)
{
	const void *body, *reply;
	size_t      len, rlen;
	int         status = -1;

	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_request(m, body, len, &reply, &rlen, &status) != 0)
		return -1;
	agentd_parse(reply, rlen, doc);
	if (status != 0 && getenv("FLOW_DEBUG") != NULL)
		diag("status %d: %s / %s", status, agentd_mock_errmsg(m),
		    agentd_mock_last_log(m, NULL)
		        ? agentd_mock_last_log(m, NULL)
		        : "");
	return status;
}

/*
 * A start: answered once its first checkpoint is committed, which a
 * worker's loop hears of before the first call's answer.  So only the
 * checkpoints' callbacks run (agentd_mock_poll), not the calls' answers
 * (agentd_mock_run, which agentd_mock_request would run until the whole
 * run is over): the run is left calling its first step, as agentd leaves
 * it when the start is answered.
 */
static int
ask_start(agentd_mock *m, agentd_writer *w, agentd_doc **doc)
{
	const void *body, *reply;
	size_t      len, rlen, id;
	int         status = -1;

	body = agentd_writer_data(w, &len);
	*doc = NULL;
	if (agentd_mock_send(m, body, len, &id) != 0)
		return -1;
	while (
	    agentd_mock_answer(m, id, &reply, &rlen, &status) == AGENTD_ENOENT)
		if (agentd_mock_poll(m, 0) == 0 && agentd_mock_run(m) == 0)
			return -1;
	agentd_parse(reply, rlen, doc);
	return status;
}

/* A start's request (as start() builds it) into w, more keys to follow
 * (the caller writes them). */
static void
start_req(agentd_writer *w, const char *wf, const char *key, unsigned more)
{
	agentd_write_map(w, 3 + (key != NULL) + more);
	agentd_write_str(w, "op");
	agentd_write_str(w, "start");
	agentd_write_str(w, "workflow");
	agentd_write_str(w, wf);
	agentd_write_str(w, "input");
	agentd_write_map(w, 1);
	agentd_write_str(w, "query");
	agentd_write_str(w, "lamps");
	if (key != NULL) {
		agentd_write_str(w, "key");
		agentd_write_str(w, key);
	}
}

static int
start(agentd_mock *m, const char *wf, const char *key, int dry, char *id,
    size_t idlen)
{
	agentd_writer *w;
	agentd_doc    *doc;
	int            st;

	agentd_writer_new(&w);
	start_req(w, wf, key, 1);
	agentd_write_str(w, "dry_run");
	agentd_write_bool(w, dry);
	st    = ask_start(m, w, &doc);
	id[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "run"), id, idlen);
	agentd_doc_free(doc);
	agentd_writer_free(w);
	return st;
}

static agentd_doc *
status(agentd_mock *m, const char *id)
{
	agentd_writer *w;
	agentd_doc    *doc;

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "status");
	agentd_write_str(w, "run");
	agentd_write_str(w, id);
	ask(m, w, &doc);
	agentd_writer_free(w);
	return doc;
}

/* The run's state ("done", ...) into buf. */
static const char *
run_state(agentd_mock *m, const char *id, char *buf, size_t size)
{
	agentd_doc *doc = status(m, id);

	buf[0] = '\0';
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "state"), buf, size);
	agentd_doc_free(doc);
	return buf;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run completions and ticks until the run is no longer running (5 s). */
static const char *
drive(agentd_mock *m, const char *id, char *buf, size_t size)
{
	int64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		agentd_mock_run(m);
		agentd_mock_tick(m);
		agentd_mock_run(m);
		if (strcmp(run_state(m, id, buf, size), "running") != 0)
			return buf;
		usleep(1000); /* a backoff of a few ms must pass */
	}
	return buf;
}

/* A string field of the status: the error, or step i's state. */
static void
field(agentd_mock *m, const char *id, int step, const char *name, char *buf,
    size_t size)
{
	agentd_doc         *doc  = status(m, id);
	const agentd_value *root = agentd_doc_root(doc);

	if (step >= 0)
		root = agentd_array_at(
		    agentd_map_get(root, "steps"), (size_t)step);
	buf[0] = '\0';
	if (agentd_get_strcpy(agentd_map_get(root, name), buf, size) != 0) {
		int64_t i;

		if (agentd_get_int(agentd_map_get(root, name), &i) == 0)
			snprintf(buf, size, "%lld", (long long)i);
	}
	agentd_doc_free(doc);
}

static size_t
audits(agentd_mock *m, const char *kind)
{
	size_t      n = 0;
	const char *k, *s;
	const void *d;
	size_t      dl;

	for (size_t i = 0; i < agentd_mock_audit_count(m); i++)
		if (agentd_mock_audit(m, i, &k, &s, &d, &dl) == 0
		    && strcmp(k, kind) == 0)
			n++;
	return n;
}

/* The summary of the last audit record of kind, or "". */
static const char *
audit_summary(agentd_mock *m, const char *kind)
{
	const char *k, *s, *last = "";
	const void *d;
	size_t      dl;

	for (size_t i = 0; i < agentd_mock_audit_count(m); i++)
		if (agentd_mock_audit(m, i, &k, &s, &d, &dl) == 0
		    && strcmp(k, kind) == 0)
			last = s;
	return last;
}

/* The "error" of the detail of the last audit record of kind, into buf
 * ("" if none). */
static const char *
audit_error(agentd_mock *m, const char *kind, char *buf, size_t size)
{
	const char *k, *s;
	const void *d, *last     = NULL;
	size_t      dl, last_len = 0;
	agentd_doc *doc;

	for (size_t i = 0; i < agentd_mock_audit_count(m); i++)
		if (agentd_mock_audit(m, i, &k, &s, &d, &dl) == 0
		    && strcmp(k, kind) == 0) {
			last     = d;
			last_len = dl;
		}
	buf[0] = '\0';
	if (last != NULL && agentd_parse(last, last_len, &doc) == 0) {
		agentd_get_strcpy(
		    agentd_map_get(agentd_doc_root(doc), "error"), buf, size);
		agentd_doc_free(doc);
	}
	return buf;
}

/* ---- definitions ----------------------------------------------------- */

static const char *pipeline
    = "description = \"scout, vet, publish\"\n"
      "step \"scout\" {\n"
      "  agent = \"scout\"\n"
      "  input = { \"query = $input.query\", \"limit = 3\" }\n"
      "  output = \"found\"\n"
      "  timeout = 2s\n"
      "}\n"
      "step \"vet\" {\n"
      "  agent = \"vet\"\n"
      "  input = { \"sku = $found.sku\" }\n"
      "  retry { attempts = 3 backoff = 1ms backoff_max = 4ms }\n"
      "}\n"
      "step \"skipme\" {\n"
      "  agent = \"vet\"\n"
      "  when = \"$vet.ok == false\"\n"
      "}\n"
      "step \"publish\" {\n"
      "  agent = \"shop\"\n"
      "  effect = true\n"
      "  input = { \"sku = $found.sku\" }\n"
      "  placeholder = { \"id = dry-1\" }\n"
      "}\n";

static void
test_refused(void)
{
	agentd_mock  *m;
	struct callee a = { 0 }, b = { 0 }, c = { 0 };
	const char   *log;
	static const struct {
		const char *text, *want, *name;
	} bad[] = {
		{ "step \"a\" { agent = \"scout\" }\n"
		  "step \"b\" {\n agent = \"vet\"\n next = \"a\"\n}\n",
		    "bad.flow:4: step \"b\" goes back to \"a\": a loop needs "
		    "max_iterations",
		    "a cycle without max_iterations is refused at its line" },
		{ "step \"a\" {\n agent = \"scout\"\n next = \"nowhere\"\n}\n",
		    "bad.flow:3: step \"a\": no step named \"nowhere\"",
		    "a next to an unknown step is refused at its line" },
		{ "step \"a\" {\n agent = \"scout\"\n"
		  " input = { \"x = $ghost.sku\" }\n}\n",
		    "bad.flow:3: \"$ghost.sku\": no step has output \"ghost\"",
		    "a path to an unknown output is refused at its line" },
		{ "step \"a\" {\n agent = \"scout\"\n\n timeout = 5 sec\n}\n",
		    "bad.flow:4:", "a syntax error is refused at its line" },
		{ "step \"a\" {\n agent = \"scout\"\n timeout = \"5x\"\n}\n",
		    "bad.flow:3: timeout: \"5x\" is not a duration",
		    "a bad duration is refused at its line" },
		{ "step \"a\" { agent = \"scout\" }\nstep \"b\" {\n"
		  " agent = \"vet\"\n goto \"a\" { when = \"$b.ok\" }\n}\n",
		    "bad.flow:4: step \"b\" goes back to \"a\"",
		    "a goto back without max_iterations is refused at its "
		    "line" },
		{ "\n\nstep \"a\" {\n output = \"x\"\n}\n",
		    "bad.flow:3: step \"a\" has no agent",
		    "a step without agent is refused at its line" },
		{ "step \"a\" {\n until = \"tomorrow\"\n}\n",
		    "bad.flow:2: until: \"tomorrow\" is not a time",
		    "a bad until is refused at its line" },
		{ "step \"a\" {\n agent = \"scout\"\n wait = 1s\n}\n",
		    "bad.flow:1: step \"a\": write one of agent",
		    "a step that both calls and waits is refused" },
		{ "step \"a\" {\n approval { type = \"x..y\" }\n}\n",
		    "bad.flow:2: step \"a\": approval type \"x..y\" is not a "
		    "topic",
		    "an approval type that is no topic is refused" },
		{ "step \"a\" {\n agent = \"scout\"\n rejected = \"end\"\n}\n",
		    "bad.flow:3: step \"a\": rejected and expired are for an "
		    "approval step",
		    "rejected on a call step is refused" },
		{ "step \"a\" {\n agent = \"scout\"\n retry {\n"
		  "  no_retry = { \"EWHAT\" }\n }\n}\n",
		    "bad.flow:4: no_retry: \"EWHAT\" is not an error name",
		    "an unknown error name is refused at its line" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_def("bad.flow", bad[i].text);
		m = flow_mock(&a, &b, &c);
		is_int(load(m), AGENTD_EPLUGIN, bad[i].name);
		log = agentd_mock_last_log(m, NULL);
		if (!ok(log != NULL && strstr(log, bad[i].want) != NULL,
		        "...and the line says where and why"))
			diag("  got: %s", log != NULL ? log : "(none)");
		agentd_mock_free(m);
	}
	remove_def("bad.flow");
}

static void
test_reload_keeps(void)
{
	struct callee  a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock   *m = flow_mock(&a, &b, &c);
	agentd_writer *w;
	agentd_doc    *doc;
	const char    *s;
	size_t         n;
	char           id[64], st[32];
	int            rv;

	is_int(load(m), 0, "the flow agent loads the pipeline");
	write_def("zbad.flow",
	    "step \"a\" {\n agent = \"scout\"\n"
	    " next = \"a\"\n}\n");
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "op");
	agentd_write_str(w, "reload");
	rv = ask(m, w, &doc);
	is_int(rv, AGENTD_ECONFIG, "reload with a bad file is refused");
	ok(agentd_get_str(agentd_map_get(agentd_doc_root(doc), "error"), &s,
	       &n) == 0
	        && memmem(s, n, "zbad.flow:3:", 12) != NULL,
	    "...naming its file and line");
	agentd_doc_free(doc);
	agentd_writer_free(w);
	remove_def("zbad.flow");
	is_int(start(m, "pipeline", NULL, 0, id, sizeof(id)), 0,
	    "the previous definitions keep serving");
	is_str(drive(m, id, st, sizeof(st)), "done", "...to the end");
	agentd_mock_free(m);
}

static void
test_pipeline(void)
{
	struct callee a = { 0 }, b = { .fail = 2, .code = AGENTD_EBUSY },
	              c = { 0 };
	agentd_mock *m  = flow_mock(&a, &b, &c);
	char         id[64], id2[64], st[64], buf[512];

	load(m);
	is_int(start(m, "pipeline", "order-7", 0, id, sizeof(id)), 0,
	    "a run starts");
	is_str(drive(m, id, st, sizeof(st)), "done", "...and ends done");
	is_int(a.calls, 1, "scout was called once");
	is_int(b.calls, 3, "vet answered EBUSY twice, then once more");
	is_str(b.got, "A-1", "vet's input came from scout's output");
	ok(strncmp(b.key, id, strlen(id)) == 0
	        && strstr(b.key, "/vet/1") != NULL,
	    "each call carries the step's idempotency key");
	is_int(c.calls, 1, "publish was called (not a dry run)");
	field(m, id, 1, "attempts", buf, sizeof(buf));
	is_str(buf, "3", "vet's record counts 3 attempts");
	field(m, id, 2, "state", buf, sizeof(buf));
	is_str(buf, "skipped", "a step whose when is false is skipped");
	is_int((int)audits(m, "flow.step.retry"), 2,
	    "each retry is audited (flow.step.retry)");
	is_int((int)audits(m, "flow.run.done"), 1, "...and the end");
	is_int(start(m, "pipeline", "order-7", 0, id2, sizeof(id2)), 0,
	    "starting again with the same key...");
	is_str(id2, id, "...returns the same run");
	is_int(a.calls, 1, "...and calls nothing");
	agentd_mock_free(m);
}

/* With the setting events, each audit record is published too: the same
 * kind as the topic, the same detail as the body; without it, none. */
static void
test_events(void)
{
	struct callee a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock  *m = flow_mock(&a, &b, &c);
	char          id[64], st[64];
	const char   *topic, *kind, *summary;
	const void   *body, *detail;
	size_t        n, len, dlen, same = 0;

	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "a run without events");
	is_int((int)agentd_mock_published_count(m), 0,
	    "...publishes nothing (events is false by default)");
	agentd_mock_free(m);

	m = flow_mock(&a, &b, &c);
	agentd_mock_setting(m, "events", "true");
	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "a run with events");
	n = agentd_mock_audit_count(m);
	for (size_t i = 0; i < n; i++)
		if (agentd_mock_published(m, i, &topic, &body, &len) == 0
		    && agentd_mock_audit(m, i, &kind, &summary, &detail, &dlen)
		        == 0
		    && strcmp(topic, kind) == 0 && len == dlen
		    && memcmp(body, detail, len) == 0)
			same++;
	diag("%zu records, %zu events, %zu the same", n,
	    agentd_mock_published_count(m), same);
	ok(n >= 5 && agentd_mock_published_count(m) == n && same == n,
	    "...publishes each of its records: topic its kind, body its "
	    "detail");
	ok(agentd_mock_published(m, n - 1, &topic, &body, &len) == 0
	        && strcmp(topic, "flow.run.done") == 0,
	    "...the last one flow.run.done");
	agentd_mock_free(m);
}

static void
test_failures(void)
{
	struct callee a = { 0 }, b = { .fail = 9, .code = AGENTD_EINVAL },
	              c = { 0 };
	agentd_mock *m  = flow_mock(&a, &b, &c);
	char         id[64], st[64], buf[512];

	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "a non-retryable error fails the run");
	is_int(b.calls, 1, "...at once: EINVAL is not retried");
	is_int(c.calls, 0, "...and nothing after it runs");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "EINVAL", "the run's error names the code");
	like(buf, "step \"vet\"", "...and the step");
	like(buf, "EINVAL: invalid argument",
	    "...and, the callee giving no message, the code's text");
	agentd_mock_free(m);

	/* The callee's reply_error message, in the run's record. */
	b = (struct callee) { .fail = 9,
		.code               = AGENTD_EINVAL,
		.msg                = "sku \"Z-9\" is not\nin the catalog" };
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "a callee's reply_error with a message fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	is_str(buf,
	    "EINVAL: sku \"Z-9\" is not in the catalog (step \"vet\", "
	    "attempt 1 of 3)",
	    "the run's error is the callee's message, made one line");
	field(m, id, 1, "error", buf, sizeof(buf));
	is_str(buf, "EINVAL: sku \"Z-9\" is not in the catalog",
	    "...so is the step's error");
	like(audit_summary(m, "flow.step.failed"),
	    "sku \"Z-9\" is not in the catalog",
	    "...and the flow.step.failed audit record");
	like(audit_error(m, "flow.run.failed", buf, sizeof(buf)),
	    "sku \"Z-9\" is not in the catalog",
	    "...and the error of flow.run.failed");
	agentd_mock_free(m);

	/* A retried failure says why in its flow.step.retry record. */
	b = (struct callee) { .fail = 1,
		.code               = AGENTD_EBUSY,
		.msg                = "vet is at its limit of 4 checks" };
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done",
	    "a retried failure with a message, then an answer: done");
	like(audit_summary(m, "flow.step.retry"),
	    "EBUSY: vet is at its limit of 4 checks",
	    "the retry's record carries the callee's message");
	agentd_mock_free(m);

	/* An agent nobody plays: the mock's line, as agentd's. */
	write_def("nobody.flow", "step \"x\" { agent = \"nobody\" }\n");
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "nobody", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "a call to an unknown agent fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "ENOENT: no agent named \"nobody\"",
	    "...saying there is no such agent");
	agentd_mock_free(m);
	remove_def("nobody.flow");

	b = (struct callee) { .fail = 9, .code = AGENTD_ETIMEOUT };
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "ETIMEOUT on every attempt fails the run");
	is_int(b.calls, 3, "...after its 3 attempts");
	agentd_mock_free(m);

	/* An output without the key the next input reads. */
	write_def("shape.flow",
	    "step \"scout\" { agent = \"scout\" }\n"
	    "step \"vet\" {\n agent = \"vet\"\n"
	    " input = { \"sku = $scout.product.sku\" }\n}\n");
	a = (struct callee) { 0 };
	b = (struct callee) { 0 };
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "shape", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "an output that is not what the next input expects fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf,
	    "step \"vet\": input: $scout.product.sku: no key "
	    "\"product\"",
	    "...with the step, the path and what is missing");
	is_int(b.calls, 0, "...before vet is called");
	agentd_mock_free(m);
	remove_def("shape.flow");
}

static void
test_loop_and_dry(void)
{
	struct callee a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock  *m;
	char          id[64], st[64], buf[512];

	/* scout answers n = 1, 2, 3...: loop back until it says 3. */
	write_def("loop.flow",
	    "step \"scout\" {\n agent = \"scout\"\n max_iterations = 5\n}\n"
	    "step \"check\" {\n agent = \"vet\"\n"
	    " goto \"scout\" { when = \"$scout.n != 3\" }\n}\n");
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "loop", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "a bounded loop ends");
	is_int(a.calls, 3, "...after going back twice");
	field(m, id, 4, "idempotency_key", buf, sizeof(buf));
	like(buf, "/scout/3", "each iteration has its own key");
	agentd_mock_free(m);

	write_def("loop.flow",
	    "step \"scout\" {\n agent = \"scout\"\n max_iterations = 2\n}\n"
	    "step \"check\" {\n agent = \"vet\"\n next = \"scout\"\n}\n");
	a = (struct callee) { 0 };
	m = flow_mock(&a, &b, &c);
	load(m);
	start(m, "loop", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "a loop past max_iterations fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "\"scout\" reached max_iterations (2)", "...saying so");
	agentd_mock_free(m);
	remove_def("loop.flow");

	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	load(m);
	start(m, "pipeline", NULL, 1, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "a dry run ends");
	is_int(a.calls + b.calls, 2, "...calling the steps without effects");
	is_int(c.calls, 0, "...and not the effect");
	field(m, id, 3, "state", buf, sizeof(buf));
	is_str(buf, "dry", "the effect's record says dry");
	{
		agentd_doc         *doc = status(m, id);
		const agentd_value *s3  = agentd_array_at(
		     agentd_map_get(agentd_doc_root(doc), "steps"), 3);

		agentd_get_strcpy(
		    agentd_map_get(agentd_map_get(s3, "output"), "id"), buf,
		    sizeof(buf));
		is_str(buf, "dry-1", "...with its placeholder as output");
		agentd_get_strcpy(
		    agentd_map_get(agentd_map_get(s3, "input"), "sku"), buf,
		    sizeof(buf));
		is_str(buf, "A-1", "...and its would-be input");
		agentd_doc_free(doc);
	}
	agentd_mock_free(m);
}

/* Copy every state entry of one mock into another. */
static int
copy_one(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	agentd_mock              *to = arg;
	agentd_ctx               *ctx;
	const struct agentd_host *h = agentd_mock_host(to, &ctx);

	h->state_put(ctx, key, keylen, val, vallen);
	return 0;
}

static void
test_cancel_and_resume(void)
{
	struct callee             a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock              *m = flow_mock(&a, &b, &c), *m2;
	agentd_writer            *w;
	agentd_doc               *doc;
	agentd_ctx               *ctx;
	const struct agentd_host *h;
	char                      id[64], st[64], first_key[256];

	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	agentd_mock_poll(m, 0); /* its checkpoint committed */
	is_int(a.calls, 1, "the first step is called as the run starts");
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "cancel");
	agentd_write_str(w, "run");
	agentd_write_str(w, id);
	is_int(ask(m, w, &doc), 0,
	    "a run is cancelled while a step is "
	    "in flight");
	agentd_doc_free(doc);
	agentd_writer_free(w);
	drive(m, id, st, sizeof(st));
	is_str(st, "cancelled", "...and stays cancelled");
	is_int(b.calls, 0, "...nothing after the step in flight runs");
	agentd_mock_free(m);

	/* A run whose instance stops with scout in flight. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	load(m);
	start(m, "pipeline", NULL, 0, id, sizeof(id));
	agentd_mock_poll(m, 0); /* its checkpoint committed */
	snprintf(first_key, sizeof(first_key), "%s", a.key);
	m2 = flow_mock(&a, &b, &c);
	h  = agentd_mock_host(m, &ctx);
	h->state_scan(ctx, "", 0, copy_one, m2);
	agentd_mock_free(m); /* the in-flight answer is never delivered */
	is_int(load(m2), 0, "a new instance starts on the same state");
	is_str(drive(m2, id, st, sizeof(st)), "done",
	    "...resumes the run to its end");
	is_int(a.calls, 2, "the step in flight is called again");
	is_str(a.key, first_key, "...with the same idempotency key");
	is_int(b.calls, 1, "later steps run once");
	is_int((int)audits(m2, "flow.step.resumed"), 1,
	    "the call again is audited (flow.step.resumed)");
	agentd_mock_free(m2);
}

/* The run id and "existing" of request id's answer. */
static int
answered_run(agentd_mock *m, size_t id, char *run, size_t size, int *existing)
{
	const void *reply;
	size_t      len;
	int         status = -1;
	agentd_doc *doc;

	run[0]    = '\0';
	*existing = -1;
	if (agentd_mock_answer(m, id, &reply, &len, &status) != 0
	    || status != 0 || agentd_parse(reply, len, &doc) != 0)
		return -1;
	agentd_get_strcpy(
	    agentd_map_get(agentd_doc_root(doc), "run"), run, size);
	agentd_get_bool(
	    agentd_map_get(agentd_doc_root(doc), "existing"), existing);
	agentd_doc_free(doc);
	return 0;
}

/*
 * A start is answered from its first checkpoint's callback, not before:
 * acknowledged means durable.  A second start with the same key, made
 * before that callback, answers the same run (its key is not in state
 * yet), once the first is durable.
 */
static void
test_start_durable(void)
{
	struct callee  a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock   *m = flow_mock(&a, &b, &c);
	agentd_writer *w;
	const void    *body, *reply;
	size_t         len, rlen, q1, q2, q3;
	char           id1[64], id2[64], id3[64], st[64];
	int            status, e1, e2, e3;

	load(m);
	agentd_writer_new(&w);
	start_req(w, "pipeline", "order-9", 0);
	body = agentd_writer_data(w, &len);
	agentd_mock_send(m, body, len, &q1);
	agentd_mock_send(m, body, len, &q2);
	agentd_writer_reset(w);
	start_req(w, "pipeline", NULL, 0);
	body = agentd_writer_data(w, &len);
	agentd_mock_send(m, body, len, &q3);
	agentd_writer_free(w);
	is_int(agentd_mock_answer(m, q1, &reply, &rlen, &status),
	    AGENTD_ENOENT, "a start is not answered before its checkpoint is");
	ok(agentd_mock_answer(m, q2, &reply, &rlen, &status) == AGENTD_ENOENT
	        && agentd_mock_answer(m, q3, &reply, &rlen, &status)
	            == AGENTD_ENOENT,
	    "...nor is one with the same key, nor another start");
	is_int(a.calls, 0, "...and its first step is not called yet");
	agentd_mock_poll(m, 0); /* the checkpoints' callbacks */
	answered_run(m, q1, id1, sizeof(id1), &e1);
	answered_run(m, q2, id2, sizeof(id2), &e2);
	answered_run(m, q3, id3, sizeof(id3), &e3);
	ok(id1[0] != '\0' && e1 == 0 && id3[0] != '\0' && e3 == 0
	        && strcmp(id1, id3) != 0,
	    "once committed, both new runs are answered");
	ok(strcmp(id2, id1) == 0 && e2 == 1,
	    "the start with the same key answers the first's run, existing");
	is_str(
	    drive(m, id1, st, sizeof(st)), "done", "...which runs to its end");
	is_str(drive(m, id3, st, sizeof(st)), "done", "...as does the other");
	is_int(a.calls, 2, "two runs, not three: scout called twice");
	agentd_mock_free(m);
}

/* ---- approval steps ----------------------------------------------------- */

static const char *approve_def
    = "step \"price\" {\n agent = \"scout\"\n}\n"
      "step \"ceo\" {\n"
      "  approval {\n   type = \"product.publish\"\n"
      "   title = \"Publish a product\"\n   amount = \"$price.n\"\n  }\n"
      "  input = { \"sku = $price.sku\", \"price = 10\" }\n"
      "  rejected = \"tell\"\n"
      "}\n"
      "step \"publish\" {\n agent = \"shop\"\n"
      " input = { \"sku = $ceo.sku\" }\n next = \"end\"\n}\n"
      "step \"tell\" { agent = \"vet\" }\n";

/* Completions and ticks, a few rounds: what is due now happens. */
static void
settle(agentd_mock *m)
{
	for (int i = 0; i < 3; i++) {
		agentd_mock_run(m);
		agentd_mock_tick(m);
	}
	agentd_mock_run(m);
}

/* A string (or int) field of the status' "current" map. */
static void
current(
    agentd_mock *m, const char *id, const char *name, char *buf, size_t size)
{
	agentd_doc         *doc = status(m, id);
	const agentd_value *v   = agentd_map_get(
	      agentd_map_get(agentd_doc_root(doc), "current"), name);
	int64_t i;

	buf[0] = '\0';
	if (agentd_get_strcpy(v, buf, size) != 0 && agentd_get_int(v, &i) == 0)
		snprintf(buf, size, "%lld", (long long)i);
	agentd_doc_free(doc);
}

static void
test_approval(void)
{
	struct callee               a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock                *m, *m2;
	agentd_writer              *w;
	agentd_ctx                 *ctx;
	const struct agentd_host   *h;
	struct agentd_mock_decision dec;
	char                        id[64], st[64], buf[512];
	const void                 *p;
	size_t                      len;

	write_def("approve.flow", approve_def);
	m = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "high");
	is_int(load(m), 0, "an approval step loads");
	start(m, "approve", NULL, 0, id, sizeof(id));
	settle(m);
	is_str(run_state(m, id, st, sizeof(st)), "running",
	    "a run waits on its approval");
	field(m, id, -1, "phase", buf, sizeof(buf));
	is_str(buf, "approval", "...in phase approval");
	current(m, id, "decision", buf, sizeof(buf));
	is_str(buf, "1", "...with the decision's id in its record");
	ok(agentd_mock_decision(m, 0, &dec) == 0
	        && strcmp(dec.type, "product.publish") == 0
	        && strcmp(dec.title, "Publish a product") == 0
	        && dec.amount == 1,
	    "the proposal has the step's type, title and amount (a path)");
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "sku");
	agentd_write_str(w, "B-2");
	agentd_write_str(w, "price");
	agentd_write_int(w, 7);
	p = agentd_writer_data(w, &len);
	is_int(agentd_mock_modify(m, "1", p, len, NULL), 0,
	    "a person modifies the parameters");
	agentd_writer_free(w);
	agentd_mock_approve(m, "1", "ok");
	is_str(drive(m, id, st, sizeof(st)), "done",
	    "...approves, and the run goes on to its end");
	is_str(c.got, "B-2", "the approved (modified) params are its output");
	is_int(b.calls, 0, "the rejected branch is not taken");
	field(m, id, 1, "state", buf, sizeof(buf));
	is_str(buf, "done", "the approval step is recorded done");
	{
		agentd_doc *doc = status(m, id);

		agentd_get_strcpy(
		    agentd_map_get(
		        agentd_map_get(
		            agentd_array_at(
		                agentd_map_get(agentd_doc_root(doc), "steps"),
		                1),
		            "decision"),
		        "by"),
		    buf, sizeof(buf));
		agentd_doc_free(doc);
	}
	is_str(buf, AGENTD_MOCK_PERSON, "...with who decided");
	is_int((int)audits(m, "flow.step.proposed"), 1,
	    "the proposal is audited (flow.step.proposed)");
	agentd_mock_free(m);

	/* Rejected: on to the step `rejected` names. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "high");
	load(m);
	start(m, "approve", NULL, 0, id, sizeof(id));
	settle(m);
	agentd_mock_reject(m, "1", "too cheap");
	is_str(drive(m, id, st, sizeof(st)), "done",
	    "a rejected approval goes to its rejected step");
	is_int(b.calls, 1, "...which runs");
	is_int(c.calls, 0, "...and publish does not");
	field(m, id, 1, "state", buf, sizeof(buf));
	is_str(buf, "rejected", "the step is recorded rejected");
	field(m, id, 1, "error", buf, sizeof(buf));
	like(buf, "too cheap", "...with the reason");
	agentd_mock_free(m);

	/* Expired: no expired target, the run fails. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "high");
	load(m);
	start(m, "approve", NULL, 0, id, sizeof(id));
	settle(m);
	agentd_mock_expire(m, "1");
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "an expired approval without `expired` fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "decision 1 expired", "...saying so");
	is_int(b.calls + c.calls, 0, "...and nothing after it runs");
	agentd_mock_free(m);

	/* The gate's max_pending: the proposal is refused with EBUSY, which
	 * is retried per the step's retry (here 1 attempt: the run fails). */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "high");
	agentd_mock_max_pending(m, 1);
	load(m);
	start(m, "approve", NULL, 0, id, sizeof(id));
	settle(m);
	{
		char id2[64];

		start(m, "approve", NULL, 0, id2, sizeof(id2));
		is_str(drive(m, id2, st, sizeof(st)), "failed",
		    "a proposal refused by max_pending fails its run");
		field(m, id2, -1, "error", buf, sizeof(buf));
		like(buf, "EBUSY", "...with EBUSY");
	}
	is_str(run_state(m, id, st, sizeof(st)), "running",
	    "...while the first run still waits on its decision");
	agentd_mock_free(m);

	/* Low risk: approved at once, maybe before propose_async's answer. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "low");
	load(m);
	start(m, "approve", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done",
	    "a low-risk approval goes on at once");
	is_str(c.got, "A-1", "...with the params proposed");
	agentd_mock_free(m);

	/* The instance stops while the decision is pending; a new one
	 * resumes and the outcome reaches it. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_policy(m, "product", "high");
	load(m);
	start(m, "approve", NULL, 0, id, sizeof(id));
	settle(m);
	m2 = flow_mock(&a, &b, &c);
	h  = agentd_mock_host(m, &ctx);
	h->state_scan(ctx, "", 0, copy_one, m2);
	agentd_mock_free(m);
	load(m2);
	settle(m2);
	is_str(run_state(m2, id, st, sizeof(st)), "running",
	    "a resumed run still waits on its decision");
	is_int(
	    (int)agentd_mock_decisions(m2), 0, "...without proposing again");
	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "id");
	agentd_write_str(w, "1");
	agentd_write_str(w, "outcome");
	agentd_write_str(w, "approved");
	agentd_write_str(w, "params");
	agentd_write_map(w, 1);
	agentd_write_str(w, "sku");
	agentd_write_str(w, "C-3");
	agentd_write_str(w, "by");
	agentd_write_str(w, "someone");
	agentd_write_str(w, "note");
	agentd_write_str(w, "");
	p = agentd_writer_data(w, &len);
	agentd_mock_event(m2, "decision.1", p, len);
	is_str(drive(m2, id, st, sizeof(st)), "done",
	    "decision.<id> reaches the resumed run, which ends");
	is_str(c.got, "C-3", "...with the decision's params");
	agentd_mock_event(m2, "decision.1", p, len);
	settle(m2);
	is_int(c.calls, 1, "a repeated outcome changes nothing");
	agentd_writer_free(w);
	agentd_mock_free(m2);
	remove_def("approve.flow");
}

/* ---- wait steps --------------------------------------------------------- */

static void
test_wait(void)
{
	struct callee             a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock              *m, *m2;
	agentd_ctx               *ctx;
	const struct agentd_host *h;
	char                      id[64], st[64], buf[512], due[32];
	int64_t                   t0;

	write_def("wait.flow",
	    "step \"nap\" {\n wait = 150ms\n}\n"
	    "step \"after\" { agent = \"scout\" }\n");
	write_def("until.flow",
	    "step \"then\" {\n until = \"2000-01-01T00:00:00Z\"\n}\n"
	    "step \"bad\" {\n until = \"$input.query\"\n}\n");
	m = flow_mock(&a, &b, &c);
	/* The flow's due times are wall-clock ms (they survive a restart):
	 * measured on that clock, which a time step may move. */
	t0 = wall_ms();
	is_int(load(m), 0, "wait steps load");
	start(m, "wait", NULL, 0, id, sizeof(id));
	settle(m);
	field(m, id, -1, "phase", buf, sizeof(buf));
	is_str(buf, "waiting", "a wait step waits");
	is_int(a.calls, 0, "...and the step after it is not called yet");
	is_str(
	    drive(m, id, st, sizeof(st)), "done", "...then the run goes on");
	ok(wall_ms() - t0 >= 150, "...once its 150ms have passed");
	is_int(a.calls, 1, "...to the next step");
	start(m, "until", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "until a time past goes on at once; a path that is no time fails");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "until $input.query is not a time", "...saying so");
	field(m, id, 0, "state", buf, sizeof(buf));
	is_str(buf, "done", "...after the first wait was done");
	agentd_mock_free(m);

	/* Stopped mid-wait: the new instance keeps the same wake-up time. */
	a  = (struct callee) { 0 };
	m  = flow_mock(&a, &b, &c);
	t0 = now_ms();
	load(m);
	start(m, "wait", NULL, 0, id, sizeof(id));
	field(m, id, -1, "due_ms", due, sizeof(due));
	m2 = flow_mock(&a, &b, &c);
	h  = agentd_mock_host(m, &ctx);
	h->state_scan(ctx, "", 0, copy_one, m2);
	agentd_mock_free(m);
	load(m2);
	settle(m2);
	field(m2, id, -1, "due_ms", buf, sizeof(buf));
	is_str(buf, due, "a resumed wait keeps its checkpointed wake-up time");
	is_str(drive(m2, id, st, sizeof(st)), "done", "...and ends");
	ok(now_ms() - t0 >= 150 && a.calls == 1,
	    "...not before it, calling the next step once");
	agentd_mock_free(m2);
	remove_def("wait.flow");
	remove_def("until.flow");
}

/* ---- parallel groups ---------------------------------------------------- */

static void
test_parallel(void)
{
	struct callee a = { 0 }, b = { .fail = 2, .code = AGENTD_EBUSY },
	              c = { 0 }, d = { 0 };
	agentd_mock              *m, *m2;
	agentd_ctx               *ctx;
	const struct agentd_host *h;
	agentd_writer            *w;
	agentd_doc               *doc;
	char                      id[64], st[64], buf[512], first[256];

	write_def("par.flow",
	    "step \"quotes\" {\n"
	    "  join = \"JOIN\"\n"
	    "  branch \"a\" { agent = \"scout\" }\n"
	    "  branch \"b\" {\n   agent = \"vet\"\n"
	    "   retry { attempts = 3  backoff = 1ms  backoff_max = 2ms }\n  "
	    "}\n"
	    "  branch \"c\" {\n   agent = \"shop\"\n   timeout = 1s\n  }\n"
	    "}\n"
	    "step \"use\" {\n agent = \"pub\"\n"
	    " input = { \"sku = $quotes.a.sku\" }\n}\n");
	m = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m, "pub", callee_fn, &d);
	is_int(load(m), AGENTD_EPLUGIN,
	    "a join that is not all, first or N is refused");
	like(agentd_mock_last_log(m, NULL),
	    "par.flow:2: step \"quotes\": join \"JOIN\"", "...at its line");
	agentd_mock_free(m);

	write_def("par.flow",
	    "step \"quotes\" {\n"
	    "  branch \"a\" { agent = \"scout\" }\n"
	    "  branch \"b\" {\n   agent = \"vet\"\n"
	    "   retry { attempts = 3  backoff = 1ms  backoff_max = 2ms }\n  "
	    "}\n"
	    "  branch \"c\" {\n   agent = \"shop\"\n   timeout = 1s\n  }\n"
	    "}\n"
	    "step \"use\" {\n agent = \"pub\"\n"
	    " input = { \"sku = $quotes.a.sku\" }\n}\n");
	m = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m, "pub", callee_fn, &d);
	is_int(load(m), 0, "a parallel group loads");
	start(m, "par", NULL, 0, id, sizeof(id));
	is_int(a.calls + c.calls, 2, "every branch is called at once");
	is_str(drive(m, id, st, sizeof(st)), "done", "join all: the run ends");
	is_int(b.calls, 3, "...branch b retried EBUSY on its own");
	is_str(d.got, "A-1", "the next step reads a branch's answer");
	like(c.key, "/quotes/1/c", "each branch has its own idempotency key");
	{
		agentd_doc         *sd = status(m, id);
		const agentd_value *o  = agentd_map_get(
		     agentd_map_get(agentd_doc_root(sd), "outputs"), "quotes");

		is_int((int)agentd_len(o), 3,
		    "the group's output holds every branch's answer");
		agentd_doc_free(sd);
	}
	agentd_mock_free(m);

	/* join all with a branch failing for good: the step fails. */
	a = c = d = (struct callee) { 0 };
	b         = (struct callee) { .fail = 9, .code = AGENTD_EINVAL };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m, "pub", callee_fn, &d);
	load(m);
	start(m, "par", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "join all: a branch failing for good fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "branch \"b\": EINVAL", "...naming the branch and code");
	like(buf, "join needs 3 (step \"quotes\", attempt 1 of 1)",
	    "...and what the join needed");
	is_int(d.calls, 0, "...and the next step does not run");
	agentd_mock_free(m);

	/* n of m, and first. */
	write_def("par2.flow",
	    "step \"quotes\" {\n"
	    "  join = 2\n"
	    "  branch \"a\" { agent = \"scout\" }\n"
	    "  branch \"b\" { agent = \"vet\" }\n"
	    "  branch \"c\" { agent = \"shop\" }\n"
	    "}\n"
	    "step \"one\" {\n"
	    "  join = first\n"
	    "  branch \"b\" { agent = \"vet\" }\n"
	    "  branch \"a\" { agent = \"scout\" }\n"
	    "}\n");
	a = c = d = (struct callee) { 0 };
	b         = (struct callee) { .fail = 9, .code = AGENTD_EINVAL };
	m         = flow_mock(&a, &b, &c);
	load(m);
	start(m, "par2", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done",
	    "join 2 of 3 and join first: one failed branch is not fatal");
	{
		agentd_doc         *sd = status(m, id);
		const agentd_value *o
		    = agentd_map_get(agentd_doc_root(sd), "outputs");

		ok(agentd_len(agentd_map_get(o, "quotes")) == 2
		        && agentd_map_get(agentd_map_get(o, "quotes"), "b")
		            == NULL,
		    "...2 of 3: the two answers are the output");
		ok(agentd_len(agentd_map_get(o, "one")) == 1
		        && agentd_map_get(agentd_map_get(o, "one"), "a")
		            != NULL,
		    "...first: the one answer is");
		agentd_doc_free(sd);
	}
	agentd_mock_free(m);
	remove_def("par2.flow");

	/* Cancel while the branches are in flight. */
	a = b = c = d = (struct callee) { 0 };
	m             = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m, "pub", callee_fn, &d);
	load(m);
	start(m, "par", NULL, 0, id, sizeof(id));
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "cancel");
	agentd_write_str(w, "run");
	agentd_write_str(w, id);
	is_int(ask(m, w, &doc), 0, "a run is cancelled during a group");
	agentd_doc_free(doc);
	agentd_writer_free(w);
	drive(m, id, st, sizeof(st));
	is_str(st, "cancelled", "...stays cancelled when the answers come");
	is_int(d.calls, 0, "...and the step after the group never runs");
	field(m, id, 0, "state", buf, sizeof(buf));
	is_str(buf, "cancelled", "the group is recorded cancelled");
	agentd_mock_free(m);

	/* Stopped with the branches in flight: called again, same keys. */
	a = b = c = d = (struct callee) { 0 };
	m             = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m, "pub", callee_fn, &d);
	load(m);
	start(m, "par", NULL, 0, id, sizeof(id));
	snprintf(first, sizeof(first), "%s", b.key);
	m2 = flow_mock(&a, &b, &c);
	agentd_mock_on_call(m2, "pub", callee_fn, &d);
	h = agentd_mock_host(m, &ctx);
	h->state_scan(ctx, "", 0, copy_one, m2);
	agentd_mock_free(m);
	load(m2);
	is_str(drive(m2, id, st, sizeof(st)), "done",
	    "a group resumed by a new instance ends");
	ok(a.calls == 2 && b.calls == 2 && c.calls == 2,
	    "...each branch in flight called again");
	is_str(b.key, first, "...with the same idempotency key");
	is_int(d.calls, 1, "the step after it runs once");
	agentd_mock_free(m2);
	remove_def("par.flow");
}

/* ---- rollback ------------------------------------------------------------
 */

/* Send {"op": OP[, "workflow": W[, "version": V]]}; the answer's status. */
static int
op3(agentd_mock *m, const char *op, const char *wf, const char *ver,
    agentd_doc **doc)
{
	agentd_writer *w;
	int            st;

	agentd_writer_new(&w);
	agentd_write_map(w, 1 + (wf != NULL) + (ver != NULL));
	agentd_write_str(w, "op");
	agentd_write_str(w, op);
	if (wf != NULL) {
		agentd_write_str(w, "workflow");
		agentd_write_str(w, wf);
	}
	if (ver != NULL) {
		agentd_write_str(w, "version");
		agentd_write_str(w, ver);
	}
	st = ask(m, w, doc);
	agentd_writer_free(w);
	return st;
}

/* The version of workflow wf that serves new runs, and if rolled back. */
static void
serving(agentd_mock *m, const char *wf, char *ver, size_t size, int *rb)
{
	agentd_doc         *doc;
	const agentd_value *l;

	ver[0] = '\0';
	*rb    = -1;
	op3(m, "definitions", NULL, NULL, &doc);
	l = agentd_map_get(agentd_doc_root(doc), "definitions");
	for (size_t i = 0; i < agentd_len(l); i++) {
		const agentd_value *d        = agentd_array_at(l, i);
		char                name[64] = "";

		agentd_get_strcpy(
		    agentd_map_get(d, "name"), name, sizeof(name));
		if (strcmp(name, wf) == 0) {
			agentd_get_strcpy(
			    agentd_map_get(d, "version"), ver, size);
			agentd_get_bool(agentd_map_get(d, "rolled_back"), rb);
		}
	}
	agentd_doc_free(doc);
}

static void
test_rollback(void)
{
	struct callee             a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock              *m, *m2;
	agentd_doc               *doc;
	agentd_ctx               *ctx;
	const struct agentd_host *h;
	char v1[32], v2[32], now[32], id[64], st[64], buf[64];
	int  rb;

	write_def("rb.flow", "step \"one\" { agent = \"scout\" }\n");
	m = flow_mock(&a, &b, &c);
	load(m);
	serving(m, "rb", v1, sizeof(v1), &rb);
	start(m, "rb", NULL, 0, id, sizeof(id));
	drive(m, id, st, sizeof(st));
	is_int(op3(m, "rollback", "rb", "0123456789abcdef", &doc),
	    AGENTD_ENOENT, "rollback to a version never run is ENOENT");
	agentd_doc_free(doc);
	write_def("rb.flow", "step \"two\" { agent = \"vet\" }\n");
	op3(m, "reload", NULL, NULL, &doc);
	agentd_doc_free(doc);
	serving(m, "rb", v2, sizeof(v2), &rb);
	ok(strcmp(v1, v2) != 0 && rb == 0, "a changed file is a new version");
	is_int(op3(m, "rollback", "rb", v1, &doc), 0,
	    "rollback to the version a run used");
	agentd_doc_free(doc);
	serving(m, "rb", now, sizeof(now), &rb);
	ok(strcmp(now, v1) == 0 && rb == 1,
	    "...serves it, marked rolled back");
	b.calls = a.calls = 0;
	start(m, "rb", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "...to new runs");
	ok(a.calls == 1 && b.calls == 0, "...which run the earlier steps");
	field(m, id, -1, "version", buf, sizeof(buf));
	is_str(buf, v1, "...recorded with that version");
	op3(m, "reload", NULL, NULL, &doc);
	agentd_doc_free(doc);
	serving(m, "rb", now, sizeof(now), &rb);
	is_str(now, v1, "a reload keeps the rollback");

	m2 = flow_mock(&a, &b, &c);
	h  = agentd_mock_host(m, &ctx);
	h->state_scan(ctx, "", 0, copy_one, m2);
	agentd_mock_free(m);
	load(m2);
	serving(m2, "rb", now, sizeof(now), &rb);
	is_str(now, v1, "so does a new instance (it is in state)");
	is_int(op3(m2, "rollback", "rb", NULL, &doc), 0,
	    "rollback without a version...");
	agentd_doc_free(doc);
	serving(m2, "rb", now, sizeof(now), &rb);
	ok(strcmp(now, v2) == 0 && rb == 0,
	    "...serves the file's version again");
	agentd_mock_free(m2);
	remove_def("rb.flow");
}

/* ---- list pages and purge ------------------------------------------------
 */

/* {"op": "list"[, "limit": N][, "after": ID]}: the ids listed; *more. */
static size_t
list_ids(agentd_mock *m, int64_t limit, const char *after, char ids[][64],
    size_t max, int *more)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	const agentd_value *runs;
	size_t              n = 0;

	agentd_writer_new(&w);
	agentd_write_map(w, 1 + (limit > 0) + (after != NULL));
	agentd_write_str(w, "op");
	agentd_write_str(w, "list");
	if (limit > 0) {
		agentd_write_str(w, "limit");
		agentd_write_int(w, limit);
	}
	if (after != NULL) {
		agentd_write_str(w, "after");
		agentd_write_str(w, after);
	}
	ask(m, w, &doc);
	runs  = agentd_map_get(agentd_doc_root(doc), "runs");
	*more = -1;
	agentd_get_bool(agentd_map_get(agentd_doc_root(doc), "more"), more);
	for (; n < agentd_len(runs) && n < max; n++)
		agentd_get_strcpy(
		    agentd_map_get(agentd_array_at(runs, n), "run"), ids[n],
		    64);
	n = agentd_len(runs);
	agentd_doc_free(doc);
	agentd_writer_free(w);
	return n;
}

static void
test_purge(void)
{
	struct callee  a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock   *m = flow_mock(&a, &b, &c);
	agentd_writer *w;
	agentd_doc    *doc;
	char           id[3][64], again[64], st[64], got[8][64];
	int64_t        purged = -1;
	int            more;

	load(m);
	for (int i = 0; i < 3; i++) {
		start(m, "pipeline", i == 0 ? "k1" : NULL, 0, id[i], 64);
		drive(m, id[i], st, sizeof(st));
	}
	is_int((int)list_ids(m, 2, NULL, got, 8, &more), 2,
	    "list with a limit answers that many");
	ok(more == 1 && strcmp(got[0], id[0]) == 0
	        && strcmp(got[1], id[1]) == 0,
	    "...oldest first, saying there is more");
	is_int((int)list_ids(m, 2, id[1], got, 8, &more), 1,
	    "list after the last one listed: the rest");
	ok(more == 0 && strcmp(got[0], id[2]) == 0, "...and no more");

	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "op");
	agentd_write_str(w, "purge");
	agentd_write_str(w, "before_ms");
	agentd_write_int(w, (int64_t)time(NULL) * 1000 + 60000);
	is_int(ask(m, w, &doc), 0, "purge answers");
	agentd_get_int(
	    agentd_map_get(agentd_doc_root(doc), "purged"), &purged);
	agentd_doc_free(doc);
	agentd_writer_free(w);
	is_int((int)purged, 3, "...the runs that ended before the time");
	is_int((int)list_ids(m, 0, NULL, got, 8, &more), 0,
	    "...which list no longer shows");
	doc = status(m, id[0]);
	ok(agentd_map_get(agentd_doc_root(doc), "state") == NULL,
	    "...nor status");
	agentd_doc_free(doc);
	{
		/* Summaries over one message (1 MiB) in all: scans split. */
		agentd_ctx               *ctx;
		const struct agentd_host *h = agentd_mock_host(m, &ctx);
		static char               big[400 * 1024];
		agentd_writer            *bw;
		const void               *p;
		size_t                    len;

		memset(big, 'x', sizeof(big) - 1);
		agentd_writer_new(&bw);
		agentd_write_map(bw, 4);
		agentd_write_str(bw, "workflow");
		agentd_write_str(bw, "old");
		agentd_write_str(bw, "state");
		agentd_write_str(bw, "done");
		agentd_write_str(bw, "updated_ms");
		agentd_write_int(bw, 1);
		agentd_write_str(bw, "pad");
		agentd_write_str(bw, big);
		p = agentd_writer_data(bw, &len);
		h->state_put(ctx, "sum/1-a", 7, p, len);
		h->state_put(ctx, "sum/2-b", 7, p, len);
		h->state_put(ctx, "sum/3-c", 7, p, len);
		agentd_writer_free(bw);
		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "list");
		agentd_write_str(w, "workflow");
		agentd_write_str(w, "pipeline");
		is_int(ask(m, w, &doc), 0,
		    "list reads summaries over one message (scans split)");
		agentd_doc_free(doc);
		agentd_writer_free(w);
		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "purge");
		agentd_write_str(w, "before_ms");
		agentd_write_int(w, 1000);
		is_int(ask(m, w, &doc), 0, "so does purge");
		purged = -1;
		agentd_get_int(
		    agentd_map_get(agentd_doc_root(doc), "purged"), &purged);
		is_int((int)purged, 3, "...of the three");
		agentd_doc_free(doc);
		agentd_writer_free(w);
	}
	start(m, "pipeline", "k1", 0, again, sizeof(again));
	ok(again[0] != '\0' && strcmp(again, id[0]) != 0,
	    "their start keys went with them: the key starts a new run");
	drive(m, again, st, sizeof(st));
	agentd_mock_free(m);
}

/* capability = "NAME": the step's (or branch's) agent is found with
 * find_agents when it is called; the first of the sorted names; nobody
 * having it fails the step with ENOENT naming the capability. */
static void
test_capability(void)
{
	struct callee a = { 0 }, b = { 0 }, c = { 0 };
	agentd_mock  *m;
	char          id[64], st[64], buf[512];

	write_def("cap.flow",
	    "step \"find\" {\n agent = \"scout\"\n"
	    " capability = \"quote\"\n}\n");
	m = flow_mock(&a, &b, &c);
	is_int(
	    load(m), AGENTD_EPLUGIN, "agent and capability together: refused");
	like(agentd_mock_last_log(m, NULL),
	    "cap.flow:3: step \"find\": write agent or capability, not both",
	    "...at the capability's line");
	agentd_mock_free(m);

	write_def(
	    "cap.flow", "step \"find\" {\n capability = \"Quote!\"\n}\n");
	m = flow_mock(&a, &b, &c);
	is_int(load(m), AGENTD_EPLUGIN, "a bad capability is refused");
	like(agentd_mock_last_log(m, NULL),
	    "cap.flow:2: step \"find\": \"Quote!\" is not a capability",
	    "...at its line, with the rule");
	agentd_mock_free(m);

	write_def("cap.flow",
	    "step \"find\" {\n capability = \"quote\"\n"
	    " input = { \"sku = A-1\" }\n}\n"
	    "step \"both\" {\n"
	    "  branch \"x\" { capability = \"vetting\" }\n"
	    "  branch \"y\" { agent = \"scout\" }\n"
	    "}\n");
	m = flow_mock(&a, &b, &c);
	agentd_mock_capability(m, "vet", "quote");
	agentd_mock_capability(m, "shop", "quote");
	agentd_mock_capability(m, "vet", "vetting");
	is_int(load(m), 0, "steps and branches with capability load");
	start(m, "cap", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "done", "the run ends done");
	is_int(c.calls, 1,
	    "the step went to the first of the sorted agents having its "
	    "capability (vet and shop have quote: shop)");
	is_str(c.got, "A-1", "...with the step's input");
	is_int(b.calls, 1, "the branch went to the one having vetting");
	is_int(a.calls, 1, "the other branch called its agent");
	agentd_mock_free(m);

	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_capability(m, "vet", "quote");
	load(m);
	start(m, "cap", NULL, 0, id, sizeof(id));
	is_str(drive(m, id, st, sizeof(st)), "failed",
	    "a capability nobody has fails the run");
	field(m, id, -1, "error", buf, sizeof(buf));
	like(buf, "branch \"x\": ENOENT: no agent has capability \"vetting\"",
	    "...with ENOENT naming the capability");
	agentd_mock_free(m);

	/* Cancelled while its agent is being found: nobody is called. */
	a = b = c = (struct callee) { 0 };
	m         = flow_mock(&a, &b, &c);
	agentd_mock_capability(m, "shop", "quote");
	load(m);
	start(m, "cap", NULL, 0, id, sizeof(id));
	{
		agentd_writer *w;
		agentd_doc    *doc;

		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "op");
		agentd_write_str(w, "cancel");
		agentd_write_str(w, "run");
		agentd_write_str(w, id);
		is_int(ask(m, w, &doc), 0,
		    "a run is cancelled while its step's agent is being "
		    "found");
		agentd_doc_free(doc);
		agentd_writer_free(w);
	}
	is_str(drive(m, id, st, sizeof(st)), "cancelled",
	    "...stays cancelled once find_agents answers");
	is_int(c.calls, 0, "...and the agent found is not called");
	agentd_mock_free(m);
	remove_def("cap.flow");
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "%s/flowdefs.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	write_def("pipeline.flow", pipeline);
	plan(201);
	test_refused();
	test_reload_keeps();
	test_pipeline();
	test_events();
	test_failures();
	test_loop_and_dry();
	test_cancel_and_resume();
	test_start_durable();
	test_approval();
	test_wait();
	test_parallel();
	test_rollback();
	test_purge();
	test_capability();
	remove_def("pipeline.flow");
	rmdir(dir);
	return done_testing();
}
