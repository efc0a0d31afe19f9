/*
 * config.c - the llm plugin's configuration file (doc/llm.md):
 *
 *   {"providers": [{"name": "local", "kind": "ollama",
 *                   "base_url": "http://127.0.0.1:11434", "model": "llama3.1",
 *                   "timeout_ms": 60000, "attempts": 2,
 *                   "api_key_file": "/etc/agentd/keys/local"}, ...],
 *    "routes": {"default": ["local", "hosted"]},
 *    "budgets": {"promotions": {"requests_per_minute": 10,
 *                               "tokens_per_day": 200000}}}
 *
 * An agent's settings { } hold only scalars, so the chains live in this
 * file, which the agent's paths { read } must name (with the key files).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

#define KEY_MAX 4096

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= LLM_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		        || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'
		        || *s == '.'))
			return 0;
	return 1;
}

/* The key in file path, trailing white space cut; errors name the file,
 * never what it holds. */
static int
read_key(const char *path, char **key, char *why, size_t whylen)
{
	char   buf[KEY_MAX + 2];
	size_t n;
	FILE  *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(
		    why, whylen, "api_key_file %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n > KEY_MAX) {
		snprintf(why, whylen, "api_key_file %s: longer than %d bytes",
		    path, KEY_MAX);
		return -1;
	}
	while (n > 0
	    && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '
	        || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\n', n) != NULL || strlen(buf) != n) {
		snprintf(why, whylen, "api_key_file %s: %s", path,
		    n == 0 ? "empty" : "more than one line");
		return -1;
	}
	*key = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return *key != NULL ? 0 : -1;
}

static int
provider_load(
    json_t *j, size_t i, struct llm_provider *p, char *why, size_t whylen)
{
	const char *name  = json_string_value(json_object_get(j, "name"));
	const char *kind  = json_string_value(json_object_get(j, "kind"));
	const char *base  = json_string_value(json_object_get(j, "base_url"));
	const char *model = json_string_value(json_object_get(j, "model"));
	const char *kf = json_string_value(json_object_get(j, "api_key_file"));
	json_t     *t  = json_object_get(j, "timeout_ms");
	json_t     *a  = json_object_get(j, "attempts");

	if (name == NULL || !name_ok(name)) {
		snprintf(why, whylen,
		    "providers[%zu]: \"name\" must be 1-63 of [A-Za-z0-9_.-]",
		    i);
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (kind == NULL || (p->kind = llm_kind_parse(kind)) == 0) {
		snprintf(why, whylen,
		    "provider %s: \"kind\" must be openai, ollama or gemini",
		    name);
		return -1;
	}
	if (base == NULL || model == NULL || *model == '\0'
	    || strlen(model) >= sizeof(p->model)) {
		snprintf(why, whylen,
		    "provider %s: \"base_url\" and \"model\" are required",
		    name);
		return -1;
	}
	snprintf(p->model, sizeof(p->model), "%s", model);
	if (llm_url(p->kind, base, model, p->url, sizeof(p->url)) != 0) {
		snprintf(why, whylen, "provider %s: base_url too long", name);
		return -1;
	}
	if ((t != NULL && (!json_is_integer(t) || json_integer_value(t) < 1))
	    || (a != NULL
	        && (!json_is_integer(a) || json_integer_value(a) < 1
	            || json_integer_value(a) > AGENTD_HTTP_ATTEMPTS_MAX))) {
		snprintf(why, whylen,
		    "provider %s: \"timeout_ms\" must be a number of ms above "
		    "0, "
		    "\"attempts\" 1 to %d",
		    name, AGENTD_HTTP_ATTEMPTS_MAX);
		return -1;
	}
	p->timeout_ms = t != NULL ? (uint32_t)json_integer_value(t) : 30000;
	p->attempts   = a != NULL ? (uint32_t)json_integer_value(a) : 2;
	if (kf != NULL && read_key(kf, &p->key, why, whylen) != 0) {
		size_t n = strlen(why);

		snprintf(why + n, whylen - n, " (provider %s)", name);
		return -1;
	}
	return 0;
}

static int
find_provider(const struct llm_config *c, const char *name)
{
	for (size_t i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
routes_load(json_t *routes, struct llm_config *c, char *why, size_t whylen)
{
	const char *rname;
	json_t     *chain, *e;
	size_t      i;

	if (!json_is_object(routes) || json_object_size(routes) == 0) {
		snprintf(
		    why, whylen, "\"routes\" must name at least one route");
		return -1;
	}
	json_object_foreach(routes, rname, chain)
	{
		struct llm_route *r = &c->routes[c->nroutes];

		if (c->nroutes == LLM_ROUTES_MAX || !name_ok(rname)) {
			snprintf(why, whylen,
			    "route \"%s\": at most %d routes, names of "
			    "[A-Za-z0-9_.-]",
			    rname, LLM_ROUTES_MAX);
			return -1;
		}
		snprintf(r->name, sizeof(r->name), "%s", rname);
		if (!json_is_array(chain) || json_array_size(chain) == 0
		    || json_array_size(chain) > LLM_CHAIN_MAX) {
			snprintf(why, whylen,
			    "route %s: a list of 1 to %d provider names",
			    rname, LLM_CHAIN_MAX);
			return -1;
		}
		json_array_foreach(chain, i, e)
		{
			const char *pn = json_string_value(e);
			int         k = pn != NULL ? find_provider(c, pn) : -1;

			if (k < 0) {
				snprintf(why, whylen,
				    "route %s: \"%s\" is not a provider",
				    rname, pn != NULL ? pn : "(not a string)");
				return -1;
			}
			r->chain[r->n++] = k;
		}
		c->nroutes++;
	}
	return 0;
}

static int
budgets_load(json_t *b, struct llm_config *c, char *why, size_t whylen)
{
	const char *caller;
	json_t     *e;

	if (b == NULL)
		return 0;
	json_object_foreach(b, caller, e)
	{
		struct llm_budget *x = &c->budgets[c->nbudgets];
		json_t *rpm = json_object_get(e, "requests_per_minute");
		json_t *tpd = json_object_get(e, "tokens_per_day");

		if (c->nbudgets == LLM_CALLERS_MAX || !name_ok(caller)
		    || (rpm != NULL
		        && (!json_is_integer(rpm)
		            || json_integer_value(rpm) < 0))
		    || (tpd != NULL
		        && (!json_is_integer(tpd)
		            || json_integer_value(tpd) < 0))) {
			snprintf(why, whylen,
			    "budgets.%s: {\"requests_per_minute\": N, "
			    "\"tokens_per_day\": N}, N >= 0 (0: no limit)",
			    caller);
			return -1;
		}
		snprintf(x->caller, sizeof(x->caller), "%s", caller);
		x->rpm = rpm != NULL ? (uint32_t)json_integer_value(rpm) : 0;
		x->per_day
		    = tpd != NULL ? (uint64_t)json_integer_value(tpd) : 0;
		c->nbudgets++;
	}
	return 0;
}

int
llm_config_load(
    const char *path, struct llm_config *c, char *err, size_t errlen)
{
	json_error_t je;
	json_t      *j, *provs, *e;
	char         why[512] = "";
	size_t       i;
	int          rv = -1;

	memset(c, 0, sizeof(*c));
	if ((j = json_load_file(path, 0, &je)) == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return AGENTD_ECONFIG;
	}
	provs = json_object_get(j, "providers");
	if (!json_is_array(provs) || json_array_size(provs) == 0
	    || json_array_size(provs) > LLM_PROVIDERS_MAX)
		snprintf(why, sizeof(why),
		    "\"providers\" must be a list of 1 to %d providers",
		    LLM_PROVIDERS_MAX);
	else {
		rv = 0;
		json_array_foreach(provs, i, e)
		{
			if ((rv = provider_load(
			         e, i, &c->providers[i], why, sizeof(why)))
			    != 0)
				break;
			c->nproviders++;
			if (find_provider(c, c->providers[i].name) != (int)i) {
				snprintf(why, sizeof(why),
				    "provider %s is named twice",
				    c->providers[i].name);
				rv = -1;
				break;
			}
		}
		if (rv == 0)
			rv = routes_load(
			    json_object_get(j, "routes"), c, why, sizeof(why));
		if (rv == 0)
			rv = budgets_load(json_object_get(j, "budgets"), c,
			    why, sizeof(why));
	}
	json_decref(j);
	if (rv != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		llm_config_free(c);
		return AGENTD_ECONFIG;
	}
	return 0;
}

void
llm_config_free(struct llm_config *c)
{
	for (size_t i = 0; i < c->nproviders; i++)
		if (c->providers[i].key != NULL) {
			memset(c->providers[i].key, 0,
			    strlen(c->providers[i].key));
			free(c->providers[i].key);
			c->providers[i].key = NULL;
		}
}
