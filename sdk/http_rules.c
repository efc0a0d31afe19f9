/*
 * http_rules.c - the rules of host->http_async; see http_rules.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_rules.h"

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9');
}

/* ---- URLs ------------------------------------------------------------- */

/* The host part [s, e) into out->host, lower case; 0 or -1. */
static int
host_copy(const char *s, const char *e, struct ad_http_url *out)
{
	size_t n = (size_t)(e - s), i;

	if (n == 0 || n >= sizeof(out->host))
		return -1;
	if (s[0] == '[') {
		/* An IPv6 literal: hex digits, ':' and '.' (an embedded
		 * IPv4), no zone (a '%'). */
		if (n < 4 || e[-1] != ']')
			return -1;
		for (i = 1; i + 1 < n; i++)
			if (!(strchr("0123456789abcdefABCDEF:.", s[i])
			        && s[i] != '\0'))
				return -1;
	} else {
		for (i = 0; i < n; i++)
			if (!is_alnum((unsigned char)s[i]) && s[i] != '.'
			    && s[i] != '-' && s[i] != '_')
				return -1;
	}
	for (i = 0; i < n; i++)
		out->host[i] = (char)lower((unsigned char)s[i]);
	out->host[n] = '\0';
	return 0;
}

int
ad_http_url_parse(const char *url, struct ad_http_url *out)
{
	const char *p, *auth, *end, *hend, *c;
	size_t      n;
	unsigned    port = 0;

	if (url == NULL || out == NULL)
		return AGENTD_EINVAL;
	n = strlen(url);
	if (n > AGENTD_HTTP_URL_MAX)
		return AGENTD_EINVAL;
	for (c = url; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f
		    || *c == '\\')
			return AGENTD_EINVAL;
	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0) {
		auth       = url + 8;
		out->https = 1;
	} else
		return AGENTD_EINVAL;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			return AGENTD_EINVAL;
	/* The port follows the last ':' outside an IPv6 literal. */
	if (auth < end && auth[0] == '[') {
		hend = memchr(auth, ']', (size_t)(end - auth));
		if (hend == NULL)
			return AGENTD_EINVAL;
		hend++;
	} else {
		hend = memchr(auth, ':', (size_t)(end - auth));
		if (hend == NULL)
			hend = end;
	}
	if (hend < end) {
		if (*hend != ':' || hend + 1 == end || end - hend > 6)
			return AGENTD_EINVAL;
		for (p = hend + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return AGENTD_EINVAL;
			port = port * 10 + (unsigned)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return AGENTD_EINVAL;
	}
	if (host_copy(auth, hend, out) != 0)
		return AGENTD_EINVAL;
	out->port = port != 0 ? port : out->https ? 443 : 80;
	return 0;
}

/* ---- the allow-list ----------------------------------------------------- */

/* A dotted IPv4 address, four numbers of 0..255 without leading zeros. */
static int
ipv4_valid(const char *s)
{
	int parts = 0;

	while (*s != '\0') {
		unsigned v = 0, digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (digits > 0 && v == 0)
				return 0; /* "01": octal to some parsers */
			v = v * 10 + (unsigned)(*s++ - '0');
			if (++digits > 3 || v > 255)
				return 0;
		}
		if (digits == 0 || ++parts > 4)
			return 0;
		if (*s == '.' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return 0;
	}
	return parts == 4;
}

/* A DNS name: labels of [a-z0-9-] not starting or ending with '-', the
 * last with a letter (so that no name reads as a number). */
static int
dns_name_valid(const char *s)
{
	const char *label = s;
	size_t      n     = strlen(s), len;
	int         alpha = 0;

	if (n == 0 || n > 253)
		return 0;
	for (;; s++) {
		if (*s == '.' || *s == '\0') {
			len = (size_t)(s - label);
			if (len == 0 || len > 63 || label[0] == '-'
			    || s[-1] == '-')
				return 0;
			if (*s == '\0')
				return alpha;
			label = s + 1;
			alpha = 0;
			continue;
		}
		if (*s >= 'a' && *s <= 'z')
			alpha = 1;
		else if (!(*s >= '0' && *s <= '9') && *s != '-')
			return 0;
	}
}

int
ad_http_pattern_valid(const char *pattern)
{
	struct ad_http_url u;
	char               url[AD_HTTP_HOST_MAX + 16];

	if (pattern == NULL)
		return 0;
	if (pattern[0] == '[') {
		/* Written as the URL parser leaves it, so it can match. */
		snprintf(url, sizeof(url), "http://%s/", pattern);
		return ad_http_url_parse(url, &u) == 0
		    && strcmp(u.host, pattern) == 0;
	}
	if (strncmp(pattern, "*.", 2) == 0)
		return dns_name_valid(pattern + 2);
	return ipv4_valid(pattern) || dns_name_valid(pattern);
}

int
ad_http_host_allowed(char *const *allow, size_t n, const char *host)
{
	size_t hl, i, sl;

	if (host == NULL)
		return 0;
	hl = strlen(host);
	for (i = 0; i < n; i++) {
		const char *p = allow[i];

		if (strncmp(p, "*.", 2) == 0) {
			sl = strlen(p + 1); /* ".example.com" */
			if (hl > sl && strcmp(host + hl - sl, p + 1) == 0)
				return 1;
		} else if (strcmp(host, p) == 0)
			return 1;
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

int
ad_http_idempotent(const char *method)
{
	static const char *const safe[]
	    = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL };
	size_t i;

	for (i = 0; safe[i] != NULL; i++)
		if (strcmp(method, safe[i]) == 0)
			return 1;
	return 0;
}

/* RFC 9110's token characters. */
static int
token_valid(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (n >= max
		    || !(is_alnum((unsigned char)s[n])
		        || strchr("!#$%&'*+-.^_`|~", s[n]) != NULL))
			return 0;
	return n > 0;
}

static int
headers_valid(const struct agentd_http_request *req, char *err, size_t len)
{
	size_t i;

	if (req->nheaders > AGENTD_HTTP_HEADERS_MAX) {
		snprintf(err, len, "%zu headers: at most %d", req->nheaders,
		    AGENTD_HTTP_HEADERS_MAX);
		return 0;
	}
	if (req->headers == NULL && req->nheaders > 0) {
		snprintf(err, len, "headers is NULL");
		return 0;
	}
	for (i = 0; i < req->nheaders; i++) {
		const struct agentd_http_header *h = &req->headers[i];
		const char                      *v = h->value;

		if (h->name == NULL || v == NULL
		    || !token_valid(h->name, AGENTD_HTTP_HEADER_MAX)
		    || strlen(h->name) + strlen(v) > AGENTD_HTTP_HEADER_MAX
		    || v[strcspn(v, "\r\n")] != '\0') {
			snprintf(err, len,
			    "header %zu: a name that is not a token, a value "
			    "with CR or LF, or over %d bytes",
			    i, AGENTD_HTTP_HEADER_MAX);
			return 0;
		}
	}
	return 1;
}

/* The numbers of req with their defaults, into plan. */
static int
numbers(const struct agentd_http_request *req,
    const struct ad_http_limits *lim, struct ad_http_plan *plan, char *err,
    size_t len)
{
	plan->timeout_ms = req->timeout_ms != 0 ? req->timeout_ms
	                                        : lim->timeout_ms;
	if (plan->timeout_ms > lim->timeout_ms)
		plan->timeout_ms = lim->timeout_ms;
	plan->attempts = req->attempts != 0 ? req->attempts : 1;
	if (plan->attempts > AGENTD_HTTP_ATTEMPTS_MAX) {
		snprintf(err, len, "attempts %u: at most %d", plan->attempts,
		    AGENTD_HTTP_ATTEMPTS_MAX);
		return AGENTD_EINVAL;
	}
	plan->backoff_initial_ms = req->backoff_initial_ms != 0
	    ? req->backoff_initial_ms
	    : AD_HTTP_BACKOFF_INITIAL_MS;
	plan->backoff_max_ms = req->backoff_max_ms != 0
	    ? req->backoff_max_ms
	    : AD_HTTP_BACKOFF_MAX_MS;
	if (plan->backoff_max_ms < plan->backoff_initial_ms)
		plan->backoff_max_ms = plan->backoff_initial_ms;
	plan->retry_on
	    = req->retry_on != 0 ? req->retry_on : AGENTD_HTTP_RETRY_DEFAULT;
	if (plan->retry_on & ~(uint32_t)0x1f) {
		snprintf(err, len, "retry_on 0x%x: unknown bits",
		    plan->retry_on);
		return AGENTD_EINVAL;
	}
	plan->retry_after_max_ms = req->retry_after_max_ms != 0
	    ? req->retry_after_max_ms
	    : AD_HTTP_RETRY_AFTER_MAX_MS;
	return 0;
}

int
ad_http_check(const struct agentd_http_request *req,
    const struct ad_http_limits *lim, unsigned outstanding,
    struct ad_http_plan *plan, char *err, size_t errlen)
{
	const char *method;

	err[0] = '\0';
	memset(plan, 0, sizeof(*plan));
	if (req == NULL || req->size < sizeof(struct agentd_http_request)) {
		snprintf(err, errlen,
		    "no request, or one whose size is not "
		    "sizeof(struct agentd_http_request)");
		return AGENTD_EINVAL;
	}
	if (ad_http_url_parse(req->url, &plan->url) != 0) {
		snprintf(err, errlen,
		    "not an http:// or https:// URL with a plain host");
		return AGENTD_EINVAL;
	}
	method = req->method != NULL ? req->method
	    : req->body_len > 0      ? "POST"
	                             : "GET";
	if (strlen(method) >= sizeof(plan->method)
	    || method[strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")] != '\0'
	    || method[0] == '\0') {
		snprintf(err, errlen, "method: 1 to 16 upper-case letters");
		return AGENTD_EINVAL;
	}
	snprintf(plan->method, sizeof(plan->method), "%s", method);
	plan->idempotent = ad_http_idempotent(method);
	if ((req->body == NULL && req->body_len > 0)
	    || !headers_valid(req, err, errlen)) {
		if (err[0] == '\0')
			snprintf(err, errlen, "body is NULL");
		return AGENTD_EINVAL;
	}
	if (numbers(req, lim, plan, err, errlen) != 0)
		return AGENTD_EINVAL;
	if (!ad_http_host_allowed(lim->allow, lim->nallow, plan->url.host)) {
		snprintf(err, errlen,
		    lim->nallow == 0 ? "%s: this agent has no http { allow }"
		                     : "%s is not in http { allow }",
		    plan->url.host);
		return AGENTD_EDENIED;
	}
	if (outstanding >= lim->max_concurrent) {
		snprintf(err, errlen,
		    "%u requests outstanding: http { max_concurrent }",
		    outstanding);
		return AGENTD_EBUSY;
	}
	return 0;
}

/* ---- retries ------------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t  era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* An IMF-fixdate as ms since the epoch, or -1. */
static int64_t
imf_fixdate(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char              wd[4], mon[4], gmt[4];
	int               d, y, hh, mm, ss, n = 0;
	const char       *m;

	if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &d, mon, &y,
	        &hh, &mm, &ss, gmt, &n)
	        != 8
	    || s[n] != '\0' || strcmp(gmt, "GMT") != 0 || strlen(mon) != 3)
		return -1;
	if ((m = strstr(months, mon)) == NULL || (m - months) % 3 != 0
	    || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 || ss > 60
	    || hh < 0 || mm < 0 || ss < 0)
		return -1;
	return ((days_from_civil(y, (unsigned)((m - months) / 3 + 1),
	             (unsigned)d)
	                * 24
	            + hh)
	               * 3600
	           + mm * 60 + ss)
	    * 1000;
}

int64_t
ad_http_retry_after_ms(const char *value, int64_t now_ms)
{
	int64_t secs = 0, at;
	size_t  i;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (value[0] >= '0' && value[0] <= '9') {
		for (i = 0; value[i] >= '0' && value[i] <= '9'; i++)
			if ((secs = secs * 10 + (value[i] - '0'))
			    > (int64_t)1 << 40)
				return -1;
		while (value[i] == ' ' || value[i] == '\t')
			i++;
		return value[i] == '\0' ? secs * 1000 : -1;
	}
	if ((at = imf_fixdate(value)) < 0)
		return -1;
	return at > now_ms ? at - now_ms : 0;
}

/* Does this outcome call for another attempt by plan's retry_on? */
static int
retryable(const struct ad_http_plan *plan, int status, int http_code)
{
	uint32_t on = plan->retry_on;
	int      unsafe_ok = plan->idempotent || (on & AGENTD_HTTP_RETRY_UNSAFE);

	if (status == AGENTD_EUNAVAIL)
		return (on & AGENTD_HTTP_RETRY_CONNECT) != 0;
	if (status == AGENTD_ETIMEOUT)
		return (on & AGENTD_HTTP_RETRY_TIMEOUT) && unsafe_ok;
	if (status != 0)
		return 0;
	if (http_code == 429)
		return (on & AGENTD_HTTP_RETRY_429) && unsafe_ok;
	if (http_code >= 500 && http_code <= 599)
		return (on & AGENTD_HTTP_RETRY_5XX) && unsafe_ok;
	return 0;
}

int
ad_http_next_attempt(const struct ad_http_plan *plan, unsigned done,
    int status, int http_code, const char *retry_after, int64_t now_ms,
    uint32_t rnd, int64_t *wait_ms)
{
	int64_t  wait = plan->backoff_initial_ms, ra;
	unsigned i;

	if (done >= plan->attempts || !retryable(plan, status, http_code))
		return 0;
	for (i = 1; i < done && wait < plan->backoff_max_ms; i++)
		wait *= 2;
	if (wait > plan->backoff_max_ms)
		wait = plan->backoff_max_ms;
	/* Jitter: between half the wait and all of it. */
	wait = wait / 2 + (int64_t)(rnd % (uint32_t)(wait / 2 + 1));
	if (status == 0 && retry_after != NULL
	    && (ra = ad_http_retry_after_ms(retry_after, now_ms)) >= 0) {
		if (ra > plan->retry_after_max_ms)
			return 0; /* longer than we wait: this is the answer */
		if (ra > wait)
			wait = ra;
	}
	*wait_ms = wait;
	return 1;
}
