#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/util.h"
#include "config/conf.h"
#include "config/options.h"
#include "plugin/describe.h"
#include "tap.h"

/* The schema every test plugin declares, as describe mode prints it. */
static const char schema_json[]
    = "{\"name\":\"echo\",\"version\":\"1.0.0\",\"description\":\"test\","
      "\"abi\":{\"major\":1,\"minor\":0},\"settings\":["
      "{\"name\":\"greeting\",\"type\":\"string\",\"default\":\"hello\"},"
      "{\"name\":\"limit\",\"type\":\"int\",\"required\":true},"
      "{\"name\":\"ratio\",\"type\":\"double\",\"default\":\"0.5\"},"
      "{\"name\":\"verbose\",\"type\":\"bool\",\"default\":\"false\"}]}";

/* A plugin whose name says "missing" cannot be described. */
static int
test_lookup(void *arg, const struct ad_agent_conf *a,
    struct ad_schema **schema, char *err, size_t errlen)
{
	int *calls = arg;

	if (calls != NULL)
		(*calls)++;
	if (strstr(a->plugin, "missing") != NULL) {
		ad_seterr(err, errlen, "cannot load %s: install the plugin",
		    a->plugin_path);
		return AGENTD_ENOENT;
	}
	return ad_schema_from_json(schema_json, schema, err, errlen);
}

/* ---- scratch directories --------------------------------------------- */

static char *
fresh_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char       *dir = ad_xasprintf("%s/test_config.XXXXXX",
            tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	return dir;
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char *path = ad_path_join(dir, rel);
	char *sub  = ad_dirname(path);
	FILE *f;

	ad_mkdir_p(sub, 0755);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	free(sub);
	free(path);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rmtree(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static const struct ad_config_opts test_opts = {
	.default_state_dir  = "/var/lib/agentd",
	.default_run_dir    = "/run/agentd",
	.default_plugin_dir = "/usr/lib/agentd/plugins",
};

static int
load(const char *dir, const struct ad_config_opts *opts, struct ad_config **c,
    char *err)
{
	err[0] = '\0';
	return ad_config_load(dir, opts != NULL ? opts : &test_opts,
	    test_lookup, NULL, c, err, AD_ERRLEN);
}

/* Loading `text` as a.conf fails, naming `where` and saying `what`. */
static void
expect_error(
    const char *text, const char *where, const char *what, const char *name)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c = NULL;
	int               rv;

	put(dir, "a.conf", text);
	rv = load(dir, NULL, &c, err);
	ok(rv == AGENTD_ECONFIG && c == NULL && strchr(err, '\n') == NULL,
	    name);
	like(err, where, name);
	like(err, what, name);
	ad_config_free(c);
	rmtree(dir);
}

/* ---- a file with every option ---------------------------------------- */

static const char full_conf[]
    = "# every option\n"
      "agentd {\n"
      "    state_dir = \"state\"\n"
      "    run_dir = \"/tmp/run\"\n"
      "    plugin_dir = \"plugins\"\n"
      "    log_level = \"debug\"\n"
      "    max_message_size = 65536\n"
      "    watch = true  watch_delay = 2s\n"
      "}\n"
      "agent \"pricing\" {\n"
      "    plugin = \"pricing.so\"\n"
      "    instances { min = 2  max = 8  target_inflight = 3\n"
      "                concurrency = 2\n"
      "                upscale_delay = 1500ms  downscale_delay = 5m }\n"
      "    restart { policy = transient  intensity = 7  period = 1h\n"
      "              backoff_initial = 250ms  backoff_max = 2m }\n"
      "    health { heartbeat = 200ms  hung_after = 3s  init_timeout = 1m\n"
      "             drain_timeout = 10s  stop_grace = 0ms }\n"
      "    request_timeout = 45s\n"
      "    queue_max = 99\n"
      "    subscribe = { \"product.vetted\", \"product.new\" }\n"
      "    publish = { \"product.priced\" }\n"
      "    calls = { \"ceo\" }\n"
      "    settings { greeting = \"hi there\"  limit = 42  ratio = 0.35\n"
      "               verbose = true }\n"
      "}\n";

static void
test_full(void)
{
	char                       *dir = fresh_dir();
	char                        err[AD_ERRLEN], *want;
	struct ad_config           *c = NULL;
	const struct ad_agent_conf *a;

	put(dir, "main.conf", full_conf);
	is_int(load(dir, NULL, &c, err), 0, "full: loads");
	if (c == NULL) {
		diag("%s", err);
		exit(1);
	}
	want = ad_xasprintf("%s/state", dir);
	is_str(c->global.state_dir, want, "full: state_dir relative to file");
	free(want);
	is_str(c->global.run_dir, "/tmp/run", "full: run_dir absolute");
	is_str(c->global.log_level, "debug", "full: log_level");
	is_int(c->global.max_message_size, 65536, "full: max_message_size");
	ok(c->global.watch == 1 && c->global.watch_delay_ms == 2000,
	    "full: watch, watch_delay");
	want = ad_xasprintf("%s/main.conf", dir);
	is_str(c->global.file, want, "full: global file recorded");
	free(want);
	is_int(c->nagents, 1, "full: one agent");
	a = ad_config_agent(c, "pricing");
	ok(a != NULL, "full: agent found");
	is_int(a != NULL ? a->line : 0, 10, "full: line of agent section");
	want = ad_xasprintf("%s/plugins/pricing.so", dir);
	is_str(a->plugin_path, want, "full: plugin in agentd plugin_dir");
	free(want);
	ok(a->min_instances == 2 && a->max_instances == 8
	        && a->target_inflight == 3 && a->concurrency == 2,
	    "full: instance counts");
	ok(a->upscale_delay_ms == 1500 && a->downscale_delay_ms == 300000,
	    "full: scaling delays");
	ok(a->restart_policy == AD_RESTART_TRANSIENT
	        && a->restart_intensity == 7
	        && a->restart_period_ms == 3600000,
	    "full: restart policy, intensity, period");
	ok(a->backoff_initial_ms == 250 && a->backoff_max_ms == 120000,
	    "full: backoff");
	ok(a->heartbeat_ms == 200 && a->hung_after_ms == 3000
	        && a->init_timeout_ms == 60000 && a->drain_timeout_ms == 10000
	        && a->stop_grace_ms == 0,
	    "full: health");
	ok(a->request_timeout_ms == 45000 && a->queue_max == 99,
	    "full: request_timeout, queue_max");
	ok(a->nsubscribe == 2 && strcmp(a->subscribe[1], "product.new") == 0
	        && a->npublish == 1 && a->ncalls == 1
	        && strcmp(a->calls[0], "ceo") == 0,
	    "full: topic and call lists");
	ok(a->nsettings == 4 && strcmp(a->settings[0].name, "greeting") == 0
	        && strcmp(a->settings[3].name, "verbose") == 0,
	    "full: settings in schema order");
	is_str(ad_agent_setting(a, "greeting")->v.s, "hi there",
	    "full: string setting");
	is_int(ad_agent_setting(a, "limit")->v.i, 42, "full: int setting");
	ok(ad_agent_setting(a, "ratio")->v.d == 0.35, "full: double setting");
	ok(ad_agent_setting(a, "verbose")->v.b == 1, "full: bool setting");
	ok(ad_agent_setting(a, "nope") == NULL && !ad_config_agent(c, "x"),
	    "full: unknown names are NULL");
	ad_config_free(c);
	rmtree(dir);
}

static void
test_defaults(void)
{
	char                       *dir = fresh_dir();
	char                        err[AD_ERRLEN];
	struct ad_config           *c = NULL;
	const struct ad_agent_conf *a;
	int                         calls = 0;

	put(dir, "a.conf",
	    "agent \"e\" {\n plugin = \"echo.so\"\n settings { limit = -3 "
	    "}\n}\n");
	is_int(ad_config_load(
	           dir, &test_opts, test_lookup, &calls, &c, err, sizeof(err)),
	    0, "defaults: loads");
	a = c != NULL ? ad_config_agent(c, "e") : NULL;
	if (a == NULL) {
		diag("%s", err);
		exit(1);
	}
	is_int(calls, 1, "defaults: lookup called once per agent");
	ok(c->global.file == NULL
	        && strcmp(c->global.state_dir, "/var/lib/agentd") == 0
	        && strcmp(c->global.run_dir, "/run/agentd") == 0
	        && strcmp(c->global.log_level, "info") == 0
	        && c->global.max_message_size == 1048576
	        && c->global.watch == 0 && c->global.watch_delay_ms == 500,
	    "defaults: global section");
	ok(a->min_instances == 1 && a->max_instances == 1
	        && a->target_inflight == 4 && a->concurrency == 1
	        && a->upscale_delay_ms == 2000
	        && a->downscale_delay_ms == 30000,
	    "defaults: instances");
	ok(a->restart_policy == AD_RESTART_PERMANENT
	        && a->restart_intensity == 5 && a->restart_period_ms == 10000
	        && a->backoff_initial_ms == 100 && a->backoff_max_ms == 30000,
	    "defaults: restart");
	ok(a->heartbeat_ms == 1000 && a->hung_after_ms == 30000
	        && a->init_timeout_ms == 30000 && a->drain_timeout_ms == 30000
	        && a->stop_grace_ms == 5000,
	    "defaults: health");
	ok(a->request_timeout_ms == 30000 && a->queue_max == 1024
	        && a->nsubscribe == 0 && a->npublish == 0 && a->ncalls == 0,
	    "defaults: timeout, queue, lists");
	is_str(a->plugin_path, "/usr/lib/agentd/plugins/echo.so",
	    "defaults: bare plugin in default_plugin_dir");
	ok(a->nsettings == 4
	        && strcmp(ad_agent_setting(a, "greeting")->v.s, "hello") == 0
	        && ad_agent_setting(a, "limit")->v.i == -3
	        && ad_agent_setting(a, "ratio")->v.d == 0.5
	        && ad_agent_setting(a, "verbose")->v.b == 0
	        && ad_agent_setting(a, "ratio")->type == AGENTD_SETTING_DOUBLE,
	    "defaults: plugin defaults applied with their types");
	ad_config_free(c);
	rmtree(dir);

	/* max follows min when only min is given */
	dir = fresh_dir();
	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" instances { min = 3 }\n"
	    "settings { limit = 1 } }\n");
	is_int(load(dir, NULL, &c, err), 0, "defaults: min only loads");
	ok(c != NULL && c->agents[0].max_instances == 3,
	    "defaults: max defaults to min");
	ad_config_free(c);
	rmtree(dir);
}

static void
test_order(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c = NULL;
	const char *agent   = "agent \"%s\" { plugin = \"e.so\" settings { "
	                      "limit = 1 } }\n";
	char       *t;

	t = ad_xasprintf(agent, "b");
	put(dir, "b.conf", t);
	free(t);
	t = ad_xasprintf(agent, "a");
	put(dir, "a.conf", t);
	free(t);
	t = ad_xasprintf(agent, "sub_z");
	put(dir, "conf.d/z.conf", t);
	free(t);
	t = ad_xasprintf(agent, "sub_0");
	put(dir, "conf.d/0.conf", t);
	free(t);
	put(dir, "conf.d/notes.txt", "this is { not a conf");
	put(dir, "conf.d/.hidden.conf", "this is { not a conf");
	put(dir, "conf.d/x.conf.dpkg-old", "this is { not a conf");
	is_int(load(dir, NULL, &c, err), 0, "order: loads, skips non-.conf");
	ok(c != NULL && c->nagents == 4 && strcmp(c->agents[0].name, "a") == 0
	        && strcmp(c->agents[1].name, "b") == 0
	        && strcmp(c->agents[2].name, "sub_0") == 0
	        && strcmp(c->agents[3].name, "sub_z") == 0,
	    "order: top level by name, then conf.d by name");
	t = ad_xasprintf("%s/conf.d/0.conf", dir);
	is_str(c != NULL ? c->agents[2].file : NULL, t,
	    "order: agent records its file");
	free(t);
	ad_config_free(c);
	rmtree(dir);

	/* an empty directory is an empty configuration */
	dir = fresh_dir();
	is_int(load(dir, NULL, &c, err), 0, "order: empty dir loads");
	ok(c != NULL && c->nagents == 0, "order: no agents");
	ad_config_free(c);
	rmtree(dir);
}

/* ---- errors in one file ---------------------------------------------- */

static void
test_file_errors(void)
{
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  instances {\n"
	             "    min = 1 =\n  }\n}\n",
	    "a.conf:4: ", "check the syntax", "syntax error has file:line");
	expect_error("\n\nbogus = 1\n",
	    "a.conf:3: ", "no such option 'bogus': remove it",
	    "unknown top-level option");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  colour = red\n}\n",
	    "a.conf:3: agent \"e\": ", "no such option 'colour'",
	    "unknown agent option names the agent");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  settings {\n"
	             "    limit = 1\n    gretting = \"hi\"\n  }\n}\n",
	    "a.conf:5: agent \"e\": ",
	    "unknown setting \"gretting\" (plugin \"echo\" knows greeting, "
	    "limit, ratio, verbose)",
	    "unknown setting key");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  settings {\n"
	             "    limit = many\n  }\n}\n",
	    "a.conf:4: agent \"e\": ",
	    "setting \"limit\" must be a whole number (the plugin declares "
	    "it int)",
	    "int setting with text");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  settings {\n"
	             "    limit = 1  ratio = \"lots\"\n  }\n}\n",
	    "a.conf:4: ",
	    "setting \"ratio\" must be a number (the plugin declares it "
	    "double)",
	    "double setting with text");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  settings {\n"
	             "    limit = 1\n    verbose = maybe\n  }\n}\n",
	    "a.conf:5: ", "setting \"verbose\" must be true or false",
	    "bool setting with text");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  settings {\n"
	             "    limit = 99999999999999999999\n  }\n}\n",
	    "a.conf:4: ", "must be a whole number", "int setting overflow");
	expect_error("\nagent \"e\" {\n  plugin = \"e.so\"\n"
	             "  settings { greeting = \"yo\" }\n}\n",
	    "a.conf:2: agent \"e\": ",
	    "setting \"limit\" is required (the plugin declares it int",
	    "missing required setting");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  instances {\n    upscale_delay = 2x\n  }\n}\n",
	    "a.conf:4: agent \"e\": ",
	    "upscale_delay = \"2x\" is not a duration", "bad duration");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  request_timeout = 0\n}\n",
	    "a.conf:3: ", "request_timeout must be longer than 0",
	    "zero request_timeout");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  instances { min = 3 max = 2 }\n}\n",
	    "a.conf:1: agent \"e\": ",
	    "instances min (3) is greater than max (2)", "min > max");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  instances { max = 0 }\n}\n",
	    "a.conf:3: ", "max = 0 is out of range", "max must be >= 1");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  health { heartbeat = 2s  hung_after = 3s }\n}\n",
	    "a.conf:1: agent \"e\": ",
	    "health hung_after (3000 ms) is shorter than two heartbeats "
	    "(2000 ms each): raise hung_after or shorten heartbeat",
	    "hung_after < 2 heartbeats");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  health { init_timeout = 0 }\n}\n",
	    "a.conf:3: ", "init_timeout must be longer than 0",
	    "init_timeout 0");
	expect_error("agentd {\n  watch = true\n  watch_delay = soon\n}\n"
	             "agent \"e\" {\n  plugin = \"e.so\"\n}\n",
	    "a.conf:3: ", "watch_delay = \"soon\" is not a duration",
	    "watch_delay not a duration");
	expect_error("agentd {\n  watch = often\n}\n"
	             "agent \"e\" {\n  plugin = \"e.so\"\n}\n",
	    "a.conf:2: ", "watch", "watch not a boolean");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  health { heartbeat = soon }\n}\n",
	    "a.conf:3: ", "heartbeat = \"soon\" is not a duration",
	    "heartbeat not a duration");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  restart { policy = sometimes }\n}\n",
	    "a.conf:3: agent \"e\": ",
	    "restart policy \"sometimes\" is unknown: use permanent, "
	    "transient or temporary",
	    "unknown restart policy");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  subscribe = { \"ok.topic\", \"\" }\n}\n",
	    "a.conf:3: ", "subscribe: \"\" is not a topic", "empty topic");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  calls = { \"c e o\" }\n}\n",
	    "a.conf:3: ", "calls: \"c e o\" is not an agent name",
	    "bad call name");
	expect_error("agent \"e\" {\n  instances { min = 1 }\n}\n",
	    "a.conf:1: agent \"e\": ", "no plugin: add plugin",
	    "plugin is required");
	expect_error("agent \"bad name\" {\n  plugin = \"e.so\"\n}\n",
	    "a.conf:1: agent \"bad name\": ", "not a valid agent name",
	    "invalid agent name");
	expect_error("agent \"e\" { plugin = \"e.so\" settings { limit = 1 } }"
	             "\n\nagent \"e\" { plugin = \"f.so\" }\n",
	    "a.conf:3: agent \"e\": ",
	    "defined twice in this file (first "
	    "at line 1)",
	    "duplicate agent in one file");
	expect_error("agentd { log_level = info }\nagentd { }\n",
	    "a.conf:2: ", "a second agentd section (the first is at line 1)",
	    "two agentd sections in one file");
	expect_error("agentd { log_level = loud }\n",
	    "a.conf:1: ", "log_level \"loud\" is unknown", "bad log level");
	expect_error("agent \"ghost\" {\n  plugin = \"missing.so\"\n}\n",
	    "a.conf:1: agent \"ghost\": cannot load ",
	    "missing.so: install the plugin", "lookup failure propagated");
}

/* Comments anywhere, and line numbers that count them right. */
static void
test_comments(void)
{
	char                       *dir = fresh_dir();
	char                        err[AD_ERRLEN];
	struct ad_config           *c = NULL;
	const struct ad_agent_conf *a;

	put(dir, "a.conf",
	    "# one\n// two\n/* three\n   four */\n"
	    "agent \"e\" { # five\n"
	    "  plugin = \"e#1.so\" // six\n"
	    "  subscribe = { \"a.b\", # seven\n \"c.d\" /* eight */ }\n"
	    "  settings { limit = 1  greeting = http://host/x#frag\n"
	    "  }\n"
	    "}\n");
	is_int(load(dir, NULL, &c, err), 0, "comments: loads");
	a = c != NULL ? ad_config_agent(c, "e") : NULL;
	if (a == NULL)
		diag("%s", err);
	is_int(a ? a->line : 0, 5, "comments: lines counted right");
	ok(a != NULL && a->nsubscribe == 2
	        && strcmp(a->subscribe[1], "c.d") == 0
	        && strcmp(a->plugin, "e#1.so") == 0,
	    "comments: inside a list; '#' inside quotes kept");
	is_str(a ? ad_agent_setting(a, "greeting")->v.s : NULL,
	    "http://host/x", "comments: // inside a word kept, # ends it");
	ad_config_free(c);
	rmtree(dir);

	expect_error("# a\n# b\n// c\nagent \"e\" {\n  plugin = \"e.so\"\n"
	             "  nope = 1\n}\n",
	    "a.conf:6: ", "no such option 'nope'",
	    "comments: error line after comments");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n  /* unclosed\n}\n",
	    "a.conf:3: ", "comment never closed: end it with */",
	    "comments: unclosed comment");
}

/* Files libconfuse would take as complete: cut short, or a stray quote. */
static void
test_balance(void)
{
	char                       *dir = fresh_dir();
	char                        err[AD_ERRLEN];
	struct ad_config           *c = NULL;
	const struct ad_agent_conf *a;

	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n", "a.conf:1: ",
	    "this { is never closed: add a } at the end of the section",
	    "balance: file ends inside a section");
	expect_error("\n# top\nagent \"e\" {\n  plugin = \"e.so\"\n"
	             "  settings {\n    limit = 1\n  }\n",
	    "a.conf:3: ", "this { is never closed: add a }",
	    "balance: the outermost never-closed { is named");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n}\n}\n",
	    "a.conf:4: ",
	    "this } has no matching {: remove it or add the missing {",
	    "balance: a } with no {");
	expect_error("agent \"e\" {\n  plugin = \"e.so\n}\n",
	    "a.conf:2: ", "this \" is never closed: close the string",
	    "balance: unterminated string");
	expect_error("agent \"e\" {\n  plugin = 'e.so\n}\n",
	    "a.conf:2: ", "this ' is never closed: close the string",
	    "balance: unterminated single-quoted string");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  \"request_timeout = 10s\n}\n",
	    "a.conf:3: ", "this \" is never closed: close the string",
	    "balance: stray quote where an option name goes");
	expect_error("agent \"e\" {\n  plugin = \"e.so\"\n"
	             "  \"request_timeout = 10s\n}\n"
	             "agent \"f\" {\n  plugin = \"f.so\"\n}\n",
	    "a.conf:3: ",
	    "this \" is not closed on its line, so the file ends inside a "
	    "string: close the string or remove the stray \"",
	    "balance: stray quote with more quotes after it");

	/* Braces in strings, comments and ${VAR} are not sections. */
	put(dir, "a.conf",
	    "agent \"e\" { # }\n"
	    "  plugin = ${AGENTD_TEST_UNSET:-e{.so} /* { */\n"
	    "  settings { limit = 1  greeting = \"a}{\nb\" }\n"
	    "}\n");
	is_int(load(dir, NULL, &c, err), 0, "balance: quoted braces load");
	a = c != NULL ? ad_config_agent(c, "e") : NULL;
	if (a == NULL)
		diag("%s", err);
	is_str(a ? ad_agent_setting(a, "greeting")->v.s : NULL, "a}{\nb",
	    "balance: a string may span lines");
	is_str(
	    a ? a->plugin : NULL, "e{.so", "balance: ${VAR:-x{y} is one word");
	ad_config_free(c);
	rmtree(dir);
}

/* A failed parse must not leave libconfuse's lexer inside a string. */
static void
test_after_error(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c = NULL;

	/* A bad escape: libconfuse stops inside the string. */
	put(dir, "a.conf", "agent \"e\" { plugin = \"e\\9.so\" }\n");
	ok(load(dir, NULL, &c, err) != 0 && strstr(err, "a.conf:1: ") != NULL,
	    "after error: bad file refused");
	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	is_int(load(dir, NULL, &c, err), 0,
	    "after error: next load starts clean");
	if (c == NULL)
		diag("%s", err);
	ad_config_free(c);
	rmtree(dir);
}

/* ---- errors across files --------------------------------------------- */

static void
test_cross_file(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN], *want;
	struct ad_config *c = NULL;

	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	put(dir, "conf.d/b.conf",
	    "\nagent \"e\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	is_int(load(dir, NULL, &c, err), AGENTD_ECONFIG,
	    "duplicate agent in two files refused");
	want = ad_xasprintf("%s/conf.d/b.conf:2: agent \"e\": already "
	                    "defined at %s/a.conf:1",
	    dir, dir);
	like(err, want, "duplicate agent: both places named");
	free(want);
	rmtree(dir);

	dir = fresh_dir();
	put(dir, "a.conf", "agentd { log_level = info }\n");
	put(dir, "b.conf", "\n\nagentd { log_level = debug }\n");
	is_int(load(dir, NULL, &c, err), AGENTD_ECONFIG,
	    "two agentd sections in two files refused");
	want = ad_xasprintf("%s/b.conf:3: a second agentd section (the first "
	                    "is in %s/a.conf:1)",
	    dir, dir);
	like(err, want, "two agentd sections: both files named");
	free(want);
	rmtree(dir);

	dir  = fresh_dir();
	want = ad_xasprintf("%s/nothing-here", dir);
	is_int(load(want, NULL, &c, err), AGENTD_ENOENT,
	    "missing confdir is ENOENT");
	like(err, want, "missing confdir named");
	ok(c == NULL, "missing confdir: nothing returned");
	free(want);
	rmtree(dir);
}

/* ---- plugin paths ---------------------------------------------------- */

static void
test_plugin_paths(void)
{
	char                       *dir = fresh_dir();
	char                        err[AD_ERRLEN], *want;
	struct ad_config           *c    = NULL;
	struct ad_config_opts       opts = test_opts;
	const struct ad_agent_conf *a;

	put(dir, "a.conf",
	    "agent \"abs\" { plugin = \"/opt/p/abs.so\" "
	    "settings { limit = 1 } }\n"
	    "agent \"rel\" { plugin = \"lib/rel.so\" "
	    "settings { limit = 1 } }\n"
	    "agent \"bare\" { plugin = \"bare.so\" settings { limit = 1 } "
	    "}\n");
	put(dir, "conf.d/b.conf",
	    "agent \"up\" { plugin = \"../p/up.so\" "
	    "settings { limit = 1 } }\n");
	opts.plugin_dir = "/srv/plugins";
	is_int(load(dir, &opts, &c, err), 0, "paths: loads");
	a = ad_config_agent(c, "abs");
	is_str(a ? a->plugin_path : NULL, "/opt/p/abs.so",
	    "paths: absolute kept");
	want = ad_xasprintf("%s/lib/rel.so", dir);
	a    = ad_config_agent(c, "rel");
	is_str(a ? a->plugin_path : NULL, want,
	    "paths: with '/' relative to the .conf");
	free(want);
	want = ad_xasprintf("%s/conf.d/../p/up.so", dir);
	a    = ad_config_agent(c, "up");
	is_str(a ? a->plugin_path : NULL, want,
	    "paths: relative to conf.d file's directory");
	free(want);
	a = ad_config_agent(c, "bare");
	is_str(a ? a->plugin_path : NULL, "/srv/plugins/bare.so",
	    "paths: bare name in opts->plugin_dir");
	is_str(a ? a->plugin : NULL, "bare.so", "paths: plugin as written");
	is_str(c ? c->global.plugin_dir : NULL, "/srv/plugins",
	    "paths: opts->plugin_dir wins");
	ad_config_free(c);

	/* opts->plugin_dir overrides agentd { plugin_dir } */
	put(dir, "0.conf", "agentd { plugin_dir = \"/from/file\" }\n");
	is_int(load(dir, &opts, &c, err), 0, "paths: loads with agentd");
	a = ad_config_agent(c, "bare");
	is_str(a ? a->plugin_path : NULL, "/srv/plugins/bare.so",
	    "paths: opts->plugin_dir overrides the file");
	ad_config_free(c);
	is_int(load(dir, NULL, &c, err), 0, "paths: loads without override");
	a = ad_config_agent(c, "bare");
	is_str(a ? a->plugin_path : NULL, "/from/file/bare.so",
	    "paths: agentd plugin_dir over the default");
	ad_config_free(c);
	rmtree(dir);
}

/* ---- durations ------------------------------------------------------- */

static void
test_durations(void)
{
	static const struct {
		const char *text;
		int64_t     ms;
	} good[] = { { "250ms", 250 }, { "2s", 2000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "30d", 2592000000LL },
		{ "90d", 7776000000LL },
		{ "106751991167d", 9223372036828800000LL }, { "750", 750 },
		{ "0", 0 } };
	static const char *bad[] = { "", "-1s", "2x", "s", "1.5s", " 2s",
		"2 s", "2sec", "99999999999999999999", "9999999999999999h",
		"106751991168d", "1D", "2 d" };
	size_t             i;
	int64_t            ms;
	int                all = 1;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		all &= ad_parse_duration(good[i].text, &ms) == 0
		    && ms == good[i].ms;
	ok(all, "durations: ms, s, m, h, d and bare ms");
	all = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ad_parse_duration(bad[i], &ms) == 0) {
			diag("accepted \"%s\"", bad[i]);
			all = 0;
		}
	ok(all,
	    "durations: empty, negative, unknown unit, overflow (of days too) "
	    "refused");
	ok(ad_parse_duration(NULL, &ms) != 0, "durations: NULL refused");
}

/* ---- describe -------------------------------------------------------- */

static void
test_schema_json(void)
{
	struct ad_schema            *s = NULL;
	const struct ad_setting_def *d;
	char                         err[AD_ERRLEN];

	is_int(ad_schema_from_json(schema_json, &s, err, sizeof(err)), 0,
	    "json: descriptor parsed");
	ok(s != NULL && strcmp(s->plugin_name, "echo") == 0
	        && strcmp(s->plugin_version, "1.0.0") == 0 && s->abi_major == 1
	        && s->abi_minor == 0 && s->nsettings == 4,
	    "json: name, version, abi, settings");
	d = ad_schema_find(s, "limit");
	ok(d != NULL && d->type == AGENTD_SETTING_INT
	        && d->default_value == NULL,
	    "json: no default means required");
	d = ad_schema_find(s, "ratio");
	ok(d != NULL && d->type == AGENTD_SETTING_DOUBLE
	        && strcmp(d->default_value, "0.5") == 0,
	    "json: default kept as text");
	ad_schema_free(s);

	{
		struct ad_schema *c;

		is_int(ad_schema_from_json(schema_json, &s, err, sizeof(err)),
		    0, "dup: descriptor parsed");
		c = ad_schema_dup(s);
		ad_schema_free(s);
		d = ad_schema_find(c, "ratio");
		ok(c != NULL && strcmp(c->plugin_name, "echo") == 0
		        && strcmp(c->plugin_version, "1.0.0") == 0
		        && c->nsettings == 4 && d != NULL
		        && d->type == AGENTD_SETTING_DOUBLE
		        && strcmp(d->default_value, "0.5") == 0,
		    "dup: a deep copy outlives the original");
		d = ad_schema_find(c, "limit");
		ok(d != NULL && d->default_value == NULL,
		    "dup: a required setting stays required");
		ad_schema_free(c);
	}

	is_int(ad_schema_from_json("{\"name\":\"x\",\"abi\":{\"major\":1,"
	                           "\"minor\":2},\"settings\":[{\"name\":"
	                           "\"n\",\"type\":\"int\",\"default\":7},"
	                           "{\"name\":\"o\",\"type\":\"bool\","
	                           "\"default\":null}]}",
	           &s, err, sizeof(err)),
	    0, "json: typed default and null default");
	ok(s != NULL && strcmp(s->settings[0].default_value, "7") == 0
	        && s->settings[1].default_value == NULL && s->abi_minor == 2,
	    "json: 7 becomes \"7\", null is required");
	ad_schema_free(s);

	ok(ad_schema_from_json("{\"name\":\"x\",\"abi\":{\"major\":1,"
	                       "\"minor\":0},\"settings\":[{\"name\":\"n\","
	                       "\"type\":\"float\"}]}",
	       &s, err, sizeof(err))
	            != 0
	        && s == NULL,
	    "json: unknown type refused");
	like(err,
	    "unknown type \"float\": expected string, int, double or "
	    "bool",
	    "json: unknown type named");
	ok(ad_schema_from_json("{\"name\":", &s, err, sizeof(err)) != 0,
	    "json: malformed JSON refused");
	like(err, "not valid JSON", "json: malformed JSON said");
	ok(ad_schema_from_json("{\"version\":\"1\",\"abi\":{\"major\":1}}", &s,
	       err, sizeof(err))
	        != 0,
	    "json: missing name refused");
	ok(ad_schema_from_json("{\"name\":\"x\",\"abi\":{\"major\":1},"
	                       "\"settings\":[{\"name\":\"a\",\"type\":"
	                       "\"int\"},{\"name\":\"a\",\"type\":\"int\"}]}",
	       &s, err, sizeof(err))
	        != 0,
	    "json: duplicate setting refused");
	ok(ad_setting_type_parse("double") == AGENTD_SETTING_DOUBLE
	        && ad_setting_type_parse("float") == 0
	        && strcmp(ad_setting_type_name(AGENTD_SETTING_BOOL), "bool")
	            == 0
	        && ad_setting_type_name((enum agentd_setting_type)99) == NULL,
	    "json: type names both ways");
}

static char *
script(const char *dir, const char *name, const char *body)
{
	char *path = ad_path_join(dir, name);
	char *text = ad_xasprintf("#!/bin/sh\n%s", body);

	put(dir, name, text);
	chmod(path, 0755);
	free(text);
	return path;
}

static void
test_describe(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN], *w, *json;
	struct ad_schema *s = NULL;

	is_int(ad_plugin_describe(
	           "/bin/false", "/x/echo.so", &s, err, sizeof(err)),
	    AGENTD_EPLUGIN, "describe: failing worker");
	like(err, "agentd-worker exited with status 1",
	    "describe: exit status said");
	ok(ad_plugin_describe("/nonexistent/agentd-worker", "/x/echo.so", &s,
	       err, sizeof(err))
	            != 0
	        && s == NULL,
	    "describe: missing worker");
	like(err, "cannot run /nonexistent/agentd-worker: No such file",
	    "describe: spawn failure said");

	w = script(dir, "says-why",
	    "echo noise >&2\necho \"$2: plugin ABI 2.0, host 1.0: rebuild\" "
	    ">&2\necho >&2\nexit 3\n");
	ad_plugin_describe(w, "/x/echo.so", &s, err, sizeof(err));
	is_str(err, "/x/echo.so: plugin ABI 2.0, host 1.0: rebuild",
	    "describe: worker's last stderr line verbatim");
	free(w);
	w = script(dir, "dies", "kill -9 $$\n");
	ad_plugin_describe(w, "/x/echo.so", &s, err, sizeof(err));
	like(err, "killed by signal 9", "describe: signal said");
	free(w);
	json = ad_xasprintf("[ \"$1\" = --describe ] || exit 9\n"
	                    "echo noise >&2\ncat <<'EOF'\n%s\nEOF\n",
	    schema_json);
	w    = script(dir, "good", json);
	is_int(ad_plugin_describe(w, "/x/echo.so", &s, err, sizeof(err)), 0,
	    "describe: descriptor read from stdout");
	ok(s != NULL && s->nsettings == 4, "describe: schema parsed");
	ad_schema_free(s);
	free(w);
	free(json);
	rmtree(dir);
}

/*
 * Tolerant loading (a reload): a file that does not parse and an agent
 * with an error are left out with their error; the rest loads.
 */
static void
test_tolerant(void)
{
	struct ad_config_opts o   = test_opts;
	char                 *dir = fresh_dir();
	char                  err[AD_ERRLEN];
	struct ad_config     *c = NULL;
	size_t                i;
	int                   broken_file = 0, bad_agent = 0, dup = 0;

	put(dir, "a.conf",
	    "agent \"good\" { plugin = \"echo.so\"\n"
	    "  settings { limit = 1 } }\n");
	put(dir, "b.conf", "agent \"lost\" {\n  plugin = \n");
	put(dir, "c.conf",
	    "agent \"badmin\" { plugin = \"echo.so\"\n"
	    "  instances { min = 3 max = 2 } settings { limit = 1 } }\n"
	    "agent \"nolimit\" { plugin = \"echo.so\" }\n"
	    "agent \"good\" { plugin = \"echo.so\" settings { limit = 2 } "
	    "}\n"
	    "agent \"fine\" { plugin = \"echo.so\" settings { limit = 3 } "
	    "}\n");
	is_int(load(dir, NULL, &c, err), AGENTD_ECONFIG,
	    "tolerant: without it, the first error refuses everything");
	o.tolerant = 1;
	is_int(load(dir, &o, &c, err), 0, "tolerant: the rest loads");
	ok(c != NULL && c->nagents == 2 && ad_config_agent(c, "good") != NULL
	        && ad_config_agent(c, "fine") != NULL,
	    "tolerant: the good agents are there, the others left out");
	for (i = 0; c != NULL && i < c->nproblems; i++) {
		const struct ad_config_problem *p = &c->problems[i];

		if (p->agent == NULL && strstr(p->file, "b.conf") != NULL
		    && strstr(p->err, "b.conf:") != NULL)
			broken_file = 1;
		if (p->agent != NULL && strcmp(p->agent, "badmin") == 0
		    && strstr(p->err, "c.conf:1: agent \"badmin\"") != NULL)
			bad_agent++;
		if (p->agent != NULL && strcmp(p->agent, "nolimit") == 0
		    && strstr(p->err, "limit") != NULL)
			bad_agent++;
		if (p->agent != NULL && strcmp(p->agent, "good") == 0
		    && strstr(p->err, "already defined") != NULL)
			dup = 1;
	}
	ok(c != NULL && c->nproblems == 4, "tolerant: four problems");
	ok(broken_file, "tolerant: the file that does not parse, by name");
	is_int(bad_agent, 2, "tolerant: each bad agent, with file and line");
	ok(dup, "tolerant: the second definition is refused");
	ok(c != NULL
	        && ad_agent_setting(ad_config_agent(c, "good"), "limit")->v.i
	            == 1,
	    "tolerant: the first definition stays");
	ad_config_free(c);
	/* A second agentd { } refuses its file, and the agents in it. */
	put(dir, "d.conf",
	    "agentd { }\nagentd { }\nagent \"extra\" { plugin = "
	    "\"echo.so\" settings { limit = 4 } }\n");
	put(dir, "0.conf", "agentd { }\n");
	c = NULL;
	is_int(load(dir, &o, &c, err), 0, "tolerant: a second agentd { }");
	ok(c != NULL && ad_config_agent(c, "extra") == NULL
	        && ad_config_agent(c, "fine") != NULL,
	    "tolerant: the agents of its file are left out, not the rest");
	ad_config_free(c);
	rmtree(dir);
}

/* What a strict load reported, line by line. */
struct reported {
	char   lines[8][AD_ERRLEN];
	size_t n;
};

static void
collect(void *arg, const char *line)
{
	struct reported *r = arg;

	if (r->n < 8)
		snprintf(r->lines[r->n], sizeof(r->lines[0]), "%s", line);
	r->n++;
}

/* Strict loading reports every error in one run, as a compiler does. */
static void
test_all_errors(void)
{
	struct ad_config_opts o   = test_opts;
	char                 *dir = fresh_dir();
	char                  err[AD_ERRLEN];
	struct ad_config     *c = NULL;
	struct reported       r;
	size_t                i;
	int                   one_each = 1;

	memset(&r, 0, sizeof(r));
	o.report     = collect;
	o.report_arg = &r;
	/* A syntax error stops libconfuse in its file, not in the next. */
	put(dir, "a.conf", "agent \"lost\" {\n  plugin = \n");
	/* An agentd { } refused; its file's agents are checked still. */
	put(dir, "b.conf",
	    "agentd { http { listen = \"0.0.0.0:1\" } }\n"
	    "agent \"badmin\" { plugin = \"echo.so\"\n"
	    "  instances { min = 3 max = 2 } settings { limit = 1 } }\n"
	    "agent \"good\" { plugin = \"echo.so\" settings { limit = 1 } "
	    "}\n");
	/* Two in one file, and one found once every file is read. */
	put(dir, "c.conf",
	    "agent \"nolimit\" { plugin = \"echo.so\" }\n"
	    "agent \"good\" { plugin = \"echo.so\" settings { limit = 2 } "
	    "}\n"
	    "agent \"gone\" { plugin = \"missing.so\" }\n");
	is_int(load(dir, &o, &c, err), AGENTD_ECONFIG,
	    "all errors: the configuration is refused");
	ok(c == NULL, "all errors: nothing returned");
	is_int((int)r.n, 6, "all errors: six reported in one run");
	for (i = 0; i < r.n && i < 8; i++)
		if (strchr(r.lines[i], '\n') != NULL)
			one_each = 0;
	ok(one_each, "all errors: one line each");
	ok(r.n == 6 && strstr(r.lines[0], "a.conf:") != NULL
	        && strstr(r.lines[1], "b.conf:1: http: listen") != NULL
	        && strstr(r.lines[2], "b.conf:2: agent \"badmin\": instances")
	            != NULL
	        && strstr(r.lines[3], "c.conf:2: agent \"good\": already")
	            != NULL,
	    "all errors: the file's, then each agent's, in the order read");
	ok(r.n == 6
	        && strstr(r.lines[4], "c.conf:1: agent \"nolimit\"") != NULL
	        && strstr(r.lines[4], "limit") != NULL
	        && strstr(r.lines[5], "c.conf:3: agent \"gone\": cannot load")
	            != NULL,
	    "all errors: then the checks against each plugin's schema");
	is_str(err, r.lines[0], "all errors: err holds the first");
	rmtree(dir);
}

/* A copy is equal to its original; where it is written does not count. */
static void
test_same(void)
{
	char                  err[AD_ERRLEN];
	char                 *dir = fresh_dir();
	struct ad_config     *c   = NULL;
	struct ad_agent_conf *d;

	put(dir, "a.conf",
	    "agent \"x\" { plugin = \"echo.so\" calls = { \"y\" }\n"
	    "  health { probation = 250ms }\n"
	    "  settings { limit = 1 greeting = \"hi\" } }\n");
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	d = ad_agent_conf_dup(&c->agents[0]);
	is_int(d->probation_ms, 250, "probation: read");
	ok(ad_agent_conf_same(d, &c->agents[0]), "same: a copy");
	d->line += 3;
	ok(ad_agent_conf_same(d, &c->agents[0]), "same: moved lines");
	free(d->settings[0].v.s);
	d->settings[0].v.s = ad_xstrdup("hello");
	ok(!ad_agent_conf_same(d, &c->agents[0]), "same: a setting changed");
	ad_agent_conf_free(d);
	d = ad_agent_conf_dup(&c->agents[0]);
	d->max_instances++;
	ok(!ad_agent_conf_same(d, &c->agents[0]), "same: instances changed");
	ad_agent_conf_free(d);
	d = ad_agent_conf_dup(&c->agents[0]);
	free(d->calls[0]);
	d->calls[0] = ad_xstrdup("z");
	ok(!ad_agent_conf_same(d, &c->agents[0]), "same: calls changed");
	ad_agent_conf_free(d);
	ad_config_free(c);
	rmtree(dir);
}

/* ---- the rows of options.c ------------------------------------------- */

/* A row's section in a diagnostic. */
#define IN(section) ((section) != NULL ? (section) : "-")

/* Calls fn for every row below rows, with the section it is in (NULL at
 * the top of agentd { } or agent { }). */
typedef void (*row_fn)(const struct ad_opt *o, const char *section, void *arg);

static void
each_row(const struct ad_opt *rows, const char *section, row_fn fn, void *arg)
{
	const struct ad_opt *o;

	for (o = rows; o->name != NULL; o++) {
		if (o->kind == AD_OPT_SECTION)
			each_row(o->sub, o->name, fn, arg);
		else
			fn(o, section, arg);
	}
}

/* An agent whose line 3 is `section { name = value }` or `name = value`;
 * with global, an agentd { } whose line 2 is. */
static char *
one_option(
    int global, const char *section, const char *name, const char *value)
{
	char *line = section != NULL
	    ? ad_xasprintf("  %s { %s = %s }\n", section, name, value)
	    : ad_xasprintf("  %s = %s\n", name, value);
	char *text = global
	    ? ad_xasprintf("agentd {\n%s}\n", line)
	    : ad_xasprintf("agent \"e\" {\n  plugin = \"e.so\"\n"
	                   "%s  settings { limit = 1 }\n}\n",
	        line);

	free(line);
	return text;
}

struct row_check {
	int         global;
	const void *base; /* the struct the rows landed in */
	int         bad;
};

/* What the field holds is what `def` says, read without the rows' code. */
static void
default_lands(const struct ad_opt *o, const char *section, void *arg)
{
	struct row_check *rc   = arg;
	const char       *p    = (const char *)rc->base + o->at;
	long long         want = 0, got = 0;
	int64_t           ms = 0;
	int               i;

	switch (o->kind) {
	case AD_OPT_COUNT:
		got  = *(const unsigned *)p;
		want = o->def != NULL ? strtoll(o->def, NULL, 10) : 1;
		break;
	case AD_OPT_BYTES:
		got  = (long long)*(const size_t *)p;
		want = strtoll(o->def, NULL, 10);
		break;
	case AD_OPT_DURATION:
		got = *(const int64_t *)p;
		if (ad_parse_duration(o->def, &ms) != 0)
			got = -1;
		want = ms;
		break;
	case AD_OPT_BOOL:
		got  = *(const int *)p;
		want = strcmp(o->def, "true") == 0;
		break;
	case AD_OPT_ENUM:
		got = *(const int *)p;
		for (i = 0; o->words[i] != NULL; i++)
			if (strcmp(o->words[i], o->def) == 0)
				want = i;
		break;
	case AD_OPT_WORD: /* without a default (an address): NULL */
		want = 1;
		got  = o->def == NULL ? *(char *const *)p == NULL
		                      : *(char *const *)p != NULL
                        && strcmp(*(char *const *)p, o->def) == 0;
		break;
	case AD_OPT_TOPICS:
	case AD_OPT_NAMES:
		got = (long long)*(
		    const size_t *)((const char *)rc->base + o->count_at);
		break;
	default: /* PATH, PLUGIN: their defaults come from opts */
		return;
	}
	if (got != want) {
		diag("%s %s: holds %lld, its row's default is %s", IN(section),
		    o->name, got, o->def);
		rc->bad++;
	}
}

static void
test_rows_defaults(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c  = NULL;
	struct row_check  rc = { 0 };

	put(dir, "a.conf",
	    "agentd { }\nagent \"e\" { plugin = \"e.so\"  instances { }\n"
	    "  restart { }  health { }  settings { limit = 1 } }\n");
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	rc.base = &c->agents[0];
	each_row(ad_agent_opts, NULL, default_lands, &rc);
	ok(rc.bad == 0, "rows: empty sections hold every agent row's default");
	rc.bad  = 0;
	rc.base = &c->global;
	each_row(ad_global_opts, NULL, default_lands, &rc);
	ok(rc.bad == 0, "rows: an empty agentd { } holds every row's default");
	ad_config_free(c);
	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" "
	    "settings { limit = 1 } }\n");
	c = NULL;
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	rc.bad  = 0;
	rc.base = &c->global;
	each_row(ad_global_opts, NULL, default_lands, &rc);
	ok(rc.bad == 0, "rows: without agentd { }, every row's default");
	ad_config_free(c);
	rmtree(dir);
}

/* Loading one option with `value` fails at its line with `what`. */
static int
refused(const struct row_check *rc, const char *section,
    const struct ad_opt *o, const char *value, const char *what)
{
	char *dir  = fresh_dir();
	char *text = one_option(rc->global, section, o->name, value);
	char  err[AD_ERRLEN];
	struct ad_config *c = NULL;
	int               rv, good;
	const char       *where
	    = rc->global ? "a.conf:2: " : "a.conf:3: agent \"e\": ";

	put(dir, "a.conf", text);
	rv   = load(dir, NULL, &c, err);
	good = rv == AGENTD_ECONFIG && strstr(err, where) != NULL
	    && strstr(err, what) != NULL;
	if (!good)
		diag("%s %s = %s: got \"%s\", want \"%s...%s\"", IN(section),
		    o->name, value, err, where, what);
	ad_config_free(c);
	free(text);
	rmtree(dir);
	return good;
}

/* Loading one option with `value` lands `want` in its field. */
static int
lands(const struct row_check *rc, const char *section, const struct ad_opt *o,
    long long value, long long want)
{
	char             *dir  = fresh_dir();
	char             *v    = ad_xasprintf("%lld", value);
	char             *text = one_option(rc->global, section, o->name, v);
	char              err[AD_ERRLEN];
	struct ad_config *c = NULL;
	const char       *p;
	long long         got = -1;

	put(dir, "a.conf", text);
	if (load(dir, NULL, &c, err) == 0) {
		p = rc->global ? (const char *)&c->global
		               : (const char *)&c->agents[0];
		p += o->at;
		if (o->kind == AD_OPT_COUNT)
			got = *(const unsigned *)p;
		else if (o->kind == AD_OPT_BYTES)
			got = (long long)*(const size_t *)p;
		else
			got = *(const int64_t *)p;
	}
	if (got != want)
		diag("%s %s = %s: holds %lld (%s)", IN(section), o->name, v,
		    got, err);
	ad_config_free(c);
	free(text);
	free(v);
	rmtree(dir);
	return got == want;
}

/* Every check a row asks for refuses at the value's file:line. */
static void
bounds_hold(const struct ad_opt *o, const char *section, void *arg)
{
	struct row_check *rc = arg;
	char             *v, *what;
	int               good = 1;
	int64_t           ms   = 0;

	switch (o->kind) {
	case AD_OPT_COUNT:
	case AD_OPT_BYTES:
		what = ad_xasprintf("%s = %ld is out of range: use a number "
		                    "from %ld to %ld",
		    o->name, o->lo - 1, o->lo, o->hi);
		v    = ad_xasprintf("%ld", o->lo - 1);
		good = refused(rc, section, o, v, what);
		free(what);
		free(v);
		what = ad_xasprintf(
		    "%s = %ld is out of range", o->name, o->hi + 1);
		v = ad_xasprintf("%ld", o->hi + 1);
		good &= refused(rc, section, o, v, what);
		free(what);
		free(v);
		good &= lands(rc, section, o, o->lo, o->lo);
		good &= lands(rc, section, o, o->hi, o->hi);
		break;
	case AD_OPT_DURATION:
		what = ad_xasprintf("%s = \"2x\" is not a duration", o->name);
		good = refused(rc, section, o, "2x", what);
		free(what);
		if (o->lo > 0) {
			what = ad_xasprintf(
			    "%s must be longer than 0: give a duration such "
			    "as 10s",
			    o->name);
			good &= refused(rc, section, o, "0", what);
			free(what);
		}
		/* A millisecond over the default keeps the checks across
		 * options (backoff, heartbeats) content. */
		ad_parse_duration(o->def, &ms);
		good &= lands(rc, section, o, ms + 1, ms + 1);
		break;
	case AD_OPT_ENUM:
	case AD_OPT_WORD:
		what = o->words == NULL
		    ? ad_xasprintf(
		        "%s \"bogus\" is not %s", o->name, o->word_hint)
		    : ad_xasprintf("%s \"bogus\" is unknown: use ", o->name);
		good = refused(rc, section, o, "bogus", what);
		free(what);
		break;
	case AD_OPT_PATH:
		what = ad_xasprintf("%s is empty: give a value", o->name);
		good = refused(rc, section, o, "\"\"", what);
		free(what);
		break;
	case AD_OPT_TOPICS:
	case AD_OPT_NAMES:
		what = ad_xasprintf("%s: \"a b\" is not", o->name);
		good = refused(rc, section, o, "{ \"a b\" }", what);
		free(what);
		break;
	default: /* BOOL: libconfuse's; PLUGIN: in test_file_errors */
		break;
	}
	rc->bad += !good;
}

static void
test_rows_bounds(void)
{
	struct row_check rc = { 0 };

	each_row(ad_agent_opts, NULL, bounds_hold, &rc);
	ok(rc.bad == 0,
	    "rows: each agent row's bounds refuse at file:line, its limits "
	    "land");
	rc.bad    = 0;
	rc.global = 1;
	each_row(ad_global_opts, NULL, bounds_hold, &rc);
	ok(rc.bad == 0,
	    "rows: each agentd row's bounds refuse at file:line, its limits "
	    "land");
}

struct seen_rows {
	const char *names[64];
	size_t      at[64];
	size_t      n;
	int         bad;
};

static void
row_lands_alone(const struct ad_opt *o, const char *section, void *arg)
{
	struct seen_rows *s = arg;
	size_t            i;

	if (o->kind == AD_OPT_SETTINGS)
		return;
	for (i = 0; i < s->n; i++)
		if (s->at[i] == o->at) {
			diag("%s and %s land in the same field", s->names[i],
			    o->name);
			s->bad++;
		}
	if ((o->kind == AD_OPT_ENUM || o->kind == AD_OPT_WORD)
	    && o->def != NULL && ad_opt_word(o, o->def) < 0) {
		diag("%s: default \"%s\" is not one of its words", o->name,
		    o->def);
		s->bad++;
	}
	for (i = 0; o->words != NULL && o->words[i] != NULL; i++)
		if (ad_opt_word(o, o->words[i]) < 0) {
			diag("%s: word \"%s\" is refused", o->name,
			    o->words[i]);
			s->bad++;
		}
	s->names[s->n] = o->name;
	s->at[s->n++]  = o->at;
}

static void
section_names(const struct ad_opt *rows, struct seen_rows *s)
{
	const struct ad_opt *o;
	size_t               i;

	for (o = rows; o->name != NULL; o++) {
		if (o->sub == NULL) /* SECTION, POLICY, RULES */
			continue;
		for (i = 0; i < s->n; i++)
			if (strcmp(s->names[i], o->name) == 0) {
				diag("two sections named %s", o->name);
				s->bad++;
			}
		s->names[s->n++] = o->name;
		section_names(o->sub, s);
	}
}

/* Words, fields and section names: what conf.c relies on. */
static void
test_rows_shape(void)
{
	struct seen_rows s = { .n = 0 };

	each_row(ad_agent_opts, NULL, row_lands_alone, &s);
	s.n = 0;
	each_row(ad_global_opts, NULL, row_lands_alone, &s);
	ok(s.bad == 0,
	    "rows: each lands in a field of its own; words and defaults "
	    "parse");
	/* Within each: agentd { http { } } and an agent's http { } are
	 * told apart by the section being read (conf.c row_of). */
	s.n        = 0;
	s.bad      = 0;
	s.names[0] = "agentd";
	s.names[1] = "agent";
	s.n        = 2;
	section_names(ad_agent_opts, &s);
	s.n = 2;
	section_names(ad_global_opts, &s);
	ok(s.bad == 0,
	    "rows: section names are unique within agentd and within agent");
}

/* A copy differs from its original once any one field does. */
static void
field_compared(const struct ad_opt *o, const char *section, void *arg)
{
	struct row_check     *rc = arg;
	struct ad_agent_conf *d  = ad_agent_conf_dup(rc->base);
	char                 *p  = (char *)d + o->at;

	switch (o->kind) {
	case AD_OPT_COUNT:
		(*(unsigned *)p)++;
		break;
	case AD_OPT_DURATION:
		(*(int64_t *)p)++;
		break;
	case AD_OPT_ENUM:
		*(int *)p ^= 1;
		break;
	case AD_OPT_TOPICS:
	case AD_OPT_NAMES:
		(*(size_t *)((char *)d + o->count_at))--;
		break;
	default: /* PLUGIN: its resolved path counts; SETTINGS: test_same */
		ad_agent_conf_free(d);
		return;
	}
	if (ad_agent_conf_same(d, rc->base)) {
		diag("%s %s changed, yet the copy is the same", IN(section),
		    o->name);
		rc->bad++;
	}
	/* Put the list's count back, so that free frees every entry. */
	if (o->kind == AD_OPT_TOPICS || o->kind == AD_OPT_NAMES)
		(*(size_t *)((char *)d + o->count_at))++;
	ad_agent_conf_free(d);
}

static void
test_rows_same(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c  = NULL;
	struct row_check  rc = { 0 };

	put(dir, "a.conf",
	    "agent \"x\" { plugin = \"echo.so\" subscribe = { \"a\" }\n"
	    "  publish = { \"b\" } calls = { \"y\" }\n"
	    "  settings { limit = 1 } }\n");
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	rc.base = &c->agents[0];
	each_row(ad_agent_opts, NULL, field_compared, &rc);
	ok(rc.bad == 0, "rows: every field an agent row lands in is compared");
	ad_config_free(c);
	rmtree(dir);
}

/* doc/configuration.md's tables are what the rows print. */
static void
test_rows_doc(void)
{
	const char *top = getenv("top_srcdir");
	char       *path
	    = ad_path_join(top != NULL ? top : ".", "doc/configuration.md");
	FILE       *f  = fopen(path, "r");
	char       *md = ad_xcalloc(1, 1 << 20), *want;
	size_t      n  = f != NULL ? fread(md, 1, (1 << 20) - 1, f) : 0;
	const char *a, *b;

	if (f != NULL)
		fclose(f);
	ok(n > 0 && strstr(md, "<!-- options: agentd -->\n") != NULL
	        && strstr(md, "<!-- options: agent -->\n") != NULL
	        && strstr(md, "<!-- options: policy -->\n") != NULL
	        && strstr(md, "<!-- options: rule -->\n") != NULL,
	    "doc: configuration.md marks the agentd, agent, policy and rule "
	    "tables");
	want = ad_opts_doc_update(md);
	ok(want != NULL && strcmp(want, md) == 0,
	    "doc: configuration.md's tables are the rows' (make options-doc "
	    "rewrites them)");
	for (a = md, b = want; b != NULL && *a != '\0' && *a == *b; a++, b++)
		;
	if (b != NULL && *a != *b)
		diag("first difference: \"%.60s\" where the rows print "
		     "\"%.60s\"",
		    a, b);
	free(want);
	free(md);
	free(path);
}

/* ---- policy { } ------------------------------------------------------ */

/* The example of doc/policy.md, and an agent's section over it. */
static const char policy_conf[]
    = "policy {\n"
      "    default_risk = medium\n"
      "    deadline = 12h\n"
      "    at_deadline = approve\n"
      "    max_pending = 50\n"
      "    deadline_min = 5m\n"
      "    deadline_max = 7d\n"
      "    rule \"small-price\" {\n"
      "        type = { \"price.change\", \"price.set\" }\n"
      "        amount_below = 50\n"
      "        amount_at_least = 0\n"
      "        confidence_at_least = 0.8\n"
      "        confidence_below = 1.1\n"
      "        risk = low\n"
      "        deadline = 4h\n"
      "        at_deadline = reject\n"
      "    }\n"
      "    rule \"refunds\" { type = { \"refund\" } risk = high }\n"
      "}\n"
      "agent \"e\" {\n"
      "    plugin = \"e.so\"\n"
      "    policy {\n"
      "        default_risk = low\n"
      "        rule \"refunds\" { type = { \"*\" } risk = medium\n"
      "            deadline = 1h }\n"
      "    }\n"
      "    settings { limit = 1 }\n"
      "}\n"
      "agent \"plain\" { plugin = \"e.so\" settings { limit = 1 } }\n";

static void
test_policy_parsed(void)
{
	char                        *dir = fresh_dir();
	char                         err[AD_ERRLEN], *want;
	struct ad_config            *c = NULL;
	const struct ad_policy      *g, *p;
	const struct ad_policy_rule *r;
	struct ad_policy_match       m;

	put(dir, "a.conf", policy_conf);
	is_int(load(dir, NULL, &c, err), 0, "policy: the example loads");
	if (c == NULL) {
		diag("%s", err);
		exit(1);
	}
	g    = &c->global.policy;
	want = ad_xasprintf("%s/a.conf", dir);
	ok(g->file != NULL && strcmp(g->file, want) == 0 && g->line == 1,
	    "policy: agentd's, with its file and line");
	ok(g->default_risk == AD_RISK_MEDIUM && g->default_risk_set
	        && g->deadline_ms == 12 * 3600000LL && g->deadline_set
	        && g->at_deadline == AD_AT_DEADLINE_APPROVE
	        && g->at_deadline_set && g->max_pending == 50
	        && g->deadline_min_ms == 300000
	        && g->deadline_max_ms == 7 * 86400000LL,
	    "policy: agentd's options, each marked written");
	is_int(g->nrules, 2, "policy: agentd's two rules");
	r = &g->rules[0];
	ok(strcmp(r->name, "small-price") == 0 && r->line == 8
	        && strcmp(r->file, want) == 0 && r->ntypes == 2
	        && strcmp(r->types[1], "price.set") == 0,
	    "policy: the first rule, its place and types, in file order");
	ok(r->amount_min == 0 && r->amount_max == 50
	        && r->confidence_min == 0.8 && r->confidence_max == 1.1,
	    "policy: the rule's bounds");
	ok(r->risk == AD_RISK_LOW && r->deadline_ms == 4 * 3600000LL
	        && r->at_deadline == AD_AT_DEADLINE_REJECT
	        && r->at_deadline_set,
	    "policy: the rule's risk, deadline and at_deadline");
	r = &g->rules[1];
	ok(strcmp(r->name, "refunds") == 0 && r->line == 18
	        && r->risk == AD_RISK_HIGH && isnan(r->amount_min)
	        && isnan(r->amount_max) && isnan(r->confidence_min)
	        && isnan(r->confidence_max) && r->deadline_ms == 0
	        && !r->at_deadline_set,
	    "policy: what a rule does not write is unset");
	p = ad_config_agent(c, "e")->policy;
	ok(p != NULL && p->line == 22 && p->default_risk == AD_RISK_LOW
	        && p->default_risk_set && !p->deadline_set
	        && !p->at_deadline_set && p->max_pending == 0
	        && p->deadline_min_ms == 0 && p->nrules == 1
	        && p->rules[0].deadline_ms == 3600000,
	    "policy: an agent's holds only what it writes");
	ok(ad_config_agent(c, "plain")->policy == NULL,
	    "policy: an agent without a section has none");
	ad_policy_classify(p, g, "refund", 10, 0.5, &m);
	ok(m.risk == AD_RISK_MEDIUM && m.rule == &p->rules[0]
	        && m.deadline_ms == 3600000
	        && m.at_deadline == AD_AT_DEADLINE_APPROVE,
	    "policy: as loaded, the agent's rule first, agentd's "
	    "at_deadline");
	ad_policy_classify(NULL, g, "price.change", 49.5, 0.8, &m);
	ok(m.risk == AD_RISK_LOW && m.rule == &g->rules[0],
	    "policy: as loaded, agentd's first rule");
	free(want);
	ad_config_free(c);
	rmtree(dir);
}

/* No policy { } anywhere: agentd's defaults, fail-closed. */
static void
test_policy_defaults(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN];
	struct ad_config *c = NULL;
	struct ad_policy  d;
	struct row_check  rc = { 0 };

	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	ad_policy_defaults(&d);
	ok(c->global.policy.file == NULL && c->global.policy.nrules == 0
	        && ad_policy_same(&c->global.policy, &d),
	    "policy defaults: none written is ad_policy_defaults()");
	ok(c->global.policy.default_risk == AD_RISK_HIGH
	        && !c->global.policy.default_risk_set,
	    "policy defaults: high, and not marked written");
	rc.base = &c->global.policy;
	each_row(ad_policy_opts, NULL, default_lands, &rc);
	ok(rc.bad == 0, "policy defaults: each row's default lands");
	ad_config_free(c);
	/* An empty section is the defaults too, with a file. */
	put(dir, "a.conf", "policy { }\n");
	c = NULL;
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	rc.bad  = 0;
	rc.base = &c->global.policy;
	each_row(ad_policy_opts, NULL, default_lands, &rc);
	ok(rc.bad == 0 && c->global.policy.file != NULL
	        && ad_policy_same(&c->global.policy, &d),
	    "policy defaults: an empty policy { } holds them");
	ad_config_free(c);
	rmtree(dir);
}

/* An agent's section that says `body` on its line 3 and after. */
static char *
agent_policy(const char *body)
{
	return ad_xasprintf("agent \"e\" {\n  plugin = \"e.so\"\n"
	                    "  policy {\n%s  }\n  settings { limit = 1 }\n}\n",
	    body);
}

/* expect_error() on an agent's policy { } whose lines start at 4. */
static void
expect_agent_policy_error(
    const char *body, const char *where, const char *what, const char *name)
{
	char *text = agent_policy(body);

	expect_error(text, where, what, name);
	free(text);
}

static void
test_policy_errors(void)
{
	expect_error("policy {\n  default_risk = severe\n}\n", "a.conf:2: ",
	    "policy default_risk \"severe\" is unknown: use low, medium or "
	    "high",
	    "policy: an unknown default_risk");
	expect_agent_policy_error("    rule \"r\" {\n      risk = extreme\n"
	                          "    }\n",
	    "a.conf:5: agent \"e\": policy rule \"r\": ",
	    "risk \"extreme\" is unknown: use low, medium or high",
	    "policy: an unknown risk, in an agent's rule");
	expect_error("policy {\n  at_deadline = wait\n}\n", "a.conf:2: ",
	    "policy at_deadline \"wait\" is unknown: use reject or approve",
	    "policy: an unknown at_deadline");
	expect_error("policy {\n  rule \"r\" { risk = high\n"
	             "    at_deadline = later }\n}\n",
	    "a.conf:3: policy rule \"r\": ",
	    "at_deadline \"later\" is unknown: use reject or approve",
	    "policy: an unknown at_deadline in a rule");
	expect_agent_policy_error("    rule \"r\" { risk = low\n"
	                          "      amount_below = -1 }\n",
	    "a.conf:5: agent \"e\": policy rule \"r\": ",
	    "amount_below = -1 is negative: write 0 or more",
	    "policy: a negative threshold");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    confidence_at_least = -0.5 }\n}\n",
	    "a.conf:3: ", "confidence_at_least = -0.5 is negative",
	    "policy: a negative confidence");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    confidence_below = nan }\n}\n",
	    "a.conf:3: policy rule \"r\": ",
	    "confidence_below = \"nan\" is not a number: write one such as "
	    "50 or 0.8 (not nan or inf), or remove the line",
	    "policy: NaN");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    amount_at_least = \"inf\" }\n}\n",
	    "a.conf:3: ", "amount_at_least = \"inf\" is not a number",
	    "policy: inf");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    amount_below = 0x10 }\n}\n",
	    "a.conf:3: ", "amount_below = \"0x10\" is not a number",
	    "policy: hexadecimal");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    amount_below = 1e999 }\n}\n",
	    "a.conf:3: ", "amount_below = \"1e999\" is not a number",
	    "policy: a number past a double");
	expect_error("policy {\n  deadline = soon\n}\n",
	    "a.conf:2: ", "deadline = \"soon\" is not a duration",
	    "policy: a bad duration");
	expect_agent_policy_error("    rule \"r\" { risk = high\n"
	                          "      deadline = 0 }\n",
	    "a.conf:5: agent \"e\": policy rule \"r\": ",
	    "deadline must be longer than 0", "policy: a zero deadline");
	expect_error("policy {\n  rule \"r\" { risk = high\n"
	             "    deadline = 31d }\n}\n",
	    "a.conf:2: policy rule \"r\": ",
	    "deadline 31d is not within 1m to 30d (agentd's deadline_min "
	    "and deadline_max): write one within them, or change them",
	    "policy: a rule's deadline past deadline_max");
	expect_error("policy {\n  rule \"r\" { risk = high\n"
	             "    deadline = 59s }\n}\n",
	    "a.conf:2: policy rule \"r\": ",
	    "deadline 59s is not within 1m to 30d",
	    "policy: a rule's deadline under deadline_min");
	expect_error("\npolicy {\n  deadline_max = 12h\n}\n", "a.conf:2: ",
	    "policy deadline 1d (the default) is not within 1m to 12h",
	    "policy: the default deadline past a written deadline_max");
	expect_error("policy {\n  deadline_min = 2h\n  deadline_max = 1h\n"
	             "  deadline = 1h\n}\n",
	    "a.conf:1: ",
	    "policy deadline_min (2h) is longer than deadline_max (1h): "
	    "lower deadline_min or raise deadline_max",
	    "policy: deadline_min over deadline_max");
	expect_agent_policy_error("    deadline = 45d\n",
	    "a.conf:3: agent \"e\": ",
	    "policy deadline 45d is not within 1m to 30d",
	    "policy: an agent's deadline past agentd's deadline_max");
	expect_error("policy {\n  rule \"r\" {\n    type = { \"price\", "
	             "\"a b\" }\n    risk = low }\n}\n",
	    "a.conf:3: policy rule \"r\": ",
	    "type: \"a b\" is not a topic: use \"*\" or 1 to 255 letters",
	    "policy: an invalid type pattern");
	expect_error("policy {\n  rule \"r\" { type = { \"price.*\" } "
	             "risk = low }\n}\n",
	    "a.conf:2: ", "type: \"price.*\" is not a topic",
	    "policy: \"*\" only as a whole pattern");
	expect_agent_policy_error("    rule \"r\" {\n      type = { \"x\" }\n"
	                          "    }\n",
	    "a.conf:4: agent \"e\": policy rule \"r\": ",
	    "no risk: add risk = low, medium or high",
	    "policy: a rule without risk");
	expect_error("policy {\n  rule \"r\" { risk = low }\n"
	             "  rule \"r\" { risk = high }\n}\n",
	    "a.conf:3: policy rule \"r\": ",
	    "defined twice in this policy section (first at line 2): rename "
	    "or remove one",
	    "policy: two rules of one name");
	expect_error("policy {\n  rule \"default\" { risk = low }\n}\n",
	    "a.conf:2: policy rule \"default\": ",
	    "\"default\" names the policy's default_risk in decisions",
	    "policy: a rule named default");
	expect_error("policy {\n  rule \"a b\" { risk = low }\n}\n",
	    "a.conf:2: policy rule \"a b\": ", "not a valid rule name",
	    "policy: an invalid rule name");
	expect_error("policy {\n  rule \"r\" { risk = low\n"
	             "    amount_at_least = 50  amount_below = 50 }\n}\n",
	    "a.conf:2: policy rule \"r\": ",
	    "amount_at_least (50) is not below amount_below (50), so no "
	    "amount matches: lower amount_at_least or raise amount_below",
	    "policy: amount bounds no amount meets");
	expect_agent_policy_error("    rule \"r\" { risk = low\n"
	                          "      confidence_at_least = 0.9\n"
	                          "      confidence_below = 0.5 }\n",
	    "a.conf:4: agent \"e\": policy rule \"r\": ",
	    "confidence_at_least (0.9) is not below confidence_below (0.5)",
	    "policy: confidence bounds no confidence meets");
	expect_agent_policy_error("    deadline_min = 1h\n",
	    "a.conf:4: agent \"e\": ",
	    "policy deadline_min is agentd's alone: remove it here, or move "
	    "it to the policy { } at the top level of a file",
	    "policy: deadline_min in an agent's");
	expect_agent_policy_error("    deadline_max = 1h\n",
	    "a.conf:4: agent \"e\": ", "policy deadline_max is agentd's alone",
	    "policy: deadline_max in an agent's");
	expect_error("policy { }\n\npolicy { }\n", "a.conf:3: ",
	    "a second policy section (the first is at line 1): merge them "
	    "into one",
	    "policy: two at the top of one file");
	expect_agent_policy_error("  }\n  policy {\n",
	    "a.conf:5: agent \"e\": ",
	    "a second policy section (the first is at line 3)",
	    "policy: two in one agent");
	expect_error("policy {\n  max_pending = 0\n}\n", "a.conf:2: ",
	    "max_pending = 0 is out of range: use a number from 1 to",
	    "policy: max_pending 0");
	expect_error(
	    "policy {\n  rule \"r\" { risk = low  colour = red }\n}\n",
	    "a.conf:2: policy rule \"r\": ", "no such option 'colour'",
	    "policy: libconfuse's errors name the rule too");
}

/* What involves agentd's policy and an agent's, in two files; and two
 * top-level sections in two. */
static void
test_policy_files(void)
{
	char             *dir = fresh_dir();
	char              err[AD_ERRLEN], *want;
	struct ad_config *c = NULL;

	put(dir, "a.conf",
	    "agent \"e\" { plugin = \"e.so\" settings { limit = 1 }\n"
	    "  policy {\n    rule \"r\" { risk = high deadline = 20d } } }\n");
	put(dir, "conf.d/z.conf", "policy { deadline_max = 10d }\n");
	is_int(load(dir, NULL, &c, err), AGENTD_ECONFIG,
	    "policy files: an agent's deadline past a later file's bound");
	want = ad_xasprintf("%s/a.conf:3: agent \"e\": policy rule \"r\": "
	                    "deadline 20d is not within 1m to 10d",
	    dir);
	like(err, want, "policy files: the agent's rule, at its line");
	free(want);
	put(dir, "conf.d/z.conf",
	    "policy { deadline_max = 20d  deadline_min = 1h\n"
	    "  rule \"s\" { risk = high  deadline = 1h } }\n");
	is_int(load(dir, NULL, &c, err), 0,
	    "policy files: within it once raised, the bounds themselves "
	    "too");
	ad_config_free(c);
	c = NULL;
	put(dir, "b.conf", "\n\npolicy { default_risk = low }\n");
	is_int(load(dir, NULL, &c, err), AGENTD_ECONFIG,
	    "policy files: two top-level sections in two files");
	want = ad_xasprintf("%s/conf.d/z.conf:1: a second top-level policy "
	                    "section (the first is in %s/b.conf:3): keep only "
	                    "one",
	    dir, dir);
	like(err, want, "policy files: both files named");
	free(want);
	rmtree(dir);
}

/* Reload's loading: a bad policy leaves out its agent or its file. */
static void
test_policy_tolerant(void)
{
	struct ad_config_opts o   = test_opts;
	char                 *dir = fresh_dir();
	char                  err[AD_ERRLEN];
	struct ad_config     *c = NULL;

	o.tolerant = 1;
	put(dir, "a.conf",
	    "agent \"bad\" { plugin = \"e.so\" settings { limit = 1 }\n"
	    "  policy { deadline = 40d } }\n"
	    "agent \"good\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	put(dir, "b.conf",
	    "policy { default_risk = low  deadline_max = 1h }\n"
	    "agentd { log_level = debug }\n"
	    "agent \"inb\" { plugin = \"e.so\" settings { limit = 1 } }\n");
	is_int(load(dir, &o, &c, err), 0, "policy tolerant: loads");
	ok(c != NULL && c->nagents == 1 && ad_config_agent(c, "good") != NULL,
	    "policy tolerant: the agent with a bad deadline and the file "
	    "with a bad policy are left out");
	ok(c != NULL && c->nproblems == 2
	        && strstr(c->problems[0].err, "b.conf:1: policy deadline 1d")
	            != NULL
	        && c->problems[1].agent != NULL
	        && strcmp(c->problems[1].agent, "bad") == 0,
	    "policy tolerant: each problem, with its file and line");
	ok(c != NULL && c->global.policy.file == NULL
	        && !c->global.policy.default_risk_set
	        && c->global.policy.default_risk == AD_RISK_HIGH
	        && strcmp(c->global.log_level, "info") == 0,
	    "policy tolerant: the refused file's policy and agentd { } are "
	    "not used");
	ad_config_free(c);
	rmtree(dir);
}

/* Copies, comparisons and frees of an agent's policy go with the rest. */
static void
test_policy_same(void)
{
	char                  err[AD_ERRLEN];
	char                 *dir = fresh_dir();
	struct ad_config     *c   = NULL;
	struct ad_agent_conf *d;
	struct ad_policy     *p;

	put(dir, "a.conf", policy_conf);
	if (load(dir, NULL, &c, err) != 0) {
		diag("%s", err);
		exit(99);
	}
	d = ad_agent_conf_dup(&c->agents[0]);
	ok(d->policy != NULL && d->policy != c->agents[0].policy
	        && d->policy->rules != c->agents[0].policy->rules
	        && ad_agent_conf_same(d, &c->agents[0]),
	    "policy same: a deep copy is the same");
	d->policy->rules[0].line += 2;
	d->policy->line += 2;
	ok(ad_agent_conf_same(d, &c->agents[0]),
	    "policy same: moved lines are no change");
	d->policy->rules[0].risk = AD_RISK_HIGH;
	ok(!ad_agent_conf_same(d, &c->agents[0]),
	    "policy same: a rule's risk changed");
	ad_agent_conf_free(d);
	d         = ad_agent_conf_dup(&c->agents[0]);
	p         = d->policy;
	d->policy = NULL;
	ok(!ad_agent_conf_same(d, &c->agents[0])
	        && !ad_agent_conf_same(&c->agents[0], d),
	    "policy same: a policy removed");
	d->policy = p;
	ad_agent_conf_free(d);
	ad_config_free(c);
	rmtree(dir);
}

/* Each option of a policy { } refuses a bad value at its line, at the top
 * of a file and in an agent's; the agentd-only ones anywhere but there. */
static void
policy_row_refuses(const struct ad_opt *o, const char *section, void *arg)
{
	struct row_check *rc = arg;
	const char       *bad;
	char             *line, *top, *in_agent, *dir, err[AD_ERRLEN];
	struct ad_config *c;
	int               good = 1, agent;
	/* Where the value is: a policy's line 2 or a rule's line 3, one
	 * line lower in an agent's. */
	const char *where[2] = { rc->global ? "a.conf:2: " : "a.conf:3: ",
		rc->global ? "a.conf:4: agent \"e\": "
		           : "a.conf:5: agent \"e\": " };

	switch (o->kind) {
	case AD_OPT_ENUM:
		bad = "bogus";
		break;
	case AD_OPT_DURATION:
		bad = "2x";
		break;
	case AD_OPT_COUNT:
		bad = "0";
		break;
	case AD_OPT_NUMBER:
		bad = "-2";
		break;
	case AD_OPT_TOPICS:
		bad = "{ \"a b\" }";
		break;
	default: /* RULES: test_policy_errors */
		return;
	}
	line     = rc->global
	        ? ad_xasprintf("  %s = %s\n", o->name, bad)
	        : ad_xasprintf(
	            "  rule \"r\" {\n  %s = %s\n  risk = low }\n", o->name, bad);
	top      = ad_xasprintf("policy {\n%s}\n", line);
	in_agent = agent_policy(line);
	for (agent = 0; agent < 2; agent++) {
		dir = fresh_dir();
		c   = NULL;
		put(dir, "a.conf", agent ? in_agent : top);
		good &= load(dir, NULL, &c, err) == AGENTD_ECONFIG
		    && strstr(err, where[agent]) != NULL
		    && strstr(err, o->name) != NULL;
		if (!good)
			diag("%s %s = %s: %s", IN(section), o->name, bad, err);
		ad_config_free(c);
		rmtree(dir);
	}
	free(line);
	free(top);
	free(in_agent);
	rc->bad += !good;
}

static void
test_policy_rows(void)
{
	struct row_check     rc = { .global = 1 };
	struct seen_rows     s  = { .n = 0 };
	const char          *body;
	char                *text, *dir, err[AD_ERRLEN];
	struct ad_config    *c;
	const struct ad_opt *o;
	int                  bad = 0;

	each_row(ad_policy_opts, "policy", policy_row_refuses, &rc);
	ok(rc.bad == 0, "policy rows: each refuses a bad value at its line");
	rc.bad    = 0;
	rc.global = 0;
	each_row(ad_rule_opts, "rule", policy_row_refuses, &rc);
	ok(rc.bad == 0,
	    "policy rows: each rule row refuses a bad value at its line");
	/* agentd_only: refused in an agent's, whatever the kind. */
	for (o = ad_policy_opts; o->name != NULL; o++) {
		if (!o->agentd_only)
			continue;
		body = o->kind == AD_OPT_DURATION ? "1h" : "1";
		text = ad_xasprintf("agent \"e\" {\n  plugin = \"e.so\"\n"
		                    "  policy {\n    %s = %s\n  }\n"
		                    "  settings { limit = 1 }\n}\n",
		    o->name, body);
		dir  = fresh_dir();
		c    = NULL;
		put(dir, "a.conf", text);
		if (load(dir, NULL, &c, err) != AGENTD_ECONFIG
		    || strstr(err, "is agentd's alone") == NULL) {
			diag("%s in an agent's policy: %s", o->name, err);
			bad++;
		}
		ad_config_free(c);
		rmtree(dir);
		free(text);
	}
	ok(bad == 0, "policy rows: the agentd-only ones refused in agents'");
	each_row(ad_policy_opts, NULL, row_lands_alone, &s);
	s.n = 0;
	each_row(ad_rule_opts, NULL, row_lands_alone, &s);
	ok(s.bad == 0,
	    "policy rows: each lands in a field of its own; words and "
	    "defaults parse");
	/* The words are enum ad_risk's, as rules.c names them. */
	ok(ad_risk_parse("low") == AD_RISK_LOW
	        && ad_risk_parse("medium") == AD_RISK_MEDIUM
	        && ad_risk_parse("high") == AD_RISK_HIGH
	        && ad_opt_word(&ad_policy_opts[0], "medium") == AD_RISK_MEDIUM
	        && ad_opt_word(&ad_policy_opts[0], "high") == AD_RISK_HIGH,
	    "policy rows: the risk words are in enum ad_risk's order");
}

/* ---- http { webhook "NAME" { } } -------------------------------------- */

static const char hooks_conf[]
    = "agentd {\n"
      "  http {\n"
      "    listen = \"127.0.0.1:0\"\n"
      "    webhook \"shop-orders\" {\n"
      "      path = \"/hooks/shop/orders\"\n"
      "      topic = \"shop.order.created\"\n"
      "      secret_file = \"shop.secret\"\n"
      "      signature_header = \"X-Shopify-Hmac-Sha256\"\n"
      "      id_header = \"X-Shopify-Webhook-Id\"\n"
      "      replay_window = 5m\n"
      "    }\n"
      "    webhook \"forge\" {\n"
      "      path = \"/hooks/forge\"  topic = \"forge.push\"\n"
      "      secret_file = \"/nonexistent-but-replaced\"\n"
      "      signature_header = \"X-Hub-Signature-256\"  encoding = hex\n"
      "    }\n"
      "  }\n"
      "}\n";

/* hooks_conf for a.conf in dir, which holds shop.secret: the second
 * webhook names the first's file, absolutely.  Caller frees. */
static char *
hooks_text(const char *dir)
{
	char *abs = ad_path_join(dir, "shop.secret");
	char *text;

	put(dir, "shop.secret", "s3cret\n");
	text = ad_xasprintf("%.*s%s%s",
	    (int)(strstr(hooks_conf, "/nonexistent") - hooks_conf), hooks_conf,
	    abs, strstr(hooks_conf, "-replaced") + strlen("-replaced"));
	free(abs);
	return text;
}

/* hooks_text with `from` replaced by `to` (once): the error loading it,
 * or "" when it loads. */
static void
hooks_error(const char *from, const char *to, char *err)
{
	char             *dir   = fresh_dir();
	char             *fixed = hooks_text(dir);
	struct ad_config *c     = NULL;
	const char       *at;
	char             *text;

	at   = from != NULL ? strstr(fixed, from) : NULL;
	text = at != NULL ? ad_xasprintf(
	           "%.*s%s%s", (int)(at - fixed), fixed, to, at + strlen(from))
	                  : ad_xstrdup(fixed);
	put(dir, "a.conf", text);
	if (load(dir, NULL, &c, err) == 0)
		err[0] = '\0';
	ad_config_free(c);
	free(text);
	free(fixed);
	rmtree(dir);
}

static void
test_webhooks(void)
{
	char                         *dir = fresh_dir();
	char                         *abs = ad_path_join(dir, "shop.secret");
	char                          err[AD_ERRLEN];
	struct ad_config             *c = NULL, *d = NULL;
	const struct ad_webhook_conf *h;
	unsigned char                *secret;
	size_t                        len;
	char                         *text, *path = ad_path_join(dir, "s");

	hooks_error(NULL, NULL, err);
	ok(err[0] == '\0', "webhooks: two load");
	if (err[0] != '\0')
		diag("%s", err);
	text = hooks_text(dir);
	put(dir, "a.conf", text);
	free(text);
	load(dir, NULL, &c, err);
	ok(c != NULL && c->global.http_nwebhooks == 2,
	    "webhooks: land in http_webhooks, in file order");
	h = c != NULL ? c->global.http_webhooks : NULL;
	ok(h != NULL && strcmp(h[0].name, "shop-orders") == 0 && h[0].line == 4
	        && strcmp(h[0].path, "/hooks/shop/orders") == 0
	        && strcmp(h[0].topic, "shop.order.created") == 0
	        && strcmp(h[0].secret_file, abs) == 0
	        && strcmp(h[0].signature_header, "X-Shopify-Hmac-Sha256") == 0
	        && h[0].encoding == AD_WEBHOOK_BASE64
	        && strcmp(h[0].id_header, "X-Shopify-Webhook-Id") == 0
	        && h[0].replay_window_ms == 300000,
	    "webhooks: every option lands; secret_file from the file's "
	    "folder");
	ok(h != NULL && strcmp(h[1].name, "forge") == 0
	        && h[1].encoding == AD_WEBHOOK_HEX && h[1].id_header == NULL
	        && h[1].replay_window_ms == 600000,
	    "webhooks: encoding hex; no id_header; replay_window 10m");
	put(dir, "a.conf", "agentd { http { listen = \"127.0.0.1:0\" } }\n");
	load(dir, NULL, &d, err);
	ok(c != NULL && d != NULL
	        && ad_opts_same(ad_http_opts, &c->global, &c->global)
	        && !ad_opts_same(ad_http_opts, &c->global, &d->global),
	    "webhooks: a reload compares them with http { }");
	ad_config_free(c);
	ad_config_free(d);

	put(dir, "s", "line\r\n");
	ok(ad_webhook_secret_read(path, &secret, &len, err, sizeof(err)) == 0
	        && len == 4 && memcmp(secret, "line", 4) == 0,
	    "secret: one line, its end (\\r\\n) not included");
	ad_webhook_secret_free(secret, len);
	put(dir, "s", "a\nb\n");
	ok(ad_webhook_secret_read(path, &secret, &len, err, sizeof(err))
	            == AGENTD_ECONFIG
	        && strstr(err, "more than one line") != NULL,
	    "secret: two lines refused");
	ok(ad_webhook_path_word("/hooks/a.b/c_d~-") == 0
	        && ad_webhook_path_word("/hooks/") != 0
	        && ad_webhook_path_word("/hooks") != 0
	        && ad_webhook_path_word("/hooks/a/") != 0
	        && ad_webhook_path_word("/hooks//a") != 0
	        && ad_webhook_path_word("/hooks/a/../b") != 0
	        && ad_webhook_path_word("/hooks/./b") != 0
	        && ad_webhook_path_word("/hooks/a%20") != 0
	        && ad_webhook_path_word("/v1/hooks/a") != 0,
	    "paths: /hooks/ and clean segments only");
	rmtree(dir);

	hooks_error("/hooks/shop/orders", "/shop/orders", err);
	like(err,
	    "a.conf:5: http: webhook \"shop-orders\": path \"/shop/orders\" "
	    "is not a path under /hooks/",
	    "errors: a path outside /hooks/, at its line");
	hooks_error("webhook \"forge\"", "webhook \"shop-orders\"", err);
	like(err,
	    "a.conf:12: http: webhook \"shop-orders\": defined twice in "
	    "http { } (first at line 4): rename or remove one",
	    "errors: a name twice");
	hooks_error("/hooks/forge", "/hooks/shop/orders", err);
	like(err,
	    "a.conf:12: http: webhook \"forge\": path "
	    "\"/hooks/shop/orders\" is webhook \"shop-orders\"'s already "
	    "(line 4)",
	    "errors: a path twice");
	hooks_error("\"shop.secret\"", "\"gone.secret\"", err);
	like(err,
	    "a.conf:7: http: webhook \"shop-orders\": secret_file "
	    "\"gone.secret\": cannot read ",
	    "errors: a secret_file that cannot be read, at its line");
	hooks_error("\"shop.order.created\"", "\"shop order\"", err);
	like(err,
	    "a.conf:6: http: webhook \"shop-orders\": topic \"shop order\" "
	    "is not a topic",
	    "errors: a bad topic");
	hooks_error("topic = \"forge.push\"", "", err);
	like(err, "a.conf:12: http: webhook \"forge\": no topic: add topic",
	    "errors: an option it needs, at the webhook's line");
	hooks_error("listen = \"127.0.0.1:0\"", "", err);
	like(err, "a.conf:4: http: webhook \"shop-orders\": no HTTP server",
	    "errors: a webhook without listen");
	hooks_error("\"forge\"", "\"f!\"", err);
	like(err, "a.conf:12: http: webhook \"f!\": not a valid webhook name",
	    "errors: a bad name");
	free(abs);
	free(path);
}

/* An agent's schedule "NAME" { } sections. */
static const char sched_text[] = "agent \"shop\" {\n"
                                 "  plugin = \"e.so\" settings { limit = 1 }\n"
                                 "  schedule \"stock\" { every = 10m }\n"
                                 "  schedule \"nightly\" {\n"
                                 "    cron = \"0 3 * * mon-fri\"\n"
                                 "    timezone = \"Europe/Berlin\"\n"
                                 "    missed = run\n"
                                 "    body = \"{\\\"full\\\": true}\"\n"
                                 "  }\n"
                                 "}\n";

static void
test_schedules(void)
{
	char                          *dir = fresh_dir();
	char                           err[AD_ERRLEN];
	struct ad_config              *c = NULL;
	const struct ad_schedule_conf *s = NULL;
	struct ad_agent_conf          *copy;

	put(dir, "a.conf", sched_text);
	load(dir, NULL, &c, err);
	ok(c != NULL && c->nagents == 1 && c->agents[0].nschedules == 2,
	    "schedules: two land, in file order");
	if (c == NULL) {
		diag("%s", err);
		rmtree(dir);
		return;
	}
	s = c->agents[0].schedules;
	ok(strcmp(s[0].name, "stock") == 0 && s[0].line == 3
	        && s[0].every_ms == 600000 && s[0].cron == NULL
	        && s[0].timezone == NULL && s[0].missed == AD_MISSED_SKIP
	        && s[0].body == NULL,
	    "schedules: every, and the defaults");
	ok(strcmp(s[1].name, "nightly") == 0 && s[1].line == 4
	        && s[1].every_ms == 0
	        && strcmp(s[1].cron, "0 3 * * mon-fri") == 0
	        && strcmp(s[1].timezone, "Europe/Berlin") == 0
	        && s[1].missed == AD_MISSED_RUN
	        && strcmp(s[1].body, "{\"full\": true}") == 0,
	    "schedules: cron, timezone, missed and body");
	copy = ad_agent_conf_dup(&c->agents[0]);
	ok(ad_agent_conf_same(copy, &c->agents[0]),
	    "schedules: a copy is the same");
	free(copy->schedules[1].cron);
	copy->schedules[1].cron = ad_xstrdup("0 4 * * *");
	ok(!ad_agent_conf_same(copy, &c->agents[0]),
	    "schedules: a changed cron is a change (a new generation)");
	copy->nschedules = 1; /* the second is freed with the array */
	free(copy->schedules[1].name);
	ad_opts_free(ad_schedule_opts, &copy->schedules[1]);
	ok(!ad_agent_conf_same(copy, &c->agents[0]),
	    "schedules: one removed is a change");
	ad_agent_conf_free(copy);
	ad_config_free(c);
	rmtree(dir);

	expect_error("agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 "
	             "}\n schedule \"x\" {\n"
	             "  cron = \"0 3 * *\"\n }\n}\n",
	    "a.conf:4: agent \"a\": schedule \"x\": ",
	    "cron \"0 3 * *\": has 4 fields: write five",
	    "schedules: a cron expression of four fields, at its line");
	expect_error(
	    "agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 }\n"
	    " schedule \"x\" { every = 1s }\n"
	    " schedule \"x\" { every = 2s }\n}\n",
	    "a.conf:4: agent \"a\": schedule \"x\": ",
	    "defined twice in this agent (first at line 3)",
	    "schedules: a name twice");
	expect_error(
	    "agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 }\n"
	    " schedule \"x\" { every = 1s\n timezone = \"UTC\" }\n}\n",
	    "a.conf:3: agent \"a\": schedule \"x\": ",
	    "timezone is for cron: remove it",
	    "schedules: a timezone without cron");
	expect_error(
	    "agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 }\n"
	    " schedule \"x\" { missed = run }\n}\n",
	    "a.conf:3: agent \"a\": schedule \"x\": ",
	    "no time: add every = 10m, or cron = \"0 3 * * *\"",
	    "schedules: neither every nor cron");
	expect_error(
	    "agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 }\n"
	    " schedule \"x\" { every = 1s\n"
	    " body = \"{\\\"due\\\": 1}\" }\n}\n",
	    "a.conf:4: agent \"a\": schedule \"x\": ",
	    "body \"{\"due\": 1}\": writes \"due\", which every run's event "
	    "has",
	    "schedules: a body writing a key of the event");
	expect_error(
	    "agent \"a\" {\n plugin = \"e.so\" settings { limit = 1 }\n"
	    " schedule \"x\" { every = 1s\n missed = twice }\n}\n",
	    "a.conf:4: agent \"a\": schedule \"x\": ",
	    "missed \"twice\" is unknown: use skip or run",
	    "schedules: missed neither run nor skip");
}

int
main(void)
{
	plan(192 + 16 + 3 + 1 + 6 + 10 + 127 + 16 + 7 + 6 + 6 * 3);
	test_tolerant();
	test_all_errors();
	test_same();
	test_full();
	test_defaults();
	test_order();
	test_file_errors();
	test_comments();
	test_balance();
	test_after_error();
	test_cross_file();
	test_plugin_paths();
	test_durations();
	test_schema_json();
	test_describe();
	test_rows_defaults();
	test_rows_bounds();
	test_rows_shape();
	test_rows_same();
	test_rows_doc();
	test_policy_parsed();
	test_policy_defaults();
	test_policy_errors();
	test_policy_files();
	test_policy_tolerant();
	test_policy_same();
	test_policy_rows();
	test_webhooks();
	test_schedules();
	return done_testing();
}
