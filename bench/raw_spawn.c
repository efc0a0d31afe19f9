/*
 * raw_spawn - bench/run's raw spawn row: how long a bare process takes
 * from posix_spawn to its first answer, without agentd.  This is the
 * figure agentd's spawn to ready is compared with.
 *
 *   raw_spawn [-n SPAWNS] [-g GAP_MS]
 *
 * Each spawn: a new REQ socket listens on ipc:// in a private folder (as
 * agentd opens an instance's socket before it spawns the worker, and
 * outside the time measured); then, timed from just before posix_spawn to
 * the reply, bench/raw_child is spawned, loads the bundled echo plugin
 * ($BENCH_BUILDDIR/plugins/.libs/echo.so), dials, and answers one
 * request.  One spawn first warms the page cache and is not counted.
 * Spawns are GAP_MS apart (default 20, the pause agentd_spawn leaves
 * after each restart): on the 2-CPU VM this was written on, spawns back
 * to back (-g 0) measured 20-30% faster than spawns 20 ms apart, as CPUs
 * that stay busy answer sooner than CPUs woken from idle.
 * After each reply the child's resident memory is read from /proc, then
 * the child is let go (end of file on its stdin) and reaped.
 *
 * Prints one line (bench/README.md, "Supervision"):
 *
 *   spawn way=raw what=reply n=N gap_ms=G p50_us=X p90_us=Y rss_kb=R
 *
 * rss_kb: the median resident memory of the children, in KiB.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "benchlib.h"

#define PROG "raw_spawn"
#define TIMEOUT_MS 10000 /* per spawn: a child that hangs fails the run */

extern char **environ;

struct paths {
	char           child[4096], plugin[4096];
	struct ipc_dir ipc;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Resident memory of pid in KiB, 0 if it cannot be read. */
static uint64_t
rss_kb(pid_t pid)
{
	char               path[64];
	unsigned long long size, resident = 0;
	FILE              *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The listening REQ socket of one spawn.  Never resend: a resend would
 * hide a slow child behind a second request, and agentd does not resend
 * either.
 */
static int
listen_req(const struct paths *p, nng_socket *s)
{
	int rv;

	unlink(p->ipc.path);
	if ((rv = nng_req0_open(s)) != 0)
		return rv;
	if ((rv = nng_socket_set_ms(
	         *s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, TIMEOUT_MS)) != 0
	    || (rv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, TIMEOUT_MS)) != 0
	    || (rv = nng_listen(*s, p->ipc.url, NULL, 0)) != 0)
		nng_close(*s);
	return rv;
}

/* One spawn; *us: posix_spawn to reply.  0, or -1 after saying why. */
static int
spawn_once(const struct paths *p, uint64_t *us, uint64_t *rss)
{
	posix_spawn_file_actions_t fa;
	char      *argv[] = { (char *)p->child, (char *)p->plugin,
		     (char *)p->ipc.url, NULL };
	nng_socket s;
	nng_msg   *msg, *reply;
	uint64_t   t0, t1;
	pid_t      pid;
	int        in[2], rv, st, ok = -1;

	if ((rv = listen_req(p, &s)) != 0) {
		fprintf(
		    stderr, PROG ": %s: %s\n", p->ipc.url, nng_strerror(rv));
		return -1;
	}
	/* The child's stdin: it exits at end of file, once we are done. */
	if (pipe2(in, O_CLOEXEC) != 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		nng_close(s);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	t0 = now_ns();
	rv = posix_spawn(&pid, p->child, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	if (rv != 0) {
		fprintf(stderr, PROG ": %s: %s\n", p->child, strerror(rv));
		close(in[1]);
		nng_close(s);
		return -1;
	}
	/* On success nng_sendmsg takes the request; on failure we free it. */
	if ((rv = nng_msg_alloc(&msg, 0)) == 0
	    && ((rv = nng_msg_append(msg, "ping", 4)) != 0
	        || (rv = nng_sendmsg(s, msg, 0)) != 0))
		nng_msg_free(msg);
	if (rv == 0 && (rv = nng_recvmsg(s, &reply, 0)) == 0) {
		t1 = now_ns();
		nng_msg_free(reply);
		*us  = (t1 - t0) / 1000;
		*rss = rss_kb(pid);
		ok   = 0;
	}
	if (ok != 0)
		fprintf(stderr, PROG ": no reply from the child: %s\n",
		    nng_strerror(rv));
	close(in[1]);
	if (waitpid(pid, &st, 0) == pid && !(WIFEXITED(st) && !WEXITSTATUS(st))
	    && ok == 0) {
		fprintf(stderr, PROG ": the child failed (status 0x%x)\n", st);
		ok = -1;
	}
	nng_close(s);
	return ok;
}

int
main(int argc, char **argv)
{
	struct paths   p;
	struct samples lat;
	uint64_t      *rss, us, r;
	const char    *build = getenv("BENCH_BUILDDIR");
	int            n = 50, gap = 20, c, i, rv = 0;

	while ((c = getopt(argc, argv, "n:g:")) != -1) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'g':
			gap = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || n < 1 || n > 100000 || gap < 0 || gap > 10000)
		goto usage;
	if (build == NULL) {
		fprintf(stderr,
		    PROG ": BENCH_BUILDDIR must be set (bench/run "
		         "sets it)\n");
		return 2;
	}
	snprintf(p.child, sizeof(p.child), "%s/bench/raw_child", build);
	snprintf(
	    p.plugin, sizeof(p.plugin), "%s/plugins/.libs/echo.so", build);
	if (samples_init(&lat, 1) != 0
	    || (rss = calloc((size_t)n, sizeof(*rss))) == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	if (ipc_dir_open(&p.ipc, PROG, "spawn") != 0)
		return 1;
	for (i = -1; i < n && rv == 0; i++) {
		if ((rv = spawn_once(&p, &us, &r)) == 0 && i >= 0) {
			samples_add(&lat, us * 1000);
			rss[i] = r;
		}
		if (gap > 0)
			pause_ms(gap);
	}
	ipc_dir_close(&p.ipc);
	if (rv == 0) {
		samples_sort(&lat);
		qsort(rss, (size_t)n, sizeof(*rss), cmp_u64);
		printf("spawn way=raw what=reply n=%d gap_ms=%d p50_us=%.0f "
		       "p90_us=%.0f rss_kb=%llu\n",
		    n, gap, pct_us(&lat, 50), pct_us(&lat, 90),
		    (unsigned long long)rss[(n - 1) / 2]);
	}
	samples_free(&lat);
	free(rss);
	return rv == 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: " PROG " [-n SPAWNS] [-g GAP_MS]\n");
	return 2;
}
