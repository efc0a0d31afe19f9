/*
 * test_ratelimit.c - the one rate limiter of per-message warnings, on
 * times made up here: what it lets through, what it holds back, and the
 * note that tells the count.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "common/ratelimit.h"

#define T0 500000 /* a monotonic time */

static void
test_first_and_flood(void)
{
	struct ad_ratelimit rl                      = { 0 };
	char                note[AD_RATELIMIT_NOTE] = "x";
	int                 passed                  = 0, i;

	is_int(ad_ratelimit(&rl, T0, note, sizeof(note)), 1,
	    "the first occurrence is logged");
	is_str(note, "", "with no note");
	/* 100 000 in 10 s, evenly: one line a second. */
	for (i = 1; i < 100000; i++)
		passed += ad_ratelimit(&rl, T0 + i / 10, note, sizeof(note));
	is_int(passed, 9, "a flood over 10 s: one line a second after it");
	is_str(note, " (and 9999 more like it in the last 1.0 s)",
	    "each names what was held back since the last line");
	is_int((int)rl.suppressed, 9999, "and counts the rest for the next");
}

static void
test_interval(void)
{
	struct ad_ratelimit rl = { .interval_ms = 5000 };
	char                note[AD_RATELIMIT_NOTE];

	ad_ratelimit(&rl, T0, note, sizeof(note));
	is_int(ad_ratelimit(&rl, T0 + 4999, note, sizeof(note)), 0,
	    "held back within its own interval");
	is_int(ad_ratelimit(&rl, T0 + 5000, note, sizeof(note)), 1,
	    "let through once the interval has passed");
	is_str(note, " (and 1 more like it in the last 5.0 s)",
	    "tenths of a second below 10 s");
}

static void
test_quiet(void)
{
	struct ad_ratelimit rl = { 0 };
	char                note[AD_RATELIMIT_NOTE];

	ad_ratelimit(&rl, T0, note, sizeof(note));
	is_int(ad_ratelimit(&rl, T0 + 2000, note, sizeof(note)), 1,
	    "one a while later is logged");
	is_str(note, "", "and says nothing was held back");
	ad_ratelimit(&rl, T0 + 2001, note, sizeof(note));
	ad_ratelimit(&rl, T0 + 2002, note, sizeof(note));
	is_int(ad_ratelimit(&rl, T0 + 3602000, note, sizeof(note)), 1,
	    "the next after an hour is logged");
	is_str(note, " (and 2 more like it in the last 3600 s)",
	    "a flood's tail is told with the next line, in whole seconds");
}

static void
test_edges(void)
{
	struct ad_ratelimit rl = { 0 };
	char                note[8];

	is_int(ad_ratelimit(&rl, 0, NULL, 0), 1,
	    "time 0 and no note: still logged once");
	is_int(ad_ratelimit(&rl, -5, NULL, 0), 0,
	    "a clock that went back is within the interval");
	is_int(ad_ratelimit(&rl, 1000, note, sizeof(note)), 1,
	    "then one after the interval");
	ok(strlen(note) == sizeof(note) - 1,
	    "a short note is cut, not run over");
}

int
main(void)
{
	plan(16);
	test_first_and_flood();
	test_interval();
	test_quiet();
	test_edges();
	return done_testing();
}
