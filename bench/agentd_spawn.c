/*
 * agentd_spawn - bench/run's agentd supervision rows: how fast agentd
 * brings an instance up and back after a crash, and what instances cost
 * in memory.
 *
 *   agentd_spawn ready [-n RESTARTS]
 *   agentd_spawn crash [-n RESTARTS]
 *   agentd_spawn mem -i INSTANCES [-t WAIT_SECONDS]
 *
 * Starts a real agentd (from $BENCH_BUILDDIR) on a configuration it writes
 * in $BENCH_TMPDIR: one agent "echo" running the bundled echo plugin,
 * min = max instances, restarts immediate (backoff_initial = 0ms) and
 * never refused (intensity = 1000 in 1s).  Everything is read from
 * agentd's "status" on its control socket.  agentd's log (and its
 * workers') goes to $BENCH_TMPDIR/agentd.log, because every kill below
 * makes it warn; its end is shown when something fails.
 *
 * ready: kills (SIGKILL) the instance RESTARTS times; after each kill,
 *   reads status every 10 ms until a new instance is ready and takes its
 *   ready_us (agentd's own clock: just before posix_spawn to init
 *   answered).  The instance agentd started with is not counted.
 *   Prints: spawn way=agentd what=ready n=N p50_us=X p90_us=Y
 * crash: the same, but polls status in a tight loop (over one
 *   connection) and times, on this side, from kill() to the first
 *   status that shows a new instance ready.  ready_* are the
 *   replacements' ready_us under that polling, gap_p50_us the median of
 *   (kill to seen) - ready_us (the exit noticed and reaped, the old
 *   instance freed, the new one spawned, and the last poll), poll_us the
 *   median status round trip, polls the median polls per restart.
 *   Prints: spawn way=agentd what=crash n=N p50_us=X p90_us=Y
 *           ready_p50_us=R ready_p90_us=S gap_p50_us=G poll_us=P polls=K
 * mem: INSTANCES instances; waits (at most WAIT_SECONDS, default
 *   20 + INSTANCES / 10) until all are ready, then reads agentd's
 *   resident memory, descriptors, threads and open-files limit, the
 *   instances' resident memory (median) and threads (the first's), and
 *   their ready_us.  start_ms runs from just before agentd is started to
 *   the last instance's ready (its started_ms plus ready_us, from
 *   status); it is "-" when not all became ready in time, and ready then
 *   says how far it got.  restarts: the agent's restarts by then, i.e.
 *   instances that failed while starting and were replaced.
 *   Prints: mem way=agentd instances=N ready=R start_ms=S restarts=X
 *           sv_rss_kb=K sv_fds=F sv_threads=T inst_rss_kb=I
 *           inst_threads=J ready_p50_us=X ready_max_us=Y nofile=L
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus/envelope.h"
#include "common/nngx.h"
#include "common/util.h"
#include "harness.h"

#define PROG "agentd_spawn"
#define RESTART_TIMEOUT_US (10 * 1000000LL) /* per restart */
#define PAUSE_MS 20     /* after each restart, for agentd's audit records */
#define SLOW_POLL_MS 10 /* "ready": status this often, not in a loop */
/* A status answer, at most: agentd starting 1000 instances took > 5 s. */
#define STATUS_TIMEOUT_MS 30000

/* One instance as status shows it. */
struct inst {
	char    id[64];
	char    state[16];
	int64_t pid, started_ms, ready_us, rss_kb;
};

/* The parts of status these measurements read (the one agent's). */
struct view {
	int64_t      pid, rss_kb, restarts;
	size_t       n, cap;
	struct inst *inst;
};

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v; nearest-rank percentile p (0 to 100), 0 when n is 0. */
static int64_t
pct(int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[i > 0 ? (i > n ? n : i) - 1 : 0];
}

static int
write_conf(int ninst)
{
	char *dir  = ad_xasprintf("%s/conf", harness_tmpdir);
	char *path = ad_xasprintf("%s/bench.conf", dir);
	char *so = ad_xasprintf("%s/plugins/.libs/echo.so", harness_builddir);
	FILE *f;

	ad_mkdir_p(dir, 0700);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f,
		    "agent \"echo\" { plugin = \"%s\"\n"
		    "  instances { min = %d max = %d }\n"
		    "  restart { backoff_initial = 0ms intensity = 1000 "
		    "period = 1s } }\n",
		    so, ninst, ninst);
		fclose(f);
	}
	free(dir);
	free(path);
	free(so);
	return f == NULL ? -1 : 0;
}

/* The soft open-files limit of pid (/proc/PID/limits), -1 if unknown. */
static long
nofile_of(pid_t pid)
{
	char  path[64], line[256];
	FILE *f;
	long  n = -1;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Max open files %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * harness_stop, unless the instances never all started: then
 * harness_kill_all, because a graceful stop of an agentd restarting
 * hundreds of instances took minutes here (main made this process a
 * child subreaper before starting agentd, for the workers).
 */
static void
stop_agentd(int started)
{
	if (started) {
		harness_stop(harness_agentd);
		return;
	}
	fprintf(stderr,
	    PROG ": stopping agentd and its workers with "
	         "SIGKILL\n");
	harness_kill_all();
}

/*
 * The control connection, kept open for the whole run.  harness_control
 * opens and dials a socket per request: a status round trip then took
 * about 0.6 ms here, against 0.15-0.3 ms on a kept connection, and in
 * crash's tight loop that extra work of both processes would compete, on
 * two cores, with the spawn being timed.
 */
static nng_socket ctl = NNG_SOCKET_INITIALIZER;

static int
ctl_open(void)
{
	char *url = ad_xasprintf("ipc://%s/run/control.sock", harness_tmpdir);
	int   rv;

	if ((rv = nng_req0_open(&ctl)) == 0
	    && (rv = nng_socket_set_ms(
	            ctl, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        == 0
	    && (rv = nng_socket_set_ms(
	            ctl, NNG_OPT_RECVTIMEO, STATUS_TIMEOUT_MS))
	        == 0
	    && (rv = nng_socket_set_size(ctl, NNG_OPT_RECVMAXSZ, 0)) == 0)
		rv = nng_dial(ctl, url, NULL, 0);
	if (rv != 0)
		fprintf(stderr, PROG ": %s: %s\n", url, nng_strerror(rv));
	free(url);
	return rv == 0 ? 0 : -1;
}

/* "status" on ctl: *doc borrows from *keep; free both.  0 or -1. */
static int
ctl_status(agentd_doc **doc, nng_msg **keep)
{
	struct ad_envelope e, r;
	nng_msg           *msg;
	int                rv;

	memset(&e, 0, sizeof(e));
	e.id          = ad_envelope_next_id();
	e.kind        = AD_KIND_CONTROL;
	e.deadline_ms = ad_wall_ms() + STATUS_TIMEOUT_MS;
	snprintf(e.dst, sizeof(e.dst), "status");
	if ((rv = ad_envelope_to_msg(&e, &msg)) != 0)
		return -1;
	/* nng_sendmsg takes msg only when it succeeds. */
	if ((rv = nng_sendmsg(ctl, msg, 0)) != 0) {
		nng_msg_free(msg);
		return -1;
	}
	if (nng_recvmsg(ctl, keep, 0) != 0)
		return -1;
	if (ad_envelope_decode(
	        nng_msg_body(*keep), nng_msg_len(*keep), SIZE_MAX, &r)
	        != 0
	    || r.status != 0 || agentd_parse(r.body, r.body_len, doc) != 0) {
		nng_msg_free(*keep);
		return -1;
	}
	return 0;
}

/* One status request into v (at most v->cap instances).  0 or -1. */
static int
status_read(struct view *v)
{
	const agentd_value *root, *agent, *list, *it;
	agentd_doc         *doc;
	nng_msg            *m;
	size_t              i, n;

	if (ctl_status(&doc, &m) != 0) {
		fprintf(stderr, PROG ": no status from agentd\n");
		return -1;
	}
	root        = agentd_doc_root(doc);
	v->pid      = harness_int(root, "pid");
	v->rss_kb   = harness_int(root, "rss_kb");
	agent       = agentd_array_at(agentd_map_get(root, "agents"), 0);
	v->restarts = harness_int(agent, "restarts");
	list        = agentd_map_get(agent, "instances");
	n           = agentd_len(list);
	v->n        = n < v->cap ? n : v->cap;
	for (i = 0; i < v->n; i++) {
		struct inst *p = &v->inst[i];

		it       = agentd_array_at(list, i);
		p->id[0] = p->state[0] = '\0';
		agentd_get_strcpy(
		    agentd_map_get(it, "id"), p->id, sizeof(p->id));
		agentd_get_strcpy(
		    agentd_map_get(it, "state"), p->state, sizeof(p->state));
		p->pid        = harness_int(it, "pid");
		p->started_ms = harness_int(it, "started_ms");
		p->ready_us   = harness_int(it, "ready_us");
		p->rss_kb     = harness_int(it, "rss_kb");
	}
	agentd_doc_free(doc);
	nng_msg_free(m);
	return 0;
}

/* A ready instance whose id is not old_id (if not NULL), or NULL. */
static const struct inst *
find_ready(const struct view *v, const char *old_id)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->inst[i].state, "ready") == 0
		    && (old_id == NULL || strcmp(v->inst[i].id, old_id) != 0))
			return &v->inst[i];
	}
	return NULL;
}

/* ---- ready, crash: kill the instance, wait for its replacement ------- */

struct restarts {
	int64_t *seen;  /* kill() to the status showing the new one ready */
	int64_t *ready; /* the new one's ready_us */
	int64_t *gap;   /* seen - ready */
	int64_t *polls; /* status requests until seen */
	int64_t *poll;  /* every status round trip */
	size_t   npoll, cappoll;
};

static int
restart_loop(int n, int tight, struct restarts *r)
{
	struct inst        slot[8];
	struct view        v = { 0, 0, 0, 0, 8, slot };
	struct inst        cur;
	int64_t            t_kill, t0, t1;
	int                i, k;
	const struct inst *p;

	if (status_read(&v) != 0 || (p = find_ready(&v, NULL)) == NULL) {
		fprintf(stderr, PROG ": no ready instance to kill\n");
		return -1;
	}
	cur = *p;
	for (i = 0; i < n; i++) {
		t_kill = ad_now_us();
		if (kill((pid_t)cur.pid, SIGKILL) != 0) {
			fprintf(stderr, PROG ": kill %lld: %s\n",
			    (long long)cur.pid, strerror(errno));
			return -1;
		}
		for (k = 1, p = NULL; p == NULL; k++) {
			if (!tight)
				pause_ms(SLOW_POLL_MS);
			t0 = ad_now_us();
			if (status_read(&v) != 0)
				return -1;
			t1 = ad_now_us();
			if (r->npoll < r->cappoll)
				r->poll[r->npoll++] = t1 - t0;
			p = find_ready(&v, cur.id);
			if (p == NULL && t1 - t_kill > RESTART_TIMEOUT_US) {
				fprintf(stderr,
				    PROG ": restart %d: no new instance ready "
				         "%lld s after killing %s\n",
				    i + 1, RESTART_TIMEOUT_US / 1000000,
				    cur.id);
				return -1;
			}
		}
		cur         = *p;
		r->seen[i]  = t1 - t_kill;
		r->ready[i] = cur.ready_us;
		r->gap[i]   = r->seen[i] - cur.ready_us;
		r->polls[i] = k - 1;
		pause_ms(PAUSE_MS);
	}
	return 0;
}

static int
run_restarts(int n, int tight)
{
	struct restarts r;
	int             rv;

	r.seen    = calloc((size_t)n, sizeof(int64_t));
	r.ready   = calloc((size_t)n, sizeof(int64_t));
	r.gap     = calloc((size_t)n, sizeof(int64_t));
	r.polls   = calloc((size_t)n, sizeof(int64_t));
	r.cappoll = (size_t)n * 1000;
	r.poll    = calloc(r.cappoll, sizeof(int64_t));
	r.npoll   = 0;
	if (r.seen == NULL || r.ready == NULL || r.gap == NULL
	    || r.polls == NULL || r.poll == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		rv = -1;
	} else if ((rv = restart_loop(n, tight, &r)) == 0 && !tight) {
		printf("spawn way=agentd what=ready n=%d p50_us=%lld "
		       "p90_us=%lld\n",
		    n, (long long)pct(r.ready, (size_t)n, 50),
		    (long long)pct(r.ready, (size_t)n, 90));
	} else if (rv == 0) {
		printf("spawn way=agentd what=crash n=%d p50_us=%lld "
		       "p90_us=%lld ready_p50_us=%lld ready_p90_us=%lld "
		       "gap_p50_us=%lld poll_us=%lld polls=%lld\n",
		    n, (long long)pct(r.seen, (size_t)n, 50),
		    (long long)pct(r.seen, (size_t)n, 90),
		    (long long)pct(r.ready, (size_t)n, 50),
		    (long long)pct(r.ready, (size_t)n, 90),
		    (long long)pct(r.gap, (size_t)n, 50),
		    (long long)pct(r.poll, r.npoll, 50),
		    (long long)pct(r.polls, (size_t)n, 50));
	}
	free(r.seen);
	free(r.ready);
	free(r.gap);
	free(r.polls);
	free(r.poll);
	return rv == 0 ? 0 : 1;
}

/* ---- mem: many instances --------------------------------------------- */

/* Open descriptors of pid (entries of /proc/PID/fd), -1 if unreadable. */
static long
count_fds(pid_t pid)
{
	char           path[64];
	DIR           *d;
	struct dirent *e;
	long           n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Threads of pid (/proc/PID/status), -1 if unreadable. */
static long
count_threads(pid_t pid)
{
	char  path[64], line[256];
	FILE *f;
	long  n = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Instances per state, on stderr: how far a start that timed out got. */
static void
say_states(const struct view *v)
{
	static const char *names[]
	    = { "starting", "ready", "stopping", "lost", "exited" };
	size_t i, k, c;

	fprintf(stderr, PROG ": %zu instances listed:", v->n);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		for (i = c = 0; i < v->n; i++)
			c += strcmp(v->inst[i].state, names[k]) == 0;
		fprintf(stderr, " %s %zu", names[k], c);
	}
	fprintf(stderr, "\n");
}

/* The mem line from one status v, read once all were ready (or not). */
static void
print_mem(const struct view *v, int ninst, int64_t t_start_ms,
    int ready_in_time, int64_t *rss, int64_t *ready)
{
	size_t  i, nready = 0;
	int64_t last         = 0;
	long    inst_threads = -1;
	char    start[32]    = "-";

	for (i = 0; i < v->n; i++) {
		const struct inst *p = &v->inst[i];

		if (strcmp(p->state, "ready") != 0)
			continue;
		if (inst_threads < 0)
			inst_threads = count_threads((pid_t)p->pid);
		rss[nready]   = p->rss_kb;
		ready[nready] = p->ready_us;
		nready++;
		if (p->started_ms * 1000 + p->ready_us > last)
			last = p->started_ms * 1000 + p->ready_us;
	}
	if (ready_in_time && nready == (size_t)ninst)
		snprintf(start, sizeof(start), "%lld",
		    (long long)(last / 1000 - t_start_ms));
	else
		say_states(v);
	printf("mem way=agentd instances=%d ready=%zu start_ms=%s "
	       "restarts=%lld sv_rss_kb=%lld sv_fds=%ld sv_threads=%ld "
	       "inst_rss_kb=%lld inst_threads=%ld ready_p50_us=%lld "
	       "ready_max_us=%lld nofile=%ld\n",
	    ninst, nready, start, (long long)v->restarts, (long long)v->rss_kb,
	    count_fds((pid_t)v->pid), count_threads((pid_t)v->pid),
	    (long long)pct(rss, nready, 50), inst_threads,
	    (long long)pct(ready, nready, 50),
	    (long long)pct(ready, nready, 100), nofile_of((pid_t)v->pid));
}

static int
run_mem(int ninst, int64_t t_start_ms, int ready_in_time)
{
	/* Room for instances on their way out besides the N. */
	struct view v = { 0, 0, 0, 0, (size_t)ninst * 2 + 8, NULL };
	int64_t    *rss, *ready;
	int         rv = 0;

	v.inst = calloc(v.cap, sizeof(*v.inst));
	rss    = calloc(v.cap, sizeof(int64_t));
	ready  = calloc(v.cap, sizeof(int64_t));
	if (v.inst == NULL || rss == NULL || ready == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		rv = 1;
	} else if (status_read(&v) != 0) {
		rv = 1;
	} else {
		print_mem(&v, ninst, t_start_ms, ready_in_time, rss, ready);
	}
	free(v.inst);
	free(rss);
	free(ready);
	return rv;
}

int
main(int argc, char **argv)
{
	const char *mode;
	int         n = 50, ninst = 0, wait_s = 0, c, rv, mem, started;
	int64_t     t_start_ms;

	if (argc < 2)
		goto usage;
	mode = argv[1];
	mem  = strcmp(mode, "mem") == 0;
	if (!mem && strcmp(mode, "ready") != 0 && strcmp(mode, "crash") != 0)
		goto usage;
	optind = 2;
	while ((c = getopt(argc, argv, mem ? "i:t:" : "n:")) != -1) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'i':
			ninst = atoi(optarg);
			break;
		case 't':
			wait_s = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || n < 1 || n > 100000
	    || (mem && (ninst < 1 || ninst > 100000)) || wait_s < 0)
		goto usage;
	if (!mem)
		ninst = 1;
	if (wait_s == 0)
		wait_s = 20 + ninst / 10;
	if (harness_env(PROG) != 0)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* see stop_agentd */
	t_start_ms = ad_wall_ms();
	if (write_conf(ninst) != 0 || harness_start_logged("warn") < 0) {
		fprintf(stderr, PROG ": cannot start agentd: %s\n",
		    strerror(errno));
		return 1;
	}
	if (!(started
	        = harness_wait_ready(1, ninst, (int64_t)wait_s * 1000) == 0)) {
		ctl_open();
		fprintf(stderr,
		    PROG ": %d instance%s not all ready within %d s\n", ninst,
		    ninst == 1 ? "" : "s", wait_s);
		rv = mem ? run_mem(ninst, t_start_ms, 0) : 1;
		harness_log_tail(PROG);
	} else if (ctl_open() != 0) {
		rv = 1;
	} else if (mem) {
		rv = run_mem(ninst, t_start_ms, 1);
	} else {
		rv = run_restarts(n, strcmp(mode, "crash") == 0);
		if (rv != 0)
			harness_log_tail(PROG);
	}
	/* The line is out before a stop that may be slow, or interrupted. */
	fflush(stdout);
	nng_close(ctl);
	stop_agentd(started);
	return rv;
usage:
	fprintf(stderr,
	    "usage: " PROG " ready [-n RESTARTS]\n"
	    "       " PROG " crash [-n RESTARTS]\n"
	    "       " PROG " mem -i INSTANCES [-t WAIT_SECONDS]\n");
	return 2;
}
