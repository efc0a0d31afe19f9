/*
 * test_http_route.c - what an HTTP request becomes (supervisor/http_route.c):
 * the route a path matches, the envelope a request builds, the JSON an
 * answer is shaped into; with the inputs fuzz_http_route found or was
 * given for the bugs fixed here (tests/fuzz/corpus/fuzz_http_route).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "supervisor/http_route.h"
#include "tap.h"

/* The query "name=value" pairs of a test, NULL-ended. */
static const char *const *query_pairs;

static const char *
query_get(void *arg, const char *name)
{
	const char *const *q;

	(void)arg;
	for (q = query_pairs; q != NULL && q[0] != NULL; q += 2)
		if (strcmp(q[0], name) == 0)
			return q[1];
	return NULL;
}

struct built {
	int                rv;
	struct ad_envelope e;
	agentd_writer     *w;
	agentd_doc        *doc; /* e's body parsed, if it parses */
	char               why[256];
};

/* method path, with the query pairs and body; b->doc when it built. */
static void
build(struct built *b, const char *method, const char *path,
    const char *const *query, const char *body, size_t max_body)
{
	struct ad_http_match m;
	struct ad_http_in    in;

	memset(b, 0, sizeof(*b));
	agentd_writer_new(&b->w);
	if ((b->rv = ad_http_match(method, path, &m)) != 0)
		return;
	memset(&in, 0, sizeof(in));
	query_pairs        = query;
	in.query           = query_get;
	in.body            = body;
	in.len             = body != NULL ? strlen(body) : 0;
	in.max_body        = max_body;
	in.call_timeout_ms = 30000;
	in.now_ms          = 1000;
	b->rv = ad_http_build(&m, &in, &b->e, b->w, b->why, sizeof(b->why));
	if (b->rv == 0 && b->e.body_len > 0
	    && agentd_parse(b->e.body, b->e.body_len, &b->doc) != 0)
		b->doc = NULL;
}

static void
built_free(struct built *b)
{
	agentd_doc_free(b->doc);
	agentd_writer_free(b->w);
}

/* How many keys named key the map v has. */
static int
keys_named(const agentd_value *v, const char *key)
{
	const char *k;
	size_t      i, len;
	int         n = 0;

	for (i = 0; i < agentd_len(v); i++)
		if (agentd_get_str(agentd_map_key_at(v, i), &k, &len) == 0
		    && len == strlen(key) && memcmp(k, key, len) == 0)
			n++;
	return n;
}

/* JSON nested depth deep: {"params": [[...]]} with depth - 1 arrays. */
static char *
nested_params(int depth)
{
	char  *s = malloc(32 + 2 * (size_t)depth), *p;
	int    i;
	size_t n;

	n = (size_t)sprintf(s, "{\"params\":");
	p = s + n;
	for (i = 0; i < depth - 1; i++)
		*p++ = '[';
	for (i = 0; i < depth - 1; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

static void
test_match(void)
{
	struct ad_http_match m;

	is_int(ad_http_match("GET", "/v1/status", &m), 0, "GET /v1/status");
	is_str(ad_route_path(m.route), "/v1/status", "its route");
	is_int(ad_http_match("DELETE", "/v1/status", &m), AGENTD_EINVAL,
	    "DELETE /v1/status: the path has other methods");
	is_str(m.allow, "GET", "which are listed");
	is_int(ad_http_match("GET", "/v1/nothing", &m), AGENTD_ENOENT,
	    "an unknown path");
	is_int(ad_http_match("GET", "/v1/agents/a/state/cart/42", &m), 0,
	    "a key with a slash");
	ok(m.nargs == 2 && m.arg[1].len == 7
	        && memcmp(m.arg[1].val, "cart/42", 7) == 0,
	    "the key is the rest of the path");
	/* ad_http_match matched these before: only http.c's check of the
	 * path stood in the way (fuzz corpus: match_control_byte). */
	is_int(ad_http_match("GET", "/v1/agents/a/state/../../status", &m),
	    AGENTD_ENOENT, "a key with .. segments matches no route");
	is_int(ad_http_match("POST", "/v1/agents/a\001b/call", &m),
	    AGENTD_ENOENT, "nor a path with a control byte");
	is_int(ad_http_match("GET", "/v1/agents/a/state/x//y", &m),
	    AGENTD_ENOENT, "nor one with an empty segment");
	ok(!ad_http_path_ok("/v1/./status") && !ad_http_path_ok("v1/status")
	        && ad_http_path_ok("/v1/agents/a/state/.x"),
	    "ad_http_path_ok: \".\" refused, \".x\" taken, a relative path "
	    "refused");
}

static void
test_build(void)
{
	static const char *const scan_q[] = { "prefix", "cart/", NULL };
	static const char *const bad_q[]  = { "limit", "x", NULL };
	struct built             b;
	const void              *p;
	size_t                   len;
	char                    *body;

	build(&b, "GET", "/v1/agents/echo/state", scan_q, NULL, 4096);
	ok(b.rv == 0 && b.e.kind == AD_KIND_CONTROL
	        && strcmp(b.e.dst, "state.scan") == 0,
	    "a scan is the operation state.scan");
	ok(agentd_get_bin(agentd_map_get(agentd_doc_root(b.doc), "key"), &p,
	       &len) == 0
	        && len == 5 && memcmp(p, "cart/", 5) == 0,
	    "its ?prefix= is the bin \"key\"");
	built_free(&b);

	/* Any body's "prefix" became a second "key" (fuzz corpus:
	 * merge_prefix_and_key). */
	build(&b, "POST", "/v1/reload", NULL,
	    "{\"prefix\": \"a\", \"key\": \"b\"}", 4096);
	ok(b.rv == 0 && b.doc != NULL
	        && keys_named(agentd_doc_root(b.doc), "key") == 1
	        && keys_named(agentd_doc_root(b.doc), "prefix") == 1,
	    "a body's \"prefix\" stays itself: no second \"key\"");
	built_free(&b);

	/* A body's members were checked for depth one by one, one level
	 * short (fuzz corpus: merge_nested_31, merge_nested_32). */
	body = nested_params(32);
	build(&b, "POST", "/v1/decisions/7/modify", NULL, body, 1 << 20);
	ok(b.rv == 0 && b.doc != NULL,
	    "a body 32 deep becomes an operation agentd_parse reads");
	built_free(&b);
	free(body);
	body = nested_params(33);
	build(&b, "POST", "/v1/decisions/7/modify", NULL, body, 1 << 20);
	ok(b.rv == AGENTD_EINVAL && strstr(b.why, "deeper than 32") != NULL,
	    "one 33 deep is EINVAL, saying so, not an operation that does "
	    "not parse");
	built_free(&b);
	free(body);

	build(&b, "POST", "/v1/decisions/7/approve", NULL,
	    "{\"id\": \"8\", \"note\": \"ok\"}", 4096);
	ok(b.rv == 0 && keys_named(agentd_doc_root(b.doc), "id") == 1
	        && agentd_get_str(agentd_map_get(agentd_doc_root(b.doc), "id"),
	               (const char **)&p, &len)
	            == 0
	        && len == 1 && memcmp(p, "7", 1) == 0,
	    "the path's id wins over the body's");
	built_free(&b);

	build(&b, "GET", "/v1/audit", bad_q, NULL, 4096);
	ok(b.rv == AGENTD_EINVAL
	        && strcmp(b.why, "?limit=x: not an integer") == 0,
	    "a query argument of the wrong type: EINVAL, naming it");
	built_free(&b);

	build(&b, "POST", "/v1/agents/echo/call", NULL,
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaa\"",
	    64);
	ok(b.rv == AGENTD_ETOOBIG && strstr(b.why, "max_message_size"),
	    "a body over max_message_size as msgpack: ETOOBIG");
	built_free(&b);

	build(&b, "POST", "/v1/agents/echo/call", NULL, "{\"a\": 1}", 4096);
	ok(b.rv == 0 && b.e.kind == AD_KIND_REQUEST
	        && strcmp(b.e.dst, "echo") == 0 && b.e.deadline_ms == 31000
	        && b.doc != NULL,
	    "a call: a request to the agent, with call_timeout's deadline");
	built_free(&b);
}

static void
test_shape(void)
{
	struct ad_http_match m;
	agentd_writer       *w;
	const void          *p;
	size_t               len;
	json_t              *j;
	char                *text;

	ad_http_match("GET", "/v1/agents/a/state", &m);
	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "entries");
	agentd_write_array(w, 2);
	agentd_write_array(w, 2);
	agentd_write_bin(w, "k", 1);
	agentd_write_bin(w, "\x07", 1);
	agentd_write_str(w, "not a pair");
	p    = agentd_writer_data(w, &len);
	j    = ad_http_shape(m.route, p, len);
	text = json_dumps(j, JSON_COMPACT);
	is_str(text, "{\"entries\":[{\"key\":\"k\",\"value\":7}]}",
	    "a scan's entries as key and value, what is not a pair left out");
	free(text);
	json_decref(j);
	agentd_writer_free(w);
	j = ad_http_shape(m.route, "\xc1", 1);
	ok(j != NULL, "an answer that is not msgpack still gives JSON");
	json_decref(j);
}

int
main(void)
{
	plan(22);
	test_match();
	test_build();
	test_shape();
	return done_testing();
}
