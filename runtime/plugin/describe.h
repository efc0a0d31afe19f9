/*
 * describe.h - what a plugin says about itself, read without loading it.
 *
 * The supervisor never dlopen()s plugin code.  To learn a plugin's name,
 * version and settings schema it runs `agentd-worker --describe PATH`,
 * which loads the plugin in its own process, prints the descriptor as one
 * JSON object and exits; a refused plugin makes it print one line on
 * stderr and exit non-zero.
 */
#ifndef AD_DESCRIBE_H
#define AD_DESCRIBE_H

#include <stddef.h>

#include <agentd/agent.h>

#include "sdk/contract.h"

struct ad_setting_def {
	char                    *name;
	enum agentd_setting_type type;
	char                    *default_value; /* NULL: required */
	char                    *description;
};

struct ad_schema {
	char                  *plugin_name;
	char                  *plugin_version;
	char                  *description;
	unsigned               abi_major;
	unsigned               abi_minor;
	struct ad_setting_def *settings;
	size_t                 nsettings;
	/* The descriptor's .capabilities as it lists them (ABI 1.5); none
	 * for an older plugin. */
	char **capabilities;
	size_t ncapabilities;
};

/*
 * Run the worker in describe mode on plugin_path.  On success *out is
 * caller owns, free with ad_schema_free().  On failure err holds the
 * worker's one-line reason (or why it could not run).
 */
int ad_plugin_describe(const char *worker_path, const char *plugin_path,
    struct ad_schema **out, char *err, size_t errlen);

/* Parse the JSON that describe mode prints. */
int ad_schema_from_json(
    const char *json, struct ad_schema **out, char *err, size_t errlen);

const struct ad_setting_def *ad_schema_find(
    const struct ad_schema *s, const char *name);
void ad_schema_free(struct ad_schema *s);
/* A deep copy (aborts when out of memory, like ad_xmalloc). */
struct ad_schema *ad_schema_dup(const struct ad_schema *s);

/* ad_setting_type_name() and ad_setting_type_parse(): sdk/contract.h. */

#endif
