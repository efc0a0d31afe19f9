#include "config.h"

#include "supervisor/scale.h"

unsigned
ad_scale_needed(double load, unsigned target)
{
	unsigned n = (unsigned)(load / target);

	return n * (double)target < load ? n + 1 : n;
}

void
ad_scaler_reset(struct ad_scaler *s)
{
	s->above_since_ms = 0;
	s->below_since_ms = 0;
	s->below_peak     = 0;
}

/* The mean is above the band: grow once it has been for upscale_delay. */
static enum ad_scale_verdict
above(struct ad_scaler *s, double mean, const struct ad_scale_params *p,
    int64_t now, struct ad_scale_decision *d)
{
	unsigned step, want;

	s->below_since_ms = 0;
	/* Counted from the end of the first interval whose mean is above:
	 * the load may have started anywhere in it. */
	if (s->above_since_ms == 0)
		s->above_since_ms = now;
	if (now - s->above_since_ms < p->upscale_delay_ms
	    || p->desired >= p->max)
		return AD_SCALE_KEEP;
	step = p->desired > AD_SCALE_STEP_MIN ? p->desired : AD_SCALE_STEP_MIN;
	want = ad_scale_needed(mean, p->target_inflight);
	if (want > p->desired + step)
		want = p->desired + step;
	if (want > p->max)
		want = p->max;
	d->want   = want;
	d->load   = mean;
	d->for_ms = now - s->above_since_ms;
	/* The new instances get a full delay to take their share. */
	s->above_since_ms = now;
	return want != p->desired ? AD_SCALE_UP : AD_SCALE_KEEP;
}

/* The mean is below the band: shrink once it has been for
 * downscale_delay, to what the highest mean of the window needs. */
static enum ad_scale_verdict
below(struct ad_scaler *s, double mean, const struct ad_scale_params *p,
    int64_t now, struct ad_scale_decision *d)
{
	unsigned want;

	s->above_since_ms = 0;
	if (s->below_since_ms == 0) {
		s->below_since_ms = now;
		s->below_peak     = mean;
	}
	if (mean > s->below_peak)
		s->below_peak = mean;
	if (now - s->below_since_ms < p->downscale_delay_ms)
		return AD_SCALE_KEEP;
	want = ad_scale_needed(s->below_peak, p->target_inflight);
	if (want < p->min)
		want = p->min;
	d->want   = want;
	d->load   = s->below_peak;
	d->for_ms = now - s->below_since_ms;
	ad_scaler_reset(s);
	return want < p->desired ? AD_SCALE_DOWN : AD_SCALE_KEEP;
}

enum ad_scale_verdict
ad_scaler_sample(struct ad_scaler *s, double load,
    const struct ad_scale_params *p, int64_t now, struct ad_scale_decision *d)
{
	double mean, target = p->target_inflight;

	s->load_sum += load;
	s->load_n++;
	if (now < s->next_ms)
		return AD_SCALE_KEEP;
	mean        = s->load_sum / s->load_n;
	s->load_sum = 0;
	s->load_n   = 0;
	s->next_ms  = now + AD_SCALE_SAMPLE_MS;
	if (!p->may_scale) {
		ad_scaler_reset(s);
		return AD_SCALE_KEEP;
	}
	if (mean > p->desired * target * (1 + AD_SCALE_TOLERANCE))
		return above(s, mean, p, now, d);
	if (p->desired > p->min
	    && mean < (p->desired - 1) * target * (1 - AD_SCALE_TOLERANCE))
		return below(s, mean, p, now, d);
	ad_scaler_reset(s);
	return AD_SCALE_KEEP;
}
