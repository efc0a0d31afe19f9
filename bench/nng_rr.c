/*
 * nng_rr - raw nng request/reply over ipc, without agentd: the limit.
 *
 * The process forks before touching nng.  The child is the server: a REP
 * socket with W contexts, each answering from its aio callback (echo), so
 * K requests in flight are served concurrently.  The parent is the client:
 * a REQ socket with K contexts, each sending its next request from the
 * callback that received the previous reply.  Both talk over ipc:// in a
 * private temporary folder.
 *
 * After a warm-up, replies are counted for D seconds; the latency of each
 * (send to reply, CLOCK_MONOTONIC) goes into a bounded sample (reservoir),
 * and one line is printed:
 *
 *   rr way=raw payload=P inflight=K msgs=N secs=S rate=R p50_us=X p99_us=Y
 *
 * Exit status: 0 measured, 1 failed (reason on stderr), 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
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
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define MAX_SLOTS 1024
#define SAMPLE_CAP (1u << 20) /* latencies kept: 8 MiB at most */

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
	size_t    n;    /* kept */
	uint64_t  seen; /* offered */
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

/* Reservoir sampling: every latency offered has the same chance to stay. */
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

/* Nearest-rank percentile in microseconds; the array must be sorted. */
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

/* ---- server (child process) ------------------------------------------ */

struct srv_worker {
	nng_aio *aio;
	nng_ctx  ctx;
	int      sending;
};

static void
srv_cb(void *arg)
{
	struct srv_worker *w  = arg;
	int                rv = nng_aio_result(w->aio);

	if (w->sending) {
		w->sending = 0;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				return;
		}
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED)
			nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	/* Echo: the request's body goes back as the reply. */
	w->sending = 1;
	nng_aio_set_msg(w->aio, nng_aio_get_msg(w->aio));
	nng_ctx_send(w->ctx, w->aio);
}

static int
server(const char *url, int nworkers, int ready_fd, int stop_fd)
{
	nng_socket         s;
	struct srv_worker *w;
	char               c = 'R';
	int                rv, i;

	if ((w = calloc((size_t)nworkers, sizeof(*w))) == NULL)
		return 1;
	if ((rv = nng_rep0_open(&s)) != 0
	    || (rv = nng_listen(s, url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_rr: server: %s\n", nng_strerror(rv));
		return 1;
	}
	for (i = 0; i < nworkers; i++) {
		if ((rv = nng_aio_alloc(&w[i].aio, srv_cb, &w[i])) != 0
		    || (rv = nng_ctx_open(&w[i].ctx, s)) != 0) {
			fprintf(
			    stderr, "nng_rr: server: %s\n", nng_strerror(rv));
			return 1;
		}
		nng_ctx_recv(w[i].ctx, w[i].aio);
	}
	if (write(ready_fd, &c, 1) != 1)
		return 1;
	/* Serve until the parent closes its end of the stop pipe. */
	while (read(stop_fd, &c, 1) < 0 && errno == EINTR)
		;
	nng_close(s);
	for (i = 0; i < nworkers; i++)
		nng_aio_free(w[i].aio);
	free(w);
	return 0;
}

/* ---- client (parent process) ----------------------------------------- */

struct bench;

struct slot {
	nng_aio      *aio;
	nng_ctx       ctx;
	int           sending;
	uint64_t      t0;
	struct bench *b;
};

struct bench {
	size_t          payload;
	uint64_t        warm_end; /* counting starts */
	uint64_t        end;      /* counting stops, no new requests */
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int             active;
	int             error;
	uint64_t        count;
	struct samples  smp;
};

static void
slot_done(struct slot *c, int rv)
{
	struct bench *b = c->b;

	pthread_mutex_lock(&b->mtx);
	if (rv != 0 && b->error == 0)
		b->error = rv;
	b->active--;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mtx);
}

static void
slot_send(struct slot *c)
{
	nng_msg *m;
	int      rv;

	if ((rv = nng_msg_alloc(&m, c->b->payload)) != 0) {
		slot_done(c, rv);
		return;
	}
	memset(nng_msg_body(m), 'x', c->b->payload);
	c->sending = 1;
	c->t0      = now_ns();
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
}

static void
slot_cb(void *arg)
{
	struct slot  *c  = arg;
	struct bench *b  = c->b;
	int           rv = nng_aio_result(c->aio);
	nng_msg      *m;
	uint64_t      t1;

	if (c->sending) {
		c->sending = 0;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			slot_done(c, rv);
			return;
		}
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	t1 = now_ns();
	if (rv != 0) {
		slot_done(c, rv);
		return;
	}
	m = nng_aio_get_msg(c->aio);
	if (nng_msg_len(m) != b->payload) {
		nng_msg_free(m);
		slot_done(c, NNG_EPROTO);
		return;
	}
	nng_msg_free(m);
	if (t1 >= b->warm_end && t1 < b->end) {
		pthread_mutex_lock(&b->mtx);
		b->count++;
		samples_add(&b->smp, t1 - c->t0);
		pthread_mutex_unlock(&b->mtx);
	}
	if (t1 >= b->end) {
		slot_done(c, 0);
		return;
	}
	slot_send(c);
}

static int
client(const char *url, size_t payload, int inflight, double secs, double warm)
{
	struct bench b;
	struct slot *slots;
	nng_socket   s;
	int          rv, i;
	uint64_t     t;

	memset(&b, 0, sizeof(b));
	b.payload = payload;
	b.smp.rng = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
	if ((b.smp.v = malloc(SAMPLE_CAP * sizeof(uint64_t))) == NULL
	    || (slots = calloc((size_t)inflight, sizeof(*slots))) == NULL) {
		fprintf(stderr, "nng_rr: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&b.mtx, NULL);
	pthread_cond_init(&b.cv, NULL);
	if ((rv = nng_req0_open(&s)) != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = nng_dial(s, url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_rr: client: %s\n", nng_strerror(rv));
		return 1;
	}
	for (i = 0; i < inflight; i++) {
		slots[i].b = &b;
		if ((rv = nng_aio_alloc(&slots[i].aio, slot_cb, &slots[i]))
		        != 0
		    || (rv = nng_ctx_open(&slots[i].ctx, s)) != 0) {
			fprintf(
			    stderr, "nng_rr: client: %s\n", nng_strerror(rv));
			return 1;
		}
	}
	t          = now_ns();
	b.warm_end = t + (uint64_t)(warm * 1e9);
	b.end      = b.warm_end + (uint64_t)(secs * 1e9);
	b.active   = inflight;
	for (i = 0; i < inflight; i++)
		slot_send(&slots[i]);

	/* Wait for every slot to finish, but never past end + 10 s. */
	pthread_mutex_lock(&b.mtx);
	while (b.active > 0) {
		struct timespec dl;
		uint64_t        lim = b.end + 10000000000u;

		if (now_ns() >= lim)
			break;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		pthread_cond_timedwait(&b.cv, &b.mtx, &dl);
	}
	if (b.active > 0 && b.error == 0)
		b.error = NNG_ETIMEDOUT;
	pthread_mutex_unlock(&b.mtx);

	nng_close(s); /* aborts whatever is still pending */
	for (i = 0; i < inflight; i++)
		nng_aio_free(slots[i].aio);
	if (b.error != 0) {
		fprintf(stderr, "nng_rr: request failed: %s\n",
		    nng_strerror(b.error));
		return 1;
	}
	qsort(b.smp.v, b.smp.n, sizeof(uint64_t), cmp_u64);
	printf("rr way=raw payload=%zu inflight=%d msgs=%" PRIu64
	       " secs=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f\n",
	    payload, inflight, b.count, secs, (double)b.count / secs,
	    pct_us(&b.smp, 50), pct_us(&b.smp, 99));
	fflush(stdout);
	free(slots);
	free(b.smp.v);
	return 0;
}

/* ---- main ------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: nng_rr [-p BYTES] [-k INFLIGHT] [-d SECONDS] "
	    "[-W WARMUP_SECONDS] [-w SERVER_WORKERS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t        payload  = 64;
	int           inflight = 1, workers = 0, opt, ready[2], stop[2], st;
	double        secs = 2, warm = 0.2;
	char          dir[] = "/tmp/nng_rr.XXXXXX", path[64], url[80], c;
	pid_t         pid;
	int           rv;
	struct pollfd pfd;

	while ((opt = getopt(argc, argv, "p:k:d:W:w:")) != -1) {
		switch (opt) {
		case 'p':
			payload = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			inflight = atoi(optarg);
			break;
		case 'd':
			secs = strtod(optarg, NULL);
			break;
		case 'W':
			warm = strtod(optarg, NULL);
			break;
		case 'w':
			workers = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || inflight < 1 || inflight > MAX_SLOTS || secs <= 0
	    || secs > 600 || warm < 0 || workers < 0 || workers > MAX_SLOTS
	    || payload > (1u << 24))
		usage();
	if (workers == 0)
		workers = inflight > 16 ? inflight : 16;

	if (mkdtemp(dir) == NULL) {
		perror("nng_rr: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/rr.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if (pipe(ready) != 0 || pipe(stop) != 0) {
		perror("nng_rr: pipe");
		return 1;
	}
	/* Fork before nng starts any thread. */
	if ((pid = fork()) < 0) {
		perror("nng_rr: fork");
		return 1;
	}
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		close(ready[0]);
		close(stop[1]);
		_exit(server(url, workers, ready[1], stop[0]));
	}
	close(ready[1]);
	close(stop[0]);

	pfd.fd     = ready[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) != 1 || read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "nng_rr: the server did not start\n");
		rv = 1;
	} else {
		rv = client(url, payload, inflight, secs, warm);
	}
	close(stop[1]); /* the server leaves */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	unlink(path);
	rmdir(dir);
	nng_fini();
	return rv;
}
