/*
 * watch.h - agentd { watch = true }: reload when the configuration or a
 * plugin file changes.
 *
 * inotify watches directories, not files: an editor that saves through a
 * temporary file and rename, `install`, dpkg and `cp` over a file all end
 * with an event in the file's directory under the file's name, while a
 * watch on the file itself would follow the old inode away.  What counts
 * as a change:
 *
 *   - in a configuration directory (the --confdir and its conf.d/), a
 *     *.conf file written, created, renamed or removed (the names the
 *     loader reads: not dot files), or conf.d/ itself appearing;
 *   - in a plugin's directory, that plugin's file name (and, for a
 *     symbolic link, its target's);
 *   - likewise a file an agent's setting is read from (NAME_file in its
 *     settings { }), so that a key written there is rotated.
 *
 * Changes are debounced: a reload is due once delay_ms passed without a
 * new one, so a package upgrade that writes ten files makes one reload.
 * The main loop polls; nothing here blocks.
 *
 * This file owns the inotify descriptor and its watches (struct
 * ad_watch, opaque).
 */
#ifndef AGENTD_WATCH_H
#define AGENTD_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct ad_watch;

/* Returns 0, or an agentd_error with one line in err (no inotify). */
int ad_watch_open(
    struct ad_watch **wp, int64_t delay_ms, char *err, size_t errlen);
void ad_watch_close(struct ad_watch *w);

/*
 * What to watch: confdirs (every *.conf in each counts) and files (their
 * names count in their directories).  Called again with a new list, it
 * adds and drops watches to match; a directory that does not exist yet
 * is tried again at the next call.  Cheap when nothing changed.
 */
void ad_watch_set(struct ad_watch *w, const char *const *confdirs,
    size_t nconf, const char *const *files, size_t nfiles);

/*
 * Read the events inotify holds.  Returns 1 once when a change is due
 * (the first changed path in what), else 0.  now_ms: monotonic.
 */
int ad_watch_due(
    struct ad_watch *w, int64_t now_ms, char *what, size_t whatlen);

#endif
