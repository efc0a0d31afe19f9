#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/host.h"
#include "worker/http.h"

/* Bytes of one answer's headers at most: past it, AGENTD_ETOOBIG. */
#define HEADERS_BYTES_MAX (64 * 1024)

/* Finished requests kept for the next ones, with their easy handle and
 * answer buffers: at most this many, and no buffer over SPARE_BUF_MAX. */
#define SPARE_MAX 128
#define SPARE_BUF_MAX (16 * 1024)

/* One request, from http_async to its callback. */
struct hreq {
	TAILQ_ENTRY(hreq) link;
	struct ad_whttp    *h;
	CURL               *easy;
	CURLU              *url;
	struct curl_slist  *headers;
	void               *body;
	size_t              body_len;
	struct ad_http_plan plan;
	agentd_http_fn      cb;
	void               *arg;
	unsigned            attempts; /* started so far */
	int64_t             started_ms;
	int64_t             due_ms; /* waiting to try again: when; else 0 */
	int                 in_multi;
	/* The current attempt's answer. */
	char  *rbody;
	size_t rlen, rcap;
	char  *rhdr; /* "name\0value\0" for each header */
	size_t hlen, hcap, nh;
	int    too_big;
	char   errbuf[CURL_ERROR_SIZE];
};

/* A socket libcurl waits on, and for what (CURL_POLL_*). */
struct hsock {
	curl_socket_t fd;
	int           what;
};

struct ad_whttp {
	struct agentd_ctx    *ctx;
	CURLM                *multi;
	struct ad_http_limits lim;
	const char           *ca_file;
	unsigned              outstanding;
	int                   closed;
	TAILQ_HEAD(, hreq) reqs;
	TAILQ_HEAD(, hreq) spare; /* owned: reset, ready for a request */
	unsigned       nspare;
	int64_t        timer_ms; /* libcurl's timeout, monotonic; -1: none */
	struct hsock  *socks;
	size_t         nsocks, capsocks;
	struct pollfd *fds;
	size_t         capfds;
	uint64_t       rnd;
};

/* ---- the loop's side of libcurl ---------------------------------------- */

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct ad_whttp *h = userp;
	size_t           i;

	for (i = 0; i < h->nsocks && h->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < h->nsocks)
			h->socks[i] = h->socks[--h->nsocks];
		return 0;
	}
	if (i == h->nsocks) {
		if (h->nsocks == h->capsocks) {
			h->capsocks = h->capsocks ? 2 * h->capsocks : 16;
			h->socks    = ad_xrealloc(
			       h->socks, h->capsocks * sizeof(*h->socks));
		}
		h->socks[h->nsocks++].fd = fd;
	}
	h->socks[i].what = what;
	return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct ad_whttp *h = userp;

	/* Never act from here (libcurl's rule): the loop does, when due. */
	h->timer_ms = timeout_ms < 0 ? -1 : ad_now_ms() + timeout_ms;
	return 0;
}

/* xorshift64*: jitter needs no better. */
static uint32_t
next_rnd(struct ad_whttp *h)
{
	h->rnd ^= h->rnd >> 12;
	h->rnd ^= h->rnd << 25;
	h->rnd ^= h->rnd >> 27;
	return (uint32_t)((h->rnd * 2685821657736338717ULL) >> 32);
}

int
ad_whttp_init(struct agentd_ctx *ctx, const struct ad_whttp_opts *o, char *err,
    size_t errlen)
{
	struct ad_whttp *h;
	CURLcode         rc;

	if (o->nallow == 0)
		return 0;
	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		ad_seterr(err, errlen, "cannot start libcurl: %s",
		    curl_easy_strerror(rc));
		return -1;
	}
	h                     = ad_xcalloc(1, sizeof(*h));
	h->ctx                = ctx;
	h->lim.allow          = o->allow;
	h->lim.nallow         = o->nallow;
	h->lim.max_concurrent = o->max_concurrent;
	h->lim.max_response   = o->max_response;
	h->lim.timeout_ms     = o->timeout_ms;
	h->ca_file            = o->ca_file;
	h->timer_ms           = -1;
	TAILQ_INIT(&h->reqs);
	TAILQ_INIT(&h->spare);
	if (getrandom(&h->rnd, sizeof(h->rnd), 0) != sizeof(h->rnd)
	    || h->rnd == 0)
		h->rnd = (uint64_t)ad_now_ms() * 2654435761u + 1;
	if ((h->multi = curl_multi_init()) == NULL) {
		ad_seterr(err, errlen, "cannot make a libcurl multi handle");
		free(h);
		return -1;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	ctx->http = h;
	return 0;
}

struct pollfd *
ad_whttp_poll(struct agentd_ctx *ctx, const struct pollfd *base, size_t nbase,
    size_t *n, int64_t *wait_ms)
{
	struct ad_whttp *h = ctx->http;
	struct hreq     *r;
	int64_t          now = ad_now_ms(), until;
	size_t           i;

	if (h == NULL) {
		*n = nbase;
		return (struct pollfd *)base;
	}
	if (h->capfds < nbase + h->nsocks) {
		h->capfds = nbase + h->nsocks + 16;
		h->fds    = ad_xrealloc(h->fds, h->capfds * sizeof(*h->fds));
	}
	memcpy(h->fds, base, nbase * sizeof(*base));
	for (i = 0; i < h->nsocks; i++) {
		struct pollfd *p = &h->fds[nbase + i];

		p->fd      = h->socks[i].fd;
		p->events  = 0;
		p->revents = 0;
		if (h->socks[i].what & CURL_POLL_IN)
			p->events |= POLLIN;
		if (h->socks[i].what & CURL_POLL_OUT)
			p->events |= POLLOUT;
	}
	*n    = nbase + h->nsocks;
	until = h->timer_ms;
	TAILQ_FOREACH(r, &h->reqs, link) {
		if (r->due_ms != 0 && (until < 0 || r->due_ms < until))
			until = r->due_ms;
	}
	if (until >= 0 && until - now < *wait_ms)
		*wait_ms = until > now ? until - now : 0;
	return h->fds;
}

/* ---- one request ------------------------------------------------------- */

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *r   = arg;
	size_t       len = size * n;

	if (r->rlen + len > r->h->lim.max_response) {
		r->too_big = 1;
		return 0; /* stops the transfer: CURLE_WRITE_ERROR */
	}
	if (r->rlen + len > r->rcap) {
		r->rcap  = r->rlen + len > 2 * r->rcap ? r->rlen + len
		                                       : 2 * r->rcap;
		r->rbody = ad_xrealloc(r->rbody, r->rcap);
	}
	memcpy(r->rbody + r->rlen, p, len);
	r->rlen += len;
	return len;
}

static void
hdr_add(struct hreq *r, const char *s, size_t n)
{
	if (r->hlen + n + 1 > r->hcap) {
		r->hcap = (r->hlen + n + 1) * 2;
		r->rhdr = ad_xrealloc(r->rhdr, r->hcap);
	}
	memcpy(r->rhdr + r->hlen, s, n);
	r->rhdr[r->hlen + n] = '\0';
	r->hlen += n + 1;
}

/* One header line.  A status line starts an answer (after a 100 Continue,
 * or a new attempt): the headers kept are the last answer's. */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *r   = arg;
	size_t       len = size * n, nl, vs;
	const char  *colon;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->hlen = r->nh = 0;
		return len;
	}
	if (r->hlen + len > HEADERS_BYTES_MAX) {
		r->too_big = 1;
		return 0;
	}
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0 || (colon = memchr(p, ':', len)) == NULL)
		return size * n; /* the blank line, or a continuation */
	nl = (size_t)(colon - p);
	for (vs = nl + 1; vs < len && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	while (len > vs && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	hdr_add(r, p, nl);
	hdr_add(r, p + vs, len - vs);
	r->nh++;
	return size * n;
}

static void
hreq_free(struct hreq *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_url_cleanup(r->url);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->rbody);
	free(r->rhdr);
	free(r);
}

/* A request record for a new request: a spare one (its easy handle is
 * reset by hreq_easy before any option is set) or a fresh one. */
static struct hreq *
hreq_get(struct ad_whttp *h)
{
	struct hreq *r = TAILQ_FIRST(&h->spare);

	if (r == NULL)
		return ad_xcalloc(1, sizeof(*r));
	TAILQ_REMOVE(&h->spare, r, link);
	h->nspare--;
	return r;
}

/* Done with r (out of the multi handle): kept as a spare, or freed.  A
 * spare keeps its easy handle and answer buffers and nothing else: the
 * URL, the header list and the body of its request are freed here. */
static void
hreq_put(struct ad_whttp *h, struct hreq *r)
{
	CURL  *easy  = r->easy;
	char  *rbody = r->rbody, *rhdr = r->rhdr;
	size_t rcap = r->rcap, hcap = r->hcap;

	if (h->closed || h->nspare >= SPARE_MAX || easy == NULL
	    || rcap > SPARE_BUF_MAX || hcap > SPARE_BUF_MAX) {
		hreq_free(r);
		return;
	}
	curl_url_cleanup(r->url);
	curl_slist_free_all(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->easy  = easy;
	r->rbody = rbody;
	r->rcap  = rcap;
	r->rhdr  = rhdr;
	r->hcap  = hcap;
	TAILQ_INSERT_HEAD(&h->spare, r, link);
	h->nspare++;
}

/* The curl handle of a checked request; 0 or an agentd error. */
static int
hreq_easy(
    struct ad_whttp *h, struct hreq *r, const struct agentd_http_request *req)
{
	char  *host = NULL, line[AGENTD_HTTP_HEADER_MAX + 4];
	size_t i;
	int    same;

	/* libcurl connects where its own parser says: it must read the
	 * host the allow-list was checked against. */
	if ((r->url = curl_url()) == NULL
	    || curl_url_set(r->url, CURLUPART_URL, req->url, 0) != CURLUE_OK
	    || curl_url_get(r->url, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		return AGENTD_EINVAL;
	same = strcasecmp(host, r->plan.url.host) == 0;
	curl_free(host);
	if (!same)
		return AGENTD_EINVAL;
	/* A reused handle: every option back to libcurl's default (its
	 * predecessor's headers, body, method and the rest), then all of
	 * this request's set below, as on a new one. */
	if (r->easy != NULL)
		curl_easy_reset(r->easy);
	else if ((r->easy = curl_easy_init()) == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < req->nheaders; i++) {
		snprintf(line, sizeof(line), "%s: %s", req->headers[i].name,
		    req->headers[i].value);
		r->headers = curl_slist_append(r->headers, line);
	}
	/* No 100-continue round trip: most APIs never answer one. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	if (r->headers == NULL)
		return AGENTD_ENOMEM;
	curl_easy_setopt(r->easy, CURLOPT_CURLU, r->url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* A proxy from the environment would take the connection
	 * elsewhere than the allow-list says. */
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(
	    r->easy, CURLOPT_TIMEOUT_MS, (long)r->plan.timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)h->lim.max_response);
	curl_easy_setopt(
	    r->easy, CURLOPT_USERAGENT, "agentd/" PACKAGE_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (strcmp(r->plan.method, "HEAD") == 0)
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->plan.method, "GET") != 0 || r->body_len > 0) {
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS,
		    r->body != NULL ? r->body : "");
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
		if (strcmp(r->plan.method, "POST") != 0)
			curl_easy_setopt(
			    r->easy, CURLOPT_CUSTOMREQUEST, r->plan.method);
	}
	return 0;
}

static int
attempt_start(struct ad_whttp *h, struct hreq *r)
{
	CURLMcode mc;

	r->rlen = r->hlen = r->nh = 0;
	r->too_big                = 0;
	r->errbuf[0]              = '\0';
	r->due_ms                 = 0;
	r->attempts++;
	if ((mc = curl_multi_add_handle(h->multi, r->easy)) != CURLM_OK) {
		ad_warn("%s/%s: http: cannot start a transfer: %s",
		    h->ctx->agent, h->ctx->instance, curl_multi_strerror(mc));
		return AGENTD_EIO;
	}
	r->in_multi = 1;
	return 0;
}

int
ad_whttp_request(struct agentd_ctx *ctx, const struct agentd_http_request *req,
    agentd_http_fn cb, void *arg)
{
	static const struct ad_http_limits none = { .max_concurrent = 1 };
	struct ad_whttp                   *h = ctx != NULL ? ctx->http : NULL;
	struct ad_http_plan                plan;
	struct hreq                       *r;
	char                               err[AD_ERRLEN];
	int                                rv;

	if (ctx == NULL || cb == NULL)
		return AGENTD_EINVAL;
	rv = ad_http_check(req, h != NULL ? &h->lim : &none,
	    h != NULL ? h->outstanding : 0, &plan, err, sizeof(err));
	if (rv != 0) {
		ad_debug("%s/%s: http_async refused: %s", ctx->agent,
		    ctx->instance, err);
		return rv;
	}
	if (h->closed)
		return AGENTD_ECLOSED;
	r             = hreq_get(h);
	r->h          = h;
	r->plan       = plan;
	r->cb         = cb;
	r->arg        = arg;
	r->started_ms = ad_now_ms();
	if (req->body_len > 0) {
		r->body = ad_xmalloc(req->body_len);
		memcpy(r->body, req->body, req->body_len);
		r->body_len = req->body_len;
	}
	if ((rv = hreq_easy(h, r, req)) != 0
	    || (rv = attempt_start(h, r)) != 0) {
		hreq_put(h, r);
		return rv;
	}
	TAILQ_INSERT_TAIL(&h->reqs, r, link);
	h->outstanding++;
	return 0;
}

/* ---- outcomes ------------------------------------------------------------
 */

/* libcurl's code as agentd's, once, here; the original goes to the log. */
static int
attempt_status(struct hreq *r, CURLcode rc)
{
	struct agentd_ctx *ctx = r->h->ctx;

	if (rc != CURLE_OK)
		ad_debug("%s/%s: http: %s %s: attempt %u: %s%s%s", ctx->agent,
		    ctx->instance, r->plan.method, r->plan.url.host,
		    r->attempts, curl_easy_strerror(rc),
		    r->errbuf[0] ? ": " : "", r->errbuf);
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return AGENTD_EUNAVAIL;
	case CURLE_OPERATION_TIMEDOUT:
		return AGENTD_ETIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return AGENTD_ETOOBIG;
	case CURLE_WRITE_ERROR:
		return r->too_big ? AGENTD_ETOOBIG : AGENTD_EIO;
	default:
		return r->too_big ? AGENTD_ETOOBIG : AGENTD_EIO;
	}
}

/* The value of header name in the answer, or NULL. */
static const char *
hdr_find(const struct hreq *r, const char *name)
{
	const char *p = r->rhdr;
	size_t      i;

	for (i = 0; i < r->nh; i++) {
		const char *v = p + strlen(p) + 1;

		if (strcasecmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

/* Run r's callback with its outcome and free it. */
static void
hreq_finish(struct ad_whttp *h, struct hreq *r, int status, int code)
{
	struct agentd_ctx          *ctx = h->ctx;
	struct agentd_http_response resp;
	struct agentd_http_header  *hv;
	const char                 *p = r->rhdr;
	size_t                      i;

	if (r->in_multi)
		curl_multi_remove_handle(h->multi, r->easy);
	r->in_multi = 0;
	TAILQ_REMOVE(&h->reqs, r, link);
	h->outstanding--;
	hv = ad_xcalloc(r->nh ? r->nh : 1, sizeof(*hv));
	for (i = 0; i < r->nh; i++) {
		hv[i].name  = p;
		hv[i].value = p + strlen(p) + 1;
		p           = hv[i].value + strlen(hv[i].value) + 1;
	}
	memset(&resp, 0, sizeof(resp));
	resp.status     = status;
	resp.http_code  = code;
	resp.attempts   = r->attempts;
	resp.elapsed_ms = (uint32_t)(ad_now_ms() - r->started_ms);
	resp.headers    = r->nh ? hv : NULL;
	resp.nheaders   = r->nh;
	resp.body       = r->rlen ? r->rbody : NULL;
	resp.body_len   = r->rlen;
	/* Plugin code: busy time, as main.c's plugin_enter() counts it. */
	atomic_store(&ctx->busy_since_ms, ad_now_ms());
	r->cb(r->arg, &resp);
	atomic_store(&ctx->busy_since_ms, 0);
	free(hv);
	hreq_put(h, r);
	/* Events after each callback, as main.c's loop; replies and calls
	 * leave once per turn (ad_whttp_run), all of a turn together. */
	ad_host_flush(ctx);
}

/* An attempt ended: try again after a wait, or finish. */
static void
attempt_done(struct ad_whttp *h, struct hreq *r, CURLcode rc)
{
	long    code   = 0;
	int     status = attempt_status(r, rc);
	int64_t wait_ms;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (status != 0)
		r->rlen = 0; /* a failed attempt's body is no answer */
	if (!h->closed
	    && ad_http_next_attempt(&r->plan, r->attempts, status, (int)code,
	        hdr_find(r, "Retry-After"), ad_wall_ms(), next_rnd(h),
	        &wait_ms)) {
		curl_multi_remove_handle(h->multi, r->easy);
		r->in_multi = 0;
		r->due_ms   = ad_now_ms() + (wait_ms > 0 ? wait_ms : 0);
		if (r->due_ms == 0)
			r->due_ms = 1;
		return;
	}
	hreq_finish(h, r, status, (int)code);
}

static void
read_done(struct ad_whttp *h)
{
	CURLMsg *msg;
	int      left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct hreq *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		if (r != NULL)
			attempt_done(h, r, msg->data.result);
	}
}

/* Requests whose wait before another attempt is over. */
static void
start_due(struct ad_whttp *h)
{
	struct hreq *r, *next;
	int64_t      now = ad_now_ms();

	for (r = TAILQ_FIRST(&h->reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if (r->due_ms != 0 && r->due_ms <= now
		    && attempt_start(h, r) != 0)
			hreq_finish(h, r, AGENTD_EIO, 0);
	}
}

void
ad_whttp_run(
    struct agentd_ctx *ctx, const struct pollfd *fds, size_t n, size_t nbase)
{
	struct ad_whttp *h = ctx->http;
	int              running;
	size_t           i;

	if (h == NULL)
		return;
	for (i = nbase; i < n; i++) {
		int ev = 0;

		if (fds[i].revents == 0)
			continue;
		if (fds[i].revents & POLLIN)
			ev |= CURL_CSELECT_IN;
		if (fds[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(h->multi, fds[i].fd, ev, &running);
	}
	if (h->timer_ms >= 0 && ad_now_ms() >= h->timer_ms) {
		h->timer_ms = -1;
		curl_multi_socket_action(
		    h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	read_done(h);
	start_due(h);
	ad_host_out_flush(ctx);
}

void
ad_whttp_close(struct agentd_ctx *ctx)
{
	struct ad_whttp *h = ctx->http;
	struct hreq     *r;

	if (h == NULL)
		return;
	h->closed = 1;
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL) {
		r->rlen = r->hlen = r->nh = 0;
		hreq_finish(h, r, AGENTD_ECLOSED, 0);
	}
	ad_host_out_flush(ctx);
}

void
ad_whttp_free(struct agentd_ctx *ctx)
{
	struct ad_whttp *h = ctx->http;
	struct hreq     *r;

	if (h == NULL)
		return;
	/* Not closed (the worker failed before serving): no callbacks. */
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL) {
		TAILQ_REMOVE(&h->reqs, r, link);
		if (r->in_multi)
			curl_multi_remove_handle(h->multi, r->easy);
		hreq_free(r);
	}
	while ((r = TAILQ_FIRST(&h->spare)) != NULL) {
		TAILQ_REMOVE(&h->spare, r, link);
		hreq_free(r);
	}
	curl_multi_cleanup(h->multi);
	curl_global_cleanup();
	free(h->socks);
	free(h->fds);
	free(h);
	ctx->http = NULL;
}
