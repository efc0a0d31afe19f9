/*
 * test_scale.c - the autoscaler's decisions, tick by tick, on loads made
 * up here: its tolerance band, its delays, its step and bounds.
 */
#include "config.h"

#include <math.h>

#include "tap.h"
#include "supervisor/scale.h"

#define T0 100000 /* a monotonic time; 0 means "never" to the scaler */

static struct ad_scale_params
params(unsigned desired)
{
	struct ad_scale_params p = {
		.desired            = desired,
		.min                = 1,
		.max                = 100,
		.target_inflight    = 4,
		.upscale_delay_ms   = 2000,
		.downscale_delay_ms = 30000,
		.may_scale          = 1,
	};
	return p;
}

/* One tick at now: the decision applied to p->desired.  Returns 1 when
 * the count changed. */
static int
tick(struct ad_scaler *s, struct ad_scale_params *p, double load, int64_t now)
{
	struct ad_scale_decision d;

	if (ad_scaler_sample(s, load, p, now, &d) == AD_SCALE_KEEP)
		return 0;
	p->desired = d.want;
	return 1;
}

/* Ticks every step ms in [from, to) at load; returns the changes. */
static int
run(struct ad_scaler *s, struct ad_scale_params *p, double load, int64_t from,
    int64_t to, int64_t step)
{
	int n = 0;

	for (int64_t t = from; t < to; t += step)
		n += tick(s, p, load, t);
	return n;
}

static void
test_band(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(2);
	int                    n;

	/* 2 x 4 in flight: up above 8.8, down (to 1) below 3.6. */
	n = run(&s, &p, 8.7, T0, T0 + 120000, 100);
	n += run(&s, &p, 7.3, T0 + 120000, T0 + 240000, 100);
	n += run(&s, &p, 3.7, T0 + 240000, T0 + 360000, 100);
	is_int(n, 0,
	    "a load within 10% of the target (and above one "
	    "instance fewer's band) never changes the count");
	is_int(p.desired, 2, "still 2 instances");
	ok(run(&s, &p, 9.0, T0 + 360000, T0 + 400000, 100) > 0,
	    "just above the band, it grows");
}

static void
test_upscale_delay(void)
{
	struct ad_scaler         s = { 0 };
	struct ad_scale_params   p = params(2);
	struct ad_scale_decision d;

	/* Once a second; the window opens at the first mean above. */
	is_int(run(&s, &p, 16, T0, T0 + 2000, 1000), 0,
	    "no change before upscale_delay");
	is_int(ad_scaler_sample(&s, 16, &p, T0 + 2000, &d), AD_SCALE_UP,
	    "up once the load has been above for upscale_delay");
	is_int(d.want, 4, "to what the load needs (16 / 4)");
	is_int(d.for_ms, 2000, "the log says for how long");
	ok(fabs(d.load - 16) < 1e-9, "and at what load");
	p.desired = d.want;
	is_int(tick(&s, &p, 20, T0 + 3000), 0,
	    "the new instances get a full delay to take their share");
	is_int(tick(&s, &p, 20, T0 + 4000), 1, "then up again");
	is_int(p.desired, 5, "to 5 (20 / 4)");
}

static void
test_upscale_mean(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(2);

	/* Ten ticks an interval; one busy tick in each does not raise the
	 * mean above the band. */
	for (int64_t t = T0; t < T0 + 60000; t += 100)
		tick(&s, &p, (t / 100) % 10 == 0 ? 40 : 4, t);
	is_int(p.desired, 2, "the decision is on the interval's mean");
}

static void
test_step(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(2);

	tick(&s, &p, 400, T0);
	tick(&s, &p, 400, T0 + 2000);
	is_int(p.desired, 6, "one step from 2 adds at most 4");
	tick(&s, &p, 400, T0 + 4000);
	is_int(p.desired, 12, "from 6, it at most doubles");
	tick(&s, &p, 400, T0 + 6000);
	is_int(p.desired, 24, "from 12, to 24");
}

static void
test_max(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(2);
	int                    n;

	p.max = 5;
	n     = run(&s, &p, 400, T0, T0 + 60000, 1000);
	is_int(p.desired, 5, "never above max");
	is_int(n, 1, "one change, then none at max");
}

static void
test_downscale(void)
{
	struct ad_scaler         s = { 0 };
	struct ad_scale_params   p = params(8);
	struct ad_scale_decision d;
	int64_t                  t;
	int                      n = 0;

	/* Below 7 x 4 x 0.9; one second at 10 in the window. */
	for (t = T0; t < T0 + 30000; t += 1000)
		n += tick(&s, &p, t == T0 + 5000 ? 10 : 4, t);
	is_int(n, 0, "no change before downscale_delay");
	is_int(ad_scaler_sample(&s, 4, &p, t, &d), AD_SCALE_DOWN,
	    "down once the load has been below for downscale_delay");
	is_int(d.want, 3, "to what the window's peak needs (10 / 4)");
	ok(fabs(d.load - 10) < 1e-9, "the log gives the peak");
	is_int(d.for_ms, 30000, "and how long");
}

static void
test_downscale_interrupted(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(8);

	run(&s, &p, 4, T0, T0 + 20000, 1000);
	tick(&s, &p, 30, T0 + 20000); /* in the band: the window closes */
	is_int(run(&s, &p, 4, T0 + 21000, T0 + 51000, 1000), 0,
	    "a load back in the band starts the downscale window again");
	is_int(tick(&s, &p, 4, T0 + 51000), 1, "a full window later, down");
}

static void
test_min(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(8);

	p.min = 3;
	run(&s, &p, 0, T0, T0 + 120000, 1000);
	is_int(p.desired, 3, "never below min");
	p.desired = 1;
	p.min     = 1;
	is_int(run(&s, &p, 0, T0 + 120000, T0 + 240000, 1000), 0,
	    "at min, an idle agent stays");
}

static void
test_steady(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(5);
	int                    n = 0;
	int64_t                t;

	/* 5 x 4 in flight, give or take 1.9, for ten minutes. */
	for (t = T0; t < T0 + 600000; t += 100)
		n += tick(&s, &p, 20 + 1.9 * sin((double)t / 700), t);
	is_int(n, 0, "a load wobbling near the target: no change");
	/* 28 needs 7; at 7 it is within the band. */
	for (; t < T0 + 1200000; t += 100)
		n += tick(&s, &p, 28, t);
	is_int(n, 1, "a step up in load: one change, then no flapping");
	is_int(p.desired, 7, "at what it needs");
}

static void
test_not_allowed(void)
{
	struct ad_scaler       s = { 0 };
	struct ad_scale_params p = params(2);

	p.may_scale = 0;
	is_int(run(&s, &p, 400, T0, T0 + 60000, 1000), 0,
	    "pinned (or stopped, failed, min = max): no change");
	/* Above for 1.5 s, pinned for a tick: the window starts again. */
	p.may_scale = 1;
	run(&s, &p, 16, T0 + 60000, T0 + 61500, 500);
	p.may_scale = 0;
	tick(&s, &p, 16, T0 + 62000);
	p.may_scale = 1;
	is_int(run(&s, &p, 16, T0 + 62500, T0 + 65000, 500), 0,
	    "pinned resets the window: a full upscale_delay again");
	is_int(tick(&s, &p, 16, T0 + 65000), 1, "then up");
	/* The same for the downscale window and its peak. */
	p.desired = 8;
	ad_scaler_reset(&s);
	run(&s, &p, 10, T0 + 70000, T0 + 90000, 1000);
	p.may_scale = 0;
	tick(&s, &p, 10, T0 + 90000);
	p.may_scale = 1;
	run(&s, &p, 0, T0 + 91000, T0 + 121000, 1000);
	is_int(tick(&s, &p, 0, T0 + 121000), 1, "down after a fresh window");
	is_int(p.desired, 1, "to the new window's peak, not the old one's");
}

static void
test_needed(void)
{
	is_int(ad_scale_needed(0, 4), 0, "no load needs none");
	is_int(ad_scale_needed(8, 4), 2, "8 / 4 = 2");
	is_int(ad_scale_needed(8.1, 4), 3, "rounded up");
}

int
main(void)
{
	plan(37);
	test_band();
	test_upscale_delay();
	test_upscale_mean();
	test_step();
	test_max();
	test_downscale();
	test_downscale_interrupted();
	test_min();
	test_steady();
	test_not_allowed();
	test_needed();
	return done_testing();
}
