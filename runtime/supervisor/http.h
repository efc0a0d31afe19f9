/*
 * http.h - agentd's HTTP API (doc/http.md), served by libmicrohttpd.
 *
 * One server, started when agentd { http { listen } } is written.  Each
 * request under /v1/ becomes the envelope agentctl would send (a route
 * table maps method and path to an operation of common/ops.h, or to a
 * call), runs through the same table as control.sock
 * (ad_control_run()), and its answer comes back as JSON.  libmicrohttpd
 * runs its own thread (epoll); a request that waits for an answer (a
 * call, a reload) is suspended, and the answer resumes it.  /metrics
 * (metrics.h) and /healthz are served beside the API, and so are the
 * webhooks under /hooks/ (http_hooks.h) and the live streams of events
 * and audit records (http_stream.h).
 *
 * Who asks is a token (tokens.h) in "Authorization: Bearer": its role
 * must be the operation's, and its name is who the audit trail names,
 * "http (NAME)".
 *
 * This file owns struct ad_http: the daemon, its requests, its counters.
 */
#ifndef AD_HTTP_H
#define AD_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct ad_sv;

/* The HTTP server's own counters, for /metrics.  Read with mtx held. */
struct ad_http_stats {
	uint64_t requests;     /* requests answered */
	uint64_t by_class[6];  /* by status class: [2] 2xx ... [5] 5xx */
	uint64_t unauthorized; /* no token, an unknown or revoked one */
	uint64_t forbidden;    /* a token whose role is not enough */
	uint64_t too_big;      /* bodies over max_message_size */
	unsigned connections;  /* open now */
};

/* Start the server if the configuration has one (sv->http stays NULL
 * otherwise).  On failure, one line in err. */
int ad_http_start(struct ad_sv *sv, char *err, size_t errlen);
/* Stop it: after every answer it waits for was given (ad_sv_stop's
 * order), without mtx. */
void ad_http_stop(struct ad_sv *sv);

/* A copy of its counters (zeros without a server).  mtx held. */
void ad_http_stats(struct ad_sv *sv, struct ad_http_stats *st);

/* The same for its live streams (http_stream.h) and its webhooks
 * (http_hooks.h: *out caller frees, how many).  mtx held. */
struct ad_stream_stats;
struct ad_hook_stats;
void   ad_http_stream_stats(struct ad_sv *sv, struct ad_stream_stats *st);
size_t ad_http_hook_stats(struct ad_sv *sv, struct ad_hook_stats **out);

#endif
