#include "config.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "plugin/describe.h"
#include "plugin/loader.h"
#include "sdk/contract.h"

/* The first line of dlerror() without the path it repeats. */
static const char *
short_dlerror(void)
{
	const char *e = dlerror();

	return e != NULL ? e : "unknown dlopen error";
}

static int
check_descriptor(const char *path, const struct agentd_plugin *d, size_t avail,
    int other, char *err, size_t errlen)
{
	if (d == NULL) {
		if (other >= 0) {
			ad_seterr(err, errlen,
			    "%s: plugin built for agentd ABI %d, this agentd "
			    "speaks ABI %d: rebuild it against this agentd's "
			    "SDK",
			    path, other, AGENTD_ABI_MAJOR);
			return AGENTD_EABI;
		}
		ad_seterr(err, errlen,
		    "%s: no agentd_plugin_v%d symbol: is it an agentd plugin "
		    "built with AGENTD_PLUGIN()?",
		    path, AGENTD_ABI_MAJOR);
		return AGENTD_EABI;
	}
	switch (ad_desc_check_head(d, avail)) {
	case AD_DESC_MAGIC:
		ad_seterr(err, errlen,
		    "%s: descriptor has a wrong magic number (0x%08x): the "
		    "file is damaged or not built with AGENTD_PLUGIN()",
		    path, avail >= sizeof(d->magic) ? (unsigned)d->magic : 0);
		return AGENTD_EABI;
	case AD_DESC_MAJOR:
		ad_seterr(err, errlen,
		    "%s: plugin built for agentd ABI %u.%u, this agentd "
		    "speaks ABI %d.%d: rebuild it against this agentd's SDK",
		    path, d->abi_major, d->abi_minor, AGENTD_ABI_MAJOR,
		    AGENTD_ABI_MINOR);
		return AGENTD_EABI;
	case AD_DESC_SIZE:
		ad_seterr(err, errlen,
		    "%s: descriptor declares an impossible size (%u bytes): "
		    "rebuild it with AGENTD_PLUGIN()",
		    path, (unsigned)d->size);
		return AGENTD_EABI;
	default:
		return 0;
	}
}

/* One line for the first bad entry of .capabilities: which, and the rule
 * (the entry shown at most AGENTD_NAME_MAX + 1 bytes, control bytes as
 * '?', so that the line stays one). */
static int
capability_fault(
    const char *path, const struct agentd_plugin *d, char *err, size_t errlen)
{
	char   shown[AGENTD_NAME_MAX + 2];
	size_t i = 0, k;

	if (ad_desc_check_capabilities(d, &i) == AD_DESC_CAPABILITIES)
		ad_seterr(err, errlen,
		    "%s: descriptor .capabilities has more than %d entries "
		    "(or no NULL at its end): keep at most %d and end the "
		    "list with NULL",
		    path, AGENTD_CAPABILITIES_MAX, AGENTD_CAPABILITIES_MAX);
	else {
		for (k = 0; k + 1 < sizeof(shown) && d->capabilities[i][k];
		     k++)
			shown[k] = (unsigned char)d->capabilities[i][k] < 0x20
			    ? '?'
			    : d->capabilities[i][k];
		shown[k] = '\0';
		ad_seterr(err, errlen,
		    "%s: descriptor .capabilities[%zu] \"%s\" is not a "
		    "capability: use 1-%d characters of [a-z0-9_.-]",
		    path, i, shown, AGENTD_NAME_MAX);
	}
	return AGENTD_EABI;
}

static int
check_fields(
    const char *path, const struct agentd_plugin *d, char *err, size_t errlen)
{
	const struct agentd_setting *s = NULL;

	switch (ad_desc_check_fields(d, &s)) {
	case AD_DESC_NAME:
		ad_seterr(err, errlen,
		    "%s: descriptor .name must be 1-63 characters of "
		    "[A-Za-z0-9_.-]",
		    path);
		return AGENTD_EABI;
	case AD_DESC_VERSION:
		ad_seterr(err, errlen, "%s: descriptor has no .version", path);
		return AGENTD_EABI;
	case AD_DESC_ON_REQUEST:
		ad_seterr(err, errlen,
		    "%s: descriptor has no .on_request callback", path);
		return AGENTD_EABI;
	case AD_DESC_SETTING_TYPE:
		ad_seterr(err, errlen,
		    "%s: setting \"%s\" has an unknown type %d", path, s->name,
		    (int)s->type);
		return AGENTD_EABI;
	case AD_DESC_CAPABILITY:
	case AD_DESC_CAPABILITIES:
		return capability_fault(path, d, err, errlen);
	default:
		return 0;
	}
}

int
ad_plugin_open(
    const char *path, struct ad_plugin **out, char *err, size_t errlen)
{
	return ad_plugin_open_from(path, path, out, err, errlen);
}

int
ad_plugin_open_from(const char *path, const char *from, struct ad_plugin **out,
    char *err, size_t errlen)
{
	const struct agentd_plugin *d;
	struct ad_plugin           *p;
	void                       *dl;
	size_t                      avail;
	int                         other, rv;

	dlerror();
	if ((dl = dlopen(from, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *e = short_dlerror();
		size_t      n = strlen(from);

		/* Loaded through /proc/self/fd/N: name the plugin's file. */
		if (from != path && strncmp(e, from, n) == 0)
			ad_seterr(err, errlen,
			    "cannot load plugin: %s%s: check that it is an "
			    "agentd plugin built for this system",
			    path, e + n);
		else
			ad_seterr(err, errlen,
			    "cannot load plugin: %s: check that it is an "
			    "agentd plugin built for this system",
			    e);
		return AGENTD_EABI;
	}
	d = ad_desc_find(dl, &avail, &other);
	if ((rv = check_descriptor(path, d, avail, other, err, errlen)) != 0) {
		dlclose(dl);
		return rv;
	}
	p       = ad_xcalloc(1, sizeof(*p));
	p->dl   = dl;
	p->path = ad_xstrdup(path);
	/* Never read past what the plugin declared: an older, shorter
	 * descriptor leaves the newer fields zero. */
	memcpy(&p->desc, d,
	    d->size < sizeof(p->desc) ? d->size : sizeof(p->desc));
	if ((rv = check_fields(path, &p->desc, err, errlen)) != 0) {
		ad_plugin_close(p);
		return rv;
	}
	*out = p;
	return 0;
}

void
ad_plugin_close(struct ad_plugin *p)
{
	if (p == NULL)
		return;
	if (p->dl != NULL)
		dlclose(p->dl);
	free(p->path);
	free(p);
}

char *
ad_plugin_describe_json(const struct ad_plugin *p)
{
	const struct agentd_setting *s;
	const char *const           *c;
	json_t                      *o, *settings, *caps;
	char                        *text;

	caps = json_array();
	for (c = p->desc.capabilities; c != NULL && *c != NULL; c++)
		json_array_append_new(caps, json_string(*c));
	settings = json_array();
	for (s = p->desc.settings; s != NULL && s->name != NULL; s++) {
		json_t *js = json_object();

		json_object_set_new(js, "name", json_string(s->name));
		json_object_set_new(
		    js, "type", json_string(ad_setting_type_name(s->type)));
		json_object_set_new(js, "default",
		    s->default_value ? json_string(s->default_value)
		                     : json_null());
		json_object_set_new(js, "description",
		    json_string(s->description ? s->description : ""));
		json_array_append_new(settings, js);
	}
	o    = json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:o, s:o}", "name",
	       p->desc.name, "version", p->desc.version, "description",
            p->desc.description ? p->desc.description : "", "abi", "major",
	       (int)p->desc.abi_major, "minor", (int)p->desc.abi_minor,
	       "settings", settings, "capabilities", caps);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}
