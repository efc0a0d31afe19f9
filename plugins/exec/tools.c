/*
 * tools.c - the tools_file (doc/exec.md "The tools file"): tools, their
 * argv templates and typed parameters, read once at init.
 *
 * What must stay true: a parameter is always exactly one whole argv
 * element of the template (never inside other text, never argv[0]);
 * argv[0] is an absolute path, never looked up in PATH; every key of the
 * file is known (a typo is an error, not a default).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "exec.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_OUTPUT_MAX 65536
#define DEFAULT_STRING_MAX 256

/* Where in the file a load is: for its one error line. */
struct loader {
	const char *file;
	char       *err;
	size_t      errlen;
};

static int
bad(struct loader *l, const char *where, const char *fmt, ...)
{
	char    what[EXEC_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "%s: %s: %s", l->file, where, what);
	return AGENTD_ECONFIG;
}

char *
exec_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "exec: out of memory\n");
		abort();
	}
	return d;
}

void *
exec_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size);

	if (p == NULL) {
		fprintf(stderr, "exec: out of memory\n");
		abort();
	}
	return p;
}

/* Every key of obj is one of keys (NULL-terminated): typos are errors. */
static int
known_keys(
    struct loader *l, const char *where, json_t *obj, const char *const *keys)
{
	const char *k;
	json_t     *v;
	size_t      i;

	json_object_foreach(obj, k, v)
	{
		for (i = 0; keys[i] != NULL && strcmp(keys[i], k) != 0; i++)
			;
		if (keys[i] == NULL)
			return bad(l, where, "unknown key \"%s\"", k);
	}
	return 0;
}

/* A name of a tool or parameter: [A-Za-z0-9_.-], 1 to 63 bytes. */
static int
good_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > AGENTD_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z')
		    && !(s[i] >= 'A' && s[i] <= 'Z')
		    && !(s[i] >= '0' && s[i] <= '9') && s[i] != '_'
		    && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

static int
get_uint(struct loader *l, const char *where, json_t *obj, const char *key,
    uint64_t min, uint64_t max, uint64_t dflt, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0
	    || (uint64_t)json_integer_value(v) < min
	    || (uint64_t)json_integer_value(v) > max)
		return bad(l, where,
		    "\"%s\" must be an integer from %" PRIu64 " to %" PRIu64,
		    key, min, max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A JSON array of strings, copied: *out NULL-terminated. */
static int
get_strings(
    struct loader *l, const char *where, json_t *arr, char ***out, size_t *n)
{
	size_t  i;
	json_t *v;

	if (!json_is_array(arr))
		return bad(l, where, "must be an array of strings");
	*n   = json_array_size(arr);
	*out = exec_xcalloc(*n + 1, sizeof(char *));
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v)
		    || strlen(json_string_value(v)) != json_string_length(v))
			return bad(l, where,
			    "element %zu must be a string without NUL", i);
		(*out)[i] = exec_xstrdup(json_string_value(v));
	}
	return 0;
}

static void
strings_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* ---- parameters --------------------------------------------------------- */

static const char *const param_types[]
    = { "string", "int", "enum", "path", NULL };

static int
param_string(
    struct loader *l, const char *where, json_t *o, struct exec_param *p)
{
	json_t  *pat = json_object_get(o, "pattern");
	uint64_t max;
	char     anchored[EXEC_STRING_MAX + 8], msg[256];
	int      rv;

	if ((rv = get_uint(l, where, o, "max_len", 1, EXEC_STRING_MAX,
	         DEFAULT_STRING_MAX, &max))
	    != 0)
		return rv;
	p->max_len = (size_t)max;
	if (pat == NULL)
		return bad(l, where,
		    "a string parameter needs a \"pattern\" (POSIX extended, "
		    "matched against the whole value)");
	if (!json_is_string(pat) || json_string_length(pat) > EXEC_STRING_MAX)
		return bad(l, where, "\"pattern\" must be a string");
	/* Anchored here, so that the pattern is the whole value's. */
	snprintf(anchored, sizeof(anchored), "^(%s)$", json_string_value(pat));
	if ((rv = regcomp(&p->re, anchored, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rv, &p->re, msg, sizeof(msg));
		return bad(l, where, "\"pattern\": %s", msg);
	}
	p->has_re = 1;
	return 0;
}

static int
param_int(struct loader *l, const char *where, json_t *o, struct exec_param *p)
{
	json_t *min = json_object_get(o, "min"),
	       *max = json_object_get(o, "max");

	if (!json_is_integer(min) || !json_is_integer(max)
	    || json_integer_value(min) > json_integer_value(max))
		return bad(l, where,
		    "an int parameter needs integers \"min\" and \"max\", "
		    "min <= max");
	p->min = json_integer_value(min);
	p->max = json_integer_value(max);
	return 0;
}

static int
param_enum(
    struct loader *l, const char *where, json_t *o, struct exec_param *p)
{
	json_t *v = json_object_get(o, "values");
	int     rv;

	if (v == NULL || json_array_size(v) == 0)
		return bad(l, where,
		    "an enum parameter needs \"values\": an array of strings");
	if ((rv = get_strings(l, where, v, &p->values, &p->nvalues)) != 0)
		return rv;
	return 0;
}

static int
param_path(
    struct loader *l, const char *where, json_t *o, struct exec_param *p)
{
	json_t     *root = json_object_get(o, "root");
	struct stat st;
	char       *real;

	if (!json_is_string(root) || json_string_value(root)[0] != '/')
		return bad(l, where,
		    "a path parameter needs \"root\": an absolute directory");
	real = realpath(json_string_value(root), NULL);
	if (real == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return bad(l, where,
		    "root \"%s\" is not a directory this agent can read "
		    "(paths { read } or { write } in its .conf)",
		    json_string_value(root));
	}
	p->root = real;
	return 0;
}

static int
param_default(
    struct loader *l, const char *where, json_t *o, struct exec_param *p)
{
	json_t        *d = json_object_get(o, "default");
	agentd_writer *w;
	agentd_doc    *doc = NULL;
	const void    *buf;
	size_t         len;
	char           why[EXEC_ERR_MAX];
	int            rv;

	if (d == NULL)
		return 0;
	/* Checked as a request's value would be: one set of rules. */
	agentd_writer_new(&w);
	if (json_is_integer(d))
		agentd_write_int(w, json_integer_value(d));
	else if (json_is_string(d))
		agentd_write_strn(
		    w, json_string_value(d), json_string_length(d));
	else
		agentd_write_nil(w);
	buf = agentd_writer_data(w, &len);
	rv  = agentd_parse(buf, len, &doc);
	if (rv == 0)
		rv = exec_param_check(
		    p, agentd_doc_root(doc), &p->def, why, sizeof(why));
	agentd_doc_free(doc);
	agentd_writer_free(w);
	return rv == 0 ? 0 : bad(l, where, "\"default\": %s", why);
}

static int
load_param(struct loader *l, const char *tool, const char *name, json_t *o,
    struct exec_param *p)
{
	static const char *const keys[]
	    = { "type", "pattern", "max_len", "allow_dash", "min", "max",
		      "values", "root", "default", NULL };
	char        where[256];
	const char *type;
	size_t      t;
	int         rv;

	snprintf(where, sizeof(where), "tools.%s.params.%s", tool, name);
	p->name = exec_xstrdup(name);
	if (!good_name(name))
		return bad(l, where,
		    "a parameter's name is 1 to 63 of "
		    "[A-Za-z0-9_.-]");
	if (!json_is_object(o))
		return bad(l, where, "must be an object");
	if ((rv = known_keys(l, where, o, keys)) != 0)
		return rv;
	type = json_string_value(json_object_get(o, "type"));
	for (t = 0; type != NULL && param_types[t] != NULL
	     && strcmp(param_types[t], type) != 0;
	     t++)
		;
	if (type == NULL || param_types[t] == NULL)
		return bad(l, where,
		    "\"type\" must be one of string, int, enum, path");
	p->type       = (enum exec_param_type)t;
	p->allow_dash = json_is_true(json_object_get(o, "allow_dash"));
	switch (p->type) {
	case EXEC_PARAM_STRING:
		rv = param_string(l, where, o, p);
		break;
	case EXEC_PARAM_INT:
		rv = param_int(l, where, o, p);
		break;
	case EXEC_PARAM_ENUM:
		rv = param_enum(l, where, o, p);
		break;
	case EXEC_PARAM_PATH:
		rv = param_path(l, where, o, p);
		break;
	}
	return rv != 0 ? rv : param_default(l, where, o, p);
}

static void
param_free(struct exec_param *p)
{
	free(p->name);
	if (p->has_re)
		regfree(&p->re);
	strings_free(p->values);
	free(p->root);
	free(p->def);
}

/* ---- tools -------------------------------------------------------------- */

int
exec_tool_param(const struct exec_tool *t, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < t->nparams; i++)
		if (strlen(t->params[i].name) == len
		    && memcmp(t->params[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* argv: literals, and "{name}" elements naming a parameter, whole. */
static int
load_argv(
    struct loader *l, const char *where, json_t *arr, struct exec_tool *t)
{
	size_t i, len;
	int    rv;

	if (json_array_size(arr) == 0 || json_array_size(arr) > EXEC_ARGV_MAX)
		return bad(l, where,
		    "\"argv\" must be an array of 1 to %d "
		    "strings",
		    EXEC_ARGV_MAX);
	if ((rv = get_strings(l, where, arr, &t->argv, &t->argc)) != 0)
		return rv;
	if (t->argv[0][0] != '/')
		return bad(l, where,
		    "argv[0] \"%s\" must be an absolute path (no PATH search)",
		    t->argv[0]);
	t->argp = exec_xcalloc(t->argc, sizeof(int));
	for (i = 0; i < t->argc; i++) {
		len        = strlen(t->argv[i]);
		t->argp[i] = -1;
		if (strchr(t->argv[i], '{') == NULL
		    && strchr(t->argv[i], '}') == NULL)
			continue;
		if (i == 0 || len < 3 || t->argv[i][0] != '{'
		    || t->argv[i][len - 1] != '}')
			return bad(l, where,
			    "argv[%zu] \"%s\": a parameter is a whole "
			    "element, "
			    "\"{name}\" (not inside other text, not argv[0])",
			    i, t->argv[i]);
		if ((t->argp[i] = exec_tool_param(t, t->argv[i] + 1, len - 2))
		    < 0)
			return bad(l, where,
			    "argv[%zu] \"%s\" names no parameter of "
			    "\"params\"",
			    i, t->argv[i]);
	}
	return 0;
}

/* envp: the worker's own value of each allowed name, then env_set. */
static int
load_env(struct loader *l, const char *where, json_t *o, struct exec_tool *t)
{
	json_t     *allow = json_object_get(o, "env"), *set, *v;
	char      **names = NULL;
	size_t      n = 0, i, k = 0;
	const char *key, *val;
	int         rv = 0;

	set = json_object_get(o, "env_set");
	if (allow != NULL
	    && (rv = get_strings(l, where, allow, &names, &n)) != 0)
		return rv;
	if (set != NULL && !json_is_object(set)) {
		strings_free(names);
		return bad(l, where, "\"env_set\" must map names to strings");
	}
	t->envp = exec_xcalloc(n + json_object_size(set) + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		if ((val = getenv(names[i])) == NULL)
			continue;
		if (asprintf(&t->envp[k++], "%s=%s", names[i], val) < 0)
			abort();
	}
	strings_free(names);
	json_object_foreach(set, key, v)
	{
		if (!json_is_string(v) || strchr(key, '=') != NULL
		    || key[0] == '\0')
			return bad(l, where,
			    "\"env_set\": \"%s\" must be a name (no =) with a "
			    "string value",
			    key);
		if (asprintf(&t->envp[k++], "%s=%s", key, json_string_value(v))
		    < 0)
			abort();
	}
	return 0;
}

static int
load_cwd(struct loader *l, const char *where, json_t *o, struct exec_tool *t)
{
	json_t     *cwd = json_object_get(o, "cwd");
	struct stat st;

	if (cwd == NULL) {
		t->cwd = exec_xstrdup("/");
		return 0;
	}
	if (!json_is_string(cwd) || json_string_value(cwd)[0] != '/')
		return bad(l, where, "\"cwd\" must be an absolute path");
	if (stat(json_string_value(cwd), &st) != 0 || !S_ISDIR(st.st_mode))
		return bad(l, where,
		    "cwd \"%s\" is not a directory this agent can reach "
		    "(paths { read } or { write } in its .conf)",
		    json_string_value(cwd));
	t->cwd = exec_xstrdup(json_string_value(cwd));
	return 0;
}

static int
load_limits(
    struct loader *l, const char *where, json_t *o, struct exec_tool *t)
{
	const char *ov = json_string_value(json_object_get(o, "overflow"));
	uint64_t    v;
	int         rv;

	if ((rv = get_uint(l, where, o, "timeout_ms", 1, AGENTD_TIMER_MAX_MS,
	         DEFAULT_TIMEOUT_MS, &t->timeout_ms))
	        != 0
	    || (rv = get_uint(l, where, o, "output_max", 0, EXEC_OUTPUT_MAX,
	            DEFAULT_OUTPUT_MAX, &v))
	        != 0)
		return rv;
	t->output_max = (size_t)v;
	if (json_object_get(o, "overflow") != NULL && ov == NULL)
		return bad(
		    l, where, "\"overflow\" must be \"kill\" or \"drain\"");
	if (ov == NULL || strcmp(ov, "kill") == 0)
		t->overflow_kill = 1;
	else if (strcmp(ov, "drain") != 0)
		return bad(
		    l, where, "\"overflow\" must be \"kill\" or \"drain\"");
	return 0;
}

static int
load_tool(struct loader *l, const char *name, json_t *o, struct exec_tool *t)
{
	static const char *const keys[]
	    = { "argv", "params", "cwd", "env", "env_set", "timeout_ms",
		      "output_max", "overflow", "callers", NULL };
	json_t     *params, *v;
	const char *pname;
	char        where[128];
	size_t      i = 0;
	int         rv;

	snprintf(where, sizeof(where), "tools.%s", name);
	t->name = exec_xstrdup(name);
	if (!good_name(name))
		return bad(
		    l, where, "a tool's name is 1 to 63 of [A-Za-z0-9_.-]");
	if (!json_is_object(o))
		return bad(l, where, "must be an object");
	if ((rv = known_keys(l, where, o, keys)) != 0)
		return rv;
	params = json_object_get(o, "params");
	if (params != NULL
	    && (!json_is_object(params)
	        || json_object_size(params) > EXEC_PARAMS_MAX))
		return bad(l, where,
		    "\"params\" must be an object of at most "
		    "%d parameters",
		    EXEC_PARAMS_MAX);
	t->params = exec_xcalloc(json_object_size(params), sizeof(*t->params));
	json_object_foreach(params, pname, v)
	{
		t->nparams = i + 1;
		if ((rv = load_param(l, name, pname, v, &t->params[i++])) != 0)
			return rv;
	}
	if ((rv = load_argv(l, where, json_object_get(o, "argv"), t)) != 0
	    || (rv = load_cwd(l, where, o, t)) != 0
	    || (rv = load_env(l, where, o, t)) != 0
	    || (rv = load_limits(l, where, o, t)) != 0)
		return rv;
	if (json_array_size(json_object_get(o, "callers")) == 0)
		return bad(l, where,
		    "\"callers\" must list the agents that may run it "
		    "(\"agentctl\", \"http\", or \"*\" for any)");
	return get_strings(l, where, json_object_get(o, "callers"),
	    &t->callers, &t->ncallers);
}

static void
tool_free(struct exec_tool *t)
{
	size_t i;

	free(t->name);
	strings_free(t->argv);
	free(t->argp);
	for (i = 0; i < t->nparams; i++)
		param_free(&t->params[i]);
	free(t->params);
	free(t->cwd);
	strings_free(t->envp);
	strings_free(t->callers);
}

void
exec_tools_free(struct exec_tools *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		tool_free(&t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

int
exec_tools_load(
    const char *path, struct exec_tools *out, char *err, size_t errlen)
{
	struct loader l = { path, err, errlen };
	json_error_t  je;
	json_t       *root, *tools, *v;
	const char   *name;
	size_t        i  = 0;
	int           rv = 0;

	memset(out, 0, sizeof(*out));
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL && je.line < 1) /* not read at all */
		snprintf(err, errlen,
		    "%s (is it in the agent's paths { read }, and readable "
		    "by the plugin user?)",
		    je.text);
	else if (root == NULL)
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
	if (root == NULL)
		return AGENTD_ECONFIG;
	tools = json_object_get(root, "tools");
	if (!json_is_object(root) || json_object_size(root) != 1
	    || !json_is_object(tools) || json_object_size(tools) == 0)
		rv = bad(&l, "top",
		    "the file is one object, {\"tools\": "
		    "{NAME: {...}, ...}}, with one tool at least");
	if (rv == 0)
		out->v
		    = exec_xcalloc(json_object_size(tools), sizeof(*out->v));
	json_object_foreach(tools, name, v)
	{
		if (rv != 0)
			break;
		out->n = i + 1;
		rv     = load_tool(&l, name, v, &out->v[i++]);
	}
	json_decref(root);
	if (rv != 0)
		exec_tools_free(out);
	return rv;
}

const struct exec_tool *
exec_tool_find(const struct exec_tools *t, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strlen(t->v[i].name) == len
		    && memcmp(t->v[i].name, name, len) == 0)
			return &t->v[i];
	return NULL;
}

int
exec_tool_allows(const struct exec_tool *tool, const char *caller)
{
	size_t i;

	for (i = 0; caller != NULL && i < tool->ncallers; i++)
		if (strcmp(tool->callers[i], "*") == 0
		    || strcmp(tool->callers[i], caller) == 0)
			return 1;
	return 0;
}
