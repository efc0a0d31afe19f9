/*
 * webhook.c - a webhook channel: one POST of Slack-compatible JSON,
 * {"text": SUBJECT "\n" TEXT} (just TEXT without a subject), through
 * host->http_async, which makes the retries: connect errors, timeouts,
 * 429 (its Retry-After waited) and 5xx, with backoff and jitter.  A
 * notification is worth a duplicate more than a loss, so a POST is
 * retried after a timeout or a 5xx too (AGENTD_HTTP_RETRY_UNSAFE).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"

static void
answered(void *arg, const struct agentd_http_response *r)
{
	struct nt_send *s = arg;
	char            why[NT_ERR_MAX];
	int             err = 0;

	s->attempts = r->attempts;
	if (r->status != 0) {
		err = r->status;
		snprintf(why, sizeof(why), "%s", agentd_strerror(r->status));
	} else if (r->http_code < 200 || r->http_code > 299) {
		err = r->http_code == 429 || r->http_code >= 500
		    ? AGENTD_EUNAVAIL
		    : AGENTD_EIO;
		snprintf(why, sizeof(why), "HTTP %d", r->http_code);
	}
	if (err == 0)
		nt_send_done(s, 0, "");
	else {
		size_t n = strlen(why);

		snprintf(why + n, sizeof(why) - n, " after %u attempt%s",
		    r->attempts, r->attempts == 1 ? "" : "s");
		nt_send_done(s, err, why);
	}
}

/* The body: {"text": ...}, escaped by jansson.  Caller frees. */
static char *
body_of(const struct nt_send *s)
{
	json_t *j;
	char   *text, *out;
	size_t  sl = strlen(s->subject), tl = strlen(s->text);

	if ((text = malloc(sl + tl + 2)) == NULL)
		return NULL;
	if (sl > 0)
		snprintf(text, sl + tl + 2, "%s\n%s", s->subject, s->text);
	else
		memcpy(text, s->text, tl + 1);
	j = json_pack("{s:s}", "text", text);
	free(text);
	if (j == NULL)
		return NULL; /* not UTF-8: send_start checked it */
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return out;
}

int
nt_webhook_send(struct nt_send *s)
{
	const struct agentd_host              *host = nt_host(s->n);
	static const struct agentd_http_header hdr[]
	    = { { "Content-Type", "application/json" } };
	struct agentd_http_request req = AGENTD_HTTP_REQUEST_INIT;
	char                      *body;
	int                        rv;

	if (!AGENTD_HOST_HAS(host, http_async))
		return AGENTD_ENOTSUP;
	if ((body = body_of(s)) == NULL)
		return AGENTD_EINVAL;
	req.method             = "POST";
	req.url                = s->ch->url;
	req.headers            = hdr;
	req.nheaders           = 1;
	req.body               = body;
	req.body_len           = strlen(body);
	req.timeout_ms         = s->ch->timeout_ms;
	req.attempts           = s->ch->attempts;
	req.backoff_initial_ms = s->ch->backoff_ms;
	req.backoff_max_ms     = s->ch->backoff_ms * 16;
	req.retry_on = AGENTD_HTTP_RETRY_DEFAULT | AGENTD_HTTP_RETRY_UNSAFE;
	rv           = host->http_async(nt_ctx(s->n), &req, answered, s);
	free(body);
	return rv;
}
