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
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "benchlib.h"

#define MAX_SLOTS 1024

static struct ipc_dir ipc; /* where the server listens */

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
server(const struct bench_args *a, int ready_fd, int stop_fd)
{
	nng_socket         s;
	struct srv_worker *w;
	char               c = 'R';
	int                rv, i;

	if ((w = calloc((size_t)a->workers, sizeof(*w))) == NULL)
		return 1;
	if ((rv = nng_rep0_open(&s)) != 0
	    || (rv = nng_listen(s, ipc.url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_rr: server: %s\n", nng_strerror(rv));
		return 1;
	}
	for (i = 0; i < a->workers; i++) {
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
	for (i = 0; i < a->workers; i++)
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
client(const struct bench_args *a)
{
	struct bench b;
	struct slot *slots;
	nng_socket   s;
	int          rv, i;
	uint64_t     t;

	memset(&b, 0, sizeof(b));
	b.payload = a->payload;
	if (samples_init(&b.smp, 0x9e3779b97f4a7c15u) != 0
	    || (slots = calloc((size_t)a->inflight, sizeof(*slots))) == NULL) {
		fprintf(stderr, "nng_rr: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&b.mtx, NULL);
	pthread_cond_init(&b.cv, NULL);
	if ((rv = nng_req0_open(&s)) != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = nng_dial(s, ipc.url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_rr: client: %s\n", nng_strerror(rv));
		return 1;
	}
	for (i = 0; i < a->inflight; i++) {
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
	b.warm_end = t + (uint64_t)(a->warm * 1e9);
	b.end      = b.warm_end + (uint64_t)(a->secs * 1e9);
	b.active   = a->inflight;
	for (i = 0; i < a->inflight; i++)
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
	for (i = 0; i < a->inflight; i++)
		nng_aio_free(slots[i].aio);
	if (b.error != 0) {
		fprintf(stderr, "nng_rr: request failed: %s\n",
		    nng_strerror(b.error));
		return 1;
	}
	print_rr("raw", a, b.count, &b.smp);
	free(slots);
	samples_free(&b.smp);
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
	struct bench_args a;
	int               rv;

	bench_args_init(&a);
	while (bench_getopt(&a, argc, argv, "p:k:d:W:w:") != -1)
		usage();
	if (bench_args_finish(&a, argc, 0, MAX_SLOTS) != 0)
		usage();

	if (ipc_dir_open(&ipc, "nng_rr", "rr") != 0)
		return 1;
	/* Fork before nng starts any thread. */
	rv = bench_rr("nng_rr", &a, server, client);
	ipc_dir_close(&ipc);
	nng_fini();
	return rv;
}
