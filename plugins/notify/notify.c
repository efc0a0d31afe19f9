/*
 * notify - sends a message to a webhook (Slack-compatible JSON) or by
 * e-mail (SMTP), with retries, a rate limit per channel and templates;
 * agents escalate through it by calling it or by publishing an event it
 * maps to a channel (doc/notify.md).
 *
 *   {"channel": "ops", "template": "phase_failed", "vars": {...}}
 *   {"channel": "ops", "text": "...", "subject": "..."}
 *   -> {"sent": true, "channel", "template", "attempts", "digest"}
 *
 * Every message ends in one audit record: notify.sent, or notify.failed
 * after its last attempt (with why); both carry the text's digest, never
 * the text, which may hold what the vars held.  A send refused by the
 * rate limit is EBUSY and is not audited (a flood would fill the trail).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "notify.h"

/* A rate-limited event's warning: at most one line per channel this
 * often, with the count of those not logged. */
#define REFUSED_LOG_MS 10000

static const struct agentd_setting notify_settings[] = {
	{ "channels_file", AGENTD_SETTING_STRING, NULL,
	    "the JSON file of channels, templates and events "
	    "(doc/notify.md)" },
	{ "attempts", AGENTD_SETTING_INT, "3",
	    "attempts of one message, unless its channel says (1..10)" },
	{ "timeout_ms", AGENTD_SETTING_INT, "5000",
	    "one attempt at most, unless its channel says" },
	{ "backoff_ms", AGENTD_SETTING_INT, "1000",
	    "the first wait between attempts, doubling, with jitter" },
	{ "rate_per_minute", AGENTD_SETTING_INT, "30",
	    "messages a channel gains a minute, unless it says (0: none)" },
	{ "burst", AGENTD_SETTING_INT, "10",
	    "messages a channel may send at once, unless it says" },
	{ "smtp_allow", AGENTD_SETTING_STRING, "",
	    "the SMTP servers e-mail channels may use: host names or "
	    "addresses, \"*.example.com\", comma-separated; empty: none" },
	{ NULL, 0, NULL, NULL },
};

struct notify {
	agentd_ctx               *ctx;  /* borrowed, valid until fini */
	const struct agentd_host *host; /* the same */
	struct nt_config          cfg;
	struct nt_smtp           *smtp; /* NULL: no e-mail channel */
};

const struct agentd_host *
nt_host(const struct notify *n)
{
	return n->host;
}

agentd_ctx *
nt_ctx(const struct notify *n)
{
	return n->ctx;
}

struct nt_smtp *
nt_smtp_of(const struct notify *n)
{
	return n->smtp;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
nt_digest(const char *subject, const char *text, char out[NT_DIGEST_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  len = 0;
	EVP_MD_CTX   *c   = EVP_MD_CTX_new();

	strcpy(out, "sha256:");
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1
	    || EVP_DigestUpdate(c, subject, strlen(subject)) != 1
	    || EVP_DigestUpdate(c, "\n", 1) != 1
	    || EVP_DigestUpdate(c, text, strlen(text)) != 1
	    || EVP_DigestFinal_ex(c, md, &len) != 1)
		len = 0;
	EVP_MD_CTX_free(c);
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static const char *
kind_name(enum nt_kind k)
{
	return k == NT_WEBHOOK ? "webhook" : "email";
}

/* ---- the end of a send -------------------------------------------------- */

/* The detail of s's record: what it was, never its text. */
static void
audit_detail(
    agentd_writer *w, const struct nt_send *s, int err, const char *why)
{
	agentd_write_map_begin(w);
	agentd_write_str(w, "channel");
	agentd_write_str(w, s->ch->name);
	agentd_write_str(w, "kind");
	agentd_write_str(w, kind_name(s->ch->kind));
	agentd_write_str(w, "where");
	agentd_write_str(w, s->ch->where);
	agentd_write_str(w, "template");
	agentd_write_str(w, s->template_);
	agentd_write_str(w, s->topic[0] != '\0' ? "topic" : "caller");
	agentd_write_str(w, s->topic[0] != '\0' ? s->topic : s->caller);
	agentd_write_str(w, "attempts");
	agentd_write_uint(w, s->attempts);
	agentd_write_str(w, "digest");
	agentd_write_str(w, s->digest);
	agentd_write_str(w, "bytes");
	agentd_write_uint(w,
	    (s->subject != NULL ? strlen(s->subject) : 0)
	        + (s->text != NULL ? strlen(s->text) : 0));
	if (err != 0) {
		agentd_write_str(w, "error");
		agentd_write_str(w, agentd_errname(err));
		agentd_write_str(w, "why");
		agentd_write_str(w, why);
	}
	agentd_write_map_end(w);
}

static void
audit_send(struct nt_send *s, int err, const char *why)
{
	const struct agentd_host *h = s->n->host;
	agentd_writer            *w;
	const void               *p;
	size_t                    len;
	char                      summary[NT_ERR_MAX + 128];

	agentd_writer_new(&w);
	audit_detail(w, s, err, why);
	p = agentd_writer_data(w, &len);
	if (err == 0)
		snprintf(summary, sizeof(summary),
		    "%s: sent (%s%s, %u attempt%s)", s->ch->name,
		    s->template_[0] != '\0' ? "template " : "text",
		    s->template_, s->attempts, s->attempts == 1 ? "" : "s");
	else
		snprintf(summary, sizeof(summary), "%s: failed: %s (%s%s)",
		    s->ch->name, why,
		    s->template_[0] != '\0' ? "template " : "text",
		    s->template_);
	if (AGENTD_HOST_HAS(h, audit_async))
		h->audit_async(s->n->ctx,
		    err == 0 ? "notify.sent" : "notify.failed", summary, p,
		    len, NULL, NULL);
	else
		h->audit(s->n->ctx, err == 0 ? "notify.sent" : "notify.failed",
		    summary, p, len);
	agentd_writer_free(w);
}

static void
reply_sent(struct nt_send *s)
{
	agentd_writer *w;
	const void    *p;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 5);
	agentd_write_str(w, "sent");
	agentd_write_bool(w, 1);
	agentd_write_str(w, "channel");
	agentd_write_str(w, s->ch->name);
	agentd_write_str(w, "template");
	agentd_write_str(w, s->template_);
	agentd_write_str(w, "attempts");
	agentd_write_uint(w, s->attempts);
	agentd_write_str(w, "digest");
	agentd_write_str(w, s->digest);
	p = agentd_writer_data(w, &len);
	s->n->host->reply(s->n->ctx, s->req, p, len);
	agentd_writer_free(w);
}

static void
send_free(struct nt_send *s)
{
	free(s->subject);
	free(s->text);
	free(s);
}

void
nt_send_done(struct nt_send *s, int err, const char *why)
{
	const struct agentd_host *h = s->n->host;
	char                      line[NT_ERR_MAX + NT_WHERE_MAX + 64];

	audit_send(s, err, why);
	if (AGENTD_HOST_HAS(h, count))
		h->count(s->n->ctx, err == 0 ? "sent" : "failed", 1);
	if (err != 0)
		snprintf(line, sizeof(line),
		    "channel %s (%s %s): %s; recorded as notify.failed",
		    s->ch->name, kind_name(s->ch->kind), s->ch->where, why);
	if (s->req != NULL && err == 0)
		reply_sent(s);
	else if (s->req != NULL)
		h->reply_error(s->n->ctx, s->req, err, line);
	else if (err != 0)
		h->log(s->n->ctx, AGENTD_LOG_WARN, "notify: event %s: %s",
		    s->topic, line);
	send_free(s);
}

/* ---- starting a send ---------------------------------------------------- */

/* Is s (len bytes) UTF-8 without NUL?  The webhook's JSON needs it. */
static int
utf8_ok(const char *s, size_t len)
{
	json_t *j;

	if (memchr(s, '\0', len) != NULL)
		return 0;
	j = json_stringn(s, len);
	json_decref(j);
	return j != NULL;
}

/*
 * The rate limit of ch at this moment: 1 to go on, or 0 with the error
 * line in err.
 */
static int
rate_ok(struct notify *n, struct nt_channel *ch, char *err, size_t errlen)
{
	int64_t wait_ms = 0;

	if (nt_bucket_take(&ch->bucket, mono_ms(), &wait_ms))
		return 1;
	if (AGENTD_HOST_HAS(n->host, count))
		n->host->count(n->ctx, "refused", 1);
	if (ch->rate_per_minute > 0)
		snprintf(err, errlen,
		    "channel %s: rate limit reached (%.0f a minute, burst "
		    "%.0f): try again in %lld s",
		    ch->name, ch->rate_per_minute, ch->burst,
		    (long long)((wait_ms + 999) / 1000));
	else
		snprintf(err, errlen,
		    "channel %s: its burst of %.0f is spent and "
		    "rate_per_minute is 0: nothing more is sent until a "
		    "restart",
		    ch->name, ch->burst);
	return 0;
}

/* A request's own subject and text, for a webhook: an agent's words are
 * data, as a template's vars are (formatting is the operator's, in the
 * templates). */
static int
escape_literal(struct nt_send *s)
{
	char *subject, *text;
	int   rv;

	if ((rv = nt_escape_text(s->subject, NT_SUBJECT_MAX, &subject)) != 0)
		return rv;
	if ((rv = nt_escape_text(s->text, NT_TEXT_MAX, &text)) != 0) {
		free(subject);
		return rv;
	}
	free(s->subject);
	free(s->text);
	s->subject = subject;
	s->text    = text;
	return 0;
}

/*
 * Render subject and text into s from tpl (NULL: the literal ones it
 * holds) and take their digest: 0, or an error with the line in err.
 */
static int
send_prepare(struct nt_send *s, const struct nt_template *tpl,
    const agentd_value *vars, char *err, size_t errlen)
{
	enum nt_escape esc
	    = s->ch->kind == NT_WEBHOOK ? NT_ESC_SLACK : NT_ESC_NONE;
	char why[NT_ERR_MAX - NT_NAME_MAX - 16];
	int  rv = 0;

	if (tpl == NULL && esc == NT_ESC_SLACK
	    && (rv = escape_literal(s)) != 0)
		snprintf(err, errlen, "the text, escaped, is over %d bytes",
		    NT_TEXT_MAX);
	else if (tpl != NULL
	    && ((rv = nt_render(tpl->subject, vars, esc, NT_SUBJECT_MAX,
	             &s->subject, why, sizeof(why)))
	            != 0
	        || (rv = nt_render(tpl->text, vars, esc, NT_TEXT_MAX, &s->text,
	                why, sizeof(why)))
	            != 0))
		snprintf(err, errlen, "template %s: %s", tpl->name, why);
	else if (!utf8_ok(s->subject, strlen(s->subject))
	    || !utf8_ok(s->text, strlen(s->text))) {
		rv = AGENTD_EINVAL;
		snprintf(err, errlen, "the text is not UTF-8");
	}
	if (rv == 0)
		nt_digest(s->subject, s->text, s->digest);
	return rv;
}

/* Hand s to its channel; from here on s ends in nt_send_done(). */
static void
send_go(struct nt_send *s)
{
	char why[NT_ERR_MAX];
	int  rv = s->ch->kind == NT_WEBHOOK ? nt_webhook_send(s)
	                                    : nt_smtp_send(s->n->smtp, s);

	if (rv != 0) {
		/* Refused before any attempt (http { allow }, limits): a
		 * failure of this message all the same. */
		snprintf(why, sizeof(why), "refused before any attempt: %s%s",
		    agentd_strerror(rv),
		    rv == AGENTD_EDENIED ? " (is its host in http { allow }?)"
		                         : "");
		nt_send_done(s, rv, why);
	}
}

static struct nt_send *
send_new(struct notify *n, struct nt_channel *ch)
{
	struct nt_send *s = calloc(1, sizeof(*s));

	if (s != NULL) {
		s->n  = n;
		s->ch = ch;
	}
	return s;
}

/* A string field of m copied into *out (caller frees); 0 if absent. */
static int
str_dup(const agentd_value *m, const char *key, size_t max, char **out,
    int *present)
{
	const agentd_value *v = agentd_map_get(m, key);
	const char         *p;
	size_t              len;

	*present = v != NULL;
	if (v == NULL)
		return (*out = strdup("")) != NULL ? 0 : AGENTD_ENOMEM;
	if (agentd_get_str(v, &p, &len) != 0 || len > max)
		return AGENTD_EINVAL;
	if ((*out = malloc(len + 1)) == NULL)
		return AGENTD_ENOMEM;
	memcpy(*out, p, len);
	(*out)[len] = '\0';
	return 0;
}

/* The request's message into s (a template or a text); a line in err. */
static int
read_message(struct notify *n, const agentd_value *m, struct nt_send *s,
    const struct nt_template **tpl, char *err, size_t errlen)
{
	const agentd_value *t = agentd_map_get(m, "template");
	const char         *name;
	size_t              len;
	int                 has_text, has_subject, i;

	if (t != NULL) {
		if (agentd_get_str(t, &name, &len) != 0) {
			snprintf(err, errlen,
			    "\"template\": the name of a template of the "
			    "channels file");
			return AGENTD_EINVAL;
		}
		if ((i = nt_template_find(&n->cfg, name, len)) < 0) {
			snprintf(err, errlen,
			    "no template \"%.*s\" in the channels file",
			    (int)(len < 64 ? len : 64), name);
			return AGENTD_EINVAL;
		}
		if (agentd_map_get(m, "text") != NULL) {
			snprintf(err, errlen,
			    "a \"template\" or a \"text\", not both");
			return AGENTD_EINVAL;
		}
		*tpl = &n->cfg.templates[i];
		snprintf(
		    s->template_, sizeof(s->template_), "%s", (*tpl)->name);
		return 0;
	}
	if (str_dup(m, "text", NT_TEXT_MAX, &s->text, &has_text) != 0
	    || !has_text || s->text[0] == '\0'
	    || str_dup(m, "subject", NT_SUBJECT_MAX, &s->subject, &has_subject)
	        != 0) {
		snprintf(err, errlen,
		    "send {\"channel\": NAME, \"template\": NAME, \"vars\": "
		    "{...}} or {\"channel\": NAME, \"text\": \"1 to %d "
		    "bytes\", \"subject\": \"at most %d\"}",
		    NT_TEXT_MAX, NT_SUBJECT_MAX);
		return AGENTD_EINVAL;
	}
	return 0;
}

static int
notify_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct notify            *n   = state;
	const struct nt_template *tpl = NULL;
	const agentd_value       *m, *vars;
	struct nt_send           *s;
	agentd_doc               *doc;
	const char               *name, *caller;
	char                      err[NT_ERR_MAX] = "";
	size_t                    nlen;
	int                       ci, rv;

	if (agentd_parse(body, len, &doc) != 0
	    || agentd_type_of(m = agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		return n->host->reply_error(n->ctx, req, AGENTD_EINVAL,
		    "send a map {\"channel\": NAME, \"template\": NAME, "
		    "\"vars\": {...}} or {\"channel\": NAME, \"text\": ...}");
	}
	if (agentd_get_str(agentd_map_get(m, "channel"), &name, &nlen) != 0
	    || (ci = nt_channel_find(&n->cfg, name, nlen)) < 0) {
		if (agentd_get_str(agentd_map_get(m, "channel"), &name, &nlen)
		    == 0)
			snprintf(err, sizeof(err),
			    "no channel \"%.*s\" in the channels file",
			    (int)(nlen < 64 ? nlen : 64), name);
		else
			snprintf(err, sizeof(err),
			    "\"channel\": the name of a channel of the "
			    "channels file");
		agentd_doc_free(doc);
		return n->host->reply_error(n->ctx, req, AGENTD_EINVAL, err);
	}
	vars = agentd_map_get(m, "vars");
	if ((s = send_new(n, &n->cfg.channels[ci])) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	s->req = req;
	caller = n->host->request_caller(n->ctx, req);
	snprintf(
	    s->caller, sizeof(s->caller), "%s", caller != NULL ? caller : "");
	if (vars != NULL && agentd_type_of(vars) != AGENTD_T_MAP) {
		rv = AGENTD_EINVAL;
		snprintf(err, sizeof(err), "\"vars\": a map of NAME: value");
	} else
		rv = read_message(n, m, s, &tpl, err, sizeof(err));
	if (rv == 0)
		rv = send_prepare(s, tpl, vars, err, sizeof(err));
	/* A message that is no message takes nothing of the rate. */
	if (rv == 0 && !rate_ok(n, s->ch, err, sizeof(err)))
		rv = AGENTD_EBUSY;
	agentd_doc_free(doc);
	if (rv != 0) {
		send_free(s);
		return n->host->reply_error(n->ctx, req, rv, err);
	}
	send_go(s);
	return 0;
}

/* ---- events ------------------------------------------------------------- */

/* A rate-limited event: one warning per channel per REFUSED_LOG_MS. */
static void
event_refused(struct notify *n, struct nt_channel *ch, const char *topic,
    const char *err)
{
	int64_t now = mono_ms();

	if (ch->refused_logged_ms >= 0
	    && now - ch->refused_logged_ms < REFUSED_LOG_MS) {
		ch->refused_quiet++;
		return;
	}
	n->host->log(n->ctx, AGENTD_LOG_WARN,
	    "notify: event %s dropped: %s (and %llu more since the last "
	    "line)",
	    topic, err, (unsigned long long)ch->refused_quiet);
	ch->refused_logged_ms = now;
	ch->refused_quiet     = 0;
}

static void
notify_event(void *state, const char *topic, const void *body, size_t len)
{
	struct notify   *n = state;
	struct nt_route *r = NULL;
	struct nt_send  *s;
	agentd_doc      *doc = NULL;
	char             err[NT_ERR_MAX];
	int              rv;

	for (size_t i = 0; i < n->cfg.nroutes && r == NULL; i++)
		if (strcmp(n->cfg.routes[i].topic, topic) == 0)
			r = &n->cfg.routes[i];
	if (r == NULL) {
		n->host->log(n->ctx, AGENTD_LOG_WARN,
		    "notify: event %s: no entry in the channels file's "
		    "\"events\" (subscribe only to the topics it maps)",
		    topic);
		return;
	}
	if ((s = send_new(n, &n->cfg.channels[r->channel])) == NULL)
		return;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	snprintf(s->template_, sizeof(s->template_), "%s",
	    n->cfg.templates[r->template_].name);
	if (agentd_parse(body, len, &doc) != 0)
		doc = NULL;
	rv = send_prepare(s, &n->cfg.templates[r->template_],
	    doc != NULL ? agentd_doc_root(doc) : NULL, err, sizeof(err));
	agentd_doc_free(doc);
	if (rv != 0) {
		/* An escalation lost: recorded as a failure. */
		nt_send_done(s, rv, err);
		return;
	}
	if (!rate_ok(n, s->ch, err, sizeof(err))) {
		event_refused(n, s->ch, topic, err);
		send_free(s);
		return;
	}
	send_go(s);
}

/* ---- life cycle --------------------------------------------------------- */

static int
read_defaults(
    agentd_ctx *ctx, const struct agentd_host *host, struct nt_defaults *d)
{
	int64_t rate, burst;

	host->setting_int(ctx, "attempts", &d->attempts);
	host->setting_int(ctx, "timeout_ms", &d->timeout_ms);
	host->setting_int(ctx, "backoff_ms", &d->backoff_ms);
	host->setting_int(ctx, "rate_per_minute", &rate);
	host->setting_int(ctx, "burst", &burst);
	host->setting_string(ctx, "smtp_allow", &d->smtp_allow);
	d->rate_per_minute = (double)rate;
	d->burst           = (double)burst;
	if (d->attempts < 1 || d->attempts > AGENTD_HTTP_ATTEMPTS_MAX
	    || d->timeout_ms < 1 || d->timeout_ms > 600000 || d->backoff_ms < 1
	    || d->backoff_ms > 600000 || rate < 0 || rate > 1000000
	    || burst < 1 || burst > 1000000) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "notify: settings: attempts 1 to %d, timeout_ms and "
		    "backoff_ms 1 to 600000, rate_per_minute 0 to 1000000, "
		    "burst 1 to 1000000",
		    AGENTD_HTTP_ATTEMPTS_MAX);
		return AGENTD_ECONFIG;
	}
	return 0;
}

static int
has_email(const struct nt_config *c)
{
	for (size_t i = 0; i < c->nchannels; i++)
		if (c->channels[i].kind == NT_EMAIL)
			return 1;
	return 0;
}

/*
 * Can this worker open an Internet socket?  Its sandbox gives it one only
 * with http { allow } or network = true in the agent's .conf; without,
 * every e-mail would fail to connect, so the instance says so at once.
 */
static int
sockets_allowed(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno != EPERM && errno != EACCES;
	close(fd);
	return 1;
}

static int
notify_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct nt_defaults d;
	struct notify     *n;
	const char        *path;
	char               err[NT_ERR_MAX + 256];
	int                rv;

	if (!AGENTD_HOST_HAS(host, request_caller)) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "notify: this host has no request_caller (ABI 1.3 "
		    "needed)");
		return AGENTD_ENOTSUP;
	}
	if ((rv = read_defaults(ctx, host, &d)) != 0)
		return rv;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return AGENTD_ENOMEM;
	n->ctx  = ctx;
	n->host = host;
	host->setting_string(ctx, "channels_file", &path);
	if ((rv = nt_config_load(path, &d, &n->cfg, err, sizeof(err))) != 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "notify: %s", err);
		free(n);
		return rv;
	}
	if (has_email(&n->cfg) && !sockets_allowed()) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "notify: %s: e-mail channels connect out, and this "
		    "agent's sandbox has no Internet sockets: list the SMTP "
		    "servers in its http { allow } (doc/notify.md)",
		    path);
		nt_config_free(&n->cfg);
		free(n);
		return AGENTD_EDENIED;
	}
	if (has_email(&n->cfg)
	    && (rv = nt_smtp_new(ctx, host, &n->smtp)) != 0) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "notify: %s: e-mail channels need host->watch_fd and "
		    "timer_start (agentd with ABI 1.5): %s",
		    path, agentd_strerror(rv));
		nt_config_free(&n->cfg);
		free(n);
		return rv;
	}
	for (size_t i = 0; i < n->cfg.nchannels; i++)
		host->log(ctx, AGENTD_LOG_INFO,
		    "notify: channel %s: %s to %s, %u attempt%s, %.0f a "
		    "minute, burst %.0f",
		    n->cfg.channels[i].name,
		    kind_name(n->cfg.channels[i].kind),
		    n->cfg.channels[i].where, n->cfg.channels[i].attempts,
		    n->cfg.channels[i].attempts == 1 ? "" : "s",
		    n->cfg.channels[i].rate_per_minute,
		    n->cfg.channels[i].burst);
	*state = n;
	return 0;
}

static void
notify_fini(void *state)
{
	struct notify *n = state;

	nt_smtp_free(n->smtp);
	nt_config_free(&n->cfg);
	free(n);
}

AGENTD_PLUGIN(.name = "notify", .version = "1.0.0",
    .description = "sends messages to webhooks (Slack-compatible) and by "
                   "e-mail, with retries, rate limits and templates; "
                   "events escalate through it",
    .settings = notify_settings, .init = notify_init,
    .on_request = notify_request, .on_event = notify_event,
    .fini         = notify_fini,
    .capabilities = (const char *const[]) { "notify", NULL });
