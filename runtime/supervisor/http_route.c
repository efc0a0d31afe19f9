#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_mp.h"
#include "common/ops.h"
#include "supervisor/http_route.h"

/* ---- routes ------------------------------------------------------------ */

/* How a request's JSON body becomes the operation's msgpack body. */
enum body_mode {
	B_NONE = 0, /* no body is read */
	B_MERGE,    /* a JSON object whose members join the arguments */
	B_VAL,      /* any JSON: its msgpack is the bin "val" */
	B_EVENT,    /* {"topic", "body"}: the body's msgpack is the bin */
	B_CALL,     /* any JSON: its msgpack is the envelope's body */
};

/* How the answer's msgpack becomes JSON. */
enum shape {
	S_PLAIN = 0, /* as it is */
	S_VAL,       /* {"val": bin} -> the value it holds */
	S_ENTRIES,   /* {"entries": [[k, v]]} -> [{"key", "value"}] */
	S_RECORDS,   /* {"records": [...]}: each detail decoded */
	S_CALL,      /* the agent's reply, any msgpack */
};

struct ad_route {
	const char    *method;
	const char    *path; /* segments; {x} is an argument, {x*} the rest */
	const char    *op;   /* NULL: a call to {agent} */
	enum body_mode body;
	const char    *query; /* "name:t,...": t is s, i, f or b */
	enum shape     shape;
};

static const struct ad_route routes[] = {
	{ "GET", "/v1/status", AD_OP_STATUS, B_NONE, NULL, S_PLAIN },
	{ "GET", "/v1/agents", AD_OP_AGENTS, B_NONE, "capability:s", S_PLAIN },
	{ "POST", "/v1/agents/{agent}/call", NULL, B_CALL, "timeout_ms:i",
	    S_CALL },
	{ "POST", "/v1/events", AD_OP_PUBLISH, B_EVENT, NULL, S_PLAIN },
	{ "GET", "/v1/agents/{agent}/state", AD_OP_STATE_SCAN, B_NONE,
	    "prefix:s", S_ENTRIES },
	{ "GET", "/v1/agents/{agent}/state/{key*}", AD_OP_STATE_GET, B_NONE,
	    NULL, S_VAL },
	{ "PUT", "/v1/agents/{agent}/state/{key*}", AD_OP_STATE_PUT, B_VAL,
	    NULL, S_PLAIN },
	{ "DELETE", "/v1/agents/{agent}/state/{key*}", AD_OP_STATE_DEL, B_NONE,
	    NULL, S_PLAIN },
	{ "POST", "/v1/agents/{agent}/restart", AD_OP_RESTART, B_NONE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/agents/{agent}/stop", AD_OP_STOP, B_NONE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/agents/{agent}/start", AD_OP_START, B_NONE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/agents/{agent}/scale", AD_OP_SCALE, B_MERGE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/agents/{agent}/promote", AD_OP_PROMOTE, B_NONE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/agents/{agent}/rollback", AD_OP_ROLLBACK, B_NONE, NULL,
	    S_PLAIN },
	{ "GET", "/v1/agents/{agent}/versions", AD_OP_VERSIONS, B_NONE, NULL,
	    S_PLAIN },
	{ "GET", "/v1/agents/{agent}/settings", AD_OP_SETTINGS, B_NONE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/reload", AD_OP_RELOAD, B_MERGE, NULL, S_PLAIN },
	{ "GET", "/v1/audit", AD_OP_AUDIT, B_NONE,
	    "agent:s,kind:s,since_ms:i,until_ms:i,limit:i,min_seq:i,"
	    "oldest_first:b",
	    S_RECORDS },
	{ "GET", "/v1/audit/verify", AD_OP_AUDIT_VERIFY, B_NONE, NULL,
	    S_PLAIN },
	{ "GET", "/v1/audit/key", AD_OP_AUDIT_KEY, B_NONE, NULL, S_PLAIN },
	{ "GET", "/v1/approvals", AD_OP_APPROVALS, B_NONE, "agent:s,limit:i",
	    S_PLAIN },
	{ "GET", "/v1/decisions", AD_OP_DECISIONS, B_NONE,
	    "agent:s,since_ms:i,outcome:s,limit:i", S_PLAIN },
	{ "GET", "/v1/decisions/{id}", AD_OP_DECISION, B_NONE, NULL, S_PLAIN },
	{ "POST", "/v1/decisions/{id}/approve", AD_OP_APPROVE, B_MERGE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/decisions/{id}/reject", AD_OP_REJECT, B_MERGE, NULL,
	    S_PLAIN },
	{ "POST", "/v1/decisions/{id}/modify", AD_OP_MODIFY, B_MERGE, NULL,
	    S_PLAIN },
	{ "GET", "/v1/policy/test", AD_OP_POLICY_TEST, B_NONE,
	    "agent:s,type:s,amount:f,confidence:f", S_PLAIN },
	{ "GET", "/v1/tokens", AD_OP_TOKEN_LIST, B_NONE, NULL, S_PLAIN },
	{ "POST", "/v1/tokens", AD_OP_TOKEN_CREATE, B_MERGE, NULL, S_PLAIN },
	{ "DELETE", "/v1/tokens/{name}", AD_OP_TOKEN_REVOKE, B_NONE, NULL,
	    S_PLAIN },
	{ "GET", "/v1/whoami", AD_OP_WHOAMI, B_NONE, NULL, S_PLAIN },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/*
 * Does path (decoded, without the query) match pattern?  Its arguments
 * into m, pointing into path.  A {x*} takes the rest, slashes and all.
 */
static int
path_match(const char *pattern, const char *path, struct ad_http_match *m)
{
	const char *p = pattern, *s = path;

	m->nargs = 0;
	while (*p != '\0') {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t      nlen  = (size_t)(close - p - 1);
			int         rest  = close[-1] == '*';
			const char *end;

			if (rest)
				nlen--;
			end = rest ? s + strlen(s) : s + strcspn(s, "/");
			if (end == s || m->nargs == AD_ROUTE_ARGS
			    || nlen >= sizeof(m->arg[0].name))
				return 0;
			memcpy(m->arg[m->nargs].name, p + 1, nlen);
			m->arg[m->nargs].name[nlen] = '\0';
			m->arg[m->nargs].val        = s;
			m->arg[m->nargs].len        = (size_t)(end - s);
			m->nargs++;
			s = end;
			p = close + 1;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

/* A path with "." or ".." segments, empty ones or control bytes is
 * refused before any route is tried. */
int
ad_http_path_ok(const char *path)
{
	const char *s;

	if (path[0] != '/')
		return 0;
	for (s = path; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	for (s = path; (s = strchr(s, '/')) != NULL;) {
		size_t n = strcspn(++s, "/");

		if ((n == 1 && s[0] == '.')
		    || (n == 2 && s[0] == '.' && s[1] == '.')
		    || (n == 0 && s[0] == '/'))
			return 0;
	}
	return 1;
}

unsigned
ad_http_code(int status)
{
	switch (status) {
	case 0:
		return 200;
	case AGENTD_EINVAL:
	case AGENTD_EPROTO:
		return 400;
	case AGENTD_EDENIED:
		return 403;
	case AGENTD_ENOENT:
		return 404;
	case AGENTD_EEXIST:
		return 409;
	case AGENTD_ETOOBIG:
		return 413;
	case AGENTD_EBUSY:
		return 429;
	case AGENTD_EUNAVAIL:
	case AGENTD_ECLOSED:
	case AGENTD_EFAILED:
		return 503;
	case AGENTD_ETIMEOUT:
		return 504;
	case AGENTD_ENOTSUP:
		return 501;
	default:
		return 500;
	}
}

/* The decoded form of one map member holding bytes. */
static void
decode_member(json_t *obj, const char *key, const agentd_value *m)
{
	const void *p;
	size_t      len;

	if (agentd_get_bin(agentd_map_get(m, key), &p, &len) == 0)
		json_object_set_new(obj, key, ad_bytes_to_json(p, len));
}

/* An operation's answer shaped for its route. */
json_t *
ad_http_shape(const struct ad_route *route, const void *body, size_t len)
{
	enum shape          shape = route != NULL ? route->shape : S_PLAIN;
	agentd_doc         *doc;
	const agentd_value *root, *list;
	json_t             *j = NULL, *arr;
	const void         *p;
	size_t              n, i;

	if (len == 0)
		return json_object();
	if (shape == S_CALL)
		return ad_bytes_to_json(body, len);
	if (agentd_parse(body, len, &doc) != 0)
		return ad_raw_to_json(body, len);
	root = agentd_doc_root(doc);
	switch (shape) {
	case S_VAL:
		if (agentd_get_bin(agentd_map_get(root, "val"), &p, &n) == 0)
			j = ad_bytes_to_json(p, n);
		break;
	case S_ENTRIES:
		list = agentd_map_get(root, "entries");
		arr  = json_array();
		for (i = 0; i < agentd_len(list); i++) {
			const agentd_value *e = agentd_array_at(list, i);
			const void         *k, *v;
			size_t              klen, vlen;

			if (agentd_get_bin(agentd_array_at(e, 0), &k, &klen)
			        != 0
			    || agentd_get_bin(agentd_array_at(e, 1), &v, &vlen)
			        != 0)
				continue;
			json_array_append_new(arr,
			    json_pack("{s:o,s:o}", "key",
			        ad_raw_to_json(k, klen), "value",
			        ad_bytes_to_json(v, vlen)));
		}
		j = json_pack("{s:o}", "entries", arr);
		break;
	case S_RECORDS:
		if (ad_value_to_json(root, &j) != 0)
			break;
		list = agentd_map_get(root, "records");
		arr  = json_object_get(j, "records");
		for (i = 0; i < agentd_len(list) && i < json_array_size(arr);
		     i++)
			decode_member(json_array_get(arr, i), "detail",
			    agentd_array_at(list, i));
		break;
	default:
		ad_value_to_json(root, &j);
		break;
	}
	agentd_doc_free(doc);
	return j != NULL ? j : json_object();
}

/* ---- building the operation -------------------------------------------- */

/* The query's arguments of route into args, typed; EINVAL with why. */
static int
take_query(const struct ad_route *rt, const struct ad_http_in *in,
    json_t *args, char *why, size_t whylen)
{
	const char *spec = rt->query;

	while (spec != NULL && *spec != '\0') {
		char        name[32], type;
		size_t      n = strcspn(spec, ":");
		const char *v;
		char       *end;
		json_t     *val = NULL;

		snprintf(name, sizeof(name), "%.*s", (int)n, spec);
		type = spec[n + 1];
		spec += n + 2;
		if (*spec == ',')
			spec++;
		v = in->query != NULL ? in->query(in->query_arg, name) : NULL;
		if (v == NULL)
			continue;
		errno = 0;
		if (type == 's') {
			val = json_string(v);
		} else if (type == 'i') {
			long long i = strtoll(v, &end, 10);

			if (*v != '\0' && *end == '\0' && errno == 0)
				val = json_integer(i);
		} else if (type == 'f') {
			double d = strtod(v, &end);

			if (*v != '\0' && *end == '\0' && errno == 0)
				val = json_real(d);
		} else if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
			val = json_true();
		} else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
			val = json_false();
		}
		if (val == NULL) {
			snprintf(why, whylen, "?%s=%s: %s", name, v,
			    type == 's'       ? "not text"
			        : type == 'i' ? "not an integer"
			        : type == 'f' ? "not a number"
			                      : "use true or false");
			return AGENTD_EINVAL;
		}
		json_object_set_new(args, name, val);
	}
	return 0;
}

/* JSON text of the request body (any value); EINVAL with why. */
static json_t *
body_json(const struct ad_http_in *in, char *why, size_t whylen)
{
	json_error_t err;
	json_t      *j;

	if (in->len == 0) {
		snprintf(why, whylen, "a JSON body is needed");
		return NULL;
	}
	j = json_loadb(in->body, in->len, JSON_DECODE_ANY, &err);
	if (j == NULL)
		snprintf(why, whylen,
		    "the body is not JSON: line %d column %d: %s", err.line,
		    err.column, err.text);
	return j;
}

/* JSON as msgpack bytes into w; EINVAL with why when too deep. */
static int
to_mp(const json_t *j, agentd_writer *w, char *why, size_t whylen)
{
	int rv = ad_json_to_mp(j, w);

	if (rv == AGENTD_EINVAL)
		snprintf(why, whylen,
		    "the JSON is nested deeper than %d levels",
		    AGENTD_MSG_MAX_DEPTH);
	else if (rv != 0)
		snprintf(why, whylen, "%s", agentd_strerror(rv));
	return rv;
}

/* Does j fit msgpack's nesting as one value?  EINVAL with why if not. */
static int
fits(const json_t *j, char *why, size_t whylen)
{
	agentd_writer *w;
	int            rv;

	agentd_writer_new(&w);
	rv = to_mp(j, w, why, whylen);
	agentd_writer_free(w);
	return rv;
}

/*
 * The envelope r asks for, its body into w: the path's arguments, the
 * query's, the body's as the route says.  0, or an agentd code with why.
 */
int
ad_http_build(const struct ad_http_match *m, const struct ad_http_in *in,
    struct ad_envelope *e, agentd_writer *w, char *why, size_t whylen)
{
	const struct ad_route *rt   = m->route;
	json_t                *args = json_object(), *j = NULL;
	agentd_writer         *bin    = NULL;
	const char            *binkey = NULL;
	const void            *p;
	size_t                 i, len;
	int                    rv = 0;
	const char            *k;
	json_t                *v;

	memset(e, 0, sizeof(*e));
	e->id   = ad_envelope_next_id();
	e->kind = rt->op != NULL ? AD_KIND_CONTROL : AD_KIND_REQUEST;
	snprintf(e->dst, sizeof(e->dst), "%s", rt->op != NULL ? rt->op : "");
	if (rt->body != B_NONE && rt->body != B_CALL
	    && (in->len > 0 || rt->body != B_MERGE)) {
		if ((j = body_json(in, why, whylen)) == NULL) {
			rv = AGENTD_EINVAL;
			goto out;
		}
	}
	if (rt->body == B_MERGE && j != NULL) {
		if (!json_is_object(j)) {
			snprintf(
			    why, whylen, "the body must be a JSON object");
			rv = AGENTD_EINVAL;
			goto out;
		}
		/* Its members join the operation's map as deep as they are
		 * in the body: the body whole is what must fit msgpack's
		 * nesting, not each member alone. */
		if ((rv = fits(j, why, whylen)) != 0)
			goto out;
		json_object_update(args, j);
	} else if (rt->body == B_VAL || rt->body == B_EVENT) {
		json_t *val
		    = rt->body == B_VAL ? j : json_object_get(j, "body");

		if (rt->body == B_EVENT) {
			if (!json_is_object(j)
			    || !json_is_string(json_object_get(j, "topic"))
			    || val == NULL) {
				snprintf(why, whylen,
				    "an event is {\"topic\": \"...\", "
				    "\"body\": "
				    "JSON}");
				rv = AGENTD_EINVAL;
				goto out;
			}
			json_object_set(
			    args, "topic", json_object_get(j, "topic"));
		}
		agentd_writer_new(&bin);
		if ((rv = to_mp(val, bin, why, whylen)) != 0)
			goto out;
		binkey = rt->body == B_VAL ? "val" : "body";
	}
	if ((rv = take_query(rt, in, args, why, whylen)) != 0)
		goto out;
	for (i = 0; i < m->nargs; i++) {
		if (strcmp(m->arg[i].name, "agent") == 0 && rt->op == NULL) {
			if (m->arg[i].len >= sizeof(e->dst)) {
				rv = AGENTD_ENOENT;
				snprintf(why, whylen, "no such agent");
				goto out;
			}
			memcpy(e->dst, m->arg[i].val, m->arg[i].len);
			e->dst[m->arg[i].len] = '\0';
		} else if (strcmp(m->arg[i].name, "key") != 0) {
			json_object_set_new(args, m->arg[i].name,
			    json_stringn(m->arg[i].val, m->arg[i].len));
		}
	}
	if (rt->body == B_CALL) {
		json_int_t t
		    = json_integer_value(json_object_get(args, "timeout_ms"));
		int64_t ms = in->call_timeout_ms;

		if (t > 0 && t < ms)
			ms = t;
		e->deadline_ms = in->now_ms + ms;
		if (in->len > 0) {
			if ((j = body_json(in, why, whylen)) == NULL) {
				rv = AGENTD_EINVAL;
				goto out;
			}
			if ((rv = to_mp(j, w, why, whylen)) != 0)
				goto out;
		}
		goto out;
	}
	/* The operation's body: the arguments, and the bytes. */
	{
		uint32_t n   = (uint32_t)json_object_size(args);
		int      key = 0;
		int      scan
		    = rt->op != NULL && strcmp(rt->op, AD_OP_STATE_SCAN) == 0;

		for (i = 0; i < m->nargs; i++)
			key |= strcmp(m->arg[i].name, "key") == 0;
		agentd_write_map(w, n + (binkey != NULL) + key);
		json_object_foreach(args, k, v)
		{
			if (scan && strcmp(k, "prefix") == 0) {
				/* state.scan's prefix is its bin "key" */
				agentd_write_str(w, "key");
				agentd_write_bin(w, json_string_value(v),
				    json_string_length(v));
				continue;
			}
			agentd_write_str(w, k);
			if ((rv = to_mp(v, w, why, whylen)) != 0)
				goto out;
		}
		for (i = 0; i < m->nargs; i++)
			if (strcmp(m->arg[i].name, "key") == 0) {
				agentd_write_str(w, "key");
				agentd_write_bin(
				    w, m->arg[i].val, m->arg[i].len);
			}
		if (binkey != NULL) {
			p = agentd_writer_data(bin, &len);
			agentd_write_str(w, binkey);
			agentd_write_bin(w, p, len);
		}
	}
out:
	if (rv == 0) {
		e->body = agentd_writer_data(w, &e->body_len);
		if (e->body_len > in->max_body) {
			snprintf(why, whylen,
			    "%zu bytes as msgpack, over max_message_size "
			    "(%zu)",
			    e->body_len, in->max_body);
			rv = AGENTD_ETOOBIG;
		}
	}
	json_decref(args);
	json_decref(j);
	agentd_writer_free(bin);
	return rv;
}

int
ad_http_match(const char *method, const char *path, struct ad_http_match *m)
{
	const struct ad_route *found = NULL;
	size_t                 i, n = 0;

	memset(m, 0, sizeof(*m));
	/* http.c refuses such a path first (400); a caller that does not
	 * still never gets a route for it: {key*} would take "../x". */
	if (!ad_http_path_ok(path))
		return AGENTD_ENOENT;
	for (i = 0; i < NROUTES; i++) {
		if (!path_match(routes[i].path, path, m))
			continue;
		if (strcmp(routes[i].method, method) == 0)
			found = &routes[i];
		else if (n + strlen(routes[i].method) + 3 < sizeof(m->allow))
			n += (size_t)snprintf(m->allow + n,
			    sizeof(m->allow) - n, "%s%s", n ? ", " : "",
			    routes[i].method);
	}
	if (found == NULL)
		return m->allow[0] != '\0' ? AGENTD_EINVAL : AGENTD_ENOENT;
	path_match(found->path, path, m);
	m->route = found;
	return 0;
}

const char *
ad_route_method(const struct ad_route *r)
{
	return r->method;
}

const char *
ad_route_path(const struct ad_route *r)
{
	return r->path;
}

const char *
ad_route_query(const struct ad_route *r)
{
	return r->query != NULL ? r->query : "";
}

const struct ad_route *
ad_route_at(size_t i)
{
	return i < NROUTES ? &routes[i] : NULL;
}
