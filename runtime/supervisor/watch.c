/*
 * watch.c - inotify on the configuration and plugin directories, debounced
 * (see watch.h).
 */
#include "config.h"

#include "supervisor/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <agentd/agent.h>

#include "common/log.h"
#include "common/util.h"

#define WATCH_MASK                                                            \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE \
	    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* What counts in a directory. */
enum {
	W_CONF = 1, /* *.conf, and a conf.d/ appearing */
	W_ANY  = 2, /* any name but dot files (the plugin directory) */
};

struct wdir {
	char  *path;
	int    wd; /* or -1: not watched (yet) */
	int    kinds;
	char **names; /* these names count too */
	size_t nnames;
	int    wanted; /* in the list ad_watch_set was given last */
	int    warned; /* that it cannot be watched (not: it is missing) */
};

struct ad_watch {
	int          fd;
	int64_t      delay_ms;
	int64_t      due; /* monotonic ms a reload is due, or 0 */
	char         first[PATH_MAX];
	struct wdir *v;
	size_t       n;
	char        *sig;   /* the last list, joined: nothing changed? */
	int          stale; /* a directory to try again */
};

int
ad_watch_open(struct ad_watch **wp, int64_t delay_ms, char *err, size_t errlen)
{
	struct ad_watch *w;
	int              fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		ad_seterr(err, errlen, "inotify: %s", strerror(errno));
		return AGENTD_EIO;
	}
	w           = ad_xcalloc(1, sizeof(*w));
	w->fd       = fd;
	w->delay_ms = delay_ms;
	*wp         = w;
	return 0;
}

static void
wdir_free(struct wdir *d)
{
	size_t i;

	for (i = 0; i < d->nnames; i++)
		free(d->names[i]);
	free(d->names);
	free(d->path);
}

void
ad_watch_close(struct ad_watch *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		wdir_free(&w->v[i]);
	free(w->v);
	free(w->sig);
	close(w->fd); /* drops every watch */
	free(w);
}

static struct wdir *
wdir_get(struct ad_watch *w, const char *path)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->v[i].path, path) == 0)
			return &w->v[i];
	w->v = ad_xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
	memset(&w->v[w->n], 0, sizeof(w->v[w->n]));
	w->v[w->n].path = ad_xstrdup(path);
	w->v[w->n].wd   = -1;
	return &w->v[w->n++];
}

static void
want(struct ad_watch *w, const char *dir, int kinds, const char *name)
{
	struct wdir *d = wdir_get(w, dir);

	d->wanted = 1;
	d->kinds |= kinds;
	if (name != NULL) {
		d->names
		    = ad_xrealloc(d->names, (d->nnames + 1) * sizeof(char *));
		d->names[d->nnames++] = ad_xstrdup(name);
	}
}

static void
want_file(struct ad_watch *w, const char *file)
{
	char        real[PATH_MAX];
	struct stat st;
	char       *dir  = ad_dirname(file);
	const char *base = strrchr(file, '/');

	want(w, dir, 0, base != NULL ? base + 1 : file);
	free(dir);
	/* A symbolic link: a new target written in place changes it too. */
	if (lstat(file, &st) == 0 && S_ISLNK(st.st_mode)
	    && realpath(file, real) != NULL)
		want_file(w, real);
}

/* Is another wanted entry on the same watch descriptor? */
static int
wd_shared(const struct ad_watch *w, const struct wdir *d)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (&w->v[i] != d && w->v[i].wd == d->wd)
			return 1;
	return 0;
}

void
ad_watch_set(struct ad_watch *w, const char *const *confdirs, size_t nconf,
    const char *const *files, size_t nfiles)
{
	size_t i, j, len = 1;
	char  *sig, *p;

	for (i = 0; i < nconf; i++)
		len += strlen(confdirs[i]) + 1;
	for (i = 0; i < nfiles; i++)
		len += strlen(files[i]) + 1;
	sig = p = ad_xmalloc(len + 1);
	for (i = 0; i < nconf; i++)
		p += sprintf(p, "%s\n", confdirs[i]);
	*p++ = '\f';
	for (i = 0; i < nfiles; i++)
		p += sprintf(p, "%s\n", files[i]);
	*p = '\0';
	if (!w->stale && w->sig != NULL && strcmp(sig, w->sig) == 0) {
		free(sig);
		return;
	}
	free(w->sig);
	w->sig = sig;

	for (i = 0; i < w->n; i++) {
		struct wdir *d = &w->v[i];

		for (j = 0; j < d->nnames; j++)
			free(d->names[j]);
		d->nnames = 0;
		d->kinds  = 0;
		d->wanted = 0;
	}
	for (i = 0; i < nconf; i++) {
		char *sub = ad_path_join(confdirs[i], "conf.d");

		want(w, confdirs[i], W_CONF, NULL);
		want(w, sub, W_CONF, NULL);
		free(sub);
	}
	for (i = 0; i < nfiles; i++) {
		size_t n = strlen(files[i]);

		if (n > 0 && files[i][n - 1] == '/') { /* a whole directory */
			char *dir = ad_xstrdup(files[i]);

			dir[n - 1] = '\0';
			want(w, dir[0] != '\0' ? dir : "/", W_ANY, NULL);
			free(dir);
		} else
			want_file(w, files[i]);
	}

	w->stale = 0;
	for (i = 0; i < w->n;) {
		struct wdir *d = &w->v[i];

		if (!d->wanted) {
			if (d->wd >= 0 && !wd_shared(w, d))
				inotify_rm_watch(w->fd, d->wd);
			wdir_free(d);
			w->v[i] = w->v[--w->n];
			continue;
		}
		if (d->wd < 0) {
			d->wd = inotify_add_watch(w->fd, d->path, WATCH_MASK);
			if (d->wd < 0)
				w->stale = 1; /* not there yet: next time */
			if (d->wd < 0 && errno != ENOENT && !d->warned) {
				d->warned = 1;
				ad_warn("cannot watch %s: %s%s", d->path,
				    strerror(errno),
				    errno == ENOSPC
				        ? " (raise the sysctl "
				          "fs.inotify.max_user_watches)"
				        : "; reload by hand after changes "
				          "there");
			}
		}
		i++;
	}
}

static int
counts(const struct wdir *d, const struct inotify_event *ev)
{
	const char *name = ev->name;
	size_t      n, i;

	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW))
		return 1;
	if (ev->len == 0 || name[0] == '\0')
		return 0;
	for (i = 0; i < d->nnames; i++)
		if (strcmp(d->names[i], name) == 0)
			return 1;
	if (name[0] == '.')
		return 0;
	if (d->kinds & W_ANY)
		return 1;
	if (d->kinds & W_CONF) {
		n = strlen(name);
		if (n > 5 && strcmp(name + n - 5, ".conf") == 0)
			return 1;
		if ((ev->mask & IN_ISDIR) && strcmp(name, "conf.d") == 0)
			return 1;
	}
	return 0;
}

static void
changed(struct ad_watch *w, int64_t now, const char *dir, const char *name)
{
	/* Look again at the next ad_watch_set: a symbolic link may lead
	 * somewhere else now. */
	w->stale = 1;
	if (w->due == 0)
		snprintf(w->first, sizeof(w->first), "%s%s%s", dir,
		    name[0] != '\0' ? "/" : "", name);
	w->due = now + w->delay_ms;
	if (w->due == 0)
		w->due = 1;
}

int
ad_watch_due(struct ad_watch *w, int64_t now_ms, char *what, size_t whatlen)
{
	char buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t got;
	size_t  i;

	while ((got = read(w->fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + got;) {
			const struct inotify_event *ev = (void *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed(w, now_ms, "(events lost)", "");
				w->stale = 1;
				continue;
			}
			for (i = 0; i < w->n; i++) {
				struct wdir *d = &w->v[i];

				if (d->wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED) {
					d->wd    = -1; /* gone: try again */
					w->stale = 1;
					continue;
				}
				if (ev->mask & IN_MOVE_SELF) {
					inotify_rm_watch(w->fd, d->wd);
					w->stale = 1;
				}
				if ((ev->mask & IN_ISDIR) && ev->len > 0
				    && strcmp(ev->name, "conf.d") == 0)
					w->stale = 1; /* watch it now */
				if (counts(d, ev))
					changed(w, now_ms, d->path,
					    ev->len > 0 ? ev->name : "");
			}
		}
	}
	if (w->due != 0 && now_ms >= w->due) {
		w->due = 0;
		snprintf(what, whatlen, "%s", w->first);
		return 1;
	}
	return 0;
}
