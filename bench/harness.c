/*
 * harness.c - see harness.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

extern char **environ;

const char *harness_tmpdir, *harness_builddir;

int
harness_env(const char *prog)
{
	harness_tmpdir   = getenv("BENCH_TMPDIR");
	harness_builddir = getenv("BENCH_BUILDDIR");
	if (harness_tmpdir == NULL || harness_builddir == NULL) {
		fprintf(stderr,
		    "%s: BENCH_TMPDIR and BENCH_BUILDDIR must be set "
		    "(bench/run sets them)\n",
		    prog);
		return 2;
	}
	return 0;
}

volatile pid_t harness_agentd = -1;

/* agentd on TMPDIR, its output into log (when not NULL). */
static pid_t
spawn_agentd(const char *level, const char *log)
{
	char *agentd = ad_xasprintf("%s/runtime/agentd", harness_builddir);
	char *conf   = ad_xasprintf("%s/conf", harness_tmpdir);
	char *state  = ad_xasprintf("%s/state", harness_tmpdir);
	char *run    = ad_xasprintf("%s/run", harness_tmpdir);
	char *argv[] = { agentd, "--confdir", conf, "--state-dir", state,
		"--run-dir", run, "--foreground", "--log-level", (char *)level,
		NULL };
	posix_spawn_file_actions_t fa;
	pid_t                      pid;

	posix_spawn_file_actions_init(&fa);
	if (log != NULL) {
		posix_spawn_file_actions_addopen(&fa, 1, log,
		    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
		posix_spawn_file_actions_addopen(
		    &fa, 0, "/dev/null", O_RDONLY, 0);
	}
	if (posix_spawn(&pid, agentd, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	free(agentd);
	free(conf);
	free(state);
	free(run);
	return pid;
}

pid_t
harness_start(void)
{
	return spawn_agentd("warn", NULL);
}

/* bench/run's timeout (SIGTERM) or ^C: agentd must not outlive us. */
static void
on_signal(int sig)
{
	harness_kill();
	_exit(128 + sig);
}

pid_t
harness_start_logged(const char *log_level)
{
	char            *log = ad_xasprintf("%s/agentd.log", harness_tmpdir);
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	harness_agentd = spawn_agentd(log_level, log);
	free(log);
	return harness_agentd;
}

void
harness_kill(void)
{
	pid_t pid = harness_agentd;
	int   st;

	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	harness_agentd = -1;
}

void
harness_kill_all(void)
{
	DIR           *d;
	struct dirent *e;
	char           path[300], line[128];
	FILE          *f;
	long           ppid;
	int            st;

	harness_kill();
	d = opendir("/proc");
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "PPid: %ld", &ppid) != 1)
				continue;
			if (ppid == (long)getpid())
				kill((pid_t)atol(e->d_name), SIGKILL);
			break;
		}
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
	while (wait(&st) > 0 || errno == EINTR)
		;
}

void
harness_log_tail(const char *prog)
{
	char *log = ad_xasprintf("%s/agentd.log", harness_tmpdir);
	char  line[512], *ring[20] = { NULL };
	FILE *f;
	int   n = 0, i;

	if ((f = fopen(log, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			free(ring[n % 20]);
			ring[n++ % 20] = ad_xstrdup(line);
		}
		fclose(f);
	}
	if (n > 0)
		fprintf(stderr, "%s: the end of agentd's log:\n", prog);
	for (i = n > 20 ? n - 20 : 0; i < n; i++)
		fprintf(stderr, "  %s", ring[i % 20]);
	for (i = 0; i < 20; i++)
		free(ring[i]);
	free(log);
}

void
harness_stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	if (pid == harness_agentd)
		harness_agentd = -1;
}

int
harness_control(const char *prog, enum ad_kind kind, const char *dst,
    agentd_writer *body, int64_t timeout_ms, agentd_doc **doc, nng_msg **keep)
{
	struct ad_envelope e, r;
	nng_socket         s;
	nng_msg           *msg;
	char              *url;
	int                rv;

	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = kind;
	e.deadline_ms = ad_wall_ms() + timeout_ms;
	snprintf(e.dst, sizeof(e.dst), "%s", dst);
	if (body != NULL)
		e.body = agentd_writer_data(body, &e.body_len);
	if ((rv = nng_req0_open(&s)) != 0)
		return -1;
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	url = ad_xasprintf("ipc://%s/run/control.sock", harness_tmpdir);
	rv  = nng_dial(s, url, NULL, 0);
	free(url);
	if (rv == 0 && (rv = ad_envelope_to_msg(&e, &msg)) == 0
	    && (rv = nng_sendmsg(s, msg, 0)) != 0)
		nng_msg_free(msg);
	if (rv == 0)
		rv = nng_recvmsg(s, keep, 0);
	nng_close(s);
	if (rv != 0)
		return -1;
	if (ad_envelope_decode(
	        nng_msg_body(*keep), nng_msg_len(*keep), SIZE_MAX, &r)
	        != 0
	    || r.status != 0 || agentd_parse(r.body, r.body_len, doc) != 0) {
		if (r.status != 0)
			fprintf(stderr, "%s: %s: status %d: %.*s\n", prog, dst,
			    r.status, (int)r.body_len, (const char *)r.body);
		nng_msg_free(*keep);
		return -1;
	}
	return 0;
}

int64_t
harness_int(const agentd_value *map, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(map, key), &v);
	return v;
}

int
harness_wait_ready(size_t nagents, int64_t min_ready, int64_t timeout_ms)
{
	int64_t end = ad_now_ms() + timeout_ms;

	while (ad_now_ms() < end) {
		agentd_doc         *doc;
		const agentd_value *agents;
		nng_msg            *m;
		size_t              i, n, ready = 0;

		if (harness_control("harness", AD_KIND_CONTROL, "status", NULL,
		        2000, &doc, &m)
		    == 0) {
			agents
			    = agentd_map_get(agentd_doc_root(doc), "agents");
			n = agentd_len(agents);
			for (i = 0; i < n; i++)
				ready
				    += harness_int(
				           agentd_array_at(agents, i), "ready")
				    >= min_ready;
			agentd_doc_free(doc);
			nng_msg_free(m);
			if (n > 0 && ready == n
			    && (nagents == 0 || n == nagents))
				return 0;
		}
		usleep(50 * 1000);
	}
	return -1;
}
