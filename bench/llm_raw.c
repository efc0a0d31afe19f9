/*
 * llm_raw - `make bench-llm`'s raw row (bench/README.md, "The llm
 * agent"): the chat request of bench/llmreq.h sent straight to the fake
 * provider by a plain libcurl multi client, INFLIGHT at a time.
 *
 *   llm_raw -u URL [-k INFLIGHT] [-d SECONDS] [-W WARMUP_SECONDS]
 *           [-S START_DELAY_MS]
 *
 * What a careful user of libcurl writes: one multi handle, INFLIGHT easy
 * handles made once and reused (so each keeps its keep-alive connection),
 * each re-added as soon as its answer is in (a closed loop);
 * curl_multi_perform and curl_multi_poll.  The same headers as the llm
 * plugin's requests (Content-Type: application/json, no Expect).  An
 * answer counts when it is HTTP 200 with a body; anything else is an
 * error.  After WARMUP_SECONDS (default 0.5), answers that arrive in the
 * next SECONDS (default 2) are counted, with their latencies (from
 * curl_multi_add_handle to CURLMSG_DONE).  Prints one line:
 *
 *   llm way=raw inflight=K msgs=N secs=S rate=R p50_us=X p99_us=Y
 *     errors=E cpu_us=C
 *
 * cpu_us: this process's CPU time (user + system) per counted answer.
 * -S waits that long (libcurl initialised, nothing sent) before the
 * first request, so that bench/agentd_llm can read this process's
 * memory before it holds any.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include "benchlib.h"
#include "llmreq.h"

#define PROG "llm_raw"

struct conn {
	CURL    *easy;
	uint64_t t0;
	size_t   got; /* body bytes of the current answer */
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;

	(void)p;
	c->got += size * n;
	return size * n;
}

static double
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
	    + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG
	    " -u URL [-k INFLIGHT] [-d SECONDS] [-W WARMUP_SECONDS] "
	    "[-S START_DELAY_MS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char        *url = NULL;
	int                k = 64, c, running, start_ms = 0;
	double             secs = 2, warm = 0.5, cpu0 = 0;
	uint64_t           t_warm, t_end, msgs = 0, errors = 0;
	struct curl_slist *hdrs = NULL;
	struct samples     lat;
	struct conn       *conns;
	CURLM             *multi;

	while ((c = getopt(argc, argv, "u:k:d:W:S:")) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'k':
			k = atoi(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'W':
			warm = atof(optarg);
			break;
		case 'S':
			start_ms = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || url == NULL || k < 1 || k > 100000 || secs <= 0
	    || warm < 0 || start_ms < 0)
		usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK
	    || samples_init(&lat, 1) != 0
	    || (multi = curl_multi_init()) == NULL)
		return 1;
	hdrs  = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs  = curl_slist_append(hdrs, "Expect:");
	conns = calloc((size_t)k, sizeof(*conns));
	if (conns == NULL || hdrs == NULL)
		return 1;
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)k);
	fflush(stdout);
	usleep((useconds_t)start_ms * 1000);
	for (int i = 0; i < k; i++) {
		CURL *e = curl_easy_init();

		if (e == NULL)
			return 1;
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, LLMREQ_JSON);
		curl_easy_setopt(
		    e, CURLOPT_POSTFIELDSIZE, (long)(sizeof(LLMREQ_JSON) - 1));
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &conns[i]);
		curl_easy_setopt(e, CURLOPT_PRIVATE, &conns[i]);
		conns[i].easy = e;
		conns[i].t0   = now_ns();
		curl_multi_add_handle(multi, e);
	}
	t_warm = now_ns() + (uint64_t)(warm * 1e9);
	t_end  = t_warm + (uint64_t)(secs * 1e9);
	for (int measuring = 0;;) {
		CURLMsg *m;
		int      left;
		uint64_t t;

		curl_multi_perform(multi, &running);
		t = now_ns();
		if (!measuring && t >= t_warm) {
			measuring = 1;
			cpu0      = cpu_us();
		}
		if (t >= t_end)
			break;
		while ((m = curl_multi_info_read(multi, &left)) != NULL) {
			struct conn *cn;
			long         code = 0;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(
			    m->easy_handle, CURLINFO_PRIVATE, &cn);
			curl_easy_getinfo(
			    m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (measuring) {
				if (m->data.result == CURLE_OK && code == 200
				    && cn->got > 0) {
					msgs++;
					samples_add(&lat, t - cn->t0);
				} else
					errors++;
			}
			curl_multi_remove_handle(multi, cn->easy);
			cn->got = 0;
			cn->t0  = now_ns();
			curl_multi_add_handle(multi, cn->easy);
		}
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	samples_sort(&lat);
	printf("llm way=raw inflight=%d msgs=%llu secs=%.3f rate=%.0f "
	       "p50_us=%.1f p99_us=%.1f errors=%llu cpu_us=%.1f\n",
	    k, (unsigned long long)msgs, secs, (double)msgs / secs,
	    pct_us(&lat, 50), pct_us(&lat, 99), (unsigned long long)errors,
	    msgs > 0 ? (cpu_us() - cpu0) / (double)msgs : 0);
	for (int i = 0; i < k; i++) {
		curl_multi_remove_handle(multi, conns[i].easy);
		curl_easy_cleanup(conns[i].easy);
	}
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdrs);
	samples_free(&lat);
	free(conns);
	return errors > 0 && msgs == 0;
}
