/*
 * redis_rr - request/reply through Redis lists (LPUSH/BRPOP), the stack
 * agentd's users would otherwise reach for.
 *
 * The process forks before any thread exists.  The child is the server: W
 * threads, each with its own connection, take requests with BRPOP from one
 * request list and LPUSH the reply to the list the request names.  The
 * parent is the client: K threads, each with its own connection and reply
 * list, LPUSH a request (the reply list's name, a newline, P bytes) and
 * BRPOP their reply (P bytes).  Both sides pipeline what they can: a client
 * sends its LPUSH and its BRPOP in one write, the server its reply's LPUSH
 * and its next BRPOP.
 *
 * After a warm-up, replies are counted for D seconds; the latency of each
 * (LPUSH written to reply read, CLOCK_MONOTONIC) goes into a bounded
 * sample, and one line is printed:
 *
 *   rr way=redis payload=P inflight=K msgs=N secs=S rate=R p50_us=X
 *      p99_us=Y
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
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "benchlib.h"

#define MAX_THREADS 256
#define REPLY_TIMEOUT 10 /* seconds a client waits for one reply */

/* ---- Redis helpers ---------------------------------------------------- */

static const char *host; /* -H, -P */
static int         port;
static char        prefix[48];  /* of this run's keys */
static char        req_key[64]; /* the request list */

static redisContext *
connect_redis(const char *who)
{
	redisContext *c = redisConnect(host, port);

	if (c == NULL || c->err) {
		fprintf(stderr, "redis_rr: %s: cannot connect to %s:%d: %s\n",
		    who, host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* Reads one reply; on error prints it and returns NULL. */
static redisReply *
get_reply(redisContext *c, const char *who)
{
	void *r = NULL;

	if (redisGetReply(c, &r) != REDIS_OK || r == NULL) {
		fprintf(stderr, "redis_rr: %s: %s\n", who,
		    c->err ? c->errstr : "no reply");
		return NULL;
	}
	if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
		fprintf(
		    stderr, "redis_rr: %s: %s\n", who, ((redisReply *)r)->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* ---- server (child process) ------------------------------------------ */

static void *
server_thread(void *arg)
{
	redisContext *c = arg;
	redisReply   *r, *ack;
	const char   *v, *nl;

	redisAppendCommand(c, "BRPOP %s 0", req_key);
	for (;;) {
		if ((r = get_reply(c, "server")) == NULL)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[1]->type != REDIS_REPLY_STRING
		    || (nl = memchr(
		            r->element[1]->str, '\n', r->element[1]->len))
		        == NULL) {
			fprintf(stderr, "redis_rr: server: bad request\n");
			freeReplyObject(r);
			break;
		}
		/* Echo the payload to the list the request names. */
		v = r->element[1]->str;
		redisAppendCommand(c, "LPUSH %b %b", v, (size_t)(nl - v),
		    nl + 1, r->element[1]->len - (size_t)(nl - v) - 1);
		redisAppendCommand(c, "BRPOP %s 0", req_key);
		freeReplyObject(r);
		if ((ack = get_reply(c, "server")) == NULL)
			break;
		freeReplyObject(ack);
	}
	return NULL;
}

static int
server(const struct bench_args *a, int ready_fd, int stop_fd)
{
	redisContext *ctx[MAX_THREADS];
	pthread_t     tid;
	char          c = 'R';
	int           i;

	for (i = 0; i < a->workers; i++)
		if ((ctx[i] = connect_redis("server")) == NULL)
			return 1;
	for (i = 0; i < a->workers; i++)
		if (pthread_create(&tid, NULL, server_thread, ctx[i]) != 0)
			return 1;
	if (write(ready_fd, &c, 1) != 1)
		return 1;
	/* Serve until the parent closes its end of the stop pipe. */
	while (read(stop_fd, &c, 1) < 0 && errno == EINTR)
		;
	return 0; /* _exit: threads and connections go with the process */
}

/* ---- client (parent process) ----------------------------------------- */

struct bench {
	size_t          payload;
	uint64_t        warm_end;
	uint64_t        end;
	pthread_mutex_t mtx;
	uint64_t        count;
	int             error;
	struct samples  smp;
};

struct client {
	redisContext *c;
	struct bench *b;
	char          key[80]; /* this client's reply list */
	char         *req;     /* key, '\n', payload */
	size_t        req_len;
};

static void *
client_thread(void *arg)
{
	struct client *cl = arg;
	struct bench  *b  = cl->b;
	redisReply    *r;
	uint64_t       t0, t1;

	for (;;) {
		t0 = now_ns();
		redisAppendCommand(
		    cl->c, "LPUSH %s %b", req_key, cl->req, cl->req_len);
		redisAppendCommand(
		    cl->c, "BRPOP %s %d", cl->key, REPLY_TIMEOUT);
		if ((r = get_reply(cl->c, "client")) == NULL)
			goto fail;
		freeReplyObject(r);
		if ((r = get_reply(cl->c, "client")) == NULL)
			goto fail;
		t1 = now_ns();
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[1]->len != b->payload) {
			fprintf(stderr, "redis_rr: client: %s\n",
			    r->type == REDIS_REPLY_NIL ? "no reply in time"
			                               : "bad reply");
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
		if (t1 >= b->warm_end && t1 < b->end) {
			pthread_mutex_lock(&b->mtx);
			b->count++;
			samples_add(&b->smp, t1 - t0);
			pthread_mutex_unlock(&b->mtx);
		}
		if (t1 >= b->end)
			return NULL;
	}
fail:
	pthread_mutex_lock(&b->mtx);
	b->error = 1;
	pthread_mutex_unlock(&b->mtx);
	return NULL;
}

static int
client(const struct bench_args *a)
{
	struct bench   b;
	struct client *cl;
	pthread_t     *tid;
	redisReply    *r;
	int            i, rv = 0;

	memset(&b, 0, sizeof(b));
	b.payload = a->payload;
	pthread_mutex_init(&b.mtx, NULL);
	if (samples_init(&b.smp, 0x9e3779b97f4a7c15u) != 0
	    || (cl = calloc((size_t)a->inflight, sizeof(*cl))) == NULL
	    || (tid = calloc((size_t)a->inflight, sizeof(*tid))) == NULL) {
		fprintf(stderr, "redis_rr: out of memory\n");
		return 1;
	}
	for (i = 0; i < a->inflight; i++) {
		cl[i].b = &b;
		snprintf(cl[i].key, sizeof(cl[i].key), "%s:rep:%d", prefix, i);
		cl[i].req_len = strlen(cl[i].key) + 1 + a->payload;
		if ((cl[i].req = malloc(cl[i].req_len)) == NULL)
			return 1;
		memcpy(cl[i].req, cl[i].key, strlen(cl[i].key));
		cl[i].req[strlen(cl[i].key)] = '\n';
		memset(cl[i].req + strlen(cl[i].key) + 1, 'x', a->payload);
		if ((cl[i].c = connect_redis("client")) == NULL)
			return 1;
	}
	b.warm_end = now_ns() + (uint64_t)(a->warm * 1e9);
	b.end      = b.warm_end + (uint64_t)(a->secs * 1e9);
	for (i = 0; i < a->inflight; i++)
		if (pthread_create(&tid[i], NULL, client_thread, &cl[i]) != 0)
			return 1;
	for (i = 0; i < a->inflight; i++)
		pthread_join(tid[i], NULL);

	/* Leave nothing behind in a Redis that may not be ours. */
	r = redisCommand(cl[0].c, "DEL %s", req_key);
	if (r)
		freeReplyObject(r);
	for (i = 0; i < a->inflight; i++) {
		r = redisCommand(cl[0].c, "DEL %s", cl[i].key);
		if (r)
			freeReplyObject(r);
	}
	for (i = 0; i < a->inflight; i++) {
		redisFree(cl[i].c);
		free(cl[i].req);
	}
	if (b.error) {
		rv = 1;
	} else {
		print_rr("redis", a, b.count, &b.smp);
	}
	free(cl);
	free(tid);
	samples_free(&b.smp);
	return rv;
}

/* ---- main ------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: redis_rr -P PORT [-H HOST] [-p BYTES] [-k INFLIGHT] "
	    "[-d SECONDS]\n"
	    "                [-W WARMUP_SECONDS] [-w SERVER_THREADS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_args a;

	bench_args_init(&a);
	while (bench_getopt(&a, argc, argv, "H:P:p:k:d:W:w:") != -1)
		usage();
	if (bench_args_finish(&a, argc, 0, MAX_THREADS) != 0)
		usage();
	host = a.host;
	port = a.port;
	snprintf(prefix, sizeof(prefix), "agentd-bench:%ld", (long)getpid());
	snprintf(req_key, sizeof(req_key), "%s:req", prefix);

	return bench_rr("redis_rr", &a, server, client);
}
