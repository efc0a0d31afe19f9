#include "config.h"

#include "common/hist.h"

static const uint64_t bounds[AD_HIST_BUCKETS - 1]
    = { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	      250000, 500000, 1000000, 2500000, 5000000, 10000000 };

uint64_t
ad_hist_bound(unsigned i)
{
	return i < AD_HIST_BUCKETS - 1 ? bounds[i] : UINT64_MAX;
}

void
ad_hist_add(struct ad_hist *h, uint64_t us)
{
	unsigned i = 0;

	while (i < AD_HIST_BUCKETS - 1 && us > bounds[i])
		i++;
	h->count[i]++;
	h->n++;
	h->sum_us += us;
}

uint64_t
ad_hist_quantile(const struct ad_hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (i = 0; i < AD_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > rank)
			return ad_hist_bound(i);
	}
	return ad_hist_bound(AD_HIST_BUCKETS - 1);
}
