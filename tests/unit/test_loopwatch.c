/*
 * test_loopwatch.c - when the main loop's watchdog says the loop is stuck,
 * on times made up here; and its thread's line, on a loop that stops
 * turning for real.
 */
#include "config.h"

#include <stdint.h>
#include <unistd.h>

#include "tap.h"
#include "common/util.h"
#include "supervisor/loopwatch.h"

#define T0 100000 /* a monotonic time */

static void
test_due(void)
{
	int64_t stuck = -1;

	ok(!ad_loopwatch_due(T0 + 999, T0, 0, 1000, &stuck),
	    "a turn 999 ms ago, limit 1 s: not stuck");
	ok(ad_loopwatch_due(T0 + 1000, T0, 0, 1000, &stuck),
	    "no turn for the whole limit: stuck");
	is_int(stuck, 1000, "for as long as since the last turn");
	ok(!ad_loopwatch_due(T0 + 1500, T0, T0 + 1000, 1000, &stuck),
	    "logged 500 ms ago: not again yet");
	ok(ad_loopwatch_due(T0 + 2000, T0, T0 + 1000, 1000, &stuck),
	    "logged a limit ago: again");
	is_int(stuck, 2000, "the second line says 2000 ms");
	ok(!ad_loopwatch_due(T0 + 5000, T0, 0, 0, &stuck),
	    "limit 0: never stuck");
}

static void
test_limit(void)
{
	is_int(ad_loopwatch_limit(0), AD_LOOPWATCH_DEFAULT_MS,
	    "without systemd's watchdog: the default");
	is_int(ad_loopwatch_limit(20000000), 10000,
	    "WatchdogSec=20s: 10 s, one WATCHDOG=1 missed");
	is_int(ad_loopwatch_limit(1000), 1, "never 0 (which is off)");
}

/* The thread itself: turning keeps it quiet; not turning does not. */
static void
test_thread(void)
{
	struct ad_loopwatch w;
	int64_t             end;
	int                 quiet = 1;

	ad_loopwatch_init(&w);
	ok(ad_loopwatch_start(&w, 2000) == 0, "watching with a 2 s limit");
	ad_loopwatch_step(&w, "turning %d", 1);
	end = ad_now_ms() + 300;
	while (ad_now_ms() < end) {
		ad_loopwatch_turned(&w);
		pthread_mutex_lock(&w.mtx);
		quiet = quiet && w.logged_ms == 0;
		pthread_mutex_unlock(&w.mtx);
		usleep(5000);
	}
	ok(quiet, "a loop that turns is never reported");
	ad_loopwatch_step(
	    &w, "collect_exited: closing instance %s's channel", "echo-3");
	/* Waits for the condition, not a guessed delay: bounded at 10 s. */
	end = ad_now_ms() + 10000;
	for (;;) {
		int64_t logged;

		pthread_mutex_lock(&w.mtx);
		logged = w.logged_ms;
		pthread_mutex_unlock(&w.mtx);
		if (logged != 0 || ad_now_ms() > end)
			break;
		usleep(5000);
	}
	ok(w.logged_ms != 0, "a loop that stops turning is reported");
	is_str(w.step, "collect_exited: closing instance echo-3's channel",
	    "with the step it is at");
	ad_loopwatch_turned(&w);
	ok(w.logged_ms == 0, "turning again clears it");
	ad_loopwatch_fini(&w);
}

int
main(void)
{
	plan(15);
	test_due();
	test_limit();
	test_thread();
	return done_testing();
}
