/*
 * nng_pubsub - raw nng PUB -> SUB over ipc, one subscriber, one message per
 * event (no batching), without agentd: the limit.
 *
 * The process forks before touching nng.  The child is the subscriber (SUB
 * socket, subscribed to everything, listening on ipc:// in a private
 * temporary folder); the parent is the publisher (PUB socket, dialing).
 * Before measuring, the publisher sends probes until the subscriber has
 * seen one, so the pipe is up and nothing is lost to connection set-up.
 *
 * The publisher then sends for D seconds, either as fast as it can
 * (-r 0, the default) or paced at R messages per second.  -b sets the
 * PUB socket's per-subscriber queue (NNG_OPT_SENDBUF, nng's default is 16
 * messages) and -B the SUB socket's receive queue.  Each message
 * carries a sequence number and its send time (CLOCK_MONOTONIC is the same
 * clock in both processes on Linux), so the subscriber measures delivery
 * latency as well as counting.  nng's PUB drops messages when a
 * subscriber's queue is full; the loss is reported, never hidden.
 *
 *   ps way=raw payload=P sent=N delivered=M secs=S rate=R loss=L
 *      p50_us=X p99_us=Y paced=R sendbuf=B
 *
 * secs runs from the first send to the last delivery; rate = delivered /
 * secs; loss = 1 - delivered / sent.
 *
 * Exit status: 0 measured, 1 failed (reason on stderr), 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#define SAMPLE_CAP (1u << 20)
#define HDR_LEN 24 /* kind, padding, sequence number, send time */

/* ---- time and samples (each bench program carries its own copy) ------ */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct samples {
	uint64_t *v;
	size_t    n;
	uint64_t  seen;
	uint64_t  rng;
};

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
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

static double
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

static void
put_u64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int
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

/* ---- subscriber (child process) -------------------------------------- */

/*
 * One receive aio, re-armed from its own callback: messages are counted on
 * nng's thread as they arrive, with no hand-off to another thread.
 */
struct sub {
	nng_socket     s;
	nng_aio       *aio;
	size_t         payload;
	int            res_fd;
	int            ready;
	int            error;
	uint64_t       delivered;
	uint64_t       last;
	struct samples smp;
};

static void
sub_cb(void *arg)
{
	struct sub *b  = arg;
	int         rv = nng_aio_result(b->aio);
	nng_msg    *m;
	uint64_t    t;

	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED && b->error == 0)
			b->error = rv;
		return;
	}
	t = now_ns();
	m = nng_aio_get_msg(b->aio);
	if (nng_msg_len(m) != b->payload) {
		b->error = NNG_EPROTO;
	} else if (((unsigned char *)nng_msg_body(m))[0] == 'P') {
		if (!b->ready && write_all(b->res_fd, "R", 1) != 0)
			b->error = NNG_EINTERNAL;
		b->ready = 1;
	} else {
		b->delivered++;
		b->last = t;
		samples_add(&b->smp,
		    t - get_u64((unsigned char *)nng_msg_body(m) + 16));
	}
	nng_msg_free(m);
	nng_recv_aio(b->s, b->aio);
}

/*
 * Reports on res_fd: "R" once a probe arrived, then at the end one line
 * "delivered last_ns p50_us p99_us\n", when the parent writes to (or
 * closes) ctl_fd.
 */
static int
subscriber(
    const char *url, size_t payload, int recvbuf, int res_fd, int ctl_fd)
{
	struct sub b;
	int        rv;
	char       line[128], c;

	memset(&b, 0, sizeof(b));
	b.payload = payload;
	b.res_fd  = res_fd;
	b.smp.rng = 0x2545f4914f6cdd1du ^ (uint64_t)getpid();
	if ((b.smp.v = malloc(SAMPLE_CAP * sizeof(uint64_t))) == NULL)
		return 1;
	if ((rv = nng_sub0_open(&b.s)) != 0
	    || (rv = nng_socket_set(b.s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0
	    || (recvbuf > 0
	        && (rv = nng_socket_set_int(b.s, NNG_OPT_RECVBUF, recvbuf))
	            != 0)
	    || (rv = nng_aio_alloc(&b.aio, sub_cb, &b)) != 0
	    || (rv = nng_listen(b.s, url, NULL, 0)) != 0) {
		fprintf(
		    stderr, "nng_pubsub: subscriber: %s\n", nng_strerror(rv));
		return 1;
	}
	nng_recv_aio(b.s, b.aio);
	while (read(ctl_fd, &c, 1) < 0 && errno == EINTR)
		;
	nng_aio_stop(b.aio); /* no callback runs after this */
	if (b.error != 0) {
		fprintf(stderr, "nng_pubsub: subscriber: %s\n",
		    nng_strerror(b.error));
		return 1;
	}
	qsort(b.smp.v, b.smp.n, sizeof(uint64_t), cmp_u64);
	snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %.1f %.1f\n",
	    b.delivered, b.last, pct_us(&b.smp, 50), pct_us(&b.smp, 99));
	if (write_all(res_fd, line, strlen(line)) != 0)
		return 1;
	nng_close(b.s);
	nng_aio_free(b.aio);
	free(b.smp.v);
	return 0;
}

/* ---- publisher (parent process) -------------------------------------- */

static void
sleep_until(uint64_t t)
{
	struct timespec ts;

	ts.tv_sec  = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
	    == EINTR)
		;
}

static int
wait_fd(int fd, int ms)
{
	struct pollfd pfd;

	pfd.fd     = fd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, ms) == 1;
}

static int
publisher(const char *url, size_t payload, double secs, double rate,
    int sendbuf, int res_fd, int ctl_fd)
{
	nng_socket     s;
	unsigned char *buf;
	uint64_t       sent = 0, t0, t, end, interval = 0, delivered, last;
	double         p50, p99, span;
	char           res[128], c;
	size_t         got = 0;
	int            rv, i;

	if ((buf = malloc(payload)) == NULL)
		return 1;
	memset(buf, 'x', payload);
	/* Dial in the background: nng retries until the subscriber listens. */
	if ((rv = nng_pub0_open(&s)) != 0
	    || (sendbuf > 0
	        && (rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, sendbuf)) != 0)
	    || (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(
		    stderr, "nng_pubsub: publisher: %s\n", nng_strerror(rv));
		return 1;
	}
	/* Probes until the subscriber has one (at most 10 s). */
	buf[0] = 'P';
	for (i = 0; i < 1000; i++) {
		if ((rv = nng_send(s, buf, payload, 0)) != 0) {
			fprintf(stderr, "nng_pubsub: publisher: %s\n",
			    nng_strerror(rv));
			return 1;
		}
		if (wait_fd(res_fd, 10))
			break;
	}
	if (i == 1000 || read(res_fd, &c, 1) != 1 || c != 'R') {
		fprintf(stderr, "nng_pubsub: the subscriber never heard\n");
		return 1;
	}

	buf[0] = 'M';
	if (rate > 0)
		interval = (uint64_t)(1e9 / rate);
	t0  = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (;;) {
		t = now_ns();
		if (t >= end)
			break;
		if (interval != 0) {
			uint64_t due = t0 + sent * interval;
			if (due > t) {
				sleep_until(due);
				t = now_ns();
			}
		}
		put_u64(buf + 8, sent);
		put_u64(buf + 16, t);
		if ((rv = nng_send(s, buf, payload, 0)) != 0) {
			fprintf(stderr, "nng_pubsub: publisher: %s\n",
			    nng_strerror(rv));
			return 1;
		}
		sent++;
	}
	/* Let queues drain, then ask the subscriber for its count. */
	sleep_until(now_ns() + 300000000u);
	if (write_all(ctl_fd, "S", 1) != 0)
		return 1;
	while (got < sizeof(res) - 1 && wait_fd(res_fd, 10000)) {
		ssize_t n = read(res_fd, res + got, sizeof(res) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (res[got - 1] == '\n')
			break;
	}
	res[got] = '\0';
	if (sscanf(res, "%" SCNu64 " %" SCNu64 " %lf %lf", &delivered, &last,
	        &p50, &p99)
	    != 4) {
		fprintf(stderr, "nng_pubsub: no result from the subscriber\n");
		return 1;
	}
	nng_close(s);
	free(buf);
	span = delivered > 0 && last > t0 ? (double)(last - t0) / 1e9 : secs;
	printf("ps way=raw payload=%zu sent=%" PRIu64 " delivered=%" PRIu64
	       " secs=%.3f rate=%.0f loss=%.4f p50_us=%.1f p99_us=%.1f "
	       "paced=%.0f sendbuf=%d\n",
	    payload, sent, delivered, span, (double)delivered / span,
	    sent > 0 ? 1.0 - (double)delivered / (double)sent : 0.0, p50, p99,
	    rate, sendbuf);
	fflush(stdout);
	return 0;
}

/* ---- main ------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: nng_pubsub [-p BYTES] [-d SECONDS] "
	    "[-r MSGS_PER_SECOND (0: unpaced)]\n"
	    "                  [-b PUB_SENDBUF] [-B SUB_RECVBUF] "
	    "(messages; 0: nng's default)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t payload = 64;
	double secs = 2, rate = 0;
	char   dir[] = "/tmp/nng_ps.XXXXXX", path[64], url[80];
	int    opt, res[2], ctl[2], st, rv, sendbuf = 0, recvbuf = 0;
	pid_t  pid;

	while ((opt = getopt(argc, argv, "p:d:r:b:B:")) != -1) {
		switch (opt) {
		case 'p':
			payload = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			secs = strtod(optarg, NULL);
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			break;
		case 'b':
			sendbuf = atoi(optarg);
			break;
		case 'B':
			recvbuf = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || payload < HDR_LEN || payload > (1u << 24)
	    || secs <= 0 || secs > 600 || rate < 0 || sendbuf < 0
	    || sendbuf > 8192 || recvbuf < 0 || recvbuf > 8192)
		usage();

	if (mkdtemp(dir) == NULL) {
		perror("nng_pubsub: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ps.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if (pipe(res) != 0 || pipe(ctl) != 0) {
		perror("nng_pubsub: pipe");
		return 1;
	}
	/* Fork before nng starts any thread. */
	if ((pid = fork()) < 0) {
		perror("nng_pubsub: fork");
		return 1;
	}
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		close(res[0]);
		close(ctl[1]);
		_exit(subscriber(url, payload, recvbuf, res[1], ctl[0]));
	}
	close(res[1]);
	close(ctl[0]);
	/* The subscriber listens; give it up to 10 s to create the socket. */
	for (rv = 0; rv < 1000 && access(path, F_OK) != 0; rv++)
		sleep_until(now_ns() + 10000000u);
	rv = publisher(url, payload, secs, rate, sendbuf, res[0], ctl[1]);
	close(ctl[1]);
	if (rv != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	unlink(path);
	rmdir(dir);
	nng_fini();
	return rv;
}
