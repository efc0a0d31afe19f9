/*
 * setting_file.h - a setting's value kept in a file of its own.
 *
 * In an agent's settings { }, `NAME_file = "PATH"` gives the string
 * setting NAME the content of PATH, for a plugin that declares NAME and
 * does not declare NAME_file itself (doc/configuration.md, "Settings
 * read from files").  agentd reads the file as its own user when it
 * loads the configuration (at start, at every reload, with
 * --check-config), before any worker starts: the worker receives the
 * value in its init, never the path, and needs no access to the file.
 * A value read from a file is shown masked wherever agentd shows
 * settings.
 */
#ifndef AD_SETTING_FILE_H
#define AD_SETTING_FILE_H

#include <stddef.h>

#include "sdk/contract.h" /* struct ad_setting_value */

/* The suffix that names a setting's file, and the most a value holds
 * (after its one trailing newline is dropped). */
#define AD_SETTING_FILE_SUFFIX "_file"
#define AD_SETTING_FILE_MAX (64 * 1024)

/*
 * The setting that key names the file of: key without its "_file"
 * suffix, into name[0..namelen).  0, or -1 if key does not end in
 * "_file", has nothing before it, or does not fit.
 */
int ad_setting_file_target(const char *key, char *name, size_t namelen);

/*
 * The content of the file at path, its one trailing "\n" (or "\r\n")
 * dropped.  The file must be a regular file (a symlink to one is fine),
 * not writable by every user, not empty, at most AD_SETTING_FILE_MAX
 * bytes, and hold no NUL byte.  On success 0 with *value caller owns,
 * free with ad_setting_file_free(), NUL-terminated, *len bytes long.
 * Otherwise AGENTD_ECONFIG with one line in err naming the path, why
 * (the errno text, or which rule) and what to do; *value is NULL.
 */
int ad_setting_file_read(
    const char *path, char **value, size_t *len, char *err, size_t errlen);

/* Wipe and free a value from ad_setting_file_read(); NULL is fine. */
void ad_setting_file_free(char *value);

/*
 * Is v shown as AD_SETTING_MASK (common/ops.h)?  When it was read from a
 * file (v->file set), and when its name looks secret
 * (ad_setting_is_secret), whatever its type.
 */
int ad_setting_masked(const struct ad_setting_value *v);

#endif
