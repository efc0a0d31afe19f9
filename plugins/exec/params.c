/*
 * params.c - a request's parameters checked by their types and made
 * into argv (doc/exec.md "The tools file").
 *
 * What must stay true: a value is refused, never cleaned up; a value is
 * one argv element; a path, once resolved (symbolic links, ..), is under
 * its root.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

static int
check_string(const struct exec_param *p, const char *s, size_t len,
    char **text, char *err, size_t errlen)
{
	if (memchr(s, '\0', len) != NULL) {
		snprintf(err, errlen, "parameter %s: a NUL byte", p->name);
		return AGENTD_EINVAL;
	}
	/* An enum's values are the operator's own: "--fast" may be one. */
	if (len > 0 && s[0] == '-' && !p->allow_dash
	    && p->type != EXEC_PARAM_ENUM) {
		snprintf(err, errlen,
		    "parameter %s: \"%.*s\" starts with '-' (an option): the "
		    "tool does not allow it (allow_dash)",
		    p->name, (int)(len > 80 ? 80 : len), s);
		return AGENTD_EINVAL;
	}
	*text = strndup(s, len);
	return *text == NULL ? AGENTD_ENOMEM : 0;
}

/* A path under p->root, resolved: symbolic links and ".." cannot leave it. */
static int
check_path(const struct exec_param *p, char **text, char *err, size_t errlen)
{
	size_t rl = strlen(p->root);
	char  *joined, *real;

	if ((*text)[0] == '/')
		joined = exec_xstrdup(*text);
	else if (asprintf(&joined, "%s/%s", p->root, *text) < 0)
		return AGENTD_ENOMEM;
	real = realpath(joined, NULL);
	free(joined);
	if (real == NULL) {
		snprintf(err, errlen, "parameter %s: \"%.200s\" under %s: %s",
		    p->name, *text, p->root, strerror(errno));
		return AGENTD_EINVAL;
	}
	if (strncmp(real, p->root, rl) != 0
	    || (real[rl] != '\0' && real[rl] != '/'
	        && strcmp(p->root, "/") != 0)) {
		snprintf(err, errlen, "parameter %s: \"%.200s\" is outside %s",
		    p->name, *text, p->root);
		free(real);
		return AGENTD_EINVAL;
	}
	free(*text);
	*text = real;
	return 0;
}

int
exec_param_check(const struct exec_param *p, const agentd_value *v,
    char **text, char *err, size_t errlen)
{
	const char *s;
	size_t      len, i;
	int64_t     n;
	int         rv;

	*text = NULL;
	if (p->type == EXEC_PARAM_INT) {
		if (agentd_get_int(v, &n) != 0 || n < p->min || n > p->max) {
			snprintf(err, errlen,
			    "parameter %s: must be an integer from %" PRId64
			    " to %" PRId64,
			    p->name, p->min, p->max);
			return AGENTD_EINVAL;
		}
		return asprintf(text, "%" PRId64, n) < 0 ? AGENTD_ENOMEM : 0;
	}
	if (agentd_get_str(v, &s, &len) != 0) {
		snprintf(
		    err, errlen, "parameter %s: must be a string", p->name);
		return AGENTD_EINVAL;
	}
	if ((rv = check_string(p, s, len, text, err, errlen)) != 0)
		return rv;
	switch (p->type) {
	case EXEC_PARAM_STRING:
		if (len > p->max_len
		    || regexec(&p->re, *text, 0, NULL, 0) != 0) {
			snprintf(err, errlen,
			    "parameter %s: \"%.80s\" does not match its "
			    "pattern "
			    "(or is over %zu bytes)",
			    p->name, *text, p->max_len);
			rv = AGENTD_EINVAL;
		}
		break;
	case EXEC_PARAM_ENUM:
		for (i = 0; i < p->nvalues && strcmp(p->values[i], *text) != 0;
		     i++)
			;
		if (i == p->nvalues) {
			snprintf(err, errlen,
			    "parameter %s: \"%.80s\" is not one of its values",
			    p->name, *text);
			rv = AGENTD_EINVAL;
		}
		break;
	case EXEC_PARAM_PATH:
		rv = check_path(p, text, err, errlen);
		break;
	case EXEC_PARAM_INT:
		break;
	}
	if (rv != 0) {
		free(*text);
		*text = NULL;
	}
	return rv;
}

/* Every key of params names a parameter of tool. */
static int
check_names(const struct exec_tool *tool, const agentd_value *params,
    char *err, size_t errlen)
{
	const char *k;
	size_t      i, len;

	for (i = 0; i < agentd_len(params); i++) {
		if (agentd_get_str(agentd_map_key_at(params, i), &k, &len)
		    != 0) {
			snprintf(
			    err, errlen, "\"params\": a key is not a string");
			return AGENTD_EINVAL;
		}
		if (exec_tool_param(tool, k, len) < 0) {
			snprintf(err, errlen,
			    "tool %s has no parameter \"%.*s\"", tool->name,
			    (int)(len > 63 ? 63 : len), k);
			return AGENTD_EINVAL;
		}
	}
	return 0;
}

void
exec_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int
exec_tool_argv(const struct exec_tool *tool, const agentd_value *params,
    char ***argv, char *err, size_t errlen)
{
	char              **texts, **out;
	const agentd_value *v;
	size_t              i;
	int                 rv = 0;

	if (params != NULL && agentd_type_of(params) != AGENTD_T_MAP) {
		snprintf(err, errlen, "\"params\" must be a map");
		return AGENTD_EINVAL;
	}
	if (params != NULL
	    && (rv = check_names(tool, params, err, errlen)) != 0)
		return rv;
	texts = exec_xcalloc(tool->nparams + 1, sizeof(char *));
	for (i = 0; rv == 0 && i < tool->nparams; i++) {
		v = params != NULL
		    ? agentd_map_get(params, tool->params[i].name)
		    : NULL;
		if (v != NULL)
			rv = exec_param_check(
			    &tool->params[i], v, &texts[i], err, errlen);
		else if (tool->params[i].def != NULL)
			texts[i] = exec_xstrdup(tool->params[i].def);
		else {
			snprintf(err, errlen, "parameter %s is required",
			    tool->params[i].name);
			rv = AGENTD_EINVAL;
		}
	}
	if (rv != 0) {
		for (i = 0; i < tool->nparams; i++)
			free(texts[i]);
		free(texts);
		return rv;
	}
	out = exec_xcalloc(tool->argc + 1, sizeof(char *));
	for (i = 0; i < tool->argc; i++)
		out[i] = exec_xstrdup(
		    tool->argp[i] < 0 ? tool->argv[i] : texts[tool->argp[i]]);
	for (i = 0; i < tool->nparams; i++)
		free(texts[i]);
	free(texts);
	*argv = out;
	return 0;
}
