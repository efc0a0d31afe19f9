/*
 * test_http - the rules of host->http_async (sdk/http_rules.c: URLs, the
 * allow-list, checks, retries, Retry-After), which agentd's worker and
 * the mock share, and the mock's http_async, request_caller and
 * state_put_ttl against a plugin linked into this program.  Linked as a
 * plugin author's test is: against the installed archive only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <agentd/mock.h>

#include "sdk/http_rules.h"
#include "tap.h"

/* ---- the rules ------------------------------------------------------- */

static void
test_urls(void)
{
	struct ad_http_url u;

	ok(ad_http_url_parse("https://API.Example.com/v1?x=1", &u) == 0
	        && u.https && strcmp(u.host, "api.example.com") == 0
	        && u.port == 443,
	    "url: https, the host in lower case, the scheme's port");
	ok(ad_http_url_parse("http://127.0.0.1:8080", &u) == 0
	        && !u.https && strcmp(u.host, "127.0.0.1") == 0
	        && u.port == 8080,
	    "url: an address and a port, no path");
	ok(ad_http_url_parse("http://[::1]:99/x", &u) == 0
	        && strcmp(u.host, "[::1]") == 0 && u.port == 99,
	    "url: a bracketed IPv6 literal");
	ok(ad_http_url_parse("HTTP://a.example.com#frag", &u) == 0
	        && strcmp(u.host, "a.example.com") == 0,
	    "url: the scheme in any case; a fragment ends the host");
	is_int(ad_http_url_parse("ftp://a.example.com/", &u), AGENTD_EINVAL,
	    "url: another scheme");
	is_int(ad_http_url_parse("http://user:pw@a.example.com/", &u),
	    AGENTD_EINVAL, "url: credentials, which could hide the host");
	is_int(ad_http_url_parse("http://good.example.com\\@evil.test/", &u),
	    AGENTD_EINVAL, "url: a backslash, read as '/' by some parsers");
	is_int(ad_http_url_parse("http://a.example.com%2eevil.test/", &u),
	    AGENTD_EINVAL, "url: a percent sign in the host");
	is_int(ad_http_url_parse("http://a b/", &u), AGENTD_EINVAL,
	    "url: a space");
	is_int(ad_http_url_parse("http:///x", &u), AGENTD_EINVAL,
	    "url: an empty host");
	is_int(ad_http_url_parse("http://a.example.com:0/", &u),
	    AGENTD_EINVAL, "url: port 0");
	is_int(ad_http_url_parse("http://a.example.com:65536/", &u),
	    AGENTD_EINVAL, "url: a port past 65535");
	is_int(ad_http_url_parse("http://a.example.com:/", &u), AGENTD_EINVAL,
	    "url: an empty port");
	is_int(ad_http_url_parse("http://[::1%25eth0]/", &u), AGENTD_EINVAL,
	    "url: an IPv6 zone");
	is_int(ad_http_url_parse("http://a\x7f.com/", &u), AGENTD_EINVAL,
	    "url: a control byte");
}

static void
test_allow(void)
{
	char *allow[] = { "api.example.com", "*.myshopify.com", "127.0.0.1",
		"[::1]" };
	size_t n = sizeof(allow) / sizeof(allow[0]);

	ok(ad_http_host_allowed(allow, n, "api.example.com"),
	    "allow: a name matches itself");
	ok(!ad_http_host_allowed(allow, n, "www.api.example.com"),
	    "allow: not a name below it");
	ok(!ad_http_host_allowed(allow, n, "api.example.com.evil.test"),
	    "allow: nor one it prefixes");
	ok(!ad_http_host_allowed(allow, n, "api.example.com."),
	    "allow: nor itself with a trailing dot");
	ok(ad_http_host_allowed(allow, n, "shop-1.myshopify.com")
	        && ad_http_host_allowed(allow, n, "a.b.myshopify.com"),
	    "allow: *. matches every name below it");
	ok(!ad_http_host_allowed(allow, n, "myshopify.com"),
	    "allow: *. does not match the name itself");
	ok(!ad_http_host_allowed(allow, n, "evilmyshopify.com"),
	    "allow: *. matches whole labels only");
	ok(ad_http_host_allowed(allow, n, "127.0.0.1")
	        && ad_http_host_allowed(allow, n, "[::1]"),
	    "allow: addresses, as the URL parser leaves them");
	ok(!ad_http_host_allowed(allow, 0, "api.example.com"),
	    "allow: an empty list allows nothing");

	ok(ad_http_pattern_valid("api.example.com")
	        && ad_http_pattern_valid("*.myshopify.com")
	        && ad_http_pattern_valid("10.0.0.1")
	        && ad_http_pattern_valid("[::1]")
	        && ad_http_pattern_valid("localhost"),
	    "pattern: names, *. and a name, IPv4 and bracketed IPv6");
	ok(!ad_http_pattern_valid("API.example.com")
	        && !ad_http_pattern_valid("*")
	        && !ad_http_pattern_valid("*.com.*")
	        && !ad_http_pattern_valid("a.*.com")
	        && !ad_http_pattern_valid("https://a.com")
	        && !ad_http_pattern_valid("a.com:443")
	        && !ad_http_pattern_valid("a..com")
	        && !ad_http_pattern_valid("-a.com")
	        && !ad_http_pattern_valid("::1")
	        && !ad_http_pattern_valid("") && !ad_http_pattern_valid(NULL),
	    "pattern: no upper case, bare '*', inner wildcard, scheme, port, "
	    "empty label, leading '-', unbracketed IPv6 or nothing");
	ok(!ad_http_pattern_valid("2130706433")
	        && !ad_http_pattern_valid("127.1")
	        && !ad_http_pattern_valid("127.000.0.1")
	        && !ad_http_pattern_valid("256.0.0.1"),
	    "pattern: nothing a resolver reads as another address");
}

static struct ad_http_limits lim = { NULL, 0, 4, 1024, 5000 };

static void
test_check(void)
{
	char                      *allow[] = { "api.example.com" };
	struct agentd_http_request r       = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  h[2]    = { { "X-Ok", "1" },
		    { "X-Bad", "a\r\nInjected: 1" } };
	struct ad_http_plan        p;
	char                       err[256];

	lim.allow  = allow;
	lim.nallow = 1;
	r.url      = "https://api.example.com/v1";
	is_int(ad_http_check(&r, &lim, 0, &p, err, sizeof(err)), 0,
	    "check: a plain GET");
	ok(strcmp(p.method, "GET") == 0 && p.idempotent && p.attempts == 1
	        && p.timeout_ms == 5000
	        && p.retry_on == AGENTD_HTTP_RETRY_DEFAULT
	        && p.backoff_initial_ms == AD_HTTP_BACKOFF_INITIAL_MS,
	    "check: the defaults filled in");
	r.body     = "x";
	r.body_len = 1;
	r.timeout_ms = 60000;
	ad_http_check(&r, &lim, 0, &p, err, sizeof(err));
	ok(strcmp(p.method, "POST") == 0 && !p.idempotent
	        && p.timeout_ms == 5000,
	    "check: a body without a method is a POST; the agent's timeout "
	    "bounds the request's");
	is_int(ad_http_check(&r, &lim, 4, &p, err, sizeof(err)), AGENTD_EBUSY,
	    "check: max_concurrent outstanding is EBUSY");
	r.url = "https://api.example.com.evil.test/";
	is_int(ad_http_check(&r, &lim, 4, &p, err, sizeof(err)),
	    AGENTD_EDENIED, "check: a host outside allow is EDENIED, first");
	like(err, "not in http { allow }", "...saying so");
	r.url      = "https://api.example.com/";
	r.headers  = h;
	r.nheaders = 2;
	is_int(ad_http_check(&r, &lim, 0, &p, err, sizeof(err)),
	    AGENTD_EINVAL, "check: a header value with CR LF");
	r.nheaders = 1;
	r.method   = "get";
	is_int(ad_http_check(&r, &lim, 0, &p, err, sizeof(err)),
	    AGENTD_EINVAL, "check: a method in lower case");
	r.method   = "PATCH";
	r.attempts = AGENTD_HTTP_ATTEMPTS_MAX + 1;
	is_int(ad_http_check(&r, &lim, 0, &p, err, sizeof(err)),
	    AGENTD_EINVAL, "check: too many attempts");
	r.attempts = 0;
	r.size     = sizeof(r) - 1;
	is_int(ad_http_check(&r, &lim, 0, &p, err, sizeof(err)),
	    AGENTD_EINVAL, "check: a request without its size");
}

static void
test_retries(void)
{
	char                      *allow[] = { "a.example.com" };
	struct agentd_http_request r       = AGENTD_HTTP_REQUEST_INIT;
	struct ad_http_plan        p;
	char                       err[256];
	int64_t                    w = -1, w2 = -1;
	int64_t now = 784111777000; /* Sun, 06 Nov 1994 08:49:37 GMT */

	is_int(ad_http_retry_after_ms("120", now), 120000,
	    "retry-after: seconds");
	is_int(ad_http_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now),
	    10000, "retry-after: an IMF-fixdate, from now");
	is_int(ad_http_retry_after_ms("Sun, 06 Nov 1994 08:49:27 GMT", now), 0,
	    "retry-after: a date past is 0");
	is_int(ad_http_retry_after_ms("soon", now), -1,
	    "retry-after: neither is -1");
	is_int(ad_http_retry_after_ms("12x", now), -1,
	    "retry-after: a number with something after it is -1");

	lim.allow          = allow;
	lim.nallow         = 1;
	r.url              = "http://a.example.com/";
	r.attempts         = 4;
	r.backoff_initial_ms = 100;
	r.backoff_max_ms   = 250;
	ad_http_check(&r, &lim, 0, &p, err, sizeof(err));
	ok(ad_http_next_attempt(&p, 1, 0, 503, NULL, now, 0, &w) && w == 50
	        && ad_http_next_attempt(&p, 1, 0, 503, NULL, now, 50, &w2)
	        && w2 == 100,
	    "retry: a 5xx; the wait is between half the backoff and all of it");
	ok(ad_http_next_attempt(&p, 3, 0, 500, NULL, now, 1000, &w)
	        && w >= 125 && w <= 250,
	    "retry: the backoff doubles up to backoff_max");
	ok(!ad_http_next_attempt(&p, 4, 0, 500, NULL, now, 0, &w),
	    "retry: not past attempts");
	ok(!ad_http_next_attempt(&p, 1, 0, 404, NULL, now, 0, &w)
	        && !ad_http_next_attempt(&p, 1, 0, 200, NULL, now, 0, &w),
	    "retry: not a 4xx other than 429, nor a success");
	ok(ad_http_next_attempt(&p, 1, 0, 429, "3", now, 0, &w) && w == 3000,
	    "retry: a 429 waits its Retry-After when longer");
	ok(!ad_http_next_attempt(&p, 1, 0, 429, "61", now, 0, &w),
	    "retry: a Retry-After past retry_after_max_ms (60 s) is the answer");
	ok(ad_http_next_attempt(&p, 1, AGENTD_EUNAVAIL, 0, NULL, now, 0, &w)
	        && ad_http_next_attempt(
	            &p, 1, AGENTD_ETIMEOUT, 0, NULL, now, 0, &w)
	        && !ad_http_next_attempt(
	            &p, 1, AGENTD_ETOOBIG, 0, NULL, now, 0, &w),
	    "retry: connect errors and timeouts, not an answer too big");
	r.method = "POST";
	ad_http_check(&r, &lim, 0, &p, err, sizeof(err));
	ok(!ad_http_next_attempt(&p, 1, 0, 500, NULL, now, 0, &w)
	        && !ad_http_next_attempt(
	            &p, 1, AGENTD_ETIMEOUT, 0, NULL, now, 0, &w)
	        && ad_http_next_attempt(
	            &p, 1, AGENTD_EUNAVAIL, 0, NULL, now, 0, &w),
	    "retry: a POST only after a connect error (nothing was sent)");
	r.retry_on = AGENTD_HTTP_RETRY_5XX | AGENTD_HTTP_RETRY_UNSAFE;
	ad_http_check(&r, &lim, 0, &p, err, sizeof(err));
	ok(ad_http_next_attempt(&p, 1, 0, 500, NULL, now, 0, &w)
	        && !ad_http_next_attempt(&p, 1, 0, 429, NULL, now, 0, &w)
	        && !ad_http_next_attempt(
	            &p, 1, AGENTD_EUNAVAIL, 0, NULL, now, 0, &w),
	    "retry: retry_on says which outcomes; UNSAFE lets a POST retry");
}

/* ---- the mock, with a plugin linked into this program ----------------- */

/* What the next request makes, and what its callback saw. */
static struct agentd_http_request next_req;
static int                        next_rv;
static struct seen {
	int      status, code;
	unsigned attempts;
	char     body[64];
	char     header[64];
	int      calls;
} seen;
static const struct agentd_host *thost;
static agentd_ctx               *tctx;
static char                      caller_seen[80];

static int
t_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	thost  = host;
	tctx   = ctx;
	*state = NULL;
	return 0;
}

static void
t_done(void *arg, const struct agentd_http_response *r)
{
	agentd_request *req = arg;
	size_t          n   = r->body_len < 63 ? r->body_len : 63;

	seen.calls++;
	seen.status   = r->status;
	seen.code     = r->http_code;
	seen.attempts = r->attempts;
	memcpy(seen.body, r->body ? r->body : "", n);
	seen.body[n]   = '\0';
	seen.header[0] = '\0';
	if (r->nheaders > 0)
		snprintf(seen.header, sizeof(seen.header), "%s=%s",
		    r->headers[0].name, r->headers[0].value);
	if (req != NULL)
		thost->reply(tctx, req, NULL, 0);
}

static int
t_request(void *state, agentd_request *req, const void *body, size_t len)
{
	snprintf(caller_seen, sizeof(caller_seen), "%s",
	    thost->request_caller(tctx, req));
	if (len > 0)
		return thost->reply(tctx, req, NULL, 0);
	next_rv = thost->http_async(tctx, &next_req, t_done, req);
	return next_rv;
}

static const struct agentd_plugin t_desc = { .magic = AGENTD_PLUGIN_MAGIC,
	.size = sizeof(struct agentd_plugin), .abi_major = AGENTD_ABI_MAJOR,
	.abi_minor = AGENTD_ABI_MINOR, .name = "fetch", .version = "1",
	.init = t_init, .on_request = t_request };

/* The test's server: "/ok" answers, "/later" waits, "/flaky" fails once
 * with 503 and Retry-After 7, "/big" answers 2000 bytes, anything else is
 * refused (EUNAVAIL). */
static int     calls_seen;
static char    last_method[16];
static size_t  later_id;

static int
server(void *arg, agentd_mock *m, const struct agentd_mock_http_call *c)
{
	static const struct agentd_http_header h[]  = { { "X-Srv", "yes" } };
	static const struct agentd_http_header ra[] = { { "Retry-After",
		"7" } };
	static char big[2000];

	calls_seen++;
	snprintf(last_method, sizeof(last_method), "%s", c->method);
	if (strstr(c->url, "/ok") != NULL)
		return agentd_mock_http_answer(m, c->id, 200, h, 1, "hi", 2);
	if (strstr(c->url, "/later") != NULL) {
		later_id = c->id;
		return AGENTD_MOCK_HTTP_LATER;
	}
	if (strstr(c->url, "/flaky") != NULL)
		return c->attempt == 1
		    ? agentd_mock_http_answer(m, c->id, 503, ra, 1, NULL, 0)
		    : agentd_mock_http_answer(m, c->id, 200, NULL, 0, "ok", 2);
	if (strstr(c->url, "/big") != NULL)
		return agentd_mock_http_answer(
		    m, c->id, 200, NULL, 0, big, sizeof(big));
	return AGENTD_EUNAVAIL;
}

static void
req_to(const char *url)
{
	struct agentd_http_request r = AGENTD_HTTP_REQUEST_INIT;

	next_req     = r;
	next_req.url = url;
	memset(&seen, 0, sizeof(seen));
}

static void
test_mock_http(void)
{
	agentd_mock *m;
	const void  *reply;
	size_t       len, id;
	int          status;
	uint64_t     waited = 0;

	agentd_mock_new("fetch", &m);
	is_int(agentd_mock_attach(m, &t_desc), 0, "mock: a plugin attached");
	ok(AGENTD_HOST_HAS(thost, http_async)
	        && AGENTD_HOST_HAS(thost, request_caller)
	        && AGENTD_HOST_HAS(thost, state_put_ttl),
	    "mock: the host has http_async, request_caller, state_put_ttl");
	agentd_mock_on_http(m, server, NULL);

	req_to("http://api.example.com/ok");
	agentd_mock_request(m, NULL, 0, &reply, &len, &status);
	is_int(status, AGENTD_EDENIED,
	    "mock: no allow-list: EDENIED, as an agent without http { allow }");
	is_int(calls_seen, 0, "...and the server never saw it");
	is_int(agentd_mock_http_allow(m, "Api.example.com"), AGENTD_EINVAL,
	    "mock: a pattern agentd's configuration refuses is refused");
	agentd_mock_http_allow(m, "api.example.com");
	agentd_mock_http_allow(m, "*.example.org");

	agentd_mock_request(m, NULL, 0, &reply, &len, &status);
	ok(status == 0 && seen.calls == 1 && seen.status == 0
	        && seen.code == 200 && strcmp(seen.body, "hi") == 0
	        && strcmp(seen.header, "X-Srv=yes") == 0
	        && seen.attempts == 1,
	    "mock: an answer's code, header and body reach the callback");
	is_str(last_method, "GET", "...the method defaulted as agentd does");

	req_to("http://x.example.org/later");
	agentd_mock_send(m, NULL, 0, &id);
	agentd_mock_run(m);
	ok(seen.calls == 0 && agentd_mock_http_outstanding(m) == 1,
	    "mock: a handler answering later: nothing yet");
	is_int(agentd_mock_http_answer(m, later_id, 201, NULL, 0, "made", 4),
	    0, "mock: answered later");
	is_int(agentd_mock_http_answer(m, later_id, 201, NULL, 0, "x", 1),
	    AGENTD_EEXIST, "mock: a second answer is refused");
	ok(seen.calls == 0, "...the callback waits for agentd_mock_run");
	agentd_mock_run(m);
	ok(seen.calls == 1 && seen.code == 201
	        && strcmp(seen.body, "made") == 0,
	    "...and then runs with the answer");

	req_to("http://api.example.com/flaky");
	next_req.attempts = 3;
	agentd_mock_request(m, NULL, 0, &reply, &len, &status);
	agentd_mock_http_waited(m, agentd_mock_http_count(m) - 1, &waited);
	ok(seen.code == 200 && seen.attempts == 2 && waited == 7000,
	    "mock: 503 then 200 in two attempts; Retry-After's 7 s counted");

	req_to("http://api.example.com/big");
	agentd_mock_http_limits(m, 0, 1000, 0);
	agentd_mock_request(m, NULL, 0, &reply, &len, &status);
	ok(seen.status == AGENTD_ETOOBIG && seen.body[0] == '\0',
	    "mock: an answer over max_response is ETOOBIG, without a body");

	req_to("http://api.example.com/refused");
	next_req.attempts = 2;
	agentd_mock_request(m, NULL, 0, &reply, &len, &status);
	ok(seen.status == AGENTD_EUNAVAIL && seen.attempts == 2,
	    "mock: a handler's error is the attempt's, retried");

	agentd_mock_http_limits(m, 2, 0, 0);
	req_to("http://api.example.com/later");
	agentd_mock_send(m, NULL, 0, &id);
	agentd_mock_send(m, NULL, 0, &id);
	agentd_mock_send(m, NULL, 0, &id);
	is_int(next_rv, AGENTD_EBUSY,
	    "mock: past max_concurrent outstanding: EBUSY");
	is_int(agentd_mock_http_outstanding(m), 2, "...two outstanding");

	agentd_mock_caller(m, "pricing");
	agentd_mock_request(m, "\x80", 1, &reply, &len, &status);
	is_str(caller_seen, "pricing", "mock: request_caller as set");
	agentd_mock_caller(m, "agentctl");
	agentd_mock_request(m, "\x80", 1, &reply, &len, &status);
	is_str(caller_seen, "agentctl", "...per request");

	seen.calls = 0;
	agentd_mock_free(m);
	is_int(seen.calls, 2,
	    "mock: freeing it gives each outstanding request ECLOSED, once");
	is_int(seen.status, AGENTD_ECLOSED, "...with ECLOSED");
}

static int
count_key(void *arg, const char *k, size_t kl, const void *v, size_t vl)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_mock_ttl(void)
{
	agentd_mock              *m;
	const struct agentd_host *h;
	agentd_ctx               *ctx;
	void                     *val;
	size_t                    len;
	int                       n = 0;

	agentd_mock_new("fetch", &m);
	agentd_mock_attach(m, &t_desc);
	h = agentd_mock_host(m, &ctx);
	is_int(h->state_put_ttl(ctx, "conv", 4, "ctx", 3, 1000), 0,
	    "ttl: put with 1 s");
	h->state_put(ctx, "keep", 4, "k", 1);
	h->state_put_ttl(ctx, "renewed", 7, "r", 1, 1000);
	h->state_put(ctx, "renewed", 7, "r2", 2);
	is_int(h->state_put_ttl(ctx, "x", 1, "", 0, 0), AGENTD_EINVAL,
	    "ttl: 0 is EINVAL");
	agentd_mock_clock_advance(m, 999);
	ok(h->state_get(ctx, "conv", 4, &val, &len) == 0, "ttl: there at 999 ms");
	free(val);
	agentd_mock_clock_advance(m, 1);
	is_int(h->state_get(ctx, "conv", 4, &val, &len), AGENTD_ENOENT,
	    "ttl: gone at 1000 ms");
	h->state_scan(ctx, NULL, 0, count_key, &n);
	is_int(n, 2, "ttl: a scan skips it; a put without a TTL cleared one");
	agentd_mock_free(m);
}

int
main(void)
{
	plan(77);
	test_urls();
	test_allow();
	test_check();
	test_retries();
	test_mock_http();
	test_mock_ttl();
	return done_testing();
}
