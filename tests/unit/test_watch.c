/*
 * test_watch.c - agentd { watch = true }: which changes count, the
 * debounce, and watches that follow the list they are given.
 *
 * inotify queues an event before the write that causes it returns, so
 * each step is deterministic: the time is the one handed to
 * ad_watch_due, never a sleep.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/watch.h"
#include "tap.h"

#define DELAY 100

static char    tmp[] = "/tmp/agentd-test-watch-XXXXXX";
static int64_t now;

static void
put(const char *rel, const char *content)
{
	char *p = ad_path_join(tmp, rel);
	FILE *f = fopen(p, "w");

	if (f != NULL) {
		fputs(content, f);
		fclose(f);
	} else
		diag("cannot write %s", p);
	free(p);
}

static void
dir(const char *rel)
{
	char *p = ad_path_join(tmp, rel);

	mkdir(p, 0755);
	free(p);
}

/* Is a reload due at now + dt?  what gets the changed path. */
static int
due_at(struct ad_watch *w, int64_t dt, char *what, size_t len)
{
	what[0] = '\0';
	return ad_watch_due(w, now + dt, what, len);
}

/* Drain and forget what is pending (after a step that counted). */
static void
settle(struct ad_watch *w)
{
	char what[4096];

	(void)due_at(w, 0, what, sizeof(what));
	(void)due_at(w, 10 * DELAY, what, sizeof(what));
	now += 20 * DELAY;
}

/* A change at now counts: nothing before DELAY, once at DELAY. */
static void
counts(struct ad_watch *w, const char *rel, const char *name)
{
	char  what[4096], msg[256];
	char *want = ad_path_join(tmp, rel);

	snprintf(msg, sizeof(msg), "%s: not due at once", name);
	ok(!due_at(w, 0, what, sizeof(what)), msg);
	snprintf(msg, sizeof(msg), "%s: not due before the delay", name);
	ok(!due_at(w, DELAY - 1, what, sizeof(what)), msg);
	snprintf(msg, sizeof(msg), "%s: due after the delay", name);
	ok(due_at(w, DELAY, what, sizeof(what)), msg);
	snprintf(msg, sizeof(msg), "%s: names the file", name);
	is_str(what, want, msg);
	snprintf(msg, sizeof(msg), "%s: due once", name);
	ok(!due_at(w, 2 * DELAY, what, sizeof(what)), msg);
	free(want);
	now += 20 * DELAY;
}

static void
ignored(struct ad_watch *w, const char *name)
{
	char what[4096];

	ok(!due_at(w, 0, what, sizeof(what))
	        && !due_at(w, 10 * DELAY, what, sizeof(what)),
	    name);
	if (what[0] != '\0')
		diag("  due for %s", what);
	now += 20 * DELAY;
}

int
main(void)
{
	struct ad_watch *w = NULL;
	char             err[256], what[4096];
	char            *conf, *plugins, *b_so, *link_so, *real_so;
	const char      *confdirs[1], *files[3];

	/* Some sandboxes have no inotify to give (or none left). */
	if (ad_watch_open(&w, DELAY, err, sizeof(err)) != 0) {
		printf("1..0 # SKIP %s\n", err);
		return 0;
	}
	plan(62);
	if (mkdtemp(tmp) == NULL)
		return 1;
	now = ad_now_ms();
	dir("conf");
	dir("plugins");
	dir("other");
	dir("target");
	put("other/b.so", "b1");
	put("target/real.so", "r1");
	conf    = ad_path_join(tmp, "conf");
	plugins = ad_path_join(tmp, "plugins/");
	b_so    = ad_path_join(tmp, "other/b.so");
	link_so = ad_path_join(tmp, "other/link.so");
	real_so = ad_path_join(tmp, "target/real.so");
	if (symlink(real_so, link_so) != 0)
		diag("symlink failed");

	confdirs[0] = conf;
	files[0]    = b_so;
	files[1]    = plugins;
	files[2]    = link_so;
	ad_watch_set(w, confdirs, 1, files, 3);
	ignored(w, "nothing changed: nothing due");

	put("conf/a.conf", "agent \"a\" { }\n");
	counts(w, "conf/a.conf", "a new .conf");

	put("conf/.a.conf.swp", "x");
	put("conf/notes.txt", "x");
	ignored(w, "dot files and other names in the configuration directory");

	/* conf.d/ did not exist: its creation counts, and it is watched from
	 * the next ad_watch_set on, with the same list. */
	dir("conf/conf.d");
	counts(w, "conf/conf.d", "conf.d/ appearing");
	ad_watch_set(w, confdirs, 1, files, 3);
	put("conf/conf.d/b.conf", "agent \"b\" { }\n");
	counts(w, "conf/conf.d/b.conf", "a .conf in conf.d/");

	put("other/b.so", "b2");
	counts(w, "other/b.so", "a plugin file written over");
	put("other/c.so", "c");
	ignored(w, "another file beside a plugin");

	put("plugins/new.so", "n");
	counts(w, "plugins/new.so", "a file in the plugin directory");

	put("target/real.so", "r2");
	counts(w, "target/real.so", "a symbolic link's target written over");

	/* The link pointed elsewhere (a new link renamed over it): the next
	 * ad_watch_set, with the same list, follows it to its new target. */
	dir("target2");
	put("target2/real2.so", "s1");
	{
		char *tmp_link = ad_path_join(tmp, "other/.link.new");
		char *real2    = ad_path_join(tmp, "target2/real2.so");

		ok(symlink(real2, tmp_link) == 0
		        && rename(tmp_link, link_so) == 0,
		    "the link now leads to target2/real2.so");
		free(tmp_link);
		free(real2);
	}
	counts(w, "other/link.so", "a symbolic link replaced");
	ad_watch_set(w, confdirs, 1, files, 3);
	put("target2/real2.so", "s2");
	counts(w, "target2/real2.so", "its new target written over");

	/* rename over the file, as install(1) and editors do */
	put("conf/.tmp", "agent \"a\" { instances { min = 2 } }\n");
	{
		char *from = ad_path_join(tmp, "conf/.tmp");
		char *to   = ad_path_join(tmp, "conf/a.conf");

		ok(rename(from, to) == 0, "renamed over a.conf");
		free(from);
		free(to);
	}
	counts(w, "conf/a.conf", "a .conf renamed into place");

	/* Debounce: a second change before the first is due moves the
	 * reload to DELAY after the second, and one reload covers both. */
	put("conf/a.conf", "1");
	ok(!due_at(w, 0, what, sizeof(what)), "debounce: first change");
	put("conf/conf.d/b.conf", "2");
	ok(!due_at(w, DELAY - 20, what, sizeof(what)),
	    "debounce: second change before the first is due");
	ok(!due_at(w, DELAY, what, sizeof(what)),
	    "debounce: not due a delay after the first");
	ok(due_at(w, 2 * DELAY - 20, what, sizeof(what)),
	    "debounce: due a delay after the second");
	like(what, "conf/a.conf", "debounce: names the first change");
	ok(!due_at(w, 4 * DELAY, what, sizeof(what)),
	    "debounce: one reload for both");
	now += 20 * DELAY;

	/* A shorter list drops the watches nothing needs any more. */
	ad_watch_set(w, confdirs, 1, files, 0);
	put("other/b.so", "b3");
	put("plugins/other.so", "o");
	ignored(w, "dropped from the list: its changes no longer count");
	put("conf/a.conf", "3");
	counts(w, "conf/a.conf", "the configuration is still watched");

	settle(w);
	ad_watch_close(w);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	free(conf);
	free(plugins);
	free(b_so);
	free(link_so);
	free(real_so);
	return done_testing();
}
