/*
 * llmfake - `make bench-llm`'s language-model provider (bench/README.md,
 * "The llm agent"): an OpenAI-compatible POST .../chat/completions
 * answered with one small valid completion, at once or after a fixed
 * delay, fast enough to be nobody's bottleneck.  tests/tools/fakellm.py
 * is the scripted fake of the tests; this one only answers.
 *
 *   llmfake -f PORT_FILE [-d DELAY_MS] [-t THREADS]
 *
 * libmicrohttpd on 127.0.0.1, a port of the kernel's choosing (written
 * to PORT_FILE once listening), epoll in THREADS internal threads
 * (default 2), keep-alive.  Every POST whose path ends in
 * "/chat/completions" is answered 200 with the same JSON (read, and
 * dropped, body and all); with DELAY_MS, a request's connection is
 * suspended when its body is in and resumed DELAY_MS later by a timer
 * thread, so a thousand requests wait without a thousand threads.
 * GET /stats answers {"requests", "answered", "held"}: requests whose
 * body arrived, answers queued, requests waiting out the delay now.
 * Anything else is 404.  Stops on SIGTERM or SIGINT, and when its parent
 * dies.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define PROG "llmfake"

static const char answer_json[]
    = "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\","
      "\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
      "\"completion_tokens\":1,\"total_tokens\":10}}";

/* One request, from its first header to its completion. */
struct req {
	TAILQ_ENTRY(req) link;
	struct MHD_Connection *conn;
	int64_t                due_ns; /* suspended until; 0: not yet */
	int                    kind;   /* K_CHAT, K_STATS, K_OTHER */
	int                    resumed;
};

enum { K_CHAT = 1, K_STATS, K_OTHER };

static struct MHD_Response *answer, *not_found;
static int64_t              delay_ns;
static atomic_ullong        n_requests, n_answered, n_held;

/* The delayed requests, in due order (the delay is the same for all). */
static pthread_mutex_t mtx  = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cond = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, req) waiting = TAILQ_HEAD_INITIALIZER(waiting);
static int stopping;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Resume each waiting request when its delay is over. */
static void *
timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mtx);
	while (!stopping) {
		struct req     *r = TAILQ_FIRST(&waiting);
		struct timespec ts;
		int64_t         now = now_ns();

		if (r == NULL) {
			pthread_cond_wait(&cond, &mtx);
			continue;
		}
		if (r->due_ns > now) {
			/* pthread_cond_timedwait reads CLOCK_REALTIME. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (r->due_ns - now) / 1000000000;
			ts.tv_nsec += (r->due_ns - now) % 1000000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cond, &mtx, &ts);
			continue;
		}
		TAILQ_REMOVE(&waiting, r, link);
		r->resumed = 1;
		atomic_fetch_sub(&n_held, 1);
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&mtx);
	return NULL;
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

static enum MHD_Result
stats(struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result      ret;
	char                 buf[160];
	int                  n;

	n    = snprintf(buf, sizeof(buf),
	       "{\"requests\":%llu,\"answered\":%llu,\"held\":%llu}",
	       (unsigned long long)atomic_load(&n_requests),
	       (unsigned long long)atomic_load(&n_answered),
	       (unsigned long long)atomic_load(&n_held));
	resp = MHD_create_response_from_buffer(
	    (size_t)n, buf, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (r == NULL) { /* the headers are in; the body, if any, follows */
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->conn  = conn;
		r->kind  = strcmp(method, "POST") == 0
                        && ends_with(url, "/chat/completions")
		     ? K_CHAT
		     : strcmp(method, "GET") == 0 && strcmp(url, "/stats") == 0
		     ? K_STATS
		     : K_OTHER;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0) { /* read, not looked at */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->kind == K_STATS)
		return stats(conn);
	if (r->kind == K_OTHER)
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, not_found);
	if (r->due_ns == 0)
		atomic_fetch_add(&n_requests, 1);
	if (delay_ns > 0 && !r->resumed) {
		if (r->due_ns != 0) /* woken before its time: wait on */
			return MHD_YES;
		r->due_ns = now_ns() + delay_ns;
		atomic_fetch_add(&n_held, 1);
		pthread_mutex_lock(&mtx);
		MHD_suspend_connection(conn);
		if (TAILQ_EMPTY(&waiting))
			pthread_cond_signal(&cond);
		TAILQ_INSERT_TAIL(&waiting, r, link);
		pthread_mutex_unlock(&mtx);
		return MHD_YES;
	}
	atomic_fetch_add(&n_answered, 1);
	return MHD_queue_response(conn, MHD_HTTP_OK, answer);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	pthread_mutex_lock(&mtx);
	if (r->due_ns != 0 && !r->resumed) { /* closed while it waited */
		TAILQ_REMOVE(&waiting, r, link);
		atomic_fetch_sub(&n_held, 1);
	}
	pthread_mutex_unlock(&mtx);
	free(r);
	*con_cls = NULL;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " -f PORT_FILE [-d DELAY_MS] "
	    "[-t THREADS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char                 *port_file = NULL;
	unsigned                    threads   = 2;
	struct sockaddr_in          sa;
	struct MHD_Daemon          *d;
	const union MHD_DaemonInfo *info;
	pthread_t                   timer;
	sigset_t                    set;
	FILE                       *f;
	int                         c, sig;

	while ((c = getopt(argc, argv, "f:d:t:")) != -1) {
		switch (c) {
		case 'f':
			port_file = optarg;
			break;
		case 'd':
			delay_ns = atoll(optarg) * 1000000;
			break;
		case 't':
			threads = (unsigned)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || port_file == NULL || delay_ns < 0 || threads < 1
	    || threads > 64)
		usage();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the threads inherit it */
	answer = MHD_create_response_from_buffer(sizeof(answer_json) - 1,
	    (void *)answer_json, MHD_RESPMEM_PERSISTENT);
	not_found
	    = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (answer == NULL || not_found == NULL)
		return 1;
	MHD_add_response_header(answer, "Content-Type", "application/json");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family      = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO
	        | MHD_ALLOW_SUSPEND_RESUME,
	    0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)16384, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, PROG ": cannot start libmicrohttpd\n");
		return 1;
	}
	if ((info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)) == NULL
	    || (f = fopen(port_file, "w")) == NULL) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", port_file,
		    strerror(errno));
		MHD_stop_daemon(d);
		return 1;
	}
	fprintf(f, "%u\n", (unsigned)info->port);
	if (fclose(f) != 0)
		return 1;
	if (pthread_create(&timer, NULL, timer_main, NULL) != 0)
		return 1;
	do
		sigwait(&set, &sig);
	while (sig == SIGPIPE);
	pthread_mutex_lock(&mtx);
	stopping = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mtx);
	pthread_join(timer, NULL);
	/* Resume what still waits, so libmicrohttpd can close it. */
	pthread_mutex_lock(&mtx);
	while (!TAILQ_EMPTY(&waiting)) {
		struct req *r = TAILQ_FIRST(&waiting);

		TAILQ_REMOVE(&waiting, r, link);
		r->resumed = 1;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&mtx);
	MHD_stop_daemon(d);
	MHD_destroy_response(answer);
	MHD_destroy_response(not_found);
	return 0;
}
