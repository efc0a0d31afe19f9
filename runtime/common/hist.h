/*
 * hist.h - fixed-bucket latency histograms (microseconds).
 *
 * Bucket bounds are the same for every histogram, so they can be summed
 * and exported as Prometheus histograms without translation.
 */
#ifndef AD_HIST_H
#define AD_HIST_H

#include <stdint.h>

#define AD_HIST_BUCKETS 18

struct ad_hist {
	uint64_t count[AD_HIST_BUCKETS]; /* last bucket: above every bound */
	uint64_t n;
	uint64_t sum_us;
};

/* Upper bound of bucket i in microseconds (UINT64_MAX for the last). */
uint64_t ad_hist_bound(unsigned i);

void ad_hist_add(struct ad_hist *h, uint64_t us);

/* Upper bound of the bucket holding quantile q (0..1); 0 if empty. */
uint64_t ad_hist_quantile(const struct ad_hist *h, double q);

#endif
