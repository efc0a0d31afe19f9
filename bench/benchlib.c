/*
 * benchlib - what the raw nng and Redis bench programs share (see
 * benchlib.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "benchlib.h"

/* ---- time ------------------------------------------------------------ */

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
sleep_until(uint64_t t)
{
	struct timespec ts;

	ts.tv_sec  = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
	    == EINTR)
		;
}

/* ---- latency sample -------------------------------------------------- */

int
samples_init(struct samples *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed ^ (uint64_t)getpid();
	if ((s->v = malloc(SAMPLE_CAP * sizeof(uint64_t))) == NULL)
		return -1;
	return 0;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Reservoir sampling: every latency offered has the same chance to stay. */
void
samples_add(struct samples *s, uint64_t x)
{
	s->seen++;
	if (s->n < SAMPLE_CAP) {
		s->v[s->n++] = x;
	} else {
		uint64_t j = xorshift(&s->rng) % s->seen;
		if (j < SAMPLE_CAP)
			s->v[j] = x;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void
samples_sort(struct samples *s)
{
	qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
}

/* Nearest-rank percentile in microseconds; the array must be sorted. */
double
pct_us(const struct samples *s, double p)
{
	size_t i;

	if (s->n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (i > 0)
		i--;
	if (i >= s->n)
		i = s->n - 1;
	return (double)s->v[i] / 1000.0;
}

void
samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
}

/* ---- processes and pipes --------------------------------------------- */

pid_t
bench_fork(const char *prog, int *up, int *down)
{
	int   u[2], d[2];
	pid_t pid;

	if (pipe(u) != 0 || (down != NULL && pipe(d) != 0)) {
		fprintf(stderr, "%s: pipe: %s\n", prog, strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		return -1;
	}
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		close(u[0]);
		*up = u[1];
		if (down != NULL) {
			close(d[1]);
			*down = d[0];
		}
	} else {
		close(u[1]);
		*up = u[0];
		if (down != NULL) {
			close(d[0]);
			*down = d[1];
		}
	}
	return pid;
}

int
wait_fd(int fd, int ms)
{
	struct pollfd pfd;

	pfd.fd     = fd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, ms) == 1;
}

int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void
put_u64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- options --------------------------------------------------------- */

void
bench_args_init(struct bench_args *a)
{
	a->payload  = 64;
	a->inflight = 1;
	a->secs     = 2;
	a->warm     = 0.2;
	a->rate     = 0;
	a->workers  = 0;
	a->host     = "127.0.0.1";
	a->port     = 6379;
}

/* Takes getopt's opt and optarg: 0 if opt is a common one, else -1. */
static int
bench_arg(struct bench_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 'p':
		a->payload = (size_t)strtoul(arg, NULL, 10);
		break;
	case 'k':
		a->inflight = atoi(arg);
		break;
	case 'd':
		a->secs = strtod(arg, NULL);
		break;
	case 'W':
		a->warm = strtod(arg, NULL);
		break;
	case 'r':
		a->rate = strtod(arg, NULL);
		break;
	case 'w':
		a->workers = atoi(arg);
		break;
	case 'H':
		a->host = arg;
		break;
	case 'P':
		a->port = atoi(arg);
		break;
	default:
		return -1;
	}
	return 0;
}

int
bench_getopt(struct bench_args *a, int argc, char **argv, const char *opts)
{
	int opt;

	while ((opt = getopt(argc, argv, opts)) != -1)
		if (bench_arg(a, opt, optarg) != 0)
			return opt;
	return -1;
}

int
bench_args_finish(
    struct bench_args *a, int argc, size_t min_payload, int max_inflight)
{
	if (optind != argc || a->payload < min_payload
	    || a->payload > (1u << 24) || a->inflight < 1
	    || a->inflight > max_inflight || a->workers < 0
	    || a->workers > max_inflight || a->secs <= 0 || a->secs > 600
	    || a->warm < 0 || a->rate < 0 || a->port <= 0 || a->port > 65535)
		return -1;
	if (a->workers == 0)
		a->workers = a->inflight > 16 ? a->inflight : 16;
	return 0;
}

/* ---- req/rep: the two processes -------------------------------------- */

int
bench_rr(const char *prog, const struct bench_args *a,
    int (*server)(const struct bench_args *a, int ready_fd, int stop_fd),
    int (*client)(const struct bench_args *a))
{
	int   ready, stop, st, rv;
	pid_t pid;
	char  c;

	if ((pid = bench_fork(prog, &ready, &stop)) < 0)
		return 1;
	if (pid == 0)
		_exit(server(a, ready, stop));
	if (!wait_fd(ready, 10000) || read(ready, &c, 1) != 1) {
		fprintf(stderr, "%s: the server did not start\n", prog);
		rv = 1;
	} else {
		rv = client(a);
	}
	close(stop); /* the server leaves */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return rv;
}

/* ---- nng's ipc://: a private temporary folder for the socket --------- */

int
ipc_dir_open(struct ipc_dir *d, const char *prog, const char *name)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/nng_%s.XXXXXX", name);
	if (mkdtemp(d->dir) == NULL) {
		fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
		return -1;
	}
	snprintf(d->path, sizeof(d->path), "%s/%s.sock", d->dir, name);
	snprintf(d->url, sizeof(d->url), "ipc://%s", d->path);
	return 0;
}

void
ipc_dir_close(struct ipc_dir *d)
{
	unlink(d->path);
	rmdir(d->dir);
}

/* ---- pub/sub: the subscriber's report to the publisher --------------- */

int
ps_report(int fd, uint64_t delivered, uint64_t last, struct samples *s)
{
	char line[128];

	samples_sort(s);
	snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %.1f %.1f\n",
	    delivered, last, pct_us(s, 50), pct_us(s, 99));
	return write_all(fd, line, strlen(line));
}

int
ps_collect(int fd, int ms, struct ps_result *r)
{
	char   res[128];
	size_t got = 0;

	while (got < sizeof(res) - 1 && wait_fd(fd, ms)) {
		ssize_t n = read(fd, res + got, sizeof(res) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (res[got - 1] == '\n')
			break;
	}
	res[got] = '\0';
	if (sscanf(res, "%" SCNu64 " %" SCNu64 " %lf %lf", &r->delivered,
	        &r->last, &r->p50, &r->p99)
	    != 4)
		return -1;
	return 0;
}

/* ---- the result lines (bench/README.md) ------------------------------ */

void
print_rr(const char *way, const struct bench_args *a, uint64_t msgs,
    struct samples *s)
{
	samples_sort(s);
	printf("rr way=%s payload=%zu inflight=%d msgs=%" PRIu64
	       " secs=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f\n",
	    way, a->payload, a->inflight, msgs, a->secs,
	    (double)msgs / a->secs, pct_us(s, 50), pct_us(s, 99));
	fflush(stdout);
}

void
print_ps(const char *way, size_t payload, uint64_t sent, uint64_t t0,
    double secs, const struct ps_result *r, const char *tail, ...)
{
	va_list ap;
	double  span;

	span = r->delivered > 0 && r->last > t0 ? (double)(r->last - t0) / 1e9
	                                        : secs;
	printf("ps way=%s payload=%zu sent=%" PRIu64 " delivered=%" PRIu64
	       " secs=%.3f rate=%.0f loss=%.4f p50_us=%.1f p99_us=%.1f",
	    way, payload, sent, r->delivered, span,
	    (double)r->delivered / span,
	    sent > 0 ? 1.0 - (double)r->delivered / (double)sent : 0.0, r->p50,
	    r->p99);
	va_start(ap, tail);
	vprintf(tail, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}
