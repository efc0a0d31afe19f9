/*
 * Capabilities on agentd's side: the loader's check of a descriptor's
 * .capabilities (one line naming the entry), --describe's JSON and its
 * reading back, and an agent's capabilities = { } merged with its
 * plugin's (sorted, unique, at most AGENTD_CAPABILITIES_MAX; a bad one
 * refused with FILE:LINE).
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/conf.h"
#include "plugin/describe.h"
#include "plugin/loader.h"
#include "tap.h"

static char *
plugin(const char *name)
{
	const char *dir = getenv("AGENTD_TEST_PLUGINS");

	return ad_xasprintf("%s/%s", dir ? dir : "tests/plugins/.libs", name);
}

static int
open_err(const char *name, char *err, size_t len)
{
	struct ad_plugin *p    = NULL;
	char             *path = plugin(name);
	int               rv   = ad_plugin_open(path, &p, err, len);

	ad_plugin_close(p);
	free(path);
	return rv;
}

/* ---- the loader and --describe ----------------------------------------- */

static void
test_loader(void)
{
	struct ad_plugin *p    = NULL;
	struct ad_schema *s    = NULL, *d;
	char             *path = plugin("finder.so"), *json;
	char              err[AD_ERRLEN];

	is_int(ad_plugin_open(path, &p, err, sizeof(err)), 0,
	    "a plugin with .capabilities loads");
	free(path);
	if (p == NULL) {
		diag("%s", err);
		return;
	}
	json = ad_plugin_describe_json(p);
	like(json, "\"capabilities\":[\"finder\",\"search\"]",
	    "--describe prints them in the descriptor's order");
	is_int(ad_schema_from_json(json, &s, err, sizeof(err)), 0,
	    "and reads them back");
	ok(s != NULL && s->ncapabilities == 2
	        && strcmp(s->capabilities[0], "finder") == 0
	        && strcmp(s->capabilities[1], "search") == 0,
	    "the same two, in order");
	d = s != NULL ? ad_schema_dup(s) : NULL;
	ok(d != NULL && d->ncapabilities == 2
	        && strcmp(d->capabilities[1], "search") == 0
	        && d->capabilities[1] != s->capabilities[1],
	    "a copy of the schema has its own copy of them");
	ad_schema_free(d);
	ad_schema_free(s);
	free(json);
	ad_plugin_close(p);

	is_int(open_err("finder_bad.so", err, sizeof(err)), AGENTD_EABI,
	    "a descriptor with a bad capability is refused");
	like(err,
	    "finder_bad.so: descriptor .capabilities[1] \"Not OK\" is "
	    "not a capability: use 1-63 characters of [a-z0-9_.-]",
	    "... naming the file, the entry and the rule");
	ok(strchr(err, '\n') == NULL, "... on one line");
	is_int(open_err("finder_many.so", err, sizeof(err)), AGENTD_EABI,
	    "a descriptor with 33 capabilities is refused");
	like(err, "more than 32 entries", "... saying the limit");

	path = plugin("typed.so");
	is_int(ad_plugin_open(path, &p, err, sizeof(err)), 0,
	    "a plugin without .capabilities loads");
	free(path);
	json = p != NULL ? ad_plugin_describe_json(p) : NULL;
	like(json, "\"capabilities\":[]", "--describe prints an empty list");
	free(json);
	ad_plugin_close(p);
}

static void
test_describe_json(void)
{
	struct ad_schema *s = NULL;
	char              err[AD_ERRLEN];

	is_int(ad_schema_from_json("{\"name\":\"x\",\"version\":\"1\","
	                           "\"abi\":{\"major\":1,\"minor\":4}}",
	           &s, err, sizeof(err)),
	    0, "an older worker's JSON (no capabilities) is read");
	ok(s != NULL && s->ncapabilities == 0, "... as none");
	ad_schema_free(s);
	s = NULL;
	is_int(ad_schema_from_json("{\"name\":\"x\",\"abi\":{\"major\":1,"
	                           "\"minor\":5},\"capabilities\":[\"ok\","
	                           "\"UPPER\"]}",
	           &s, err, sizeof(err)),
	    AGENTD_EPROTO, "a capability that is not one is refused");
	like(err, "capabilities[1] is not a capability", "... naming which");
	ok(s == NULL, "... and nothing is kept");
	is_int(ad_schema_from_json("{\"name\":\"x\",\"abi\":{\"major\":1,"
	                           "\"minor\":5},\"capabilities\":\"ok\"}",
	           &s, err, sizeof(err)),
	    AGENTD_EPROTO, "capabilities that are not an array are refused");
}

/* ---- capabilities = { } in an agent's .conf ---------------------------- */

static const char finder_json[]
    = "{\"name\":\"finder\",\"version\":\"1.0.0\",\"abi\":{\"major\":1,"
      "\"minor\":5},\"settings\":[],\"capabilities\":[\"search\","
      "\"finder\"]}";

static int
lookup(void *arg, const struct ad_agent_conf *a, struct ad_schema **schema,
    char *err, size_t errlen)
{
	(void)arg;
	(void)a;
	return ad_schema_from_json(finder_json, schema, err, errlen);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Load text as a.conf of a fresh directory. */
static int
load_text(const char *text, struct ad_config **c, char *err)
{
	const char *tmp = getenv("TMPDIR");
	char       *dir = ad_xasprintf("%s/test_discovery.XXXXXX",
            tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	char       *path;
	FILE       *f;
	int         rv;

	if (mkdtemp(dir) == NULL)
		exit(99);
	path = ad_path_join(dir, "a.conf");
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0
	    || fclose(f) != 0)
		exit(99);
	err[0] = '\0';
	rv     = ad_config_load(dir, NULL, lookup, NULL, c, err, AD_ERRLEN);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(path);
	free(dir);
	return rv;
}

static void
test_conf(void)
{
	const struct ad_agent_conf *a;
	struct ad_config           *c = NULL;
	char                        err[AD_ERRLEN], *text, *many;
	size_t                      i;

	is_int(load_text("agent \"f\" {\n  plugin = \"/x/finder.so\"\n"
	                 "  capabilities = { \"quote\", \"search\", "
	                 "\"a.b-c_1\", \"quote\" }\n}\n",
	           &c, err),
	    0, "capabilities = { } loads");
	a = c != NULL ? ad_config_agent(c, "f") : NULL;
	ok(a != NULL && a->ncapabilities == 4
	        && strcmp(a->capabilities[0], "a.b-c_1") == 0
	        && strcmp(a->capabilities[1], "finder") == 0
	        && strcmp(a->capabilities[2], "quote") == 0
	        && strcmp(a->capabilities[3], "search") == 0,
	    "merged with the plugin's: sorted, each once");
	ad_config_free(c);
	c = NULL;

	is_int(load_text(
	           "agent \"f\" {\n  plugin = \"/x/finder.so\"\n}\n", &c, err),
	    0, "an agent that writes none");
	a = c != NULL ? ad_config_agent(c, "f") : NULL;
	ok(a != NULL && a->ncapabilities == 2
	        && strcmp(a->capabilities[0], "finder") == 0,
	    "has its plugin's, sorted");
	ad_config_free(c);
	c = NULL;

	is_int(load_text("agent \"f\" {\n  plugin = \"/x/finder.so\"\n\n"
	                 "  capabilities = { \"ok\", \"Not OK\" }\n}\n",
	           &c, err),
	    AGENTD_ECONFIG, "a capability that is not one is refused");
	like(err,
	    "a.conf:4: agent \"f\": capabilities: \"Not OK\" is not a "
	    "capability",
	    "... with FILE:LINE, the agent and the entry");
	ok(strchr(err, '\n') == NULL && c == NULL,
	    "... one line, nothing kept");

	many = ad_xstrdup("");
	for (i = 0; i < 31; i++) {
		text = ad_xasprintf("%s\"c%zu\", ", many, i);
		free(many);
		many = text;
	}
	text = ad_xasprintf("agent \"f\" {\n  plugin = \"/x/finder.so\"\n"
	                    "  capabilities = { %s }\n}\n",
	    many);
	is_int(load_text(text, &c, err), AGENTD_ECONFIG,
	    "31 written and 2 of the plugin's (33) are refused");
	like(err,
	    "a.conf:1: agent \"f\": 33 capabilities with those of "
	    "plugin \"finder\", more than 32",
	    "... saying how many and the limit");
	ad_config_free(c);
	c = NULL;
	free(text);
	/* c0..c29 and the plugin's two, written again: 32 in all. */
	*strstr(many, "\"c30\"") = '\0';
	text = ad_xasprintf("agent \"f\" {\n  plugin = \"/x/finder.so\"\n"
	                    "  capabilities = { %s\"search\", \"finder\" }"
	                    "\n}\n",
	    many);
	is_int(load_text(text, &c, err), 0,
	    "32 once merged (two written are the plugin's too) load");
	ad_config_free(c);
	free(text);
	free(many);
}

int
main(void)
{
	plan(28);
	test_loader();
	test_describe_json();
	test_conf();
	return done_testing();
}
