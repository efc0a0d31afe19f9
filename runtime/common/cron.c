#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/cron.h"
#include "common/util.h"

#define DAY (24 * 60 * 60)
/* Every calendar of 1901-2099 repeats within 28 years. */
#define HORIZON ((time_t)29 * 366 * DAY)

/* ---- parsing ------------------------------------------------------------ */

struct field {
	const char        *what; /* for messages */
	int                lo, hi;
	const char *const *names; /* names[i] is lo + i, or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may",
	"jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[]
    = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

/* In the order of the expression.  Day of week goes to 7 (Sunday). */
static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, day_names },
};

/* A number or a name of f at *s, moving *s past it.  0, or -1. */
static int
parse_value(
    const struct field *f, const char **s, int *v, char *err, size_t errlen)
{
	const char *p = *s;
	size_t      i;
	long        n;
	char       *end;

	if (isalpha((unsigned char)*p) && f->names != NULL) {
		for (i = 0; f->names[i] != NULL; i++)
			if (strncasecmp(p, f->names[i], 3) == 0
			    && !isalpha((unsigned char)p[3])) {
				*v = f->lo + (int)i;
				*s = p + 3;
				return 0;
			}
	}
	if (!isdigit((unsigned char)*p)) {
		ad_seterr(err, errlen, "%s \"%.*s\" is not a number%s",
		    f->what, (int)strcspn(p, ",-/"), p,
		    f->names == month_names     ? " or a month (jan to dec)"
		        : f->names == day_names ? " or a day (sun to sat)"
		                                : "");
		return -1;
	}
	errno = 0;
	n     = strtol(p, &end, 10);
	if (errno != 0 || n < f->lo || n > f->hi) {
		ad_seterr(err, errlen, "%s %.*s is out of range: use %d to %d",
		    f->what, (int)(end - p), p, f->lo, f->hi);
		return -1;
	}
	*v = (int)n;
	*s = end;
	return 0;
}

/* One item of a list: "*", "A", "A-B", each with an optional "/STEP"
 * ("A/STEP" is A to the field's end).  Its values into *bits. */
static int
parse_item(const struct field *f, const char *item, uint64_t *bits, char *err,
    size_t errlen)
{
	const char *p = item;
	int         a = f->lo, b = f->hi, step = 1, v;
	long        n;
	char       *end;

	if (*p == '*') {
		p++;
	} else {
		if (parse_value(f, &p, &a, err, errlen) != 0)
			return -1;
		b = a;
		if (*p == '-') {
			p++;
			if (parse_value(f, &p, &b, err, errlen) != 0)
				return -1;
			if (b < a) {
				ad_seterr(err, errlen,
				    "%s range %s goes backwards: write the "
				    "smaller value first",
				    f->what, item);
				return -1;
			}
		} else if (*p == '/') {
			b = f->hi;
		}
	}
	if (*p == '/') {
		errno = 0;
		n     = strtol(p + 1, &end, 10);
		if (!isdigit((unsigned char)p[1]) || errno != 0 || n < 1
		    || n > f->hi) {
			ad_seterr(err, errlen,
			    "%s step in \"%s\" is not a number from 1 to %d",
			    f->what, item, f->hi);
			return -1;
		}
		step = (int)n;
		p    = end;
	}
	if (*p != '\0') {
		ad_seterr(err, errlen,
		    "%s \"%s\" is not a value, a range A-B or a step "
		    "A-B/N",
		    f->what, item);
		return -1;
	}
	for (v = a; v <= b; v += step)
		*bits |= (uint64_t)1 << v;
	return 0;
}

/* A field: items separated by commas.  Its values into *bits. */
static int
parse_field(const struct field *f, const char *text, uint64_t *bits, char *err,
    size_t errlen)
{
	char *copy = ad_xstrdup(text), *item, *save = NULL;
	int   rv = 0;

	*bits = 0;
	if (text[0] == ',' || text[strlen(text) - 1] == ','
	    || strstr(text, ",,") != NULL) {
		ad_seterr(
		    err, errlen, "%s \"%s\" has an empty item", f->what, text);
		rv = -1;
	}
	for (item = strtok_r(copy, ",", &save); rv == 0 && item != NULL;
	     item = strtok_r(NULL, ",", &save))
		rv = parse_item(f, item, bits, err, errlen);
	free(copy);
	return rv;
}

/* The macros cron(8) knows, as expressions. */
static const char *
macro(const char *s)
{
	static const struct {
		const char *name, *expr;
	} table[] = {
		{ "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" },
		{ "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(s, table[i].name) == 0)
			return table[i].expr;
	return NULL;
}

static int never_due(const struct ad_cron *c);

int
ad_cron_parse(const char *s, struct ad_cron *c, char *err, size_t errlen)
{
	char       *copy, *tok[6], *save = NULL;
	uint64_t    bits[5];
	const char *expr = macro(s);
	int         n = 0, i, rv = 0;

	memset(c, 0, sizeof(*c));
	if (s[0] == '@' && expr == NULL) {
		ad_seterr(err, errlen,
		    "%s is not a cron macro: use @yearly, @monthly, @weekly, "
		    "@daily or @hourly, or five fields",
		    s);
		return AGENTD_EINVAL;
	}
	copy = ad_xstrdup(expr != NULL ? expr : s);
	for (tok[n] = strtok_r(copy, " \t", &save); tok[n] != NULL;
	     tok[n] = strtok_r(NULL, " \t", &save))
		if (++n == 6)
			break;
	if (n != 5) {
		ad_seterr(err, errlen,
		    "%s %d field%s: write five, minute hour day-of-month "
		    "month "
		    "day-of-week (\"0 3 * * *\": 03:00 every day)",
		    n > 5 ? "has more than" : "has", n > 5 ? 5 : n,
		    n == 1 ? "" : "s");
		free(copy);
		return AGENTD_EINVAL;
	}
	for (i = 0; i < 5 && rv == 0; i++)
		if (parse_field(&fields[i], tok[i], &bits[i], err, errlen)
		    != 0)
			rv = AGENTD_EINVAL;
	if (rv == 0) {
		c->minutes   = bits[0];
		c->hours     = (uint32_t)bits[1];
		c->mdays     = (uint32_t)bits[2];
		c->months    = (uint16_t)bits[3];
		c->wdays     = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);
		c->hour_star = tok[1][0] == '*';
		c->mday_star = tok[2][0] == '*';
		c->wday_star = tok[4][0] == '*';
		if (never_due(c)) {
			ad_seterr(err, errlen,
			    "no month has such a day: \"%s %s\" never comes; "
			    "use a day that month has",
			    tok[2], tok[3]);
			rv = AGENTD_EINVAL;
		}
	}
	free(copy);
	return rv;
}

/* ---- wall-clock minutes ------------------------------------------------- */

/*
 * Wall-clock times are counted as if they were UTC (timegm of the local
 * fields), so that the calendar arithmetic below is the C library's
 * thread-safe and zone-free gmtime_r and timegm.
 */
static int
day_ok(const struct ad_cron *c, const struct tm *tm)
{
	int mday = (c->mdays >> tm->tm_mday) & 1;
	int wday = (c->wdays >> tm->tm_wday) & 1;

	/* cron(8): either day field, when both are restricted. */
	if (c->mday_star || c->wday_star)
		return mday && wday;
	return mday || wday;
}

/* The first wall-clock minute in [from, until) the fields match: 0 with
 * *out, or -1. */
static int
wall_next(const struct ad_cron *c, time_t from, time_t until, time_t *out)
{
	time_t    t = from + (60 - from % 60) % 60;
	struct tm tm;

	while (t < until) {
		gmtime_r(&t, &tm);
		if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = 0;
			tm.tm_min  = 0;
		} else if (!day_ok(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = 0;
			tm.tm_min  = 0;
		} else if (!((c->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((c->minutes >> tm.tm_min) & 1)) {
			tm.tm_min++;
		} else {
			*out = t;
			return 0;
		}
		tm.tm_sec = 0;
		t         = timegm(&tm);
	}
	return -1;
}

static int
never_due(const struct ad_cron *c)
{
	time_t w;

	/* From 2001-01-01, past a leap year's 29th of February. */
	return wall_next(c, 978307200, 978307200 + HORIZON, &w) != 0;
}

/* ---- instants ----------------------------------------------------------- */

/* The first instant in (lo, hi] whose offset is not o (offset(hi) is
 * not): the moment a zone's offset changes. */
static int
change_at(ad_cron_offset_fn offset, void *arg, time_t lo, time_t hi, long o,
    time_t *at)
{
	long m;

	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;

		if (offset(arg, mid, &m) != 0)
			return -1;
		if (m == o)
			lo = mid;
		else
			hi = mid;
	}
	*at = hi;
	return 0;
}

/*
 * Walk from `after` a day at a time.  Within a stretch of one offset o,
 * the instant of wall time w is w - o.  At a change to a larger offset
 * (a gap), the wall times skipped are due at the change; after a change
 * to a smaller one (a repeat), the wall times already passed are not
 * due again (`skip`), unless the hour field is '*'.  A zone changes its
 * offset at most once a day (every zone of the tz database does).
 */
int
ad_cron_next(const struct ad_cron *c, ad_cron_offset_fn offset, void *arg,
    time_t after, time_t *due)
{
	time_t s = after + 1, end, w, skip = 0, horizon = after + HORIZON;
	long   o, o_next, o_prev;

	if (offset(arg, s - DAY, &o_prev) != 0 || offset(arg, s, &o) != 0)
		return AGENTD_EINVAL;
	if (o_prev > o && !c->hour_star) {
		if (change_at(offset, arg, s - DAY, s, o_prev, &end) != 0)
			return AGENTD_EINVAL;
		skip = end + o_prev;
	}
	while (s < horizon) {
		end = s + DAY;
		if (offset(arg, end, &o_next) != 0)
			return AGENTD_EINVAL;
		if (o_next != o
		    && (change_at(offset, arg, s, end, o, &end) != 0
		        || offset(arg, end, &o_next) != 0))
			return AGENTD_EINVAL;
		if (wall_next(c, s + o > skip ? s + o : skip, end + o, &w)
		    == 0) {
			*due = w - o;
			return 0;
		}
		if (o_next > o
		    && wall_next(c, end + o, end + o_next, &w) == 0) {
			*due = end; /* the first instant after the gap */
			return 0;
		}
		if (o_next < o && !c->hour_star)
			skip = end + o;
		s = end;
		o = o_next;
	}
	return AGENTD_ENOENT;
}

static int
utc_offset(void *arg, time_t t, long *off)
{
	(void)arg;
	(void)t;
	*off = 0;
	return 0;
}

int
ad_cron_next_utc(const struct ad_cron *c, time_t after, time_t *due)
{
	return ad_cron_next(c, utc_offset, NULL, after, due);
}

/* ---- the system's zones ------------------------------------------------- */

/*
 * glibc answers a zone's offsets only for the zone TZ names, so
 * ad_cron_zone_next sets TZ, calls tzset, asks localtime_r, and puts the
 * process's own zone back.  Why that is safe in agentd:
 *  - it runs on the main loop's thread only (the scheduler's step), and
 *    zone_mtx keeps a second caller out;
 *  - TZ is in the environment from ad_cron_zone_prepare on (called
 *    before any thread exists), so setenv replaces the pointer of an
 *    existing entry and never moves the environment's array while
 *    another thread's getenv reads it; glibc never frees a value setenv
 *    replaced;
 *  - glibc guards its zone state with its own lock, so localtime_r in
 *    another thread reads one zone or the other, never a torn one.
 *    agentd formats its own times in UTC (gmtime_r); only syslog(3)'s
 *    timestamp uses the local zone, and a line written during the few
 *    microseconds of a computation may carry the schedule's zone.
 * Reading the zone files here instead (TZif and the POSIX rule at their
 * end) would avoid the swap; ad_cron_next takes its offsets from a
 * function, so that can replace this one alone.
 */
static pthread_mutex_t zone_mtx = PTHREAD_MUTEX_INITIALIZER;
static char           *own_tz; /* TZ as agentd started, or NULL */

/* glibc's zone when TZ is not set. */
#define DEFAULT_TZ ":/etc/localtime"

void
ad_cron_zone_prepare(void)
{
	const char *tz = getenv("TZ");

	pthread_mutex_lock(&zone_mtx);
	if (own_tz == NULL) {
		own_tz = ad_xstrdup(tz != NULL ? tz : DEFAULT_TZ);
		if (tz == NULL)
			setenv("TZ", own_tz, 1);
	}
	pthread_mutex_unlock(&zone_mtx);
}

static int
local_offset(void *arg, time_t t, long *off)
{
	struct tm tm;

	(void)arg;
	if (localtime_r(&t, &tm) == NULL)
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/* TZ set to zone (NULL: agentd's own) until zone_leave; zone_mtx held. */
static void
zone_enter(const char *zone)
{
	char tz[256];

	ad_cron_zone_prepare(); /* a no-op once called */
	pthread_mutex_lock(&zone_mtx);
	if (zone != NULL) {
		snprintf(tz, sizeof(tz), ":%s", zone);
		setenv("TZ", tz, 1);
		tzset();
	}
}

static void
zone_leave(const char *zone)
{
	if (zone != NULL) {
		setenv("TZ", own_tz, 1);
		tzset();
	}
	pthread_mutex_unlock(&zone_mtx);
}

int
ad_cron_zone_next(
    const struct ad_cron *c, const char *zone, time_t after, time_t *due)
{
	int rv;

	zone_enter(zone);
	rv = ad_cron_next(c, local_offset, NULL, after, due);
	zone_leave(zone);
	return rv;
}

time_t
ad_cron_zone_last(const struct ad_cron *c, const char *zone, time_t due,
    time_t until, unsigned max)
{
	time_t next;

	zone_enter(zone);
	while (max-- > 0
	    && ad_cron_next(c, local_offset, NULL, due, &next) == 0
	    && next <= until)
		due = next;
	zone_leave(zone);
	return due;
}

int
ad_cron_zone_check(const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char        path[512], magic[4];
	int         fd;
	ssize_t     n = -1;

	if (dir == NULL || dir[0] == '\0')
		dir = "/usr/share/zoneinfo";
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL
	    || name[strspn(name,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	           "0123456789/_+-")]
	        != '\0') {
		ad_seterr(err, errlen,
		    "not a zone name: write one of the tz database, such as "
		    "\"Europe/Berlin\" or \"UTC\"");
		return AGENTD_ENOENT;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, magic, sizeof(magic));
		close(fd);
	}
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
		ad_seterr(err, errlen,
		    "not in the tz database (no zone file %s): check its "
		    "spelling (timedatectl list-timezones), or install tzdata",
		    path);
		return AGENTD_ENOENT;
	}
	return 0;
}
