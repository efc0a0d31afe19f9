/*
 * metrics.h - /metrics: what runs, in Prometheus's text format 0.0.4.
 *
 * Taken from a status snapshot (status.h) under the mutex, formatted
 * without it, so a scrape holds up the supervisor only as long as
 * `agentctl status` does.  The names are listed in doc/http.md.
 */
#ifndef AD_METRICS_H
#define AD_METRICS_H

#include <stddef.h>

struct ad_sv;

/* The page (caller frees) and its length; takes and releases mtx. */
char *ad_metrics_text(struct ad_sv *sv, size_t *len);

#endif
