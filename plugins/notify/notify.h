/*
 * notify.h - the notify plugin's pieces shared between its files: the
 * configuration (config.c), templates (template.c), the rate limit
 * (bucket.c), the two channels (webhook.c, smtp.c) and the sends that
 * notify.c runs (doc/notify.md).
 */
#ifndef NOTIFY_NOTIFY_H
#define NOTIFY_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#define NT_NAME_MAX 64     /* channel and template names, NUL included */
#define NT_TEXT_MAX 40000  /* a rendered text, in bytes (Slack's limit) */
#define NT_SUBJECT_MAX 500 /* a rendered subject, in bytes */
#define NT_WHERE_MAX 300   /* "smtp://host:port": what logs may show */
#define NT_RCPT_MAX 32     /* recipients of one e-mail channel */
#define NT_ERR_MAX 512     /* one error line */
#define NT_DIGEST_MAX 72   /* "sha256:" and 64 hex digits */

enum nt_kind { NT_WEBHOOK = 1, NT_EMAIL = 2 };

/* STARTTLS on an smtp:// channel (smtps:// is TLS from the start). */
enum nt_starttls { NT_TLS_REQUIRE = 0, NT_TLS_TRY, NT_TLS_NO };

/*
 * A token bucket: capacity tokens at most, refilled at per_ms tokens a
 * millisecond; a send takes one.  Times are monotonic ms, passed in.
 */
struct nt_bucket {
	double  tokens, capacity, per_ms;
	int64_t last_ms;
};

/* Fill b full: capacity burst, refilled per_minute a minute. */
void nt_bucket_init(struct nt_bucket *b, double per_minute, double burst);
/* Take one token at now_ms: 1; or 0 and *wait_ms until one is there. */
int nt_bucket_take(struct nt_bucket *b, int64_t now_ms, int64_t *wait_ms);

struct nt_channel {
	char         name[NT_NAME_MAX];
	enum nt_kind kind;
	/* The webhook's URL or the SMTP server's: the whole of it may be a
	 * secret (a Slack webhook's path is its key), so logs, replies and
	 * audit records show `where` instead. */
	char *url;
	char  where[NT_WHERE_MAX];
	/* E-mail only. */
	char            *from;
	char            *to[NT_RCPT_MAX];
	size_t           nto;
	char            *username; /* NULL: no AUTH */
	char            *password; /* from password_file; never shown */
	char            *ca_file;  /* NULL: the system's CAs */
	enum nt_starttls starttls;
	/* Both kinds. */
	uint32_t         attempts, timeout_ms, backoff_ms;
	double           rate_per_minute, burst;
	struct nt_bucket bucket;
	int64_t          refused_logged_ms; /* rate-limited warning */
	uint64_t         refused_quiet;     /* refusals not logged since */
};

struct nt_template {
	char  name[NT_NAME_MAX];
	char *subject; /* "" when it has none */
	char *text;
};

/* An event topic mapped to a channel and a template. */
struct nt_route {
	char   topic[AGENTD_TOPIC_MAX + 1];
	size_t channel, template_;
};

/* What the plugin's settings give every channel that does not say. */
struct nt_defaults {
	int64_t     attempts, timeout_ms, backoff_ms;
	double      rate_per_minute, burst;
	const char *smtp_allow; /* comma-separated host patterns */
};

struct nt_config {
	struct nt_channel  *channels;
	size_t              nchannels;
	struct nt_template *templates;
	size_t              ntemplates;
	struct nt_route    *routes;
	size_t              nroutes;
};

/*
 * Load the JSON file at path into c (zeroed first).  0, or
 * AGENTD_ECONFIG with one line in err: the file, and what is wrong where
 * (never a URL or a secret).  On error c holds nothing to free.
 */
int  nt_config_load(const char *path, const struct nt_defaults *d,
     struct nt_config *c, char *err, size_t errlen);
void nt_config_free(struct nt_config *c);
/* Index of the channel or template named name, or -1. */
int nt_channel_find(const struct nt_config *c, const char *name, size_t len);
int nt_template_find(const struct nt_config *c, const char *name, size_t len);

/*
 * Templates: "{name}" is replaced by vars' value of that key (a string as
 * it is; an integer, a real or a boolean written out), "{{" and "}}" are
 * one brace.  Nothing else happens to the text: no expressions, no code.
 * nt_template_check: 0, or -1 with why in err (an unclosed brace, a bad
 * name).  nt_render: 0 and *out (caller owns, free with free()), or an
 * agentd_error with one line in err (a name vars lacks, a value that is
 * not a scalar, a result over max bytes).  vars (may be NULL: no vars)
 * is borrowed for the call.  With NT_ESC_SLACK the values (never the
 * template's own text) have &, < and > written as &amp;, &lt; and &gt;,
 * so that a value cannot mention everyone ("<!channel>") or make a link.
 */
enum nt_escape { NT_ESC_NONE = 0, NT_ESC_SLACK };
int nt_template_check(const char *tpl, char *err, size_t errlen);
int nt_render(const char *tpl, const agentd_value *vars, enum nt_escape esc,
    size_t max, char **out, char *err, size_t errlen);
/* text with NT_ESC_SLACK's escapes: 0 and *out (free with free()), or
 * AGENTD_ETOOBIG past max bytes, AGENTD_ENOMEM. */
int nt_escape_text(const char *text, size_t max, char **out);

/* "sha256:" and the hex SHA-256 of subject "\n" text, into out. */
void nt_digest(const char *subject, const char *text, char out[NT_DIGEST_MAX]);

struct notify;

/*
 * One message on its way: made by notify.c, handed to a channel's
 * sender, which ends it with nt_send_done() exactly once.
 */
struct nt_send {
	struct notify     *n;
	agentd_request    *req; /* the request to answer; NULL for an event */
	struct nt_channel *ch;
	char               template_[NT_NAME_MAX];      /* "" for a text */
	char               topic[AGENTD_TOPIC_MAX + 1]; /* "" for a request */
	char            caller[NT_NAME_MAX]; /* who asked; "" for an event */
	char           *subject, *text;      /* owned */
	char            digest[NT_DIGEST_MAX];
	unsigned        attempts;    /* made so far */
	struct nt_mail *mail;        /* smtp.c's, while it sends */
	uint64_t        retry_timer; /* smtp.c's backoff, 0: none */
};

/*
 * The end of send s: err 0 (sent) or the agentd_error of its last
 * attempt, why one line saying what went wrong.  Audits it, answers its
 * request (or logs a failed event) and frees s.
 */
void nt_send_done(struct nt_send *s, int err, const char *why);

/* What a channel sender needs of the instance. */
const struct agentd_host *nt_host(const struct notify *n);
agentd_ctx               *nt_ctx(const struct notify *n);

/* webhook.c: POST {"text": ...} with http_async.  0, or the error that
 * refused it at once (s is not ended then). */
int nt_webhook_send(struct nt_send *s);

/*
 * smtp.c: e-mail through the instance's own libcurl multi handle, driven
 * by host->watch_fd and host->timer_start.
 */
struct nt_smtp;
/* *out: caller owns, free with nt_smtp_free().  AGENTD_ENOTSUP without
 * watch_fd and timer_start in the host, AGENTD_ENOMEM. */
int nt_smtp_new(
    agentd_ctx *ctx, const struct agentd_host *host, struct nt_smtp **out);
/* The instance's, for a send's retry timer; NULL without e-mail. */
struct nt_smtp *nt_smtp_of(const struct notify *n);
/* Ends every send still under way with AGENTD_ECLOSED, then frees. */
void nt_smtp_free(struct nt_smtp *sm);
/* 0, or the error that refused it at once (s is not ended then). */
int nt_smtp_send(struct nt_smtp *sm, struct nt_send *s);

#endif /* NOTIFY_NOTIFY_H */
