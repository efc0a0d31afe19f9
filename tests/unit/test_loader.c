/* The plugin loader's checks, against real test plugins. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
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

int
main(void)
{
	struct ad_plugin *p = NULL;
	char              err[AD_ERRLEN];
	char             *path, *json, abi[64];
	char              text[] = "/tmp/agentd-loader-XXXXXX";
	int               fd;

	plan(14);
	path = plugin("typed.so");
	is_int(ad_plugin_open(path, &p, err, sizeof(err)), 0,
	    "a good plugin loads");
	free(path);
	if (p == NULL) {
		diag("%s", err);
		return 1;
	}
	is_str(p->desc.name, "typed", "its descriptor is copied");
	ok(p->desc.settings != NULL && p->desc.on_request != NULL,
	    "callbacks and schema are there");
	json = ad_plugin_describe_json(p);
	like(json, "\"name\":\"limit\",\"type\":\"int\",\"default\":null",
	    "describe JSON marks a required int setting");
	snprintf(abi, sizeof(abi), "\"abi\":{\"major\":%d,\"minor\":%d}",
	    AGENTD_ABI_MAJOR, AGENTD_ABI_MINOR);
	like(json, abi, "describe JSON has the ABI it was built for");
	free(json);
	ad_plugin_close(p);

	is_int(open_err("nodesc.so", err, sizeof(err)), AGENTD_EABI,
	    "a .so without descriptor is refused");
	like(err, "no agentd_plugin_v1 symbol", "... saying what is missing");
	is_int(open_err("badmagic.so", err, sizeof(err)), AGENTD_EABI,
	    "a wrong magic is refused");
	like(err, "wrong magic", "... saying so");
	is_int(open_err("abi2.so", err, sizeof(err)), AGENTD_EABI,
	    "another ABI major is refused");
	like(err, "ABI 2, this agentd speaks ABI 1",
	    "... naming both versions");

	fd = mkstemp(text);
	(void)!write(fd, "not a shared object\n", 20);
	close(fd);
	p = NULL;
	is_int(ad_plugin_open(text, &p, err, sizeof(err)), AGENTD_EABI,
	    "a text file is refused");
	like(err, "cannot load plugin", "... with dlopen's reason");
	unlink(text);
	is_int(ad_plugin_open("/nonexistent/x.so", &p, err, sizeof(err)),
	    AGENTD_EABI, "a missing file is refused");
	return done_testing();
}
