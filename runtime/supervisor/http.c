#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/json_mp.h"
#include "common/json_out.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "supervisor/control.h"
#include "supervisor/http.h"
#include "supervisor/http_hooks.h"
#include "supervisor/http_route.h"
#include "supervisor/http_static.h"
#include "supervisor/http_stream.h"
#include "supervisor/metrics.h"
#include "supervisor/server.h"
#include "supervisor/supervisor.h"
#include "supervisor/tokens.h"

/* A connection's memory in libmicrohttpd: see ad_http_start. */
#define HTTP_CONN_MEMORY (16 * 1024)

struct req;

struct ad_http {
	struct ad_sv          *sv;
	struct MHD_Daemon     *d;
	struct ad_server       srv; /* what contexts point to: sv, closing */
	size_t                 max_body;
	int64_t                call_timeout_ms;
	int                    metrics_public;
	char                  *cert, *key; /* PEM, read at start */
	pthread_mutex_t        st_mtx;     /* st's: see count_answer() */
	struct ad_http_stats   st;
	struct ad_ratelimit    unauth_log; /* audit 401s once a second */
	struct ad_ratelimit    forbid_log; /* and 403s */
	struct req            *waiting;    /* suspended for an answer */
	struct ad_hooks       *hooks;      /* http_hooks.h; NULL: none */
	struct ad_streams     *streams;    /* http_stream.h */
	struct ad_http_static *console;    /* the files served at / */
};

/*
 * One request.  c is first: the answer hook gets &r->c.  Fields from
 * `waiting` on are guarded by sv->mtx: the answer may come on any
 * thread.
 */
struct req {
	struct ad_srvctx       c;
	struct ad_http        *h;
	struct MHD_Connection *conn;
	const struct ad_route *route;
	char                  *body; /* the request body as it arrives */
	size_t                 len;
	int                    too_big;
	int                    waiting;  /* suspended until answered */
	int                    gone;     /* MHD is done: the answer frees */
	int                    orphan;   /* given up at stop: never freed */
	int                    answered; /* out is set, or ans is */
	int                    pending;  /* ans is to become out */
	void                  *ans;      /* the operation's answer: msgpack */
	size_t                 anslen;
	int                    ans_status;
	unsigned               code;
	int                    hook; /* to a webhook: no token is asked */
	char                  *out;  /* the JSON answer */
	const char            *ctype;
	struct req            *next_waiting;
	char                   allow[64]; /* 405: the methods the path has */
	char                   name[AD_NAME_MAX]; /* the token's */
	enum ad_role           role;
};

/* ---- counters ---------------------------------------------------------- */

/*
 * h->st is counted on the server's thread and read by /metrics, under a
 * mutex of its own: counting an answer need not wait for the
 * supervisor's mutex, which the agents' answers hold (of the four times
 * a call took sv->mtx on this thread, this was one; under load each
 * could wait).  Taken inside sv->mtx where both are held, never the
 * other way round.
 */
static void
count_answer(struct ad_http *h, unsigned code)
{
	pthread_mutex_lock(&h->st_mtx);
	h->st.requests++;
	h->st.by_class[code / 100 < 6 ? code / 100 : 5]++;
	pthread_mutex_unlock(&h->st_mtx);
}

/* ---- answers ----------------------------------------------------------- */

static char *
dump(json_t *j)
{
	char *s = ad_json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);

	json_decref(j);
	return s != NULL ? s : ad_xstrdup("{}");
}

/* r answered with code and {"error": NAME, "message": ...}. */
static void set_error(struct req *r, unsigned code, int status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set_error(struct req *r, unsigned code, int status, const char *fmt, ...)
{
	char    line[AD_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	free(r->out);
	r->out      = dump(json_pack("{s:s,s:s}", "error",
            status != 0 ? agentd_errname(status) : "EINVAL", "message", line));
	r->code     = code;
	r->ctype    = "application/json";
	r->answered = 1;
	r->pending  = 0;
}

/*
 * The operation's answer, as JSON (the answer hook: sv->mtx held, any
 * thread).  A waiting request is resumed; one MHD has given up on is
 * freed.
 */
static void req_free(struct req *r);

static void
answered(struct ad_srvctx *c, int status, const void *body, size_t len)
{
	struct req     *r = (struct req *)c;
	struct ad_http *h;
	struct req    **pp;

	if (r->orphan)
		return; /* ad_http_stop answered it; h is gone */
	h = r->h;
	/* Copied as it is: JSON is made on the server's thread (finish()),
	 * not under the supervisor's mutex. */
	free(r->ans);
	r->ans        = len > 0 ? ad_xmalloc(len) : NULL;
	r->anslen     = len;
	r->ans_status = status;
	if (len > 0)
		memcpy(r->ans, body, len);
	r->answered = 1;
	r->pending  = 1;
	if (!r->waiting && !r->gone)
		return; /* answered at once: the handler sends it */
	for (pp = &h->waiting; *pp != NULL; pp = &(*pp)->next_waiting)
		if (*pp == r) {
			*pp = r->next_waiting;
			break;
		}
	if (r->gone) {
		req_free(r);
		return;
	}
	r->waiting = 0;
	MHD_resume_connection(r->conn);
}

/* The operation's answer (answered()) as JSON, without the mutex. */
static void
finish(struct req *r)
{
	agentd_doc *doc;
	char        msg[AD_ERRLEN] = "";

	if (!r->pending)
		return;
	r->pending = 0;
	if (r->ans_status == 0) {
		free(r->out);
		r->out   = dump(ad_http_shape(r->route, r->ans, r->anslen));
		r->code  = MHD_HTTP_OK;
		r->ctype = "application/json";
	} else {
		if (r->anslen > 0
		    && agentd_parse(r->ans, r->anslen, &doc) == 0) {
			agentd_get_strcpy(
			    agentd_map_get(agentd_doc_root(doc), "error"), msg,
			    sizeof(msg));
			agentd_doc_free(doc);
		}
		set_error(r, ad_http_code(r->ans_status), r->ans_status, "%s",
		    msg[0] != '\0' ? msg : agentd_strerror(r->ans_status));
	}
	free(r->ans);
	r->ans    = NULL;
	r->anslen = 0;
}

static enum MHD_Result
send_answer(struct req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result      ret;
	size_t               len;
	char                *text;

	finish(r);
	len = strlen(r->out);

	text = ad_xmalloc(len + 1);
	memcpy(text, r->out, len);
	text[len] = '\n';
	resp      = MHD_create_response_from_buffer(
	         len + 1, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->code == MHD_HTTP_UNAUTHORIZED && !r->hook)
		MHD_add_response_header(
		    resp, "WWW-Authenticate", "Bearer realm=\"agentd\"");
	if (r->code == MHD_HTTP_METHOD_NOT_ALLOWED && r->allow[0] != '\0')
		MHD_add_response_header(resp, "Allow", r->allow);
	ret = MHD_queue_response(r->conn, r->code, resp);
	MHD_destroy_response(resp);
	count_answer(r->h, r->code);
	return ret;
}

/* ---- who asks ---------------------------------------------------------- */

/* A refusal of who asks: counted, audited at most once a second. */
static void
refused(struct req *r, unsigned code, const char *url, const char *why)
{
	struct ad_http *h = r->h;
	char            note[AD_RATELIMIT_NOTE];
	uint64_t        n;

	pthread_mutex_lock(&h->sv->mtx);
	pthread_mutex_lock(&h->st_mtx);
	n = code == MHD_HTTP_UNAUTHORIZED ? ++h->st.unauthorized
	                                  : ++h->st.forbidden;
	pthread_mutex_unlock(&h->st_mtx);
	if (ad_ratelimit(code == MHD_HTTP_UNAUTHORIZED ? &h->unauth_log
	                                               : &h->forbid_log,
	        ad_now_ms(), note, sizeof(note)))
		ad_sv_audit(h->sv, NULL, NULL,
		    code == MHD_HTTP_UNAUTHORIZED ? "http.unauthorized"
		                                  : "http.forbidden",
		    "%s %s: %s (%llu refused so far)%s",
		    r->route != NULL ? ad_route_method(r->route) : "", url,
		    why, (unsigned long long)n, note);
	pthread_mutex_unlock(&h->sv->mtx);
	set_error(r, code, AGENTD_EDENIED, "%s", why);
}

/*
 * The role of the request's bearer token, its name into who; AD_ROLE_NONE
 * with r answered 401.
 */
static enum ad_role
authenticate(struct req *r, const char *url)
{
	const char *auth = MHD_lookup_connection_value(
	    r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char          name[AD_NAME_MAX];
	unsigned char hash[AD_TOKEN_HASH];
	enum ad_role  role = AD_ROLE_NONE;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		refused(r, MHD_HTTP_UNAUTHORIZED, url,
		    "no token: send \"Authorization: Bearer TOKEN\" (agentctl "
		    "token create makes one)");
		return AD_ROLE_NONE;
	}
	auth += 7;
	while (*auth == ' ')
		auth++;
	if (ad_tokens_hash(auth, strlen(auth), hash) == 0) {
		pthread_mutex_lock(&r->h->sv->mtx);
		role = ad_tokens_check(r->h->sv, hash, name, sizeof(name));
		pthread_mutex_unlock(&r->h->sv->mtx);
	}
	if (role == AD_ROLE_NONE) {
		refused(r, MHD_HTTP_UNAUTHORIZED, url,
		    "this token is not known to agentd (revoked, or never "
		    "created): agentctl token list shows the tokens");
		return AD_ROLE_NONE;
	}
	snprintf(r->c.who, sizeof(r->c.who), "http (%s)", name);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->role = role;
	return role;
}

/* ---- the request ------------------------------------------------------- */

static const char *
query_arg(void *arg, const char *name)
{
	return MHD_lookup_connection_value(
	    (struct MHD_Connection *)arg, MHD_GET_ARGUMENT_KIND, name);
}

/* GET /v1/whoami: the token's own name and role, answered here (a
 * question about the token, which control.sock does not have). */
static void
whoami(struct req *r)
{
	free(r->out);
	r->out      = dump(json_pack(
	         "{s:s,s:s}", "name", r->name, "role", ad_role_name(r->role)));
	r->code     = MHD_HTTP_OK;
	r->ctype    = "application/json";
	r->answered = 1;
}

/* Run the operation r asks for: answered now, or suspended. */
static void
run(struct req *r, const char *url, const char *method)
{
	struct ad_http      *h = r->h;
	struct ad_http_match m;
	struct ad_http_in    in;
	struct ad_envelope   e;
	agentd_writer       *w;
	enum ad_role         role, need;
	char                 why[AD_ERRLEN] = "";
	int                  rv;

	if (!ad_http_path_ok(url)) {
		set_error(r, MHD_HTTP_BAD_REQUEST, AGENTD_EINVAL,
		    "a path has no empty, \".\" or \"..\" segments and no "
		    "control characters");
		return;
	}
	if ((rv = ad_http_match(method, url, &m)) != 0) {
		snprintf(r->allow, sizeof(r->allow), "%s", m.allow);
		if (rv == AGENTD_EINVAL)
			set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    AGENTD_EINVAL, "%s %s: this path takes %s", method,
			    url, r->allow);
		else
			set_error(r, MHD_HTTP_NOT_FOUND, AGENTD_ENOENT,
			    "%s: no such endpoint (doc/http.md lists them)",
			    url);
		return;
	}
	r->route = m.route;
	if ((role = authenticate(r, url)) == AD_ROLE_NONE)
		return;
	memset(&in, 0, sizeof(in));
	in.query           = query_arg;
	in.query_arg       = r->conn;
	in.body            = r->body;
	in.len             = r->len;
	in.max_body        = h->max_body;
	in.call_timeout_ms = h->call_timeout_ms;
	in.now_ms          = ad_wall_ms();
	agentd_writer_new(&w);
	if ((rv = ad_http_build(&m, &in, &e, w, why, sizeof(why))) != 0) {
		set_error(r, ad_http_code(rv), rv, "%s", why);
		agentd_writer_free(w);
		return;
	}
	need = ad_control_role(&e);
	if (role < need) {
		snprintf(why, sizeof(why),
		    "%s needs the role %s; %s has the role %s",
		    e.kind == AD_KIND_REQUEST ? "a call" : e.dst,
		    ad_role_name(need), r->c.who, ad_role_name(role));
		refused(r, MHD_HTTP_FORBIDDEN, url, why);
		agentd_writer_free(w);
		return;
	}
	if (strcmp(e.dst, AD_OP_WHOAMI) == 0) {
		whoami(r);
		agentd_writer_free(w);
		return;
	}
	pthread_mutex_lock(&h->sv->mtx);
	r->c.req          = e;
	r->c.req.body     = NULL;
	r->c.req.body_len = 0;
	r->c.state        = AD_SRV_RECV;
	if (h->srv.closing)
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, AGENTD_ECLOSED,
		    "agentd is stopping");
	else
		ad_control_run(&r->c, &e, role);
	if (!r->answered) {
		/* The answer takes the mutex: it comes after this. */
		r->waiting      = 1;
		r->next_waiting = h->waiting;
		h->waiting      = r;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&h->sv->mtx);
	agentd_writer_free(w);
}

static enum MHD_Result
serve_metrics(struct req *r, const char *url)
{
	struct MHD_Response *resp;
	enum MHD_Result      ret;
	char                *text;
	size_t               len;

	if (!r->h->metrics_public && authenticate(r, url) == AD_ROLE_NONE)
		return send_answer(r);
	if (strcmp(url, "/healthz") == 0) {
		r->out   = ad_xstrdup("{\"ok\":true}");
		r->code  = MHD_HTTP_OK;
		r->ctype = "application/json";
		return send_answer(r);
	}
	text = ad_metrics_text(r->h->sv, &len);
	resp = MHD_create_response_from_buffer(
	    len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(
	    resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	count_answer(r->h, MHD_HTTP_OK);
	return ret;
}

static const char *
header_arg(void *arg, const char *name)
{
	return MHD_lookup_connection_value(
	    (struct MHD_Connection *)arg, MHD_HEADER_KIND, name);
}

/* A POST to a webhook (http_hooks.h): its signature is who asks. */
static enum MHD_Result
serve_hook(struct req *r, const char *url, const char *method)
{
	struct ad_hook_req    rq = { url, method, header_arg, r->conn, r->body,
		   r->len, r->h->max_body };
	struct ad_hook_answer a;

	ad_hooks_handle(r->h->hooks, &rq, &a);
	free(r->out);
	r->out   = a.json != NULL ? a.json : ad_xstrdup("{}");
	r->code  = a.code;
	r->ctype = "application/json";
	r->hook  = 1;
	snprintf(r->allow, sizeof(r->allow), "%s", a.allow);
	return send_answer(r);
}

/* A live stream (http_stream.h), a viewer's: it holds the connection,
 * without the connection's timeout (keep-alives show a reader gone). */
static enum MHD_Result
serve_stream(
    struct req *r, const char *url, const char *method, enum ad_stream_kind k)
{
	struct ad_stream_req rq;
	struct MHD_Response *resp;
	enum MHD_Result      ret;
	char                 why[AD_ERRLEN];
	unsigned             code;
	int                  status;

	if (strcmp(method, "GET") != 0) {
		snprintf(r->allow, sizeof(r->allow), "GET");
		set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, AGENTD_EINVAL,
		    "%s takes GET", url);
		return send_answer(r);
	}
	if (authenticate(r, url) == AD_ROLE_NONE)
		return send_answer(r);
	rq.kind   = k;
	rq.prefix = query_arg(r->conn, "prefix");
	rq.after  = header_arg(r->conn, "Last-Event-ID");
	if (rq.after == NULL)
		rq.after = query_arg(r->conn, "after");
	resp = ad_streams_open(
	    r->h->streams, r->conn, &rq, &code, &status, why, sizeof(why));
	if (resp == NULL) {
		set_error(r, code, status, "%s", why);
		return send_answer(r);
	}
	MHD_set_connection_option(
	    r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	count_answer(r->h, MHD_HTTP_OK);
	return ret;
}

/* The console's files (http_static.h): no token, counted as answers. */
static enum MHD_Result
serve_console(struct req *r, const char *url, const char *method)
{
	unsigned        code = 0;
	enum MHD_Result ret
	    = ad_http_static_serve(r->h->console, r->conn, method, url, &code);

	count_answer(r->h, code);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct ad_http     *h = cls;
	struct req         *r = *con_cls;
	const char         *cl;
	enum ad_stream_kind kind;

	(void)version;
	if (r == NULL) {
		r           = ad_xcalloc(1, sizeof(*r));
		r->h        = h;
		r->conn     = conn;
		r->c.srv    = &h->srv;
		r->c.answer = answered;
		*con_cls    = r;
		cl          = MHD_lookup_connection_value(
		             conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > h->max_body)
			r->too_big = 1;
		if (!r->too_big)
			return MHD_YES;
	}
	if (*upload_size > 0 && !r->too_big) {
		if (r->len + *upload_size > h->max_body) {
			r->too_big = 1;
		} else {
			r->body = ad_xrealloc(r->body, r->len + *upload_size);
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big && !r->answered) {
		pthread_mutex_lock(&h->st_mtx);
		h->st.too_big++;
		pthread_mutex_unlock(&h->st_mtx);
		pthread_mutex_lock(&h->sv->mtx);
		ad_hooks_too_big(h->hooks, url);
		pthread_mutex_unlock(&h->sv->mtx);
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, AGENTD_ETOOBIG,
		    "a body over max_message_size (%zu bytes): send less, or "
		    "raise agentd { max_message_size }",
		    h->max_body);
		return send_answer(r);
	}
	*upload_size = 0;
	if (r->answered)
		return send_answer(r); /* resumed, or answered at once below */
	if (ad_hooks_path(url))
		return serve_hook(r, url, method);
	if ((kind = ad_stream_kind_of(url)) != AD_STREAM_NONE)
		return serve_stream(r, url, method, kind);
	if (strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0
		    && strcmp(method, "HEAD") != 0) {
			snprintf(r->allow, sizeof(r->allow), "GET");
			set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    AGENTD_EINVAL, "%s takes GET", url);
			return send_answer(r);
		}
		return serve_metrics(r, url);
	}
	if (strncmp(url, "/v1/", 4) != 0 && strncmp(url, "/hooks/", 7) != 0)
		return serve_console(r, url, method);
	run(r, url, method);
	return r->answered ? send_answer(r) : MHD_YES;
}

static void
req_free(struct req *r)
{
	free(r->ans);
	free(r->body);
	free(r->out);
	free(r);
}

/* MHD is done with a request (sent, or the client went away). */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct ad_http *h = cls;
	struct req     *r = *con_cls;

	(void)conn;
	(void)why;
	if (r == NULL)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&h->sv->mtx);
	if (r->orphan)
		; /* a late answer may still come: left as it is */
	else if (r->waiting)
		r->gone = 1; /* the answer frees it */
	else
		req_free(r);
	pthread_mutex_unlock(&h->sv->mtx);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct ad_http *h = cls;

	(void)conn;
	(void)socket_ctx;
	pthread_mutex_lock(&h->st_mtx);
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		h->st.connections++;
	else if (h->st.connections > 0)
		h->st.connections--;
	pthread_mutex_unlock(&h->st_mtx);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char   line[AD_ERRLEN];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	ad_warn("http: %s", line);
}

/* ---- start and stop ---------------------------------------------------- */

static char *
read_pem(const char *path, char *err, size_t errlen)
{
	FILE  *f = fopen(path, "r");
	char  *buf;
	size_t n;

	if (f == NULL) {
		ad_seterr(
		    err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = ad_xmalloc(1 << 20);
	n   = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6
	        ? ((const struct sockaddr_in6 *)ss)->sin6_port
	        : ((const struct sockaddr_in *)ss)->sin_port);
}

/*
 * RUN_DIR/http.addr: "HOST:PORT" as bound (port 0 in the configuration:
 * the one the kernel chose), for scripts and tests; also into addr.
 */
static void
write_addr(struct ad_sv *sv, struct ad_http *h, const char *listen, char *addr,
    size_t len)
{
	const union MHD_DaemonInfo *di
	    = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	const char *colon = strrchr(listen, ':');
	char       *path, *tmp;
	FILE       *f;

	snprintf(addr, len, "%.*s:%u", (int)(colon - listen), listen,
	    di != NULL ? (unsigned)di->port : 0);
	path = ad_xasprintf("%s/http.addr", sv->run_dir);
	tmp  = ad_xasprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", addr) < 0
	    || fclose(f) != 0 || rename(tmp, path) != 0)
		ad_warn("http: cannot write %s: %s", path, strerror(errno));
	free(tmp);
	free(path);
}

/* What ad_http_start made before the daemon, without the daemon. */
static void
h_free(struct ad_http *h)
{
	if (h->streams != NULL) {
		ad_streams_stop(h->streams);
		ad_streams_free(h->streams);
	}
	ad_hooks_free(h->hooks);
	pthread_mutex_destroy(&h->st_mtx);
	ad_http_static_free(h->console);
	free(h);
}

int
ad_http_start(struct ad_sv *sv, char *err, size_t errlen)
{
	const struct ad_global_conf *g = &sv->cfg->global;
	struct sockaddr_storage      ss;
	unsigned                     sslen;
	struct ad_http              *h;
	unsigned                     flags;
	char                         addr[80];
	int                          rv;

	if (g->http_listen == NULL)
		return 0;
	if (ad_parse_listen(g->http_listen, &ss, &sslen, NULL) != 0) {
		ad_seterr(err, errlen,
		    "%s:%d: http: listen = \"%s\" is not an address", g->file,
		    g->http_line, g->http_listen);
		return AGENTD_ECONFIG;
	}
	h                  = ad_xcalloc(1, sizeof(*h));
	h->sv              = sv;
	h->srv.sv          = sv;
	h->max_body        = g->max_message_size;
	h->call_timeout_ms = g->http_call_timeout_ms;
	h->metrics_public  = g->http_metrics_public;
	pthread_mutex_init(&h->st_mtx, NULL);
	if ((rv = ad_hooks_open(sv, g, &h->hooks, err, errlen)) != 0
	    || (rv = ad_streams_start(
	            sv, g->max_message_size, &h->streams, err, errlen))
	        != 0) {
		h_free(h);
		return rv;
	}
	ad_http_static_load(&h->console);
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME
	    | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (g->http_cert_file != NULL) {
		if ((h->cert = read_pem(g->http_cert_file, err, errlen))
		        == NULL
		    || (h->key = read_pem(g->http_key_file, err, errlen))
		        == NULL) {
			free(h->cert);
			h_free(h);
			return AGENTD_ECONFIG;
		}
		flags |= MHD_USE_TLS;
	}
	/*
	 * The port too, though SOCK_ADDR has it: MHD's messages name it.
	 * A connection's memory holds its request's headers (more is a
	 * 431) and a body's next piece, and libmicrohttpd zeroes all of it
	 * after every request (MHD_pool_reset, 0.9.75): 16 KiB is headers
	 * of 8 KiB or more, and a quarter of the zeroing that 64 KiB cost
	 * each call.
	 */
	h->d = MHD_start_daemon(flags, port_of(&ss), NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    g->http_max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((g->http_timeout_ms + 999) / 1000),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    h->cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_END);
	(void)sslen;
	if (h->d == NULL) {
		ad_seterr(err, errlen,
		    "%s:%d: http: cannot serve on %s (%s): is another program "
		    "listening there?",
		    g->file, g->http_line, g->http_listen, strerror(errno));
		free(h->cert);
		free(h->key);
		h_free(h);
		return AGENTD_EIO;
	}
	sv->http = h;
	write_addr(sv, h, g->http_listen, addr, sizeof(addr));
	ad_info("HTTP API on %s://%s%s", h->cert != NULL ? "https" : "http",
	    addr,
	    ad_tokens_count(sv) == 0
	        ? " (no token yet: agentctl token create NAME --role ROLE)"
	        : "");
	return 0;
}

void
ad_http_stop(struct ad_sv *sv)
{
	struct ad_http *h = sv->http;
	struct req     *r;
	char           *path;

	if (h == NULL)
		return;
	pthread_mutex_lock(&sv->mtx);
	h->srv.closing = 1;
	/* None should wait by now (ad_sv_stop answered everything); one
	 * that does is answered here and left to its late answer. */
	while ((r = h->waiting) != NULL) {
		h->waiting = r->next_waiting;
		ad_error(
		    "http: a request still waited for its answer at stop");
		r->orphan = 1;
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, AGENTD_ECLOSED,
		    "agentd is stopping");
		r->waiting = 0;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&sv->mtx);
	ad_streams_stop(h->streams);
	MHD_stop_daemon(h->d);
	ad_streams_free(h->streams);
	ad_hooks_free(h->hooks);
	path = ad_xasprintf("%s/http.addr", sv->run_dir);
	unlink(path);
	free(path);
	if (h->key != NULL)
		memset(h->key, 0, strlen(h->key));
	free(h->cert);
	free(h->key);
	pthread_mutex_destroy(&h->st_mtx);
	ad_http_static_free(h->console);
	free(h);
	sv->http = NULL;
}

void
ad_http_stream_stats(struct ad_sv *sv, struct ad_stream_stats *st)
{
	ad_streams_stats(sv->http != NULL ? sv->http->streams : NULL, st);
}

size_t
ad_http_hook_stats(struct ad_sv *sv, struct ad_hook_stats **out)
{
	*out = NULL;
	return sv->http != NULL ? ad_hooks_stats(sv->http->hooks, out) : 0;
}

void
ad_http_stats(struct ad_sv *sv, struct ad_http_stats *st)
{
	if (sv->http != NULL) {
		pthread_mutex_lock(&sv->http->st_mtx);
		*st = sv->http->st;
		pthread_mutex_unlock(&sv->http->st_mtx);
	} else
		memset(st, 0, sizeof(*st));
}
