/*
 * http_route.h - what an HTTP request asks for: the route table of the
 * API (doc/http.md), and the envelope a request becomes.
 *
 * Pure functions of the request's method, path, query and body: no
 * server, no supervisor, so the fuzz harness (tests/fuzz/fuzz_http_route)
 * drives them as http.c does.  A request matches a route (ad_http_match:
 * 404 or 405 otherwise), then becomes the envelope agentctl would send
 * (ad_http_build): the path's arguments, the query's (typed) and the
 * body's, converted from JSON to msgpack.  The answer's msgpack comes
 * back as JSON shaped for its route (ad_http_shape).
 *
 * This file owns the route table.
 */
#ifndef AD_HTTP_ROUTE_H
#define AD_HTTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/msg.h>
#include <jansson.h>

#include "bus/envelope.h"
#include "common/util.h"

struct ad_route;

#define AD_ROUTE_ARGS 3

/* A matched request: its route and the arguments its path holds. */
struct ad_http_match {
	const struct ad_route *route;
	struct {
		char        name[16];
		const char *val; /* into the path, len bytes */
		size_t      len;
	} arg[AD_ROUTE_ARGS];
	size_t nargs;
	char allow[64]; /* no route of the method: the methods the path has */
};

/* What the request brings besides its path. */
struct ad_http_in {
	/* The query argument of that name, or NULL (decoded). */
	const char *(*query)(void *arg, const char *name);
	void       *query_arg;
	const char *body;
	size_t      len;
	size_t      max_body;        /* max_message_size */
	int64_t     call_timeout_ms; /* http { call_timeout } */
	int64_t     now_ms;          /* wall clock */
};

/*
 * Is the path one a route could have (no empty, "." or ".." segments, no
 * control bytes)?  1 or 0.
 */
int ad_http_path_ok(const char *path);

/*
 * The route of method and path (decoded, no query) into m: 0, or
 * AGENTD_ENOENT (no route has the path, or ad_http_path_ok refuses it)
 * or AGENTD_EINVAL (some have it, not with this method: m->allow lists
 * theirs).
 */
int ad_http_match(
    const char *method, const char *path, struct ad_http_match *m);

/*
 * The envelope m and in ask for into e, its body written to w (e->body
 * points into w).  0, or an agentd code (EINVAL, ETOOBIG, ENOENT) with
 * one line in why.
 */
int ad_http_build(const struct ad_http_match *m, const struct ad_http_in *in,
    struct ad_envelope *e, agentd_writer *w, char *why, size_t whylen);

/* An answer's msgpack body as the JSON its route gives (never NULL but
 * without memory). */
json_t *ad_http_shape(
    const struct ad_route *route, const void *body, size_t len);

/* The HTTP status of an agentd code. */
unsigned ad_http_code(int status);

/* "GET /v1/status": the route's method and path pattern. */
const char *ad_route_method(const struct ad_route *r);
const char *ad_route_path(const struct ad_route *r);

/*
 * The query arguments the route reads, "name:t,..." with t one of s
 * (text), i (integer), f (number), b (true or false); "" for none.
 */
const char *ad_route_query(const struct ad_route *r);

/*
 * The i-th route of the table, NULL past its end: for what lists them
 * (tests/tools/http_routes, which the test of doc/openapi.yaml reads,
 * and the fuzz harness).  Borrowed, valid for the program's life.
 */
const struct ad_route *ad_route_at(size_t i);

#endif
