/*
 * loader.h - dlopen() a plugin and check its descriptor (worker side).
 *
 * Only agentd-worker calls this: plugin code never runs in the supervisor.
 * The checks, in order: the file loads (RTLD_NOW | RTLD_LOCAL, so a missing
 * symbol fails here, not in production); it exports agentd_plugin_v1 (if
 * not, any agentd_plugin_vN it exports is named in the error); the magic
 * matches; the declared size is sane; the ABI major is ours.  The
 * descriptor is then copied, at most its declared size, into a zeroed
 * struct we own, so an older, shorter descriptor is never read past its
 * end.
 */
#ifndef AD_LOADER_H
#define AD_LOADER_H

#include <stddef.h>

#include <agentd/agent.h>

struct ad_plugin {
	void                *dl;
	char                *path;
	struct agentd_plugin desc; /* zero-filled past the plugin's size */
};

/* On success *out is caller owns, free with ad_plugin_close(). */
int ad_plugin_open(
    const char *path, struct ad_plugin **out, char *err, size_t errlen);
/* The same, loading the file at `from` (such as /proc/self/fd/N of a file
 * opened before the worker's sandbox) and naming `path` in messages. */
int  ad_plugin_open_from(const char *path, const char *from,
     struct ad_plugin **out, char *err, size_t errlen);
void ad_plugin_close(struct ad_plugin *p);

/*
 * The descriptor as one JSON object (what `agentd-worker --describe`
 * prints): caller owns, free with free().
 */
char *ad_plugin_describe_json(const struct ad_plugin *p);

#endif
