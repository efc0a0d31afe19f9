/*
 * redis_pubsub - Redis PUBLISH -> SUBSCRIBE, one subscriber, the stack
 * agentd's users would otherwise reach for.
 *
 * The process forks before anything else.  The child subscribes to one
 * channel on its own connection and counts messages; the parent publishes
 * for D seconds, pipelined: B PUBLISH commands written at once
 * (redisAppendCommand), then their B replies read, so the publisher is
 * paced by Redis itself.  Each message carries a sequence number and its
 * send time (CLOCK_MONOTONIC is the same clock in both processes on
 * Linux), so the subscriber measures delivery latency as well.  A last
 * message marks the end; Redis delivers in order on one connection.
 *
 *   ps way=redis payload=P sent=N delivered=M secs=S rate=R loss=L
 *      p50_us=X p99_us=Y paced=0 batch=B
 *
 * secs runs from the first send to the last delivery; rate = delivered /
 * secs; loss = 1 - delivered / sent.  A subscriber Redis disconnects (its
 * output buffer limit) shows as loss, and the reason goes to stderr.
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

#include <hiredis/hiredis.h>

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

/* ---- Redis helpers ---------------------------------------------------- */

static const char *host = "127.0.0.1";
static int         port = 6379;
static char        channel[64];

static redisContext *
connect_redis(const char *who)
{
	redisContext *c = redisConnect(host, port);

	if (c == NULL || c->err) {
		fprintf(stderr,
		    "redis_pubsub: %s: cannot connect to %s:%d: %s\n", who,
		    host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* ---- subscriber (child process) -------------------------------------- */

/*
 * Reports on res_fd: "R" once subscribed, then at the end one line
 * "delivered last_ns p50_us p99_us\n".
 */
static int
subscriber(size_t payload, int res_fd)
{
	redisContext        *c;
	redisReply          *r;
	struct samples       smp;
	uint64_t             delivered = 0, last = 0, t;
	const unsigned char *m;
	char                 line[128];
	void                *vr;
	int                  done = 0;

	memset(&smp, 0, sizeof(smp));
	smp.rng = 0x2545f4914f6cdd1du ^ (uint64_t)getpid();
	if ((smp.v = malloc(SAMPLE_CAP * sizeof(uint64_t))) == NULL)
		return 1;
	if ((c = connect_redis("subscriber")) == NULL)
		return 1;
	r = redisCommand(c, "SUBSCRIBE %s", channel);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "redis_pubsub: SUBSCRIBE failed: %s\n",
		    c->err ? c->errstr : "unexpected reply");
		return 1;
	}
	freeReplyObject(r);
	if (write_all(res_fd, "R", 1) != 0)
		return 1;
	while (!done) {
		if (redisGetReply(c, &vr) != REDIS_OK || vr == NULL) {
			fprintf(stderr, "redis_pubsub: subscriber: %s\n",
			    c->err ? c->errstr : "no reply");
			break; /* report what arrived: the rest is loss */
		}
		t = now_ns();
		r = vr;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 3
		    || r->element[2]->type != REDIS_REPLY_STRING
		    || r->element[2]->len != payload) {
			fprintf(stderr, "redis_pubsub: unexpected message\n");
			return 1;
		}
		m = (const unsigned char *)r->element[2]->str;
		if (m[0] == 'E') {
			done = 1;
		} else {
			delivered++;
			last = t;
			samples_add(&smp, t - get_u64(m + 16));
		}
		freeReplyObject(r);
	}
	qsort(smp.v, smp.n, sizeof(uint64_t), cmp_u64);
	snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %.1f %.1f\n",
	    delivered, last, pct_us(&smp, 50), pct_us(&smp, 99));
	if (write_all(res_fd, line, strlen(line)) != 0)
		return 1;
	redisFree(c);
	free(smp.v);
	return 0;
}

/* ---- publisher (parent process) -------------------------------------- */

static int
wait_fd(int fd, int ms)
{
	struct pollfd pfd;

	pfd.fd     = fd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, ms) == 1;
}

static int
publisher(size_t payload, double secs, int batch, int res_fd)
{
	redisContext  *c;
	redisReply    *r;
	unsigned char *buf;
	uint64_t       sent = 0, unheard = 0, t0, end, delivered, last;
	double         p50, p99, span;
	char           res[128], ch;
	size_t         got = 0;
	void          *vr;
	int            i;

	if ((buf = malloc(payload)) == NULL)
		return 1;
	memset(buf, 'x', payload);
	if ((c = connect_redis("publisher")) == NULL)
		return 1;
	if (!wait_fd(res_fd, 10000) || read(res_fd, &ch, 1) != 1
	    || ch != 'R') {
		fprintf(stderr, "redis_pubsub: the subscriber never came\n");
		return 1;
	}

	buf[0] = 'M';
	t0     = now_ns();
	end    = t0 + (uint64_t)(secs * 1e9);
	while (now_ns() < end) {
		for (i = 0; i < batch; i++) {
			put_u64(buf + 8, sent + (uint64_t)i);
			put_u64(buf + 16, now_ns());
			redisAppendCommand(
			    c, "PUBLISH %s %b", channel, buf, payload);
		}
		for (i = 0; i < batch; i++) {
			if (redisGetReply(c, &vr) != REDIS_OK || vr == NULL) {
				fprintf(stderr, "redis_pubsub: PUBLISH: %s\n",
				    c->err ? c->errstr : "no reply");
				return 1;
			}
			r = vr;
			if (r->type != REDIS_REPLY_INTEGER || r->integer < 1)
				unheard++;
			freeReplyObject(r);
		}
		sent += (uint64_t)batch;
	}
	buf[0] = 'E';
	r      = redisCommand(c, "PUBLISH %s %b", channel, buf, payload);
	if (r)
		freeReplyObject(r);
	redisFree(c);
	free(buf);
	if (unheard > 0)
		fprintf(stderr,
		    "redis_pubsub: %" PRIu64 " messages had no subscriber\n",
		    unheard);

	/* The subscriber may still be reading what Redis buffered. */
	while (got < sizeof(res) - 1 && wait_fd(res_fd, 60000)) {
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
		fprintf(
		    stderr, "redis_pubsub: no result from the subscriber\n");
		return 1;
	}
	span = delivered > 0 && last > t0 ? (double)(last - t0) / 1e9 : secs;
	printf("ps way=redis payload=%zu sent=%" PRIu64 " delivered=%" PRIu64
	       " secs=%.3f rate=%.0f loss=%.4f p50_us=%.1f p99_us=%.1f "
	       "paced=0 batch=%d\n",
	    payload, sent, delivered, span, (double)delivered / span,
	    sent > 0 ? 1.0 - (double)delivered / (double)sent : 0.0, p50, p99,
	    batch);
	fflush(stdout);
	return 0;
}

/* ---- main ------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: redis_pubsub -P PORT [-H HOST] [-p BYTES] [-d SECONDS] "
	    "[-b BATCH]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t payload = 64;
	double secs    = 2;
	int    batch   = 100, opt, res[2], st, rv;
	pid_t  pid;

	while ((opt = getopt(argc, argv, "H:P:p:d:b:")) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'P':
			port = atoi(optarg);
			break;
		case 'p':
			payload = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			secs = strtod(optarg, NULL);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || port <= 0 || port > 65535 || payload < HDR_LEN
	    || payload > (1u << 24) || secs <= 0 || secs > 600 || batch < 1
	    || batch > 100000)
		usage();
	snprintf(channel, sizeof(channel), "agentd-bench:%ld:events",
	    (long)getpid());

	if (pipe(res) != 0) {
		perror("redis_pubsub: pipe");
		return 1;
	}
	if ((pid = fork()) < 0) {
		perror("redis_pubsub: fork");
		return 1;
	}
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		close(res[0]);
		_exit(subscriber(payload, res[1]));
	}
	close(res[1]);
	rv = publisher(payload, secs, batch, res[0]);
	if (rv != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return rv;
}
