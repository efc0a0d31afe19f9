/*
 * test_restart.c - the restart intensity window and the backoff between
 * restarts, on exit times and random values made up here.
 */
#include "config.h"

#include <stdlib.h>

#include "tap.h"
#include "supervisor/restart.h"

#define T0 100000 /* a monotonic time */

/* A window for intensity 3 within 10 s. */
struct window {
	int64_t  times[4];
	unsigned n;
	int64_t  span;
};

static int
exit_at(struct window *w, int64_t now)
{
	return ad_restart_count(w->times, &w->n, 3, 10000, now, &w->span);
}

static void
test_intensity(void)
{
	struct window w = { .span = -1 };

	is_int(exit_at(&w, T0), AD_EXIT_RESTART, "first exit: restarted");
	is_int(exit_at(&w, T0 + 1000), AD_EXIT_RESTART, "second: restarted");
	is_int(exit_at(&w, T0 + 2000), AD_EXIT_RESTART, "third: restarted");
	is_int(exit_at(&w, T0 + 3000), AD_EXIT_FAIL,
	    "intensity + 1 exits within period: failed");
	is_int(w.span, 3000, "within how long, for the log");
}

static void
test_spaced(void)
{
	struct window w      = { 0 };
	int           failed = 0;

	for (int64_t t = T0; t < T0 + 400000; t += 4000)
		failed += exit_at(&w, t) == AD_EXIT_FAIL;
	is_int(failed, 0, "an exit every 4 s (4 in 12 s) never fails it");
	is_int(w.n, 4, "the window holds intensity + 1 times");
}

static void
test_slides(void)
{
	struct window w = { 0 };

	exit_at(&w, T0);
	exit_at(&w, T0 + 1000);
	exit_at(&w, T0 + 2000);
	is_int(exit_at(&w, T0 + 10001), AD_EXIT_RESTART,
	    "the fourth exit just over period after the first: restarted");
	is_int(exit_at(&w, T0 + 11500), AD_EXIT_RESTART,
	    "the window slid: the oldest is the second exit now");
	is_int(exit_at(&w, T0 + 12000), AD_EXIT_FAIL,
	    "four exits within exactly period (2 s to 12 s): failed");
	is_int(w.span, 10000, "within 10000 ms");
}

static void
test_intensity_zero(void)
{
	int64_t  times[1];
	unsigned n = 0;
	int64_t  span;

	is_int(ad_restart_count(times, &n, 0, 10000, T0, &span), AD_EXIT_FAIL,
	    "intensity 0: the first exit fails the agent");
}

static void
test_backoff(void)
{
	int64_t want[] = { 100, 200, 400, 800, 1000, 1000 };
	int64_t b      = 0;
	int     right  = 1;

	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		b = ad_restart_backoff(b, 100, 1000);
		right &= b == want[i];
	}
	ok(right, "backoff: initial, then doubling, capped at max");
}

static void
test_jitter(void)
{
	int64_t max    = 0;
	int     within = 1;

	for (long r = 0; r < 100000; r++) {
		int64_t j = ad_restart_jitter(1000, r * 7919 % RAND_MAX);

		within &= j >= 0 && j < 250;
		max = j > max ? j : max;
	}
	ok(within, "jitter stays below a quarter of the backoff");
	is_int(max, 249, "and reaches up to it");
	is_int(ad_restart_jitter(1000, RAND_MAX), RAND_MAX % 250,
	    "the random value taken modulo a quarter");
	is_int(ad_restart_jitter(4, 3), 0, "no jitter on a backoff of 4 ms");
}

static void
test_schedule(void)
{
	struct ad_restarts r = { 0 };

	ad_restarts_schedule(&r, 100, 1000, 7, T0);
	is_int(r.backoff_ms, 100, "first restart: backoff_initial");
	is_int(r.next_start_ms, T0 + 107, "starts after backoff and jitter");
	ad_restarts_schedule(&r, 100, 1000, 0, T0 + 500);
	is_int(r.next_start_ms, T0 + 700, "second: twice as long");
}

static void
test_stable(void)
{
	struct ad_restarts r = { 0 };

	ad_restarts_schedule(&r, 100, 1000, 0, T0);
	ad_restarts_schedule(&r, 100, 1000, 0, T0);
	ad_restarts_ran(&r, T0 + 1000, 10000, T0 + 10999);
	is_int(r.backoff_ms, 200, "ready for less than stable_after: kept");
	ad_restarts_ran(&r, T0 + 1000, 10000, T0 + 11000);
	is_int(r.backoff_ms, 0, "ready for stable_after: the loop is over");
	ad_restarts_schedule(&r, 100, 1000, 0, T0 + 20000);
	is_int(r.backoff_ms, 100, "the next failure starts from initial");
}

static void
test_reset(void)
{
	struct ad_restarts r = { 0 };

	ad_restarts_schedule(&r, 100, 1000, 0, T0);
	ad_restarts_reset(&r);
	ok(r.backoff_ms == 0 && r.next_start_ms == 0,
	    "an operator's restart: no delay, none remembered");
}

int
main(void)
{
	plan(24);
	test_intensity();
	test_spaced();
	test_slides();
	test_intensity_zero();
	test_backoff();
	test_jitter();
	test_schedule();
	test_stable();
	test_reset();
	return done_testing();
}
