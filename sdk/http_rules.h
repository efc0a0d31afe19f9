/*
 * http_rules.h - the rules of host->http_async, in one place: the worker
 * (runtime/worker/http.c) and the mock host of <agentd/mock.h> both call
 * these, so a plugin's unit test and agentd agree on which URL is allowed,
 * which request is refused, when an attempt is tried again and how long
 * it waits first.  Pure functions: no clock, no randomness, no I/O of
 * their own (the caller passes the time and a random number).
 *
 * Internal to the SDK and the runtime, as contract.h; not installed.
 */
#ifndef AGENTD_HTTP_RULES_H
#define AGENTD_HTTP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>

/* The longest host name a URL may carry (DNS: 253), brackets included
 * for an IPv6 literal. */
#define AD_HTTP_HOST_MAX 256

/* What the defaults of a request are (agent.h says them too). */
#define AD_HTTP_BACKOFF_INITIAL_MS 200
#define AD_HTTP_BACKOFF_MAX_MS 10000
#define AD_HTTP_RETRY_AFTER_MAX_MS 60000

/* A URL's parts that the allow-list and the connection depend on. */
struct ad_http_url {
	int      https;
	char     host[AD_HTTP_HOST_MAX]; /* lower case; "[::1]" for IPv6 */
	unsigned port;                   /* written or the scheme's */
};

/*
 * Parse url: 0, or AGENTD_EINVAL for anything but http:// or https://
 * (any case) followed by a host, an optional :port (1-65535) and a path,
 * query or fragment.  Refused too, so that no other parser can read
 * another host in the same text: user information ('@' before the
 * path), bytes outside printable ASCII, backslashes, percent signs or
 * any other character outside [A-Za-z0-9.-_] in the host, an empty
 * host, more than AGENTD_HTTP_URL_MAX bytes.
 */
int ad_http_url_parse(const char *url, struct ad_http_url *out);

/*
 * Is pattern one http { allow } may hold?  A DNS name ("api.example.com":
 * labels of [a-z0-9-], none empty, the last not all digits), the same
 * after "*." ("*.myshopify.com": any name below it, not itself), a
 * dotted IPv4 address ("127.0.0.1") or a bracketed IPv6 one ("[::1]").
 * Lower case only, so that what is written is what is matched.
 */
int ad_http_pattern_valid(const char *pattern);

/*
 * Does host (as ad_http_url_parse leaves it) match one of allow[0..n)?
 * A name matches itself; "*.example.com" matches every name ending in
 * ".example.com" with at least one label before it.  Nothing else: no
 * trailing dot, no other wildcard, no port.
 */
int ad_http_host_allowed(
    char *const *allow, size_t n, const char *host);

/* An agent's http { } section, as the worker and the mock apply it. */
struct ad_http_limits {
	char *const *allow; /* patterns; none: every URL is AGENTD_EDENIED */
	size_t       nallow;
	unsigned     max_concurrent; /* outstanding requests */
	size_t       max_response;   /* bytes of an answer's body */
	uint32_t     timeout_ms;     /* an attempt's, and the longest */
};

/* A request checked, with every default filled in. */
struct ad_http_plan {
	char               method[17];
	int                idempotent;
	struct ad_http_url url;
	uint32_t           timeout_ms;
	uint32_t           attempts;
	uint32_t           backoff_initial_ms;
	uint32_t           backoff_max_ms;
	uint32_t           retry_on;
	uint32_t           retry_after_max_ms;
};

/*
 * Check req against the rules of agent.h and the agent's limits, with
 * `outstanding` requests already under way: 0 and *plan, or the error
 * http_async returns (AGENTD_EINVAL, AGENTD_EDENIED, AGENTD_EBUSY) with
 * one line in err.  req is borrowed for the call.
 */
int ad_http_check(const struct agentd_http_request *req,
    const struct ad_http_limits *lim, unsigned outstanding,
    struct ad_http_plan *plan, char *err, size_t errlen);

/* GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110, 9.2.2). */
int ad_http_idempotent(const char *method);

/*
 * Retry-After's value as milliseconds from now (now_ms: the wall clock,
 * ms since the epoch): delay-seconds or an IMF-fixdate ("Sun, 06 Nov 1994
 * 08:49:37 GMT"); a date past is 0.  -1 if it is neither.
 */
int64_t ad_http_retry_after_ms(const char *value, int64_t now_ms);

/*
 * After attempt number `done` (from 1) ended with status (0: an answer
 * with http_code; else an agentd error), is it tried again?  retry_after
 * is that answer's Retry-After header or NULL, now_ms the wall clock and
 * rnd a random number (for jitter).  1 with *wait_ms, the wait before
 * the next attempt; or 0: this is the request's outcome.
 */
int ad_http_next_attempt(const struct ad_http_plan *plan, unsigned done,
    int status, int http_code, const char *retry_after, int64_t now_ms,
    uint32_t rnd, int64_t *wait_ms);

#endif /* AGENTD_HTTP_RULES_H */
