/*
 * test_schedule.c - cron expressions (common/cron.h): the five fields,
 * lists, ranges, steps, names, the day-of-month / day-of-week rule, the
 * gaps and repeats of a zone (made up here, and Europe/Berlin and
 * America/New_York from the system's tz database), every error; and the
 * scheduler's decisions (supervisor/schedule.h): when a run is due, when
 * it was missed, what a clock jump does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentd/error.h>

#include "tap.h"
#include "common/cron.h"
#include "supervisor/schedule.h"

/* UTC instants written as text: "2026-03-29 00:59". */
static time_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%Y-%m-%d %H:%M", &tm) == NULL)
		abort();
	return timegm(&tm);
}

static void
fmt_utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* The next due time after `after` (UTC text), as UTC text. */
static const char *
next_utc(const char *expr, const char *after)
{
	static char    buf[32];
	struct ad_cron c;
	char           err[256];
	time_t         due;

	if (ad_cron_parse(expr, &c, err, sizeof(err)) != 0) {
		diag("%s: %s", expr, err);
		return "parse error";
	}
	if (ad_cron_next_utc(&c, utc(after), &due) != 0)
		return "none";
	fmt_utc(due, buf, sizeof(buf));
	return buf;
}

static const char *
next_in(const char *expr, const char *zone, const char *after)
{
	static char    buf[32];
	struct ad_cron c;
	char           err[256];
	time_t         due;

	if (ad_cron_parse(expr, &c, err, sizeof(err)) != 0)
		return "parse error";
	if (ad_cron_zone_next(&c, zone, utc(after), &due) != 0)
		return "none";
	fmt_utc(due, buf, sizeof(buf));
	return buf;
}

static void
test_fields(void)
{
	is_str(next_utc("* * * * *", "2026-05-01 10:00"), "2026-05-01 10:01",
	    "every minute: the next one, strictly after");
	is_str(next_utc("0 3 * * *", "2026-05-01 10:00"), "2026-05-02 03:00",
	    "03:00 daily, after 10:00: tomorrow");
	is_str(next_utc("0 3 * * *", "2026-05-01 02:59"), "2026-05-01 03:00",
	    "03:00 daily, a minute before: today");
	is_str(next_utc("5,10,50 * * * *", "2026-05-01 10:10"),
	    "2026-05-01 10:50", "a list of minutes");
	is_str(next_utc("10-12 * * * *", "2026-05-01 10:12"),
	    "2026-05-01 11:10", "a range of minutes");
	is_str(next_utc("*/15 * * * *", "2026-05-01 10:31"),
	    "2026-05-01 10:45", "a step over the whole field");
	is_str(next_utc("10-50/20 * * * *", "2026-05-01 10:31"),
	    "2026-05-01 10:50", "a step over a range: 10, 30, 50");
	is_str(next_utc("5/20 * * * *", "2026-05-01 10:26"),
	    "2026-05-01 10:45", "A/step: from A to the field's end");
	is_str(next_utc("0 0 1 jan *", "2026-05-01 10:00"), "2027-01-01 00:00",
	    "a month by name");
	is_str(next_utc("0 0 * * MON", "2026-05-01 10:00"), "2026-05-04 00:00",
	    "a day by name, any case (1 May 2026 is a Friday)");
	is_str(next_utc("0 9 * * mon-fri", "2026-05-01 10:00"),
	    "2026-05-04 09:00", "a range of day names skips the weekend");
	is_str(next_utc("0 0 * * 7", "2026-05-01 10:00"), "2026-05-03 00:00",
	    "day of week 7 is Sunday");
	is_str(next_utc("0 0 * * 5-7", "2026-05-02 10:00"), "2026-05-03 00:00",
	    "a range ending at 7 takes Sunday");
	is_str(next_utc("0 0 29 feb *", "2026-05-01 10:00"),
	    "2028-02-29 00:00", "the 29th of February: the next leap year");
	is_str(next_utc("0 0 31 * *", "2026-04-01 00:00"), "2026-05-31 00:00",
	    "the 31st: months without one are passed over");
	is_str(next_utc("@hourly", "2026-05-01 10:00"), "2026-05-01 11:00",
	    "@hourly");
	is_str(next_utc("@weekly", "2026-05-01 10:00"), "2026-05-03 00:00",
	    "@weekly: Sunday midnight");
	is_str(next_utc("59 23 31 12 *", "2026-12-31 23:59"),
	    "2027-12-31 23:59", "the last minute of the year, a year on");
}

/* cron(8): both day fields restricted: either; one is '*': both. */
static void
test_day_rule(void)
{
	is_str(next_utc("0 0 13 * fri", "2026-05-01 10:00"),
	    "2026-05-08 00:00",
	    "13th or Friday: the next Friday comes first (8 May)");
	is_str(next_utc("0 0 13 * fri", "2026-05-09 10:00"),
	    "2026-05-13 00:00", "13th or Friday: then the 13th, a Wednesday");
	is_str(next_utc("0 0 * * fri", "2026-05-09 10:00"), "2026-05-15 00:00",
	    "day of month '*': Fridays only");
	is_str(next_utc("0 0 13 * *", "2026-05-01 10:00"), "2026-05-13 00:00",
	    "day of week '*': the 13th only");
	is_str(next_utc("0 0 */2 * fri", "2026-05-01 10:00"),
	    "2026-05-15 00:00",
	    "day of month '*/2' counts as '*': odd days that are Fridays");
}

static void
check_err(const char *expr, const char *want)
{
	struct ad_cron c;
	char           err[256] = "";
	int            rv       = ad_cron_parse(expr, &c, err, sizeof(err));

	ok(rv == AGENTD_EINVAL && strstr(err, want) != NULL, expr);
	if (rv != AGENTD_EINVAL || strstr(err, want) == NULL)
		diag("got %d \"%s\", want \"%s\"", rv, err, want);
}

static void
test_errors(void)
{
	check_err("* * * *", "has 4 fields: write five");
	check_err("* * * * * *", "has more than 5 fields");
	check_err("", "has 0 fields");
	check_err("60 * * * *", "minute 60 is out of range: use 0 to 59");
	check_err("0 24 * * *", "hour 24 is out of range: use 0 to 23");
	check_err("0 0 0 * *", "day of month 0 is out of range: use 1 to 31");
	check_err("0 0 32 * *", "day of month 32 is out of range");
	check_err("0 0 * 13 *", "month 13 is out of range: use 1 to 12");
	check_err("0 0 * * 8", "day of week 8 is out of range: use 0 to 7");
	check_err("0 0 * foo *", "month \"foo\" is not a number or a month");
	check_err("0 0 * * sunday", "day of week \"sunday\" is not a number");
	check_err("x * * * *", "minute \"x\" is not a number");
	check_err("0 0 * jan *x", "day of week \"*x\" is not a value");
	check_err("30-10 * * * *", "minute range 30-10 goes backwards");
	check_err("*/0 * * * *", "minute step in \"*/0\" is not a number");
	check_err("*/x * * * *", "minute step in \"*/x\"");
	check_err("1,,2 * * * *", "minute \"1,,2\" has an empty item");
	check_err("1, * * * *", "has an empty item");
	check_err("5-6-7 * * * *", "is not a value, a range A-B or a step");
	check_err("0 0 30 feb *", "no month has such a day");
	check_err("0 0 31 apr,jun *", "never comes");
	check_err("@often", "@often is not a cron macro");
}

/*
 * A made-up zone: offset +1h, then +2h from GAP (01:00 UTC, 02:00 local
 * becomes 03:00), then +1h again from REP (local 03:00 becomes 02:00).
 */
static time_t gap_at, rep_at;

static int
test_offset(void *arg, time_t t, long *off)
{
	(void)arg;
	*off = t >= gap_at && t < rep_at ? 7200 : 3600;
	return 0;
}

static const char *
next_made_up(const char *expr, const char *after)
{
	static char    buf[32];
	struct ad_cron c;
	char           err[256];
	time_t         due;

	if (ad_cron_parse(expr, &c, err, sizeof(err)) != 0)
		return "parse error";
	if (ad_cron_next(&c, test_offset, NULL, utc(after), &due) != 0)
		return "none";
	fmt_utc(due, buf, sizeof(buf));
	return buf;
}

static void
test_made_up_zone(void)
{
	gap_at = utc("2030-03-31 01:00");
	rep_at = utc("2030-10-27 01:00");
	is_str(next_made_up("0 3 * * *", "2030-03-30 12:00"),
	    "2030-03-31 01:00", "03:00 local after the gap: right at it");
	is_str(next_made_up("30 2 * * *", "2030-03-30 12:00"),
	    "2030-03-31 01:00",
	    "02:30 local does not exist: due at the first instant after");
	is_str(next_made_up("30 2 * * *", "2030-03-31 01:00"),
	    "2030-04-01 00:30", "and then the next day, at 02:30 (+2h)");
	is_str(next_made_up("*/20 2 * * *", "2030-03-30 12:00"),
	    "2030-03-31 01:00", "three times in the gap: one run");
	is_str(next_made_up("*/20 2 * * *", "2030-03-31 01:00"),
	    "2030-04-01 00:00", "and the next after it is the next day's");
	is_str(next_made_up("30 2 * * *", "2030-10-26 12:00"),
	    "2030-10-27 00:30", "02:30 local happens twice: the first one");
	is_str(next_made_up("30 2 * * *", "2030-10-27 00:30"),
	    "2030-10-28 01:30", "and not the second one");
	is_str(next_made_up("30 * * * *", "2030-10-27 00:30"),
	    "2030-10-27 01:30", "hour '*': both passes of the repeated hour");
	is_str(next_made_up("30 2 * * *", "2030-10-27 01:10"),
	    "2030-10-28 01:30",
	    "starting inside the second pass: the repeat is still skipped");
}

static void
test_system_zones(void)
{
	char err[256] = "";

	ad_cron_zone_prepare();
	is_int(ad_cron_zone_check("Europe/Berlin", err, sizeof(err)), 0,
	    "Europe/Berlin is a zone");
	is_int(ad_cron_zone_check("Europe/Berlinn", err, sizeof(err)),
	    AGENTD_ENOENT, "a misspelt zone is refused");
	ok(strstr(err, "not in the tz database") != NULL, err);
	is_int(ad_cron_zone_check("../etc/passwd", err, sizeof(err)),
	    AGENTD_ENOENT, "a path is not a zone name");
	is_int(ad_cron_zone_check("Europe", err, sizeof(err)), AGENTD_ENOENT,
	    "a directory of the database is not a zone");
	/* Summer time in the EU, 2026: 29 March 01:00 UTC, 25 October
	 * 01:00 UTC. */
	is_str(next_in("0 3 * * *", "Europe/Berlin", "2026-01-10 12:00"),
	    "2026-01-11 02:00", "03:00 in Berlin in winter: 02:00 UTC");
	is_str(next_in("0 3 * * *", "Europe/Berlin", "2026-07-10 12:00"),
	    "2026-07-11 01:00", "in summer: 01:00 UTC");
	is_str(next_in("30 2 * * *", "Europe/Berlin", "2026-03-28 12:00"),
	    "2026-03-29 01:00", "02:30 on the day it is skipped: at 03:00");
	is_str(next_in("30 2 * * *", "Europe/Berlin", "2026-10-24 12:00"),
	    "2026-10-25 00:30", "02:30 on the day it repeats: the first");
	is_str(next_in("30 2 * * *", "Europe/Berlin", "2026-10-25 00:30"),
	    "2026-10-26 01:30", "only the first");
	is_str(next_in("0 0 * * *", "America/New_York", "2026-05-01 12:00"),
	    "2026-05-02 04:00", "midnight in New York (EDT)");
	is_str(next_in("0 0 * * *", "UTC", "2026-05-01 12:00"),
	    "2026-05-02 00:00", "UTC by name");
	ok(getenv("TZ") != NULL, "TZ is set, to the process's own zone");
}

/* ---- the scheduler's decisions (supervisor/schedule.h) -------------- */

static void
test_every(void)
{
	int64_t last;

	is_int(ad_sched_every_next(0, 10000, 12345), 22345,
	    "never run: one period from now");
	is_int(ad_sched_every_next(10000, 10000, 15000), 20000,
	    "on the grid of the last due");
	is_int(
	    ad_sched_every_next(10000, 10000, 20000), 30000, "strictly after");
	is_int(ad_sched_every_last(10000, 10000, 55000, &last), 4,
	    "four dues passed by 55 s");
	is_int(last, 50000, "the latest of them at 50 s");
}

static void
test_verdicts(void)
{
	is_int(ad_sched_verdict(10000, 20000, 10050, 1), AD_SCHED_RUN,
	    "a due 50 ms ago, the next one ahead: run");
	is_int(ad_sched_verdict(10000, 20000, 9999, 1), AD_SCHED_WAIT,
	    "not yet due: wait");
	is_int(ad_sched_verdict(10000, 20000, 20001, 1), AD_SCHED_MISSED_RUN,
	    "two dues passed (a clock jump forward, a restart): one run, "
	    "missed, with missed = run");
	is_int(ad_sched_verdict(10000, 20000, 20001, 0), AD_SCHED_MISSED_SKIP,
	    "and none with missed = skip");
	is_int(
	    ad_sched_verdict(10000, 9000000, 10000 + AD_SCHED_LATE_MS + 1, 0),
	    AD_SCHED_MISSED_SKIP,
	    "one due passed long ago (agentd was down) counts as missed");
	ok(ad_sched_clock_back(100000, 5000, 99000, 6000),
	    "wall time went back while monotonic went on: a jump back");
	ok(!ad_sched_clock_back(100000, 5000, 101000, 6000),
	    "both moved alike: no jump");
	ok(!ad_sched_clock_back(100000, 5000, 100500, 6000),
	    "wall behind monotonic by less than the tolerance: no jump");
}

/* A schedule as schedule.c builds it, by hand: every, or cron in zone. */
static struct ad_sched
sched_every(int64_t every, int missed_run)
{
	struct ad_sched s;

	memset(&s, 0, sizeof(s));
	s.every      = every;
	s.missed_run = missed_run;
	return s;
}

static struct ad_sched
sched_cron(const char *expr, const char *zone, int missed_run)
{
	struct ad_sched s;
	char            err[256];

	memset(&s, 0, sizeof(s));
	s.zone       = (char *)zone;
	s.missed_run = missed_run;
	if (ad_cron_parse(expr, &s.cron, err, sizeof(err)) != 0)
		abort();
	return s;
}

#define T0 ((int64_t)utc("2026-05-01 10:00") * 1000)

static void
test_turns(void)
{
	struct ad_sched      s = sched_every(1000, 1);
	struct ad_sched_turn t;
	int64_t              now;

	s.next_due = T0 + 1000;
	ad_sched_turn(&s, T0 + 500, &t);
	is_int(t.verdict, AD_SCHED_WAIT, "every 1s: before its due, wait");
	ad_sched_turn(&s, T0 + 1020, &t);
	ok(t.verdict == AD_SCHED_RUN && t.due == T0 + 1000
	        && t.next_due == T0 + 2000,
	    "at its due: one run for it, the next one period on");

	/* The clock jumps an hour forward. */
	now = T0 + 3600 * 1000 + 300;
	ad_sched_turn(&s, now, &t);
	ok(t.verdict == AD_SCHED_MISSED_RUN && t.due == T0 + 3600 * 1000,
	    "an hour forward: one missed run, for the latest due passed");
	ok(t.next_due == T0 + 3601 * 1000,
	    "the next due is the first after now");
	s.next_due = t.next_due;
	ad_sched_turn(&s, now, &t);
	is_int(t.verdict, AD_SCHED_WAIT,
	    "and the next look at the same time waits: no storm");

	s.missed_run = 0;
	s.next_due   = T0 + 1000;
	ad_sched_turn(&s, now, &t);
	ok(t.verdict == AD_SCHED_MISSED_SKIP && t.next_due == T0 + 3601 * 1000,
	    "missed = skip: no run, the same next due");

	/* The clock goes back a day: the next due is computed again. */
	s.next_due = T0 + 1000;
	ok(ad_sched_next_after(&s, 0, T0 - 86400000) == T0 - 86400000 + 1000,
	    "a clock gone back: the next due one period from the new now");

	s          = sched_cron("*/5 * * * *", "UTC", 1);
	s.next_due = T0 + 5 * 60000;
	now        = T0 + 86400000 + 7 * 60000; /* a day on, at 10:07 */
	ad_sched_turn(&s, now, &t);
	ok(t.verdict == AD_SCHED_MISSED_RUN
	        && t.due == T0 + 86400000 + 5 * 60000,
	    "cron every 5 minutes, a day forward: one run, for 10:05");
	ok(t.next_due == T0 + 86400000 + 10 * 60000, "next at 10:10");
	is_int((int64_t)ad_cron_zone_last(&s.cron, "UTC", (time_t)(T0 / 1000),
	           (time_t)(T0 / 1000) + 86400, 3),
	    T0 / 1000 + 15 * 60,
	    "the latest due is looked for so many runs on, no more");
	s          = sched_cron("0 3 * * *", "Europe/Berlin", 0);
	s.next_due = ad_sched_next_after(&s, 0, T0);
	is_int(s.next_due, (int64_t)utc("2026-05-02 01:00") * 1000,
	    "cron in a zone: 03:00 in Berlin is 01:00 UTC in May");
}

int
main(void)
{
	plan(91);
	test_fields();
	test_day_rule();
	test_errors();
	test_made_up_zone();
	test_system_zones();
	test_every();
	test_verdicts();
	test_turns();
	return done_testing();
}
