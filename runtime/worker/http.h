/*
 * http.h - host->http_async inside agentd-worker: one libcurl multi handle
 * driven from the worker's poll loop (curl_multi_socket_action, with the
 * sockets and the timer libcurl asks for added to the loop's poll set), so
 * one instance holds hundreds of requests on its one plugin thread, and
 * waiting on the network is never time in a callback (health {
 * hung_after }).  The rules (allow-list, limits, retries) are
 * sdk/http_rules.h's, which the mock host applies too.
 *
 * From main():
 *   ad_whttp_init()     before the sandbox and before any thread: libcurl's
 *                       global init is not thread-safe
 *   ad_whttp_poll()     each turn of the loop: the poll set and its wait
 *   ad_whttp_run()      after each poll: sockets ready, timers due,
 *                       finished requests' callbacks
 *   ad_whttp_close()    stopping, before the plugin's fini: what is
 *                       outstanding gets AGENTD_ECLOSED, exactly once
 *   ad_whttp_free()     after fini
 * An agent without http { allow } has no multi handle (ctx->http NULL):
 * every request is refused as the rules say (AGENTD_EDENIED).
 */
#ifndef AD_WHTTP_H
#define AD_WHTTP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>

#include "sdk/http_rules.h"

struct agentd_ctx;

/* The worker's http { } options, from its command line (main.c). */
struct ad_whttp_opts {
	char   **allow; /* borrowed, valid until exit */
	size_t   nallow;
	unsigned max_concurrent;
	size_t   max_response;
	uint32_t timeout_ms;
	const char *ca_file; /* NULL: the system's CAs only */
};

/* Defaults the worker applies when agentd passes none (options.c's). */
#define AD_WHTTP_MAX_CONCURRENT 256
#define AD_WHTTP_MAX_RESPONSE ((size_t)1 << 20)
#define AD_WHTTP_TIMEOUT_MS 30000

/* 0, or -1 with one line in err.  Nothing to do without an allow-list. */
int ad_whttp_init(struct agentd_ctx *ctx, const struct ad_whttp_opts *o,
    char *err, size_t errlen);

/*
 * The poll set for this turn: base[0..nbase) first, then the sockets
 * libcurl waits on.  Borrowed, valid until the next call; *n its size.
 * *wait_ms is lowered to libcurl's timer and the next retry.
 */
struct pollfd *ad_whttp_poll(struct agentd_ctx *ctx,
    const struct pollfd *base, size_t nbase, size_t *n, int64_t *wait_ms);

/* After poll(): fds, n as ad_whttp_poll() gave them, revents filled. */
void ad_whttp_run(struct agentd_ctx *ctx, const struct pollfd *fds, size_t n,
    size_t nbase);

/* Requests under way get AGENTD_ECLOSED; new ones are refused so. */
void ad_whttp_close(struct agentd_ctx *ctx);
void ad_whttp_free(struct agentd_ctx *ctx);

/* host->http_async. */
int ad_whttp_request(struct agentd_ctx *ctx,
    const struct agentd_http_request *req, agentd_http_fn cb, void *arg);

#endif
