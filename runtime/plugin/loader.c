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

/* The smallest descriptor we can use: up to and including fini. */
#define DESC_MIN_SIZE                                                         \
	(offsetof(struct agentd_plugin, fini)                                 \
	    + sizeof(((struct agentd_plugin *)0)->fini))

/* The first line of dlerror() without the path it repeats. */
static const char *
short_dlerror(void)
{
	const char *e = dlerror();

	return e != NULL ? e : "unknown dlopen error";
}

/* Name another ABI major's descriptor if the plugin has one. */
static int
find_other_major(void *dl)
{
	char sym[32];
	int  major;

	for (major = 0; major < 64; major++) {
		if (major == AGENTD_ABI_MAJOR)
			continue;
		snprintf(sym, sizeof(sym), "agentd_plugin_v%d", major);
		if (dlsym(dl, sym) != NULL)
			return major;
	}
	return -1;
}

/*
 * Bytes the descriptor symbol really occupies, from the ELF symbol table,
 * so that a symbol of the right name but the wrong shape is never read
 * past its end.  0 if unknown.
 */
static size_t
symbol_size(const void *addr)
{
	Dl_info info;
	ElfW(Sym) *sym = NULL;

	if (dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) == 0
	    || sym == NULL)
		return 0;
	return sym->st_size;
}

static int
check_descriptor(const char *path, void *dl, const struct agentd_plugin *d,
    char *err, size_t errlen)
{
	size_t avail;
	int    other;

	if (d == NULL) {
		other = find_other_major(dl);
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
	avail = symbol_size(d);
	if (avail < offsetof(struct agentd_plugin, name)
	    || d->magic != AGENTD_PLUGIN_MAGIC) {
		ad_seterr(err, errlen,
		    "%s: descriptor has a wrong magic number (0x%08x): the "
		    "file is damaged or not built with AGENTD_PLUGIN()",
		    path, avail >= sizeof(d->magic) ? (unsigned)d->magic : 0);
		return AGENTD_EABI;
	}
	if (d->abi_major != AGENTD_ABI_MAJOR) {
		ad_seterr(err, errlen,
		    "%s: plugin built for agentd ABI %u.%u, this agentd "
		    "speaks ABI %d.%d: rebuild it against this agentd's SDK",
		    path, d->abi_major, d->abi_minor, AGENTD_ABI_MAJOR,
		    AGENTD_ABI_MINOR);
		return AGENTD_EABI;
	}
	if (d->size < DESC_MIN_SIZE || d->size > avail) {
		ad_seterr(err, errlen,
		    "%s: descriptor declares an impossible size (%u bytes): "
		    "rebuild it with AGENTD_PLUGIN()",
		    path, (unsigned)d->size);
		return AGENTD_EABI;
	}
	return 0;
}

static int
check_fields(
    const char *path, const struct agentd_plugin *d, char *err, size_t errlen)
{
	const struct agentd_setting *s;

	if (d->name == NULL || !ad_valid_name(d->name)) {
		ad_seterr(err, errlen,
		    "%s: descriptor .name must be 1-63 characters of "
		    "[A-Za-z0-9_.-]",
		    path);
		return AGENTD_EABI;
	}
	if (d->version == NULL || d->version[0] == '\0') {
		ad_seterr(err, errlen, "%s: descriptor has no .version", path);
		return AGENTD_EABI;
	}
	if (d->on_request == NULL) {
		ad_seterr(err, errlen,
		    "%s: descriptor has no .on_request callback", path);
		return AGENTD_EABI;
	}
	for (s = d->settings; s != NULL && s->name != NULL; s++) {
		if (ad_setting_type_name(s->type) == NULL) {
			ad_seterr(err, errlen,
			    "%s: setting \"%s\" has an unknown type %d", path,
			    s->name, (int)s->type);
			return AGENTD_EABI;
		}
	}
	return 0;
}

int
ad_plugin_open(
    const char *path, struct ad_plugin **out, char *err, size_t errlen)
{
	const struct agentd_plugin *d;
	struct ad_plugin           *p;
	void                       *dl;
	int                         rv;

	dlerror();
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		ad_seterr(err, errlen,
		    "cannot load plugin: %s: check that it is an agentd "
		    "plugin built for this system",
		    short_dlerror());
		return AGENTD_EABI;
	}
	d = dlsym(dl, "agentd_plugin_v1");
	if ((rv = check_descriptor(path, dl, d, err, errlen)) != 0) {
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
	json_t                      *o, *settings;
	char                        *text;

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
	o    = json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:o}", "name",
	       p->desc.name, "version", p->desc.version, "description",
            p->desc.description ? p->desc.description : "", "abi", "major",
	       (int)p->desc.abi_major, "minor", (int)p->desc.abi_minor,
	       "settings", settings);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}
