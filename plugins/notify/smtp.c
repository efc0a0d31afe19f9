/*
 * smtp.c - e-mail channels: SMTP through the instance's own libcurl multi
 * handle, driven by the worker's poll loop (host->watch_fd for curl's
 * sockets, host->timer_start for its timeouts and for our backoff), so
 * that no callback ever waits on the network.
 *
 * One attempt is one easy handle.  A failed attempt is tried again after
 * backoff_ms, doubling up to 16 times it, each wait a random one between
 * half and all of it, unless the server refused for good (a 5xx answer,
 * the login denied) or TLS failed: those end the message at once.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "notify.h"

#define LINE_MAX_BYTES 990 /* a body line is broken before RFC 5322's 998 */

struct nt_smtp {
	agentd_ctx               *ctx;  /* borrowed, valid until fini */
	const struct agentd_host *host; /* the same */
	CURLM                    *multi;
	uint64_t                  timer; /* curl's timeout; 0: none */
	struct nt_send          **sends; /* under way: sending or waiting */
	size_t                    nsends, cap;
	uint32_t                  rnd; /* xorshift state, for jitter */
};

/* One attempt of one message. */
struct nt_mail {
	struct nt_send    *s;
	CURL              *easy;
	struct curl_slist *rcpt;
	char              *msg; /* the message, CRLF lines */
	size_t             len, off;
	char               errbuf[CURL_ERROR_SIZE];
};

static void check_done(struct nt_smtp *sm);

/* ---- the message -------------------------------------------------------- */

/* A growing string; out of memory, len stays and ok is 0. */
struct buf {
	char  *p;
	size_t len, cap;
	int    ok;
};

static void
add(struct buf *b, const char *s, size_t n)
{
	if (!b->ok)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char  *p   = realloc(b->p, cap);

		if (p == NULL) {
			b->ok = 0;
			return;
		}
		b->p   = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
adds(struct buf *b, const char *s)
{
	add(b, s, strlen(s));
}

/*
 * The subject header's value: printable ASCII as it is; anything else as
 * RFC 2047 encoded words ("=?UTF-8?B?...?=") of at most 45 bytes each,
 * cut between UTF-8 characters.  Control characters (CR, LF: a header
 * injection) become spaces either way.
 */
static void
add_subject(struct buf *b, const char *subject)
{
	size_t n = strlen(subject), i = 0;
	int    plain = 1;

	for (size_t k = 0; k < n; k++)
		if ((unsigned char)subject[k] >= 0x7f)
			plain = 0;
	if (plain) {
		for (; i < n; i++)
			add(b,
			    (unsigned char)subject[i] < 0x20 ? " "
			                                     : subject + i,
			    1);
		return;
	}
	while (i < n) {
		unsigned char raw[48], enc[72];
		size_t        len = 0;

		while (i + len < n && len < 45) {
			size_t c = 1;
			while (i + len + c < n
			    && ((unsigned char)subject[i + len + c] & 0xc0)
			        == 0x80)
				c++;
			if (len + c > 45)
				break;
			for (size_t k = 0; k < c; k++) {
				unsigned char ch
				    = (unsigned char)subject[i + len + k];
				raw[len + k] = ch < 0x20 ? ' ' : ch;
			}
			len += c;
		}
		if (len == 0)
			break;
		EVP_EncodeBlock(enc, raw, (int)len);
		adds(b, i > 0 ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
		adds(b, (const char *)enc);
		adds(b, "?=");
		i += len;
	}
}

/* The body: every line ended by CRLF, none longer than LINE_MAX_BYTES. */
static void
add_body(struct buf *b, const char *text)
{
	size_t col = 0;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n' || *p == '\r' || col == LINE_MAX_BYTES) {
			adds(b, "\r\n");
			col = 0;
			if (*p == '\n' || *p == '\r')
				continue;
		}
		add(b, p, 1);
		col++;
	}
	adds(b, "\r\n");
}

static char *
message_of(const struct nt_send *s, size_t *len)
{
	const struct nt_channel *ch = s->ch;
	struct buf               b  = { .ok = 1 };
	char                     date[64], id[160];
	time_t                   now = time(NULL);
	struct tm                tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(id, sizeof(id), "<%.16s.%lld.%u@agentd.notify>",
	    s->digest + 7, (long long)now, s->attempts);
	adds(&b, "Date: ");
	adds(&b, date);
	adds(&b, "\r\nFrom: ");
	adds(&b, ch->from);
	adds(&b, "\r\nTo: ");
	for (size_t i = 0; i < ch->nto; i++) {
		adds(&b, i > 0 ? ", " : "");
		adds(&b, ch->to[i]);
	}
	adds(&b, "\r\nSubject: ");
	add_subject(&b, s->subject);
	adds(&b, "\r\nMessage-ID: ");
	adds(&b, id);
	adds(&b,
	    "\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	add_body(&b, s->text);
	if (!b.ok) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

static size_t
read_msg(char *dst, size_t size, size_t n, void *arg)
{
	struct nt_mail *m    = arg;
	size_t          left = m->len - m->off, k = size * n;

	if (k > left)
		k = left;
	memcpy(dst, m->msg + m->off, k);
	m->off += k;
	return k;
}

/* ---- one attempt -------------------------------------------------------- */

static void
mail_free(struct nt_mail *m)
{
	if (m == NULL)
		return;
	if (m->easy != NULL)
		curl_easy_cleanup(m->easy);
	curl_slist_free_all(m->rcpt);
	free(m->msg);
	free(m);
}

static int
mail_setup(struct nt_mail *m, const struct nt_channel *ch)
{
	char addr[300];
	int  rv = 0;

	snprintf(addr, sizeof(addr), "<%s>", ch->from);
	rv |= curl_easy_setopt(m->easy, CURLOPT_URL, ch->url);
	rv |= curl_easy_setopt(m->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	rv |= curl_easy_setopt(m->easy, CURLOPT_MAIL_FROM, addr);
	for (size_t i = 0; i < ch->nto; i++) {
		struct curl_slist *l;

		snprintf(addr, sizeof(addr), "<%s>", ch->to[i]);
		if ((l = curl_slist_append(m->rcpt, addr)) == NULL)
			return -1;
		m->rcpt = l;
	}
	rv |= curl_easy_setopt(m->easy, CURLOPT_MAIL_RCPT, m->rcpt);
	rv |= curl_easy_setopt(m->easy, CURLOPT_USE_SSL,
	    ch->starttls == NT_TLS_NO        ? (long)CURLUSESSL_NONE
	        : ch->starttls == NT_TLS_TRY ? (long)CURLUSESSL_TRY
	                                     : (long)CURLUSESSL_ALL);
	if (ch->ca_file != NULL)
		rv |= curl_easy_setopt(m->easy, CURLOPT_CAINFO, ch->ca_file);
	if (ch->username != NULL) {
		rv |= curl_easy_setopt(
		    m->easy, CURLOPT_USERNAME, ch->username);
		rv |= curl_easy_setopt(
		    m->easy, CURLOPT_PASSWORD, ch->password);
	}
	rv |= curl_easy_setopt(m->easy, CURLOPT_UPLOAD, 1L);
	rv |= curl_easy_setopt(m->easy, CURLOPT_READFUNCTION, read_msg);
	rv |= curl_easy_setopt(m->easy, CURLOPT_READDATA, m);
	rv |= curl_easy_setopt(
	    m->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
	rv |= curl_easy_setopt(
	    m->easy, CURLOPT_TIMEOUT_MS, (long)ch->timeout_ms);
	rv |= curl_easy_setopt(m->easy, CURLOPT_NOSIGNAL, 1L);
	/* A connection per attempt: libcurl would reuse one that STARTTLS
	 * upgraded under another channel's ca_file and login (it compares
	 * TLS settings only for smtps://), and a retry should not inherit
	 * a connection that just failed. */
	rv |= curl_easy_setopt(m->easy, CURLOPT_FRESH_CONNECT, 1L);
	rv |= curl_easy_setopt(m->easy, CURLOPT_FORBID_REUSE, 1L);
	rv |= curl_easy_setopt(m->easy, CURLOPT_ERRORBUFFER, m->errbuf);
	rv |= curl_easy_setopt(m->easy, CURLOPT_PRIVATE, m);
	return rv == 0 ? 0 : -1;
}

/* Start an attempt of s: 0, or an error (nothing under way for s). */
static int
attempt(struct nt_smtp *sm, struct nt_send *s)
{
	struct nt_mail *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return AGENTD_ENOMEM;
	m->s = s;
	s->attempts++;
	if ((m->msg = message_of(s, &m->len)) == NULL
	    || (m->easy = curl_easy_init()) == NULL
	    || mail_setup(m, s->ch) != 0
	    || curl_multi_add_handle(sm->multi, m->easy) != CURLM_OK) {
		mail_free(m);
		return AGENTD_ENOMEM;
	}
	s->mail = m;
	return 0;
}

/* ---- the sends under way ------------------------------------------------ */

static int
track(struct nt_smtp *sm, struct nt_send *s)
{
	if (sm->nsends == sm->cap) {
		size_t           cap = sm->cap ? sm->cap * 2 : 8;
		struct nt_send **p   = realloc(sm->sends, cap * sizeof(*p));

		if (p == NULL)
			return AGENTD_ENOMEM;
		sm->sends = p;
		sm->cap   = cap;
	}
	sm->sends[sm->nsends++] = s;
	return 0;
}

static void
untrack(struct nt_smtp *sm, struct nt_send *s)
{
	for (size_t i = 0; i < sm->nsends; i++)
		if (sm->sends[i] == s) {
			sm->sends[i] = sm->sends[--sm->nsends];
			return;
		}
}

static void
finish(struct nt_smtp *sm, struct nt_send *s, int err, const char *why)
{
	untrack(sm, s);
	nt_send_done(s, err, why);
}

static uint32_t
jitter(struct nt_smtp *sm, uint32_t ms)
{
	sm->rnd ^= sm->rnd << 13;
	sm->rnd ^= sm->rnd >> 17;
	sm->rnd ^= sm->rnd << 5;
	return ms / 2 + (ms > 1 ? sm->rnd % (ms - ms / 2 + 1) : 0);
}

static void
retry_due(void *arg, uint64_t id)
{
	struct nt_send *s  = arg;
	struct nt_smtp *sm = nt_smtp_of(s->n);
	int             rv;

	(void)id;
	s->retry_timer = 0;
	if ((rv = attempt(sm, s)) != 0)
		finish(sm, s, rv, "cannot start an attempt: out of memory");
}

/* Is this failure worth another attempt? */
static int
transient(CURLcode res, long code)
{
	if (code >= 500 && code < 600)
		return 0;
	switch (res) {
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return 0;
	default:
		return 1;
	}
}

/* The agentd_error of a failed attempt: a 4xx is "try later", a 5xx a
 * refusal. */
static int
error_of(CURLcode res, long code)
{
	if (code >= 400)
		return code >= 500 ? AGENTD_EDENIED : AGENTD_EUNAVAIL;
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return AGENTD_EUNAVAIL;
	case CURLE_OPERATION_TIMEDOUT:
		return AGENTD_ETIMEOUT;
	case CURLE_LOGIN_DENIED:
		return AGENTD_EDENIED;
	default:
		return AGENTD_EIO;
	}
}

/* An attempt of s ended with res (and the server's last code). */
static void
attempt_ended(struct nt_smtp *sm, struct nt_send *s, CURLcode res, long code,
    const char *detail)
{
	const struct nt_channel *ch = s->ch;
	char                     why[NT_ERR_MAX];
	uint32_t                 wait;
	unsigned                 shift;

	if (res == CURLE_OK) {
		finish(sm, s, 0, "");
		return;
	}
	if (s->attempts < ch->attempts && transient(res, code)) {
		shift = s->attempts - 1 < 4 ? s->attempts - 1 : 4;
		wait  = jitter(sm, ch->backoff_ms << shift);
		if (sm->host->timer_start(
		        sm->ctx, wait, 0, retry_due, s, &s->retry_timer)
		    == 0)
			return;
	}
	if (detail[0] == '\0')
		detail = curl_easy_strerror(res);
	if (code >= 400) /* the server's refusal; below it, its last "ok" */
		snprintf(why, sizeof(why), "SMTP %ld: %s after %u attempt%s",
		    code, detail, s->attempts, s->attempts == 1 ? "" : "s");
	else
		snprintf(why, sizeof(why), "%s after %u attempt%s", detail,
		    s->attempts, s->attempts == 1 ? "" : "s");
	finish(sm, s, error_of(res, code), why);
}

/* Every attempt curl finished, ended. */
static void
check_done(struct nt_smtp *sm)
{
	CURLMsg *msg;
	int      left;

	while ((msg = curl_multi_info_read(sm->multi, &left)) != NULL) {
		struct nt_mail *m = NULL;
		struct nt_send *s;
		long            code = 0;
		char            detail[CURL_ERROR_SIZE];
		CURLcode        res = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(
		    msg->easy_handle, CURLINFO_PRIVATE, (char **)&m);
		curl_easy_getinfo(
		    msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(sm->multi, msg->easy_handle);
		s = m->s;
		snprintf(detail, sizeof(detail), "%s", m->errbuf);
		s->mail = NULL;
		mail_free(m);
		attempt_ended(sm, s, res, code, detail);
	}
}

/* ---- curl's sockets and timer on the worker's loop ---------------------- */

static void
fd_ready(void *arg, int fd, int events)
{
	struct nt_smtp *sm    = arg;
	int             flags = 0, running;

	if (events & AGENTD_FD_READ)
		flags |= CURL_CSELECT_IN;
	if (events & AGENTD_FD_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & AGENTD_FD_ERROR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(sm->multi, fd, flags, &running);
	check_done(sm);
}

static int
on_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct nt_smtp *sm = arg;
	int             ev = 0;

	(void)e;
	(void)sockp;
	if (what == CURL_POLL_REMOVE) {
		sm->host->watch_fd(sm->ctx, fd, 0, NULL, NULL);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= AGENTD_FD_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= AGENTD_FD_WRITE;
	return sm->host->watch_fd(sm->ctx, fd, ev, fd_ready, sm) == 0 ? 0 : -1;
}

static void
timer_due(void *arg, uint64_t id)
{
	struct nt_smtp *sm = arg;
	int             running;

	(void)id;
	sm->timer = 0;
	curl_multi_socket_action(sm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(sm);
}

static int
on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct nt_smtp *sm = arg;

	(void)multi;
	if (sm->timer != 0) {
		sm->host->timer_cancel(sm->ctx, sm->timer);
		sm->timer = 0;
	}
	if (timeout_ms < 0)
		return 0;
	return sm->host->timer_start(
	           sm->ctx, (uint64_t)timeout_ms, 0, timer_due, sm, &sm->timer)
	        == 0
	    ? 0
	    : -1;
}

/* ---- the API of notify.h ------------------------------------------------ */

int
nt_smtp_new(
    agentd_ctx *ctx, const struct agentd_host *host, struct nt_smtp **out)
{
	struct nt_smtp *sm;

	if (!AGENTD_HOST_HAS(host, watch_fd)
	    || !AGENTD_HOST_HAS(host, timer_start)
	    || !AGENTD_HOST_HAS(host, timer_cancel))
		return AGENTD_ENOTSUP;
	/* Counted by libcurl: the worker's own outbound HTTP may hold it
	 * too. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return AGENTD_ENOMEM;
	if ((sm = calloc(1, sizeof(*sm))) == NULL
	    || (sm->multi = curl_multi_init()) == NULL) {
		free(sm);
		curl_global_cleanup();
		return AGENTD_ENOMEM;
	}
	sm->ctx  = ctx;
	sm->host = host;
	sm->rnd
	    = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
	if (sm->rnd == 0)
		sm->rnd = 1;
	curl_multi_setopt(sm->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(sm->multi, CURLMOPT_SOCKETDATA, sm);
	curl_multi_setopt(sm->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(sm->multi, CURLMOPT_TIMERDATA, sm);
	*out = sm;
	return 0;
}

int
nt_smtp_send(struct nt_smtp *sm, struct nt_send *s)
{
	int rv;

	if (sm == NULL)
		return AGENTD_ENOTSUP;
	if ((rv = track(sm, s)) != 0)
		return rv;
	if ((rv = attempt(sm, s)) != 0) {
		untrack(sm, s);
		return rv;
	}
	return 0;
}

void
nt_smtp_free(struct nt_smtp *sm)
{
	if (sm == NULL)
		return;
	while (sm->nsends > 0) {
		struct nt_send *s = sm->sends[sm->nsends - 1];

		if (s->retry_timer != 0)
			sm->host->timer_cancel(sm->ctx, s->retry_timer);
		if (s->mail != NULL) {
			curl_multi_remove_handle(sm->multi, s->mail->easy);
			mail_free(s->mail);
			s->mail = NULL;
		}
		finish(sm, s, AGENTD_ECLOSED, "the instance is stopping");
	}
	if (sm->timer != 0)
		sm->host->timer_cancel(sm->ctx, sm->timer);
	curl_multi_cleanup(sm->multi);
	curl_global_cleanup();
	free(sm->sends);
	free(sm);
}
