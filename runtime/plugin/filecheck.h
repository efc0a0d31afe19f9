/*
 * filecheck.h - checks on a plugin file before anything loads it.
 */
#ifndef AD_FILECHECK_H
#define AD_FILECHECK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * A plugin file must be a regular file that is neither group- nor
 * world-writable and is owned by root or by `owner` (the uid agentd runs
 * as).  Anything else is refused with one line saying what to change.
 * Returns 0, AGENTD_ENOENT (missing), AGENTD_EDENIED (refused: type, mode
 * or owner) or AGENTD_EIO.
 */
int ad_plugin_file_check(
    const char *path, uid_t owner, char *err, size_t errlen);

/* "sha256:<64 hex>" of the file's content into out (72 bytes). */
#define AD_HASH_LEN 72
int ad_file_sha256(
    const char *path, char out[AD_HASH_LEN], char *err, size_t errlen);

/*
 * The plugin store: copy src into dir (created 0700) as HEX.so, named by
 * the SHA-256 of the bytes copied, and give its path in *out (caller
 * frees).  Workers load the copy, so replacing or deleting src cannot
 * reach a running instance, and every version loaded stays available.
 * With want ("sha256:..."), a build already stored under that hash is
 * used as it is (src is not read), and a copy whose content differs (src
 * changed since it was checked) is refused (AGENTD_EIO).
 */
int ad_plugin_store(const char *dir, const char *src, const char *want,
    char **out, char *err, size_t errlen);

#endif
