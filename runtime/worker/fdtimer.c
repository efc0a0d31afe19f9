/*
 * fdtimer.c - the instance's own descriptors and timers in the worker's
 * loop; see fdtimer.h (here) and sdk/fdtimer.h (the table and its rules).
 */
#include "config.h"

#include <stdatomic.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "sdk/fdtimer.h"
#include "worker/fdtimer.h"
#include "worker/host.h"

/* Plugin code: busy time, as main.c's plugin_enter() counts it, then what
 * it queued leaves as after any callback (events now, the rest with the
 * turn's out flush). */
static void
busy_begin(struct agentd_ctx *ctx)
{
	atomic_store(&ctx->busy_since_ms, ad_now_ms());
}

static void
busy_end(struct agentd_ctx *ctx)
{
	atomic_store(&ctx->busy_since_ms, 0);
	ad_host_flush(ctx);
}

size_t
ad_wfdt_poll(
    struct agentd_ctx *ctx, struct pollfd *pfd, size_t max, int64_t *wait_ms)
{
	int64_t  now = ad_now_ms();
	uint64_t due;

	/* due is a monotonic time, far below INT64_MAX */
	if (ad_fdtimer_next_due(&ctx->fdt, &due)
	    && (int64_t)due - now < *wait_ms)
		*wait_ms = (int64_t)due > now ? (int64_t)due - now : 0;
	return ad_fdtimer_pollfds(&ctx->fdt, pfd, max);
}

/* A watched descriptor the plugin closed without ending its watch: its
 * callback is told AGENTD_FD_ERROR every turn.  One line a second says
 * which (one instance per process: one limiter). */
static struct ad_ratelimit closed_log;

static void
warn_closed(struct agentd_ctx *ctx, int fd)
{
	char note[AD_RATELIMIT_NOTE];

	if (ad_ratelimit(&closed_log, ad_now_ms(), note, sizeof(note)))
		ad_warn(
		    "%s/%s: watched fd %d is not open: the plugin must end "
		    "a watch (watch_fd with events 0) before it closes "
		    "the descriptor%s",
		    ctx->agent, ctx->instance, fd, note);
}

/* The watches ready: a callback may end or replace any watch, and a
 * watch it ended is not called later in this turn (sdk/fdtimer.h). */
static void
run_ready(struct agentd_ctx *ctx, const struct pollfd *pfd, size_t n)
{
	agentd_fd_fn cb;
	void        *arg;
	size_t       i;
	int          events;

	for (i = 0; i < n; i++) {
		if (!ad_fdtimer_ready(&ctx->fdt, &pfd[i], &cb, &arg, &events))
			continue;
		if (pfd[i].revents & POLLNVAL)
			warn_closed(ctx, pfd[i].fd);
		busy_begin(ctx);
		cb(arg, pfd[i].fd, events);
		busy_end(ctx);
	}
}

/* The timers due at the turn's start, each once; those their callbacks
 * start wait for the next turn. */
static void
run_due(struct agentd_ctx *ctx)
{
	agentd_timer_fn cb;
	void           *arg;
	uint64_t        id, now = (uint64_t)ad_now_ms();

	ad_fdtimer_turn(&ctx->fdt);
	while (ad_fdtimer_due(&ctx->fdt, now, &cb, &arg, &id)) {
		busy_begin(ctx);
		cb(arg, id);
		busy_end(ctx);
	}
}

void
ad_wfdt_run(struct agentd_ctx *ctx, const struct pollfd *pfd, size_t n)
{
	run_ready(ctx, pfd, n);
	run_due(ctx);
	ad_host_out_flush(ctx);
}

void
ad_wfdt_close(struct agentd_ctx *ctx)
{
	ad_fdtimer_close(&ctx->fdt);
}

/* A refusal the plugin gets as a code; the reason in the debug log. */
static int
refused(struct agentd_ctx *ctx, const char *call, int rv)
{
	if (rv != 0)
		ad_debug("%s/%s: %s refused: %s", ctx->agent, ctx->instance,
		    call, agentd_strerror(rv));
	return rv;
}

int
ad_wfdt_watch(
    struct agentd_ctx *ctx, int fd, int events, agentd_fd_fn cb, void *arg)
{
	if (ctx == NULL)
		return AGENTD_EINVAL;
	return refused(
	    ctx, "watch_fd", ad_fdtimer_watch(&ctx->fdt, fd, events, cb, arg));
}

int
ad_wfdt_timer_start(struct agentd_ctx *ctx, uint64_t first_ms,
    uint64_t every_ms, agentd_timer_fn cb, void *arg, uint64_t *id)
{
	if (ctx == NULL)
		return AGENTD_EINVAL;
	return refused(ctx, "timer_start",
	    ad_fdtimer_start(&ctx->fdt, (uint64_t)ad_now_ms(), first_ms,
	        every_ms, cb, arg, id));
}

int
ad_wfdt_timer_cancel(struct agentd_ctx *ctx, uint64_t id)
{
	if (ctx == NULL)
		return AGENTD_EINVAL;
	return refused(ctx, "timer_cancel", ad_fdtimer_cancel(&ctx->fdt, id));
}
