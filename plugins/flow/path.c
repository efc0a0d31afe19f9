/*
 * path.c - the values of a step's input: literals and paths.
 *
 * A value starting with "$" is a path: "$input" is the run's input,
 * "$NAME" the output of the step whose output is NAME, and ".KEY"
 * segments go into maps (".0", ".1" into arrays).  "$$x" is the literal
 * "$x".  A literal is an integer, a number with a dot, true, false, null
 * or else a string.  A `when` is a path (true unless missing, nil, false,
 * 0, "" or empty), "!PATH", or "PATH == LITERAL" / "PATH != LITERAL".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"

static int
is_path(const char *v)
{
	return v[0] == '$' && v[1] != '$';
}

/* The root name of path p ("$scout.sku" -> "scout"), into buf. */
static int
root_of(const char *p, char *buf, size_t size)
{
	size_t n = strcspn(p + 1, ".");

	if (n == 0 || n >= size)
		return -1;
	memcpy(buf, p + 1, n);
	buf[n] = '\0';
	return 0;
}

static int
root_index(const struct flow_def *d, const char *root)
{
	for (size_t i = 0; i < d->nsteps; i++)
		if (strcmp(d->steps[i].output, root) == 0)
			return (int)i;
	return -1;
}

int
flow_path_check(
    const struct flow_def *d, const char *value, char *err, size_t errlen)
{
	char        root[AGENTD_NAME_MAX + 1];
	const char *s;

	if (!is_path(value))
		return 0;
	if (root_of(value, root, sizeof(root)) != 0) {
		snprintf(err, errlen, "\"%s\" is not a path ($input.KEY...)",
		    value);
		return -1;
	}
	for (s = value + 1; *s != '\0'; s++)
		if (s[0] == '.' && (s[1] == '.' || s[1] == '\0')) {
			snprintf(
			    err, errlen, "\"%s\" has an empty segment", value);
			return -1;
		}
	if (strcmp(root, "input") != 0 && root_index(d, root) < 0) {
		snprintf(err, errlen,
		    "\"%s\": no step has output \"%s\" (paths start with "
		    "$input or a step's output)",
		    value, root);
		return -1;
	}
	return 0;
}

/* A condition split into path, operator (0, '=', '!', or 'n' for "!P")
 * and literal. */
struct cond {
	char        path[512];
	int         op;
	const char *lit;
};

static int
cond_split(const char *c, struct cond *out)
{
	const char *eq = strstr(c, " == "), *ne = strstr(c, " != ");
	const char *at = eq != NULL ? eq : ne;
	size_t      n;

	out->op  = 0;
	out->lit = NULL;
	if (c[0] == '!') {
		out->op = 'n';
		c++;
	}
	if (at != NULL) {
		if (out->op != 0)
			return -1;
		out->op  = at == eq ? '=' : '!';
		out->lit = at + 4;
		n        = (size_t)(at - c);
	} else
		n = strlen(c);
	if (n >= sizeof(out->path))
		return -1;
	memcpy(out->path, c, n);
	out->path[n] = '\0';
	return is_path(out->path) ? 0 : -1;
}

int
flow_cond_check(
    const struct flow_def *d, const char *cond, char *err, size_t errlen)
{
	struct cond c;

	if (cond_split(cond, &c) != 0) {
		snprintf(err, errlen,
		    "\"%s\" is not PATH, !PATH, PATH == VALUE or "
		    "PATH != VALUE",
		    cond);
		return -1;
	}
	return flow_path_check(d, c.path, err, errlen);
}

int
flow_write_literal(agentd_writer *w, const char *t)
{
	char     *end;
	long long i;
	double    x;

	if (t[0] == '$' && t[1] == '$')
		return agentd_write_str(w, t + 1);
	if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0)
		return agentd_write_bool(w, t[0] == 't');
	if (strcmp(t, "null") == 0)
		return agentd_write_nil(w);
	errno = 0;
	i     = strtoll(t, &end, 10);
	if (t[0] != '\0' && *end == '\0' && errno == 0)
		return agentd_write_int(w, i);
	x = strtod(t, &end);
	if (t[0] != '\0' && *end == '\0' && strchr(t, '.') != NULL
	    && isfinite(x))
		return agentd_write_double(w, x);
	return agentd_write_str(w, t);
}

/*
 * Resolve path p in scope s: *doc (caller owns, agentd_doc_free) holds
 * *v.  AGENTD_ENOENT with a reason in err when it leads nowhere.
 */
static int
resolve(const struct flow_scope *s, const char *p, agentd_doc **doc,
    const agentd_value **v, char *err, size_t errlen)
{
	char        root[AGENTD_NAME_MAX + 1], seg[256];
	const void *buf;
	size_t      len;
	const char *at;
	int         i;

	*doc = NULL;
	if (root_of(p, root, sizeof(root)) != 0)
		return AGENTD_EINVAL;
	if (strcmp(root, "input") == 0) {
		buf = s->input;
		len = s->input_len;
	} else if ((i = root_index(s->def, root)) >= 0
	    && s->outputs[i] != NULL) {
		buf = s->outputs[i];
		len = s->output_lens[i];
	} else {
		snprintf(err, errlen, "%s: step \"%s\" has no output yet", p,
		    i >= 0 ? s->def->steps[i].name : root);
		return AGENTD_ENOENT;
	}
	if (agentd_parse(buf, len, doc) != 0) {
		snprintf(err, errlen, "%s: \"%s\" is not msgpack", p, root);
		return AGENTD_EPROTO;
	}
	*v = agentd_doc_root(*doc);
	for (at = p + 1 + strlen(root); *at == '.'; at += 1 + strlen(seg)) {
		size_t      n = strcspn(at + 1, ".");
		char       *end;
		const char *kind;

		if (n >= sizeof(seg))
			n = sizeof(seg) - 1;
		memcpy(seg, at + 1, n);
		seg[n] = '\0';
		if (agentd_type_of(*v) == AGENTD_T_ARRAY) {
			unsigned long k = strtoul(seg, &end, 10);

			*v = *end == '\0' && seg[0] != '\0'
			    ? agentd_array_at(*v, k)
			    : NULL;
		} else
			*v = agentd_map_get(*v, seg);
		if (*v == NULL) {
			kind = "no key";
			snprintf(err, errlen,
			    "%s: %s \"%s\" in the output of \"%s\"", p, kind,
			    seg, root);
			agentd_doc_free(*doc);
			*doc = NULL;
			return AGENTD_ENOENT;
		}
	}
	return 0;
}

int
flow_build_fields(const struct flow_scope *s, const struct flow_field *f,
    size_t n, agentd_writer *w, size_t extra, char *err, size_t errlen)
{
	agentd_doc         *doc;
	const agentd_value *v;
	int                 rv;

	agentd_write_map(w, (uint32_t)(n + extra));
	for (size_t i = 0; i < n; i++) {
		agentd_write_str(w, f[i].name);
		if (!is_path(f[i].value)) {
			flow_write_literal(w, f[i].value);
			continue;
		}
		if ((rv = resolve(s, f[i].value, &doc, &v, err, errlen)) != 0)
			return rv;
		rv = agentd_write_value(w, v);
		agentd_doc_free(doc);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static int
truthy(const agentd_value *v)
{
	int64_t     i;
	double      x;
	int         b;
	const char *p;
	size_t      n;

	switch (agentd_type_of(v)) {
	case AGENTD_T_NIL:
		return 0;
	case AGENTD_T_BOOL:
		return agentd_get_bool(v, &b) == 0 && b;
	case AGENTD_T_INT:
		return agentd_get_int(v, &i) != 0 || i != 0;
	case AGENTD_T_DOUBLE:
		return agentd_get_double(v, &x) == 0 && x != 0;
	case AGENTD_T_STR:
		return agentd_get_str(v, &p, &n) == 0 && n > 0;
	case AGENTD_T_ARRAY:
	case AGENTD_T_MAP:
		return agentd_len(v) > 0;
	default:
		return 1;
	}
}

/* Is v the literal lit, as flow_write_literal() would write it? */
static int
equals(const agentd_value *v, const char *lit)
{
	agentd_writer      *w;
	agentd_doc         *doc;
	const void         *data;
	size_t              len, n1, n2;
	const agentd_value *l;
	const char         *s1, *s2;
	double              x1, x2;
	int                 b1, b2, eq = 0;

	agentd_writer_new(&w);
	flow_write_literal(w, lit);
	data = agentd_writer_data(w, &len);
	if (agentd_parse(data, len, &doc) == 0) {
		l = agentd_doc_root(doc);
		if (agentd_get_str(v, &s1, &n1) == 0)
			eq = agentd_get_str(l, &s2, &n2) == 0 && n1 == n2
			    && memcmp(s1, s2, n1) == 0;
		else if (agentd_get_bool(v, &b1) == 0)
			eq = agentd_get_bool(l, &b2) == 0 && b1 == b2;
		else if (agentd_get_double(v, &x1) == 0)
			eq = agentd_get_double(l, &x2) == 0 && x1 == x2;
		else
			eq = agentd_type_of(v) == AGENTD_T_NIL
			    && agentd_type_of(l) == AGENTD_T_NIL;
		agentd_doc_free(doc);
	}
	agentd_writer_free(w);
	return eq;
}

int
flow_when(const struct flow_scope *s, const char *cond, int *truth, char *err,
    size_t errlen)
{
	struct cond         c;
	agentd_doc         *doc;
	const agentd_value *v = NULL;
	int                 rv;

	if (cond == NULL) {
		*truth = 1;
		return 0;
	}
	if (cond_split(cond, &c) != 0) {
		snprintf(err, errlen, "\"%s\" is not a condition", cond);
		return AGENTD_EINVAL;
	}
	rv = resolve(s, c.path, &doc, &v, err, errlen);
	if (rv != 0 && rv != AGENTD_ENOENT)
		return rv;
	if (rv == AGENTD_ENOENT)
		v = NULL; /* missing: false, and not equal to anything */
	switch (c.op) {
	case 'n':
		*truth = v == NULL || !truthy(v);
		break;
	case '=':
		*truth = v != NULL && equals(v, c.lit);
		break;
	case '!':
		*truth = v == NULL || !equals(v, c.lit);
		break;
	default:
		*truth = v != NULL && truthy(v);
	}
	agentd_doc_free(doc);
	return 0;
}
