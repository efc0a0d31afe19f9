/*
 * cron.h - cron expressions and when they are next due.
 *
 * "minute hour day-of-month month day-of-week", five fields, as cron(8)
 * reads them: each field a list of ranges ("1,5-9"), a range with a step
 * ("*" "/15", "10-50/20"), or a name for months and days ("jan", "mon",
 * any case; ranges of names too: "mon-fri").  Day of week 0 and 7 are
 * Sunday.  The two day fields combine as cron has them: when both are
 * restricted (neither starts with '*'), a day matches either; otherwise
 * it must match both ("0 0 1 * mon": the 1st and every Monday; "0 0 * *
 * mon": Mondays only).
 *
 * Times in a zone (doc/configuration.md, "Schedules"):
 *  - a due time is a local wall-clock minute the fields match;
 *  - a local time the zone skips (the hour lost when summer time
 *    begins) runs once, at the first instant after the gap;
 *  - a local time the zone repeats (the hour gained when it ends) runs
 *    once, at its first occurrence, unless the hour field is '*': such
 *    a schedule runs each hour as it comes, both of the repeated one.
 *
 * What a zone says comes through one question, the UTC offset at an
 * instant (ad_cron_offset_fn), so that the rules above are pure and
 * tested with made-up zones as well as the system's.  ad_cron_zone_next
 * asks the C library with TZ set to the zone (see there why that is safe
 * in agentd); nothing else here reads a clock or the environment.
 *
 * This file owns struct ad_cron: the fields as bit sets.
 */
#ifndef AD_CRON_H
#define AD_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ad_cron {
	uint64_t minutes;   /* bit m: minute m, 0..59 */
	uint32_t hours;     /* 0..23 */
	uint32_t mdays;     /* 1..31 */
	uint16_t months;    /* 1..12 */
	uint8_t  wdays;     /* 0..6, Sunday 0 */
	uint8_t  mday_star; /* the field started with '*' */
	uint8_t  wday_star;
	uint8_t  hour_star;
};

/*
 * Parse s into *c.  0, or AGENTD_EINVAL with one line in err saying which
 * field is wrong and how ("day of month 32 is out of range: use 1 to
 * 31").  A valid expression that can never be due (February 30th) is
 * refused too.
 */
int ad_cron_parse(const char *s, struct ad_cron *c, char *err, size_t errlen);

/* The UTC offset, in seconds east, in force at instant t; 0 or -1. */
typedef int (*ad_cron_offset_fn)(void *arg, time_t t, long *off);

/*
 * The first due time strictly after `after` (seconds since the epoch),
 * in the zone `offset` describes, within about 28 years: 0 with *due, or
 * AGENTD_ENOENT when there is none, AGENTD_EINVAL when offset fails.
 */
int ad_cron_next(const struct ad_cron *c, ad_cron_offset_fn offset, void *arg,
    time_t after, time_t *due);

/* The same in UTC, and in a zone of the system's tz database (NULL:
 * the zone agentd started in).  ad_cron_zone_next sets TZ around the
 * computation: call it from one thread only, after
 * ad_cron_zone_prepare (see cron.c). */
int ad_cron_next_utc(const struct ad_cron *c, time_t after, time_t *due);
int ad_cron_zone_next(
    const struct ad_cron *c, const char *zone, time_t after, time_t *due);

/* The latest due at or before `until`, walking on from `due` (a due
 * time) at most max runs, in one setting of TZ: what a run missed for a
 * long while reports. */
time_t ad_cron_zone_last(const struct ad_cron *c, const char *zone, time_t due,
    time_t until, unsigned max);

/*
 * Once, before any thread exists: remember the zone the process started
 * in, and put TZ in the environment so that ad_cron_zone_next only ever
 * replaces its value.
 */
void ad_cron_zone_prepare(void);

/*
 * Is name a zone of the system's tz database ("Europe/Berlin", "UTC")?
 * 0, or AGENTD_ENOENT with one line in err ("not in the tz database
 * ...", for the caller to put after the name).  It reads the zone file, so
 * a name that would make the C library fall back to UTC is refused.
 */
int ad_cron_zone_check(const char *name, char *err, size_t errlen);

#endif
