/*
 * private.h - the directories and files that hold agentd's sockets and
 * state are agentd's alone, checked the way sshd's StrictModes checks a
 * user's ~/.ssh: owned by agentd's user or root, writable by no one else.
 * Otherwise another local user could plant a file there (a database to
 * read secrets from, a symbolic link for agentd to write through) or
 * replace one later.  A sticky directory others may write (a tmpfs
 * mount's 1777) passes with a warning: they cannot remove or rename what
 * is agentd's there, and each entry agentd uses is checked in its own
 * right.  Parents of the directories are not checked.
 */
#ifndef AD_PRIVATE_H
#define AD_PRIVATE_H

#include <stddef.h>

/*
 * 0 if path, a directory (dir) or a regular file, is missing or is
 * agentd's alone: not writable by group or others and, with check_owner,
 * owned by the effective user or root.  Otherwise AGENTD_EDENIED with err
 * one line naming it (what: "state directory", ...) and the fix
 * (`chmod go-w PATH`, `chown USER PATH`), or AGENTD_EIO if it cannot be
 * looked at.  A symbolic link is followed: what it names is checked.
 */
int ad_private_check(const char *path, const char *what, int dir,
    int check_owner, char *err, size_t errlen);

/*
 * Open path, a small file of agentd's own (a lock file), for reading and
 * writing, creating it mode 0600: never through a symbolic link
 * (O_NOFOLLOW), never a file of another user's or one with other names
 * (a hard link), never anything but a regular file, and close-on-exec.
 * It is not truncated.  The descriptor in *fd, or AGENTD_EDENIED /
 * AGENTD_EIO with err one line naming the file and what to do.
 */
int ad_private_open(const char *path, int *fd, char *err, size_t errlen);

#endif /* AD_PRIVATE_H */
