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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "benchlib.h"

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
	char       c;

	memset(&b, 0, sizeof(b));
	b.payload = payload;
	b.res_fd  = res_fd;
	if (samples_init(&b.smp, 0x2545f4914f6cdd1du) != 0)
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
	if (ps_report(res_fd, b.delivered, b.last, &b.smp) != 0)
		return 1;
	nng_close(b.s);
	nng_aio_free(b.aio);
	samples_free(&b.smp);
	return 0;
}

/* ---- publisher (parent process) -------------------------------------- */

static int
publisher(const char *url, size_t payload, double secs, double rate,
    int sendbuf, int res_fd, int ctl_fd)
{
	nng_socket       s;
	unsigned char   *buf;
	uint64_t         sent = 0, t0, t, end, interval = 0;
	struct ps_result r;
	char             c;
	int              rv, i;

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
	if (ps_collect(res_fd, 10000, &r) != 0) {
		fprintf(stderr, "nng_pubsub: no result from the subscriber\n");
		return 1;
	}
	nng_close(s);
	free(buf);
	print_ps("raw", payload, sent, t0, secs, &r, " paced=%.0f sendbuf=%d",
	    rate, sendbuf);
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
	struct bench_args a;
	struct ipc_dir    ipc;
	int               opt, res, ctl, st, rv, sendbuf = 0, recvbuf = 0;
	pid_t             pid;

	bench_args_init(&a);
	while ((opt = bench_getopt(&a, argc, argv, "p:d:r:b:B:")) != -1) {
		switch (opt) {
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
	if (bench_args_finish(&a, argc, HDR_LEN, 1) != 0 || sendbuf < 0
	    || sendbuf > 8192 || recvbuf < 0 || recvbuf > 8192)
		usage();

	if (ipc_dir_open(&ipc, "nng_pubsub", "ps") != 0)
		return 1;
	/* Fork before nng starts any thread. */
	if ((pid = bench_fork("nng_pubsub", &res, &ctl)) < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(ipc.url, a.payload, recvbuf, res, ctl));
	/* The subscriber listens; give it up to 10 s to create the socket. */
	for (rv = 0; rv < 1000 && access(ipc.path, F_OK) != 0; rv++)
		sleep_until(now_ns() + 10000000u);
	rv = publisher(ipc.url, a.payload, a.secs, a.rate, sendbuf, res, ctl);
	close(ctl);
	if (rv != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ipc_dir_close(&ipc);
	nng_fini();
	return rv;
}
