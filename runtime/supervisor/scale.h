/*
 * scale.h - the autoscaler's decision, without the agent it is for.
 *
 * The caller measures the load (requests in flight plus queued) every
 * tick and hands it in with the parameters and the time; once per
 * AD_SCALE_SAMPLE_MS the scaler decides on the mean of the ticks since
 * the last decision.  A mean above desired * target_inflight by more than
 * AD_SCALE_TOLERANCE for upscale_delay grows the count to what the load
 * needs (one step at most doubles it, or adds AD_SCALE_STEP_MIN); a mean
 * so low that one instance fewer would still be under target minus the
 * tolerance, for downscale_delay, shrinks it to what the highest mean of
 * that window needs.  A load between the two changes nothing, so a steady
 * load near the target never flaps.  The counts stay within [min, max].
 *
 * Nothing here reads a clock or logs: the caller applies the decision,
 * and says why from the numbers it carries.
 *
 * This file owns struct ad_scaler, the load window (a field of each
 * agent, read and written only here).
 */
#ifndef AD_SCALE_H
#define AD_SCALE_H

#include <stdint.h>

#define AD_SCALE_SAMPLE_MS 1000
/* Kubernetes' HPA uses the same 10%. */
#define AD_SCALE_TOLERANCE 0.1
#define AD_SCALE_STEP_MIN 4

/* The window the scaler keeps between ticks; all zero to begin with. */
struct ad_scaler {
	double   load_sum;       /* the loads sampled since the decision */
	unsigned load_n;         /* how many */
	int64_t  next_ms;        /* monotonic: the next decision */
	int64_t  above_since_ms; /* monotonic: mean above the band, or 0 */
	int64_t  below_since_ms; /* monotonic: mean below the band, or 0 */
	double   below_peak;     /* the highest mean while below */
};

struct ad_scale_params {
	unsigned desired; /* the count now */
	unsigned min, max;
	unsigned target_inflight;
	int64_t  upscale_delay_ms;
	int64_t  downscale_delay_ms;
	/* 0 when the count is not the scaler's to change (pinned by an
	 * operator, stopped, failed, closing, or min = max): the window
	 * starts again */
	int may_scale;
};

enum ad_scale_verdict {
	AD_SCALE_KEEP = 0,
	AD_SCALE_UP,
	AD_SCALE_DOWN,
};

/* What an UP or DOWN verdict is made of, for the log line. */
struct ad_scale_decision {
	unsigned want;   /* the new count; differs from desired */
	double   load;   /* UP: the interval's mean; DOWN: the window's peak */
	int64_t  for_ms; /* how long the mean was above, or below */
};

/*
 * Add one tick's load at now (monotonic ms) and, when an interval ends,
 * decide.  *d is filled for UP and DOWN only.
 */
enum ad_scale_verdict ad_scaler_sample(struct ad_scaler *s, double load,
    const struct ad_scale_params *p, int64_t now, struct ad_scale_decision *d);

/* Forget how long the load has been above or below the band. */
void ad_scaler_reset(struct ad_scaler *s);

/* Instances needed to hold load at target each: load / target, rounded
 * up. */
unsigned ad_scale_needed(double load, unsigned target);

#endif
