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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "benchlib.h"

/* ---- Redis helpers ---------------------------------------------------- */

static const char *host; /* -H, -P */
static int         port;
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
	void                *vr;
	int                  done = 0;

	if (samples_init(&smp, 0x2545f4914f6cdd1du) != 0)
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
	if (ps_report(res_fd, delivered, last, &smp) != 0)
		return 1;
	redisFree(c);
	samples_free(&smp);
	return 0;
}

/* ---- publisher (parent process) -------------------------------------- */

static int
publisher(size_t payload, double secs, int batch, int res_fd)
{
	redisContext    *c;
	redisReply      *r;
	unsigned char   *buf;
	uint64_t         sent = 0, unheard = 0, t0, end;
	struct ps_result res;
	char             ch;
	void            *vr;
	int              i;

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
	if (ps_collect(res_fd, 60000, &res) != 0) {
		fprintf(
		    stderr, "redis_pubsub: no result from the subscriber\n");
		return 1;
	}
	print_ps("redis", payload, sent, t0, secs, &res, " paced=0 batch=%d",
	    batch);
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
	struct bench_args a;
	int               batch = 100, opt, res, st, rv;
	pid_t             pid;

	bench_args_init(&a);
	while ((opt = bench_getopt(&a, argc, argv, "H:P:p:d:b:")) != -1) {
		if (opt != 'b')
			usage();
		batch = atoi(optarg);
	}
	if (bench_args_finish(&a, argc, HDR_LEN, 1) != 0 || batch < 1
	    || batch > 100000)
		usage();
	host = a.host;
	port = a.port;
	snprintf(channel, sizeof(channel), "agentd-bench:%ld:events",
	    (long)getpid());

	if ((pid = bench_fork("redis_pubsub", &res, NULL)) < 0)
		return 1;
	if (pid == 0)
		_exit(subscriber(a.payload, res));
	rv = publisher(a.payload, a.secs, batch, res);
	if (rv != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return rv;
}
