/*
 * fetcher - a test plugin that exposes host->http_async, request_caller
 * and state_put_ttl through requests.  Request body (a map), one of:
 *   {"url": U, "method": M, "body": S, "headers": {NAME: VALUE, ...},
 *    "timeout_ms": N, "attempts": N, "backoff_ms": N, "retry_on": N,
 *    "retry_after_max_ms": N, "count": N}
 *       N (count, default 1) requests to U at once; the reply comes when
 *       every callback ran: {"status": NAME (the last one's, or
 *       http_async's own refusal), "code": N, "attempts": N, "answered": N
 *       (callbacks with status 0 and code 200), "count": N, "last":
 *       {"body": S, "headers": {NAME: VALUE}}}; a request
 *       http_async refused at once: {"status": NAME, "refused": true}
 *   {"ping": true}         reply {"pong": true} at once
 *   {"caller": true}       reply {"caller": host->request_caller()}
 *   {"put_ttl": K, "val": S, "ttl_ms": N}   reply {"status": NAME}
 *   {"get": K}             reply {"status": NAME, "val": S}
 *   {"scan": PREFIX}       reply {"status": NAME, "keys": [K...]}
 * fini writes "closed N audited M" to the setting "fini_file" (if
 * set): the callbacks that said ECLOSED, all of them before fini, and
 * the callbacks of the audit record each of them made.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

static const struct agentd_setting fetcher_settings[] = {
	{ "fini_file", AGENTD_SETTING_STRING, "", "where fini reports" },
	{ NULL, 0, NULL, NULL },
};

struct fetcher {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const char               *fini_file;
	long                      closed;  /* ECLOSED callbacks */
	long                      audited; /* their records' callbacks */
	long                      pending; /* callbacks not run */
};

/* One request's batch of count HTTP requests. */
struct batch {
	struct fetcher *f;
	agentd_request *req;
	long            left, answered, count;
	int             status, code;
	int             refused; /* http_async's own error for one */
	unsigned        attempts;
	agentd_writer  *last; /* body and headers of the last callback */
};

static int
fetcher_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct fetcher *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return AGENTD_ENOMEM;
	if (!AGENTD_HOST_HAS(host, state_put_ttl)) {
		free(f);
		return AGENTD_ENOTSUP;
	}
	f->ctx  = ctx;
	f->host = host;
	host->setting_string(ctx, "fini_file", &f->fini_file);
	*state = f;
	return 0;
}

static void
reply_status(struct fetcher *f, agentd_request *req, int status)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "status");
	agentd_write_str(w, agentd_errname(status));
	p = agentd_writer_data(w, &len);
	f->host->reply(f->ctx, req, p, len);
	agentd_writer_free(w);
}

static void
batch_reply(struct batch *b)
{
	agentd_writer *w;
	const void    *p, *last;
	size_t         len, llen;

	agentd_writer_new(&w);
	agentd_write_map(w, 7);
	agentd_write_str(w, "status");
	agentd_write_str(
	    w, agentd_errname(b->refused ? b->refused : b->status));
	agentd_write_str(w, "code");
	agentd_write_int(w, b->code);
	agentd_write_str(w, "attempts");
	agentd_write_uint(w, b->attempts);
	agentd_write_str(w, "answered");
	agentd_write_int(w, b->answered);
	agentd_write_str(w, "count");
	agentd_write_int(w, b->count);
	agentd_write_str(w, "refused");
	agentd_write_bool(w, 0);
	last = agentd_writer_data(b->last, &llen);
	agentd_write_str(w, "last");
	agentd_write_raw(w, last, llen); /* {"body": S, "headers": {...}} */
	p = agentd_writer_data(w, &len);
	b->f->host->reply(b->f->ctx, b->req, p, len);
	agentd_writer_free(w);
	agentd_writer_free(b->last);
	free(b);
}

static void
closed_audited(void *arg, int status, uint64_t seq)
{
	struct fetcher *f = arg;

	(void)status;
	(void)seq;
	f->audited++;
}

static void
http_done(void *arg, const struct agentd_http_response *r)
{
	struct batch *b = arg;
	size_t        i;

	b->f->pending--;
	/* A record made by the ECLOSED callback is settled before fini. */
	if (r->status == AGENTD_ECLOSED) {
		b->f->closed++;
		b->f->host->audit_async(b->f->ctx, "fetch.closed",
		    "a request ended by the stop", NULL, 0, closed_audited,
		    b->f);
	}
	b->status   = r->status;
	b->code     = r->http_code;
	b->attempts = r->attempts;
	if (r->status == 0 && r->http_code == 200)
		b->answered++;
	agentd_writer_reset(b->last);
	agentd_write_map(b->last, 2);
	agentd_write_str(b->last, "body");
	agentd_write_strn(b->last, r->body ? r->body : "", r->body_len);
	agentd_write_str(b->last, "headers");
	agentd_write_map(b->last, (uint32_t)r->nheaders);
	for (i = 0; i < r->nheaders; i++) {
		agentd_write_str(b->last, r->headers[i].name);
		agentd_write_str(b->last, r->headers[i].value);
	}
	if (--b->left == 0)
		batch_reply(b);
}

static uint32_t
num(const agentd_value *root, const char *key)
{
	int64_t v = 0;

	agentd_get_int(agentd_map_get(root, key), &v);
	return (uint32_t)v;
}

static int
do_http(struct fetcher *f, agentd_request *req, const agentd_value *root)
{
	struct agentd_http_request hr = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  hv[16];
	const agentd_value        *hm = agentd_map_get(root, "headers");
	char        url[2048], method[32] = "", names[16][64], values[16][256];
	const char *body = NULL;
	size_t      blen = 0, i;
	struct batch  *b;
	long           n, count = num(root, "count");
	int            rv = 0;
	agentd_writer *w;
	const void    *p;
	size_t         len;

	if (agentd_get_strcpy(agentd_map_get(root, "url"), url, sizeof(url))
	    != 0)
		return AGENTD_EINVAL;
	agentd_get_strcpy(
	    agentd_map_get(root, "method"), method, sizeof(method));
	agentd_get_str(agentd_map_get(root, "body"), &body, &blen);
	for (i = 0; i < agentd_len(hm) && i < 16; i++) {
		agentd_get_strcpy(
		    agentd_map_key_at(hm, i), names[i], sizeof(names[i]));
		agentd_get_strcpy(
		    agentd_map_value_at(hm, i), values[i], sizeof(values[i]));
		hv[i].name  = names[i];
		hv[i].value = values[i];
	}
	hr.url                = url;
	hr.method             = method[0] ? method : NULL;
	hr.headers            = i > 0 ? hv : NULL;
	hr.nheaders           = i;
	hr.body               = body;
	hr.body_len           = blen;
	hr.timeout_ms         = num(root, "timeout_ms");
	hr.attempts           = num(root, "attempts");
	hr.backoff_initial_ms = num(root, "backoff_ms");
	hr.backoff_max_ms     = num(root, "backoff_ms");
	hr.retry_on           = num(root, "retry_on");
	hr.retry_after_max_ms = num(root, "retry_after_max_ms");
	if (count <= 0)
		count = 1;
	b        = calloc(1, sizeof(*b));
	b->f     = f;
	b->req   = req;
	b->count = count;
	agentd_writer_new(&b->last);
	/* All count are made first: the batch answers once all are back. */
	b->left = count + 1;
	for (n = 0; n < count; n++) {
		if ((rv = f->host->http_async(f->ctx, &hr, http_done, b)) != 0)
			break;
		f->pending++;
	}
	if (n == 0) {
		agentd_writer_free(b->last);
		free(b);
		agentd_writer_new(&w);
		agentd_write_map(w, 2);
		agentd_write_str(w, "status");
		agentd_write_str(w, agentd_errname(rv));
		agentd_write_str(w, "refused");
		agentd_write_bool(w, 1);
		p = agentd_writer_data(w, &len);
		f->host->reply(f->ctx, req, p, len);
		agentd_writer_free(w);
		return 0;
	}
	b->left -= count - n; /* those refused never call back */
	b->refused = rv;
	if (--b->left == 0)
		batch_reply(b);
	return 0;
}

struct keys {
	agentd_writer *w;
	uint32_t       n;
};

static int
scan_key(
    void *arg, const char *key, size_t keylen, const void *val, size_t vallen)
{
	struct keys *ks = arg;

	agentd_write_strn(ks->w, key, keylen);
	ks->n++;
	return 0;
}

static int
fetcher_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct fetcher     *f = state;
	agentd_doc         *doc;
	const agentd_value *root;
	const char         *k = NULL, *v = NULL;
	size_t              kl = 0, vl = 0;
	agentd_writer      *w;
	struct keys         ks = { NULL, 0 };
	const void         *p;
	size_t              plen;
	void               *got;
	size_t              glen;
	int                 rv = 0;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(doc);
	agentd_writer_new(&w);
	if (agentd_map_get(root, "url") != NULL) {
		rv = do_http(f, req, root);
	} else if (agentd_map_get(root, "ping") != NULL) {
		agentd_write_map(w, 1);
		agentd_write_str(w, "pong");
		agentd_write_bool(w, 1);
		p = agentd_writer_data(w, &plen);
		f->host->reply(f->ctx, req, p, plen);
	} else if (agentd_map_get(root, "caller") != NULL) {
		const char *c = f->host->request_caller(f->ctx, req);

		agentd_write_map(w, 1);
		agentd_write_str(w, "caller");
		agentd_write_str(w, c != NULL ? c : "(null)");
		p = agentd_writer_data(w, &plen);
		f->host->reply(f->ctx, req, p, plen);
	} else if (agentd_get_str(agentd_map_get(root, "put_ttl"), &k, &kl)
	    == 0) {
		uint64_t ttl = 0;

		agentd_get_str(agentd_map_get(root, "val"), &v, &vl);
		agentd_get_uint(agentd_map_get(root, "ttl_ms"), &ttl);
		reply_status(
		    f, req, f->host->state_put_ttl(f->ctx, k, kl, v, vl, ttl));
	} else if (agentd_get_str(agentd_map_get(root, "get"), &k, &kl) == 0) {
		rv = f->host->state_get(f->ctx, k, kl, &got, &glen);
		agentd_write_map(w, 2);
		agentd_write_str(w, "status");
		agentd_write_str(w, agentd_errname(rv));
		agentd_write_str(w, "val");
		agentd_write_strn(w, rv == 0 ? got : "", rv == 0 ? glen : 0);
		if (rv == 0)
			f->host->free(got);
		p = agentd_writer_data(w, &plen);
		f->host->reply(f->ctx, req, p, plen);
		rv = 0;
	} else if (agentd_get_str(agentd_map_get(root, "scan"), &k, &kl)
	    == 0) {
		agentd_writer_new(&ks.w);
		rv = f->host->state_scan(f->ctx, k, kl, scan_key, &ks);
		p  = agentd_writer_data(ks.w, &plen);
		agentd_write_map(w, 2);
		agentd_write_str(w, "status");
		agentd_write_str(w, agentd_errname(rv));
		agentd_write_str(w, "keys");
		agentd_write_array(w, ks.n);
		agentd_write_raw(w, p, plen);
		agentd_writer_free(ks.w);
		p = agentd_writer_data(w, &plen);
		f->host->reply(f->ctx, req, p, plen);
		rv = 0;
	} else
		rv = AGENTD_EINVAL;
	agentd_writer_free(w);
	agentd_doc_free(doc);
	return rv;
}

static void
fetcher_fini(void *state)
{
	struct fetcher *f = state;
	FILE           *out;

	if (f->fini_file[0] != '\0'
	    && (out = fopen(f->fini_file, "w")) != NULL) {
		fprintf(out, "closed %ld audited %ld pending %ld\n", f->closed,
		    f->audited, f->pending);
		fclose(out);
	}
	free(f);
}

AGENTD_PLUGIN(.name = "fetcher", .version = "1.0.0",
    .description = "http_async, request_caller and state TTLs on demand",
    .settings = fetcher_settings, .init = fetcher_init,
    .on_request = fetcher_request, .fini = fetcher_fini);
