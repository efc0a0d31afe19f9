/*
 * fuzz_http_route - libFuzzer harness for what an HTTP request asks for
 * (supervisor/http_route.c): the path check, the route match, the
 * request -> envelope building and the answer's msgpack -> JSON shaping,
 * which every request of the HTTP API goes through before any token is
 * checked.
 *
 * The input: one byte of flags, then "METHOD\nPATH\nQUERY\nBODY" (BODY
 * is the rest, newlines and all; QUERY is "name=value&..." as decoded).
 * Flags: bit 0, the rest is an answer's msgpack shaped for the route the
 * next byte picks; bit 1, PATH is not the path but the value of every
 * argument of the route the next byte picks (its pattern filled in, its
 * method), so that the building is reached whatever the path; bits 2-3,
 * max_message_size (64, 1024, 4096 or 1 MiB).
 *
 * What must hold for any input: no crash, no leak; ad_http_path_ok
 * refuses every path with an empty, "." or ".." segment or a control
 * byte, and ad_http_match never matches one; a match is of the method,
 * and its arguments are non-empty pieces of the path; ad_http_build
 * answers 0 or EINVAL, ENOENT, ETOOBIG with a line in why; an envelope
 * it builds is within max_message_size, its body one msgpack value
 * (agentd_parse) -- for an operation a map of distinct string keys --
 * and it encodes and decodes back (bus/envelope.c) to the same fields;
 * ad_http_shape answers JSON that prints.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>
#include <jansson.h>

#include "bus/envelope.h"
#include "supervisor/http_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_SHAPE 0x01
#define F_TEMPLATE 0x02

static const size_t max_bodies[] = { 64, 1024, 4096, 1 << 20 };

static size_t
nroutes(void)
{
	size_t n = 0;

	while (ad_route_at(n) != NULL)
		n++;
	return n;
}

/* ---- the query, as MHD would hand it over -------------------------- */

struct query {
	const char *text; /* "a=1&b=2", NUL-terminated */
};

/* The value of name's first "name=value" in q, in a static buffer. */
static const char *
query_get(void *arg, const char *name)
{
	static char         val[512];
	const struct query *q    = arg;
	const char         *s    = q->text;
	size_t              nlen = strlen(name);

	while (*s != '\0') {
		size_t      n  = strcspn(s, "&");
		const char *eq = memchr(s, '=', n);

		if (eq != NULL && (size_t)(eq - s) == nlen
		    && memcmp(s, name, nlen) == 0) {
			size_t vlen = n - nlen - 1;

			if (vlen >= sizeof(val))
				vlen = sizeof(val) - 1;
			memcpy(val, eq + 1, vlen);
			val[vlen] = '\0';
			return val;
		}
		s += n;
		if (*s == '&')
			s++;
	}
	return NULL;
}

/* ---- invariants ------------------------------------------------------ */

/* Has path an empty, "." or ".." segment, or a control byte? */
static int
bad_path(const char *path)
{
	const char *s;

	if (path[0] != '/')
		return 1;
	for (s = path; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	for (s = path + 1;; s++) {
		size_t n = strcspn(s, "/");

		if (s[n] == '\0')
			/* the last one: a trailing "/" is no route's, but
			 * not a segment that walks */
			return (n == 1 && s[0] == '.')
			    || (n == 2 && memcmp(s, "..", 2) == 0);
		if (n == 0 || (n == 1 && s[0] == '.')
		    || (n == 2 && memcmp(s, "..", 2) == 0))
			return 1;
		s += n;
	}
}

static void
check_match(const char *method, const char *path, int rv,
    const struct ad_http_match *m)
{
	size_t i, plen = strlen(path);

	if (rv != 0 && rv != AGENTD_ENOENT && rv != AGENTD_EINVAL)
		abort();
	if (rv == AGENTD_EINVAL && m->allow[0] == '\0')
		abort();
	if (rv != 0)
		return;
	if (bad_path(path) || m->route == NULL
	    || strcmp(ad_route_method(m->route), method) != 0)
		abort();
	for (i = 0; i < m->nargs; i++)
		if (m->arg[i].len == 0 || m->arg[i].val < path
		    || m->arg[i].val + m->arg[i].len > path + plen)
			abort();
}

/* A map of string keys, none twice. */
static void
check_op_body(const struct ad_envelope *e)
{
	agentd_doc         *doc;
	const agentd_value *root;
	size_t              i, j, n;

	if (agentd_parse(e->body, e->body_len, &doc) != 0)
		abort();
	root = agentd_doc_root(doc);
	if (agentd_type_of(root) != AGENTD_T_MAP)
		abort();
	n = agentd_len(root);
	for (i = 0; i < n; i++) {
		const char *k, *k2;
		size_t      klen, k2len;

		if (agentd_get_str(agentd_map_key_at(root, i), &k, &klen) != 0)
			abort();
		for (j = i + 1; j < n; j++)
			if (agentd_get_str(
			        agentd_map_key_at(root, j), &k2, &k2len)
			        == 0
			    && klen == k2len && memcmp(k, k2, klen) == 0)
				abort();
	}
	agentd_doc_free(doc);
}

static void
check_envelope(const struct ad_envelope *e, size_t max_body)
{
	agentd_writer     *w;
	const void        *p;
	size_t             n;
	struct ad_envelope back;
	agentd_doc        *doc;

	if (e->body_len > max_body || e->dst[0] == '\0')
		abort();
	if (e->kind == AD_KIND_CONTROL)
		check_op_body(e);
	else if (e->kind != AD_KIND_REQUEST)
		abort();
	else if (e->body_len > 0) {
		if (agentd_parse(e->body, e->body_len, &doc) != 0)
			abort();
		agentd_doc_free(doc);
	}
	if (agentd_writer_new(&w) != 0 || ad_envelope_encode(e, w) != 0)
		abort();
	p = agentd_writer_data(w, &n);
	if (ad_envelope_decode(p, n, SIZE_MAX, &back) != 0
	    || back.kind != e->kind || back.id != e->id
	    || strcmp(back.dst, e->dst) != 0
	    || back.deadline_ms != e->deadline_ms
	    || back.body_len != e->body_len
	    || (e->body_len > 0
	        && memcmp(back.body, e->body, e->body_len) != 0))
		abort();
	agentd_writer_free(w);
}

/* ---- one request ----------------------------------------------------- */

static void
request(const char *method, const char *path, const char *query,
    const char *body, size_t len, size_t max_body)
{
	struct ad_http_match m;
	struct ad_http_in    in;
	struct ad_envelope   e;
	struct query         q = { query };
	agentd_writer       *w;
	char                 why[256];
	int                  ok, rv;

	ok = ad_http_path_ok(path);
	if (ok && bad_path(path))
		abort();
	rv = ad_http_match(method, path, &m);
	check_match(method, path, rv, &m);
	if (!ok || rv != 0)
		return;
	memset(&in, 0, sizeof(in));
	in.query           = query_get;
	in.query_arg       = &q;
	in.body            = body;
	in.len             = len;
	in.max_body        = max_body;
	in.call_timeout_ms = 30000;
	in.now_ms          = 1700000000000;
	if (agentd_writer_new(&w) != 0)
		abort();
	why[0] = '\0';
	rv     = ad_http_build(&m, &in, &e, w, why, sizeof(why));
	if (rv == 0)
		check_envelope(&e, max_body);
	else if ((rv != AGENTD_EINVAL && rv != AGENTD_ENOENT
	             && rv != AGENTD_ETOOBIG)
	    || why[0] == '\0')
		abort();
	agentd_writer_free(w);
}

/* The route's pattern with every argument val, into out (NUL-ended). */
static void
fill(const char *pattern, const char *val, char *out, size_t outlen)
{
	size_t n = 0, vlen = strlen(val);

	while (*pattern != '\0' && n + 1 < outlen) {
		if (*pattern == '{') {
			const char *close = strchr(pattern, '}');

			if (n + vlen >= outlen)
				break;
			memcpy(out + n, val, vlen);
			n += vlen;
			pattern = close + 1;
			continue;
		}
		out[n++] = *pattern++;
	}
	out[n] = '\0';
}

static void
shape(const struct ad_route *r, const uint8_t *mp, size_t len)
{
	json_t *j = ad_http_shape(r, mp, len);
	char   *text;

	if (j == NULL)
		abort();
	text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	if (text == NULL)
		abort();
	free(text);
	json_decref(j);
}

/* The next line of s (len bytes) into a new string; s and len move on. */
static char *
line(const uint8_t **s, size_t *len)
{
	const uint8_t *nl = memchr(*s, '\n', *len);
	size_t         n  = nl != NULL ? (size_t)(nl - *s) : *len;
	char          *out;

	if ((out = malloc(n + 1)) == NULL)
		abort();
	memcpy(out, *s, n);
	out[n] = '\0';
	*s += n + (nl != NULL);
	*len -= n + (nl != NULL);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ad_route *r = NULL;
	char                  *method, *path, *query, *body, full[1024];
	uint8_t                flags;
	size_t                 max_body;

	if (size < 2)
		return 0;
	flags    = data[0];
	max_body = max_bodies[(flags >> 2) & 3];
	if (flags & (F_SHAPE | F_TEMPLATE))
		r = ad_route_at(data[1] % nroutes());
	if (flags & F_SHAPE) {
		/* data[1] == 255: no route, as /metrics answers */
		shape(data[1] == 255 ? NULL : r, data + 2, size - 2);
		return 0;
	}
	data += 1 + ((flags & F_TEMPLATE) != 0);
	size -= 1 + ((flags & F_TEMPLATE) != 0);
	method = line(&data, &size);
	path   = line(&data, &size);
	query  = line(&data, &size);
	/* The body, not NUL-terminated as MHD hands it over: a copy of
	 * its own so that ASan sees a read past its end. */
	if ((body = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(body, data, size);
	if (flags & F_TEMPLATE) {
		fill(ad_route_path(r), path, full, sizeof(full));
		request(ad_route_method(r), full, query, body, size, max_body);
	} else {
		request(method, path, query, body, size, max_body);
	}
	free(method);
	free(path);
	free(query);
	free(body);
	return 0;
}
