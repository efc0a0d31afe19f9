/*
 * fdtimer.h - host->watch_fd, timer_start and timer_cancel (ABI 1.5)
 * inside agentd-worker: the instance's own descriptors join the poll set
 * of the worker's loop, beside outbound HTTP's sockets (http.h), and its
 * next due timer bounds the loop's wait.  The table and its rules are
 * sdk/fdtimer.h's, which the mock host applies too; timers run on the
 * monotonic clock (ad_now_ms).
 *
 * From main.c's serve(), each turn:
 *   ad_wfdt_poll()   the watches into the poll set, *wait_ms lowered to
 *                    the next due timer
 *   ad_wfdt_run()    after poll(): callbacks of the watches ready, then
 *                    of the timers due, each as busy time (plugin code)
 *                    followed by the flushes of any callback
 * and, stopping, ad_wfdt_close() before the plugin's fini: every watch
 * and timer ends without a callback, and later calls (fini's included)
 * are AGENTD_ECLOSED.
 *
 * Waiting on a descriptor or a timer is not busy time: an instance whose
 * timer is due in an hour is not hung (health { hung_after }).
 */
#ifndef AD_WFDT_H
#define AD_WFDT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>

struct agentd_ctx;

/*
 * The watches into pfd[0..max), armed for this turn; returns how many.
 * *wait_ms (the loop's wait) is lowered to the next due timer, 0 if one
 * is due.
 */
size_t ad_wfdt_poll(
    struct agentd_ctx *ctx, struct pollfd *pfd, size_t max, int64_t *wait_ms);

/*
 * After poll(): pfd[0..n) as ad_wfdt_poll() filled them, revents set (n 0
 * when poll() found nothing or failed), then the timers due now.
 */
void ad_wfdt_run(struct agentd_ctx *ctx, const struct pollfd *pfd, size_t n);

/* The instance stops: watches and timers end, no callback runs. */
void ad_wfdt_close(struct agentd_ctx *ctx);

/* host->watch_fd, host->timer_start, host->timer_cancel. */
int ad_wfdt_watch(
    struct agentd_ctx *ctx, int fd, int events, agentd_fd_fn cb, void *arg);
int ad_wfdt_timer_start(struct agentd_ctx *ctx, uint64_t first_ms,
    uint64_t every_ms, agentd_timer_fn cb, void *arg, uint64_t *id);
int ad_wfdt_timer_cancel(struct agentd_ctx *ctx, uint64_t id);

#endif
