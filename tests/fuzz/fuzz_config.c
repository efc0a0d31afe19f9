/*
 * fuzz_config - libFuzzer harness for the configuration loader
 * (config/conf.c and config/options.c), which reads files an operator or
 * a package writes.
 *
 * The input is up to four .conf files, split at lines "#--file--": the
 * first two go into the configuration directory, the others into its
 * conf.d/.  They are written into a temporary directory of this process
 * and loaded twice, as agentd starts (strict) and as it reloads
 * (tolerant).  What must hold: the loader answers 0, or AGENTD_ECONFIG /
 * AGENTD_ENOENT with one line of error; every agent it returns is found by
 * name and equals its own copy.  Plugins are described by a fixed schema
 * (a plugin whose name says "missing" cannot be), as in test_config.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/util.h"
#include "config/conf.h"
#include "plugin/describe.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFILES 4
#define SEPARATOR "\n#--file--\n"

static const char schema_json[]
    = "{\"name\":\"echo\",\"version\":\"1.0.0\",\"description\":\"fuzz\","
      "\"abi\":{\"major\":1,\"minor\":0},\"settings\":["
      "{\"name\":\"greeting\",\"type\":\"string\",\"default\":\"hello\"},"
      "{\"name\":\"limit\",\"type\":\"int\",\"required\":true},"
      "{\"name\":\"ratio\",\"type\":\"double\",\"default\":\"0.5\"},"
      "{\"name\":\"verbose\",\"type\":\"bool\",\"default\":\"false\"}]}";

static char *dir;           /* this process's directory */
static char *paths[NFILES]; /* where each part goes */
static char *subdir;        /* dir/conf.d */

static int
lookup(void *arg, const struct ad_agent_conf *a, struct ad_schema **schema,
    char *err, size_t errlen)
{
	if (strstr(a->plugin, "missing") != NULL) {
		ad_seterr(err, errlen, "cannot load %s: install the plugin",
		    a->plugin_path);
		return AGENTD_ENOENT;
	}
	return ad_schema_from_json(schema_json, schema, err, errlen);
}

static void
cleanup(void)
{
	int i;

	for (i = 0; i < NFILES; i++)
		unlink(paths[i]);
	rmdir(subdir);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int         i;

	/* The loader's refusals are its answers here, not news. */
	ad_log_set_level(AGENTD_LOG_ERROR - 1);
	dir = ad_xasprintf("%s/fuzz_config.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_config: mkdtemp");
		exit(1);
	}
	subdir = ad_path_join(dir, "conf.d");
	for (i = 0; i < NFILES; i++)
		paths[i] = i < 2 ? ad_xasprintf("%s/%d.conf", dir, i)
		                 : ad_xasprintf("%s/%d.conf", subdir, i);
	atexit(cleanup);
	return 0;
}

static void
put(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/* Write the parts of data; the files of missing parts are removed. */
static void
write_parts(const uint8_t *data, size_t size)
{
	const size_t seplen = sizeof(SEPARATOR) - 1;
	const void  *end    = data + size;
	int          i;

	for (i = 0; i < NFILES; i++) {
		const uint8_t *cut;
		size_t         n;

		if (data == NULL) {
			unlink(paths[i]);
			continue;
		}
		if (i == 2)
			mkdir(subdir, 0700);
		cut = i < NFILES - 1
		    ? memmem(data, (size_t)((const uint8_t *)end - data),
		        SEPARATOR, seplen)
		    : NULL;
		n   = cut != NULL ? (size_t)(cut - data)
		                  : (size_t)((const uint8_t *)end - data);
		put(paths[i], data, n);
		data = cut != NULL ? cut + seplen : NULL;
	}
}

static void
check_loaded(const struct ad_config *c)
{
	size_t i;

	for (i = 0; i < c->nagents; i++) {
		const struct ad_agent_conf *a = &c->agents[i];
		struct ad_agent_conf       *copy;

		if (ad_config_agent(c, a->name) != a)
			abort();
		copy = ad_agent_conf_dup(a);
		if (!ad_agent_conf_same(a, copy))
			abort();
		ad_agent_conf_free(copy);
	}
}

static void
load_once(int tolerant)
{
	struct ad_config_opts opts = {
		.default_state_dir  = "/var/lib/agentd",
		.default_run_dir    = "/run/agentd",
		.default_plugin_dir = "/usr/lib/agentd/plugins",
		.tolerant           = tolerant,
	};
	struct ad_config *c = NULL;
	char              err[AD_ERRLEN];
	int               rv;

	err[0] = '\0';
	rv = ad_config_load(dir, &opts, lookup, NULL, &c, err, sizeof(err));
	if (rv == 0) {
		if (c == NULL)
			abort();
		check_loaded(c);
		ad_config_free(c);
	} else if ((rv != AGENTD_ECONFIG && rv != AGENTD_ENOENT) || c != NULL
	    || err[0] == '\0' || strchr(err, '\n') != NULL) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_parts(data, size);
	load_once(0);
	load_once(1);
	return 0;
}
