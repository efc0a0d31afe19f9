/*
 * private.c - StrictModes for agentd's own directories and files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/private.h"
#include "common/util.h"

/* The effective user's name for chown, or its number. */
static void
user_name(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%d", (int)geteuid());
}

/* One stat result against the rules; path and what for the message. */
static int
judge(const struct stat *st, const char *path, const char *what, int dir,
    int check_owner, char *err, size_t errlen)
{
	char user[64];

	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		ad_seterr(err, errlen, "%s %s is not a %s: remove it", what,
		    path, dir ? "directory" : "regular file");
		return AGENTD_EDENIED;
	}
	if (check_owner && st->st_uid != geteuid() && st->st_uid != 0) {
		user_name(user, sizeof(user));
		ad_seterr(err, errlen,
		    "%s %s is owned by uid %d, not by agentd's user (%s) or "
		    "root: check who made it, then chown %s %s",
		    what, path, (int)st->st_uid, user, user, path);
		return AGENTD_EDENIED;
	}
	/* Sticky (a tmpfs mount's 1777): others cannot remove or rename
	 * what agentd puts there, and each entry it uses is checked in its
	 * own right, owner included. */
	if (dir && (st->st_mode & S_ISVTX) != 0
	    && (st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		ad_warn("%s %s is writable by others, but sticky (mode %04o): "
		        "chmod go-w %s to keep them out of it",
		    what, path, (unsigned)(st->st_mode & 07777), path);
		return 0;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		ad_seterr(err, errlen,
		    "%s %s is writable by %s (mode %04o): chmod go-w %s", what,
		    path, (st->st_mode & S_IWOTH) ? "others" : "its group",
		    (unsigned)(st->st_mode & 07777), path);
		return AGENTD_EDENIED;
	}
	return 0;
}

int
ad_private_check(const char *path, const char *what, int dir, int check_owner,
    char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		ad_seterr(err, errlen, "cannot check %s %s: %s", what, path,
		    strerror(errno));
		return AGENTD_EIO;
	}
	return judge(&st, path, what, dir, check_owner, err, errlen);
}

int
ad_private_open(const char *path, int *fd, char *err, size_t errlen)
{
	struct stat st;
	int         f, rv;

	f = open(path,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	    0600);
	if (f < 0) {
		if (errno == ELOOP) {
			ad_seterr(err, errlen,
			    "%s is a symbolic link: agentd writes only a file "
			    "of its own there; remove it",
			    path);
			return AGENTD_EDENIED;
		}
		ad_seterr(
		    err, errlen, "cannot open %s: %s", path, strerror(errno));
		return AGENTD_EIO;
	}
	if (fstat(f, &st) != 0) {
		ad_seterr(
		    err, errlen, "cannot check %s: %s", path, strerror(errno));
		close(f);
		return AGENTD_EIO;
	}
	if ((rv = judge(&st, path, "file", 0, 1, err, errlen)) != 0
	    || st.st_uid != geteuid() || st.st_nlink != 1) {
		if (rv == 0)
			ad_seterr(err, errlen,
			    "%s is not agentd's own file (%s): remove it",
			    path,
			    st.st_nlink != 1 ? "it has other names"
			                     : "another user's");
		close(f);
		return AGENTD_EDENIED;
	}
	*fd = f;
	return 0;
}
