/*
 * host->find_agents in the mock host (<agentd/mock.h>): the registry of
 * agentd_mock_capability(), the plugin's own descriptor, sorted names,
 * the callback deferred to agentd_mock_run(), the errors; and a
 * descriptor with a bad capability refused as the worker refuses it.
 * The plugin is tests/plugins/finder.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>
#include <agentd/msg.h>

#include "tap.h"

static char *
plugin(const char *name)
{
	const char *dir = getenv("AGENTD_TEST_PLUGINS");
	size_t      n;
	char       *p;

	dir = dir != NULL ? dir : "tests/plugins/.libs";
	n   = strlen(dir) + strlen(name) + 2;
	if ((p = malloc(n)) == NULL)
		exit(99);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* The request body: a msgpack string. */
static size_t
body_of(const char *cap, char *buf, size_t len)
{
	agentd_writer *w;
	const void    *d;
	size_t         n;

	agentd_writer_new(&w);
	agentd_write_str(w, cap);
	d = agentd_writer_data(w, &n);
	memcpy(buf, d, n < len ? n : len);
	agentd_writer_free(w);
	return n;
}

/* What the finder answered for cap: its "agents" joined by ",", or
 * "error N". */
static void
ask(agentd_mock *m, const char *cap, char *out, size_t outlen)
{
	const void         *reply;
	size_t              rlen, i, n, blen;
	char                body[128];
	int                 status;
	agentd_doc         *doc;
	const agentd_value *list;

	blen   = body_of(cap, body, sizeof(body));
	out[0] = '\0';
	if (agentd_mock_request(m, body, blen, &reply, &rlen, &status) != 0
	    || status != 0) {
		snprintf(out, outlen, "error %d", status);
		return;
	}
	if (agentd_parse(reply, rlen, &doc) != 0)
		return;
	list = agentd_map_get(agentd_doc_root(doc), "agents");
	n    = agentd_len(list);
	for (i = 0; i < n; i++) {
		char name[64] = "";

		agentd_get_strcpy(
		    agentd_array_at(list, i), name, sizeof(name));
		snprintf(out + strlen(out), outlen - strlen(out), "%s%s",
		    i > 0 ? "," : "", name);
	}
	agentd_doc_free(doc);
}

static void
test_find(void)
{
	agentd_mock *m;
	char        *path = plugin("finder.so"), got[256], body[128];
	size_t       id, blen;

	agentd_mock_new("f", &m);
	is_int(agentd_mock_load(m, path), 0, "the finder loads");
	is_int(agentd_mock_capability(m, "pricing", "pricing"), 0,
	    "pricing has pricing");
	agentd_mock_capability(m, "b-quotes", "pricing");
	agentd_mock_capability(m, "a-quotes", "pricing");
	is_int(agentd_mock_capability(m, "a-quotes", "pricing"), 0,
	    "registering a pair twice is no error");
	agentd_mock_capability(m, "a-quotes", "search");

	ask(m, "pricing", got, sizeof(got));
	is_str(got, "a-quotes,b-quotes,pricing",
	    "find_agents: the agents with it, sorted, each once");
	ask(m, "search", got, sizeof(got));
	is_str(got, "a-quotes,f",
	    "the plugin's own descriptor counts, under its agent name");
	ask(m, "nobody", got, sizeof(got));
	is_str(got, "", "a capability nobody has: an empty list");
	ask(m, "Not-OK", got, sizeof(got));
	is_str(got, "error 2", "a capability that is not one: EINVAL");
	like(agentd_mock_errmsg(m), "\"Not-OK\" is not a capability",
	    "... and errmsg says why");

	/* The answer waits for agentd_mock_run(), and is what the registry
	 * held when the plugin asked. */
	blen = body_of("pricing", body, sizeof(body));
	agentd_mock_send(m, body, blen, &id);
	is_int(agentd_mock_pending(m), 1,
	    "the request waits: the callback did not run inside the call");
	agentd_mock_capability(m, "c-late", "pricing");
	is_int(agentd_mock_run(m), 1, "agentd_mock_run() runs it");
	is_int(agentd_mock_pending(m), 0, "and the request is answered");
	ask(m, "pricing", got, sizeof(got));
	is_str(got, "a-quotes,b-quotes,c-late,pricing",
	    "an agent registered since is in the next answer");

	is_int(agentd_mock_capability(m, "bad name!", "x"), AGENTD_EINVAL,
	    "a bad agent name: EINVAL");
	is_int(agentd_mock_capability(m, "x", "UPPER"), AGENTD_EINVAL,
	    "a bad capability: EINVAL");
	agentd_mock_free(m);
	free(path);
}

static void
test_limit(void)
{
	agentd_mock *m;
	char         cap[16];
	int          i, rv = 0;

	agentd_mock_new("f", &m);
	for (i = 0; i < 32 && rv == 0; i++) {
		snprintf(cap, sizeof(cap), "c%d", i);
		rv = agentd_mock_capability(m, "x", cap);
	}
	is_int(rv, 0, "32 capabilities for one agent");
	is_int(agentd_mock_capability(m, "x", "one-more"), AGENTD_EINVAL,
	    "a 33rd: EINVAL, agentd's limit");
	agentd_mock_free(m);
}

static void
test_bad_descriptor(void)
{
	agentd_mock *m;
	char        *path = plugin("finder_bad.so");

	agentd_mock_new(NULL, &m);
	is_int(agentd_mock_load(m, path), AGENTD_EABI,
	    "a descriptor with a bad capability is refused");
	like(agentd_mock_errmsg(m), ".capabilities", "... naming them");
	agentd_mock_free(m);
	free(path);
}

int
main(void)
{
	plan(18);
	test_find();
	test_limit();
	test_bad_descriptor();
	return done_testing();
}
