/*
 * agentd - the supervisor.  See agentd(8).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nng/nng.h>

#include "common/crash.h"
#include "common/cron.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "supervisor/supervisor.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentd [OPTION]...\n"
	    "Run the agents configured in the configuration directory.\n"
	    "\n"
	    "  --confdir DIR       configuration directory (default %s);\n"
	    "                      every *.conf in it and in DIR/conf.d\n"
	    "  --state-dir DIR     LMDB state (default: agentd { state_dir },"
	    " %s)\n"
	    "  --run-dir DIR       sockets (default: agentd { run_dir }, %s)\n"
	    "  --plugin-dir DIR    where bare plugin names are found\n"
	    "                      (default: agentd { plugin_dir }, %s)\n"
	    "  --foreground        do not detach (for systemd and the demo)\n"
	    "  --check-config      validate the configuration and exit\n"
	    "  --log-level LEVEL   error, warn, info or debug\n"
	    "  --version           print the version and exit\n"
	    "  --help              print this help and exit\n"
	    "\n"
	    "Exit status: 0 stopped cleanly or configuration valid; 1 the\n"
	    "configuration or state was refused (one line on stderr for\n"
	    "each error found); 2 usage error.\n",
	    AGENTD_SYSCONFDIR, AGENTD_STATEDIR, AGENTD_RUNDIR,
	    AGENTD_PLUGINDIR);
}

struct main_opts {
	struct ad_sv_opts sv;
	int               foreground;
	int               check;
};

static int
parse_args(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{ "confdir", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "plugin-dir", required_argument, NULL, 'p' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->sv.confdir   = AGENTD_SYSCONFDIR;
	o->sv.log_level = -1;
	opterr          = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->sv.confdir = optarg;
			break;
		case 's':
			o->sv.state_dir = optarg;
			break;
		case 'r':
			o->sv.run_dir = optarg;
			break;
		case 'p':
			o->sv.plugin_dir = optarg;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'k':
			o->check = 1;
			break;
		case 'l':
			o->sv.log_level = ad_log_parse_level(optarg);
			if (o->sv.log_level < 0) {
				fprintf(stderr,
				    "agentd: unknown log level \"%s\": use "
				    "error, warn, info or debug\n",
				    optarg);
				return -1;
			}
			break;
		case 'V':
			printf("agentd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr,
			    "agentd: unknown option \"%s\": see agentd "
			    "--help\n",
			    argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		    "agentd: unexpected argument \"%s\": see agentd --help\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

/*
 * Detach before any thread exists (nng starts its threads later, in
 * ad_sv_start).  The parent waits until the child says it started, so its
 * exit status still tells whether agentd came up.
 */
static int
detach(int *notify_fd)
{
	int   p[2];
	char  ok = 0;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		perror("agentd: cannot detach");
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ok, 1) != 1)
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	close(p[0]);
	setsid();
	if (chdir("/") != 0)
		return -1;
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	*notify_fd = p[1];
	return 0;
}

/* Errors of the configuration, as a compiler prints them: all of them,
 * one line each. */
static void
print_config_error(void *arg, const char *line)
{
	unsigned *printed = arg;

	fprintf(stderr, "agentd: %s\n", line);
	(*printed)++;
}

/* Strings main() made, freed at exit so leak checkers stay quiet. */
static char *kept[4];

static const char *
keep(char *s)
{
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		if (kept[i] == NULL) {
			kept[i] = s;
			break;
		}
	}
	return s;
}

static void
free_kept(void)
{
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		free(kept[i]);
}

/*
 * Each instance costs agentd about six descriptors (its two listening
 * sockets and their connections, its calls and publish connections): the
 * usual soft limit of 1024 would stop near 150 instances.  Raise the soft
 * limit to the hard one, as systemd advises services to do themselves;
 * workers inherit it, which is harmless (nng uses poll and epoll, never
 * select).
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			ad_warn("cannot raise the open files limit: %s",
			    strerror(errno));
	}
}

int
main(int argc, char **argv)
{
	struct main_opts o;
	struct ad_sv     sv;
	sigset_t         set;
	char             err[AD_ERRLEN];
	int              notify  = -1;
	unsigned         printed = 0;
	int              shown   = -1;

	memset(&o, 0, sizeof(o));
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	/* Detached, agentd works from "/": paths given relative to where it
	 * was started must mean the same then. */
	o.sv.confdir = keep(ad_abspath(o.sv.confdir));
	if (o.sv.state_dir != NULL)
		o.sv.state_dir = keep(ad_abspath(o.sv.state_dir));
	if (o.sv.run_dir != NULL)
		o.sv.run_dir = keep(ad_abspath(o.sv.run_dir));
	if (o.sv.plugin_dir != NULL)
		o.sv.plugin_dir = keep(ad_abspath(o.sv.plugin_dir));
	ad_log_init(
	    "agentd", o.sv.log_level >= 0 ? o.sv.log_level : AGENTD_LOG_INFO);
	ad_crash_install("agentd");
	/* Before any worker is spawned: they must not see NOTIFY_SOCKET. */
	ad_sd_init();
	/* Before any thread: schedules' zones set TZ later (cron.c). */
	ad_cron_zone_prepare();
	raise_fd_limit();
	/* Signals are taken by the main loop with sigtimedwait; every thread
	 * nng starts inherits this mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1); /* wakes the main loop (reload.c) */
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	atexit(free_kept);
	memset(&sv, 0, sizeof(sv));
	o.sv.config_report     = print_config_error;
	o.sv.config_report_arg = &printed;
	if (ad_sv_load(&sv, &o.sv, err, sizeof(err)) != 0) {
		if (printed == 0)
			fprintf(stderr, "agentd: %s\n", err);
		ad_sv_free(&sv);
		return 1;
	}
	ad_log_set_level(sv.log_level);
	if (o.check && ad_sv_check_private(&sv, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "agentd: %s\n", err);
		ad_sv_free(&sv);
		return 1;
	}
	if (o.check) {
		printf("agentd: configuration in %s is valid (%zu agent%s)\n",
		    o.sv.confdir, sv.nagents, sv.nagents == 1 ? "" : "s");
		ad_sv_free(&sv);
		return 0;
	}
	if (!o.foreground && detach(&notify) != 0)
		return 1;
	/* Where agentd was started sees a failed start, whatever the
	 * target: a file target takes over stderr. */
	shown = dup(STDERR_FILENO);
	if (ad_log_set_target(sv.cfg->global.log_target, err, sizeof(err))
	    != 0) {
		fprintf(stderr, "agentd: %s\n", err);
		ad_sv_free(&sv);
		return 1;
	}
	if (ad_sv_start(&sv, err, sizeof(err)) != 0) {
		if (sv.cfg->global.log_target != NULL
		    && strcmp(sv.cfg->global.log_target, "stderr") != 0) {
			ad_error("%s", err);
			if (shown >= 0)
				dprintf(shown, "agentd: %s\n", err);
		} else {
			fprintf(stderr, "agentd: %s\n", err);
		}
		ad_sv_stop(&sv);
		ad_sv_free(&sv);
		return 1;
	}
	if (notify >= 0) {
		(void)!write(notify, "1", 1);
		close(notify);
	}
	if (shown >= 0)
		close(shown);
	ad_sv_run(&sv);
	ad_sv_stop(&sv);
	ad_sv_free(&sv);
	nng_fini(); /* joins nng's threads, so leak checkers see a clean exit
	             */
	return 0;
}
