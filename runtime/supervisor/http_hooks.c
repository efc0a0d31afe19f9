#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bus/envelope.h"
#include "common/json_mp.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "config/conf.h"
#include "supervisor/http_hooks.h"
#include "supervisor/hub.h"
#include "supervisor/supervisor.h"

#define MAC_LEN 32 /* HMAC-SHA256 */
/* A delivery id is printable ASCII, at most this long. */
#define ID_MAX 128

/*
 * The delivery ids a webhook saw within its replay window, oldest first:
 * a ring in arrival order, which is expiry order (one window for all),
 * and a hash table over it whose chains hold ring indexes + 1 (0 ends a
 * chain).  Keys are the SHA-256 of the id.
 */
struct seen_id {
	unsigned char key[MAC_LEN];
	int64_t       until_ms; /* monotonic */
	uint32_t      next;
};

struct seen_ids {
	struct seen_id *ring; /* AD_HOOK_IDS_MAX */
	uint32_t        head, n;
	uint32_t       *bucket; /* AD_HOOK_IDS_MAX chains */
};

struct hook {
	char               *name, *path, *topic;
	char                src[AD_NAME_MAX]; /* "webhook.NAME" */
	char               *sig_header, *id_header;
	int                 hex;
	int64_t             window_ms;
	unsigned char      *secret;
	size_t              secret_len;
	struct seen_ids     ids;
	uint64_t            n[AD_HOOK_OUTCOMES];
	struct ad_ratelimit refused_log, replayed_log;
};

struct ad_hooks {
	struct ad_sv *sv;
	struct hook  *v;
	size_t        n;
};

static const char *const outcome_names[AD_HOOK_OUTCOMES] = {
	[AD_HOOK_DELIVERED]     = "delivered",
	[AD_HOOK_NO_SIGNATURE]  = "no_signature",
	[AD_HOOK_BAD_SIGNATURE] = "bad_signature",
	[AD_HOOK_NO_ID]         = "no_id",
	[AD_HOOK_REPLAYED]      = "replayed",
	[AD_HOOK_NOT_JSON]      = "not_json",
	[AD_HOOK_TOO_BIG]       = "too_big",
	[AD_HOOK_BUSY]          = "busy",
	[AD_HOOK_UNAVAILABLE]   = "unavailable",
	[AD_HOOK_METHOD]        = "method",
};

const char *
ad_hook_outcome_name(enum ad_hook_outcome o)
{
	return (unsigned)o < AD_HOOK_OUTCOMES ? outcome_names[o] : "?";
}

/* ---- start and stop ---------------------------------------------------- */

static void
hook_clear(struct hook *k)
{
	free(k->name);
	free(k->path);
	free(k->topic);
	free(k->sig_header);
	free(k->id_header);
	ad_webhook_secret_free(k->secret, k->secret_len);
	free(k->ids.ring);
	free(k->ids.bucket);
}

int
ad_hooks_open(struct ad_sv *sv, const struct ad_global_conf *g,
    struct ad_hooks **out, char *err, size_t errlen)
{
	struct ad_hooks *hs;
	char             why[AD_ERRLEN];
	size_t           i;

	*out = NULL;
	if (g->http_nwebhooks == 0)
		return 0;
	hs     = ad_xcalloc(1, sizeof(*hs));
	hs->sv = sv;
	hs->v  = ad_xcalloc(g->http_nwebhooks, sizeof(*hs->v));
	for (i = 0; i < g->http_nwebhooks; i++) {
		const struct ad_webhook_conf *c = &g->http_webhooks[i];
		struct hook                  *k = &hs->v[hs->n++];

		k->name       = ad_xstrdup(c->name);
		k->path       = ad_xstrdup(c->path);
		k->topic      = ad_xstrdup(c->topic);
		k->sig_header = ad_xstrdup(c->signature_header);
		k->id_header  = ad_xstrdup_or_null(c->id_header);
		k->hex        = c->encoding == AD_WEBHOOK_HEX;
		k->window_ms  = c->replay_window_ms;
		snprintf(k->src, sizeof(k->src), "webhook.%s", c->name);
		if (ad_webhook_secret_read(c->secret_file, &k->secret,
		        &k->secret_len, why, sizeof(why))
		    != 0) {
			ad_seterr(err, errlen,
			    "%s:%d: http: webhook \"%s\": secret_file: %s",
			    g->file, c->line, c->name, why);
			ad_hooks_free(hs);
			return AGENTD_ECONFIG;
		}
		/* Untouched pages cost nothing: the bound is what is used. */
		if (k->id_header != NULL) {
			k->ids.ring = ad_xcalloc(
			    AD_HOOK_IDS_MAX, sizeof(*k->ids.ring));
			k->ids.bucket = ad_xcalloc(
			    AD_HOOK_IDS_MAX, sizeof(*k->ids.bucket));
		}
	}
	*out = hs;
	return 0;
}

void
ad_hooks_free(struct ad_hooks *hs)
{
	size_t i;

	if (hs == NULL)
		return;
	for (i = 0; i < hs->n; i++)
		hook_clear(&hs->v[i]);
	free(hs->v);
	free(hs);
}

int
ad_hooks_path(const char *path)
{
	return strncmp(path, "/hooks/", 7) == 0;
}

size_t
ad_hooks_stats(struct ad_hooks *hs, struct ad_hook_stats **out)
{
	size_t i;

	*out = NULL;
	if (hs == NULL || hs->n == 0)
		return 0;
	*out = ad_xcalloc(hs->n, sizeof(**out));
	for (i = 0; i < hs->n; i++) {
		snprintf((*out)[i].name, sizeof((*out)[i].name), "%s",
		    hs->v[i].name);
		memcpy((*out)[i].n, hs->v[i].n, sizeof(hs->v[i].n));
	}
	return hs->n;
}

/* ---- the signature ----------------------------------------------------- */

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
b64_val(char c)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
	                               "mnopqrstuvwxyz0123456789+/";
	const char       *p          = c != '\0' ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

/*
 * The 32 bytes a signature header writes, as hex (64 digits) or base64
 * (43 characters, and '=' or not), after an optional "sha256=" and
 * spaces.  0, or -1 for anything else.
 */
static int
mac_decode(const char *s, int hex, unsigned char out[MAC_LEN])
{
	size_t   n, i, o = 0;
	uint32_t bits  = 0;
	int      nbits = 0, v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (strncasecmp(s, "sha256=", 7) == 0)
		s += 7;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (hex) {
		if (n != 2 * MAC_LEN)
			return -1;
		for (i = 0; i < MAC_LEN; i++) {
			int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return -1;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	if (n == 44 && s[43] == '=')
		n = 43;
	if (n != 43)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64_val(s[i])) < 0)
			return -1;
		bits = bits << 6 | (uint32_t)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			out[o++] = (unsigned char)(bits >> nbits);
		}
	}
	/* 43 characters: 32 bytes and two bits, which must be zero. */
	return o == MAC_LEN && (bits & 3) == 0 ? 0 : -1;
}

/* Does sig hold the HMAC-SHA256 of body under k's secret?  In constant
 * time once its form is right (the form is no secret). */
static int
signed_by(const struct hook *k, const char *sig, const char *body, size_t len)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[MAC_LEN];
	unsigned int  n = 0;
	int           good;

	if (mac_decode(sig, k->hex, got) != 0)
		return 0;
	if (HMAC(EVP_sha256(), k->secret, (int)k->secret_len,
	        (const unsigned char *)(body != NULL ? body : ""), len, want,
	        &n)
	        == NULL
	    || n != MAC_LEN)
		return 0;
	good = CRYPTO_memcmp(want, got, MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return good;
}

/* ---- delivery ids ------------------------------------------------------ */

static uint32_t
bucket_of(const unsigned char key[MAC_LEN])
{
	uint32_t b;

	memcpy(&b, key, sizeof(b));
	return b % AD_HOOK_IDS_MAX;
}

/* Forget the ids whose window has passed.  mtx held. */
static void
ids_expire(struct seen_ids *ids, int64_t now)
{
	while (ids->n > 0 && ids->ring[ids->head].until_ms <= now) {
		uint32_t *pp
		    = &ids->bucket[bucket_of(ids->ring[ids->head].key)];

		while (*pp != 0 && *pp != ids->head + 1)
			pp = &ids->ring[*pp - 1].next;
		if (*pp != 0)
			*pp = ids->ring[ids->head].next;
		ids->head = (ids->head + 1) % AD_HOOK_IDS_MAX;
		ids->n--;
	}
}

static const struct seen_id *
ids_find(const struct seen_ids *ids, const unsigned char key[MAC_LEN])
{
	uint32_t i = ids->bucket[bucket_of(key)];

	for (; i != 0; i = ids->ring[i - 1].next)
		if (memcmp(ids->ring[i - 1].key, key, MAC_LEN) == 0)
			return &ids->ring[i - 1];
	return NULL;
}

/* Remember key until until_ms: 0, or -1 when the ring is full. */
static int
ids_add(struct seen_ids *ids, const unsigned char key[MAC_LEN], int64_t until)
{
	uint32_t        i, *b;
	struct seen_id *e;

	if (ids->n == AD_HOOK_IDS_MAX)
		return -1;
	i = (ids->head + ids->n) % AD_HOOK_IDS_MAX;
	e = &ids->ring[i];
	memcpy(e->key, key, MAC_LEN);
	e->until_ms = until;
	b           = &ids->bucket[bucket_of(key)];
	e->next     = *b;
	*b          = i + 1;
	ids->n++;
	return 0;
}

/* A delivery id: printable ASCII, no space, at most ID_MAX. */
static int
id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > ID_MAX)
		return 0;
	for (; *id != '\0'; id++)
		if (*id <= ' ' || *id > '~')
			return 0;
	return 1;
}

/* ---- the request ------------------------------------------------------- */

static void answer(struct ad_hook_answer *a, unsigned code, int status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* a answered with code and {"error": NAME, "message": ...}. */
static void
answer(
    struct ad_hook_answer *a, unsigned code, int status, const char *fmt, ...)
{
	char    line[AD_ERRLEN];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	j = json_pack(
	    "{s:s,s:s}", "error", agentd_errname(status), "message", line);
	a->json = json_dumps(j, JSON_COMPACT);
	a->code = code;
	json_decref(j);
}

static struct hook *
hook_at(struct ad_hooks *hs, const char *path)
{
	size_t i;

	for (i = 0; hs != NULL && i < hs->n; i++)
		if (strcmp(hs->v[i].path, path) == 0)
			return &hs->v[i];
	return NULL;
}

void
ad_hooks_too_big(struct ad_hooks *hs, const char *path)
{
	struct hook *k = hook_at(hs, path);

	if (k != NULL)
		k->n[AD_HOOK_TOO_BIG]++;
}

/* A refused signature: counted, audited at most once a second. */
static void
refused(struct ad_hooks *hs, struct hook *k, enum ad_hook_outcome o,
    const char *why)
{
	char     note[AD_RATELIMIT_NOTE];
	uint64_t n;

	pthread_mutex_lock(&hs->sv->mtx);
	k->n[o]++;
	n = k->n[AD_HOOK_NO_SIGNATURE] + k->n[AD_HOOK_BAD_SIGNATURE];
	if (ad_ratelimit(&k->refused_log, ad_now_ms(), note, sizeof(note)))
		ad_sv_audit(hs->sv, NULL, NULL, "webhook.refused",
		    "webhook %s: POST %s: %s (%llu refused so far)%s", k->name,
		    k->path, why, (unsigned long long)n, note);
	pthread_mutex_unlock(&hs->sv->mtx);
}

static void
count(struct ad_hooks *hs, struct hook *k, enum ad_hook_outcome o)
{
	pthread_mutex_lock(&hs->sv->mtx);
	k->n[o]++;
	pthread_mutex_unlock(&hs->sv->mtx);
}

/* The body as the event's msgpack, into w: 0, or answered. */
static int
body_event(struct ad_hooks *hs, struct hook *k, const struct ad_hook_req *rq,
    agentd_writer *w, struct ad_hook_answer *a)
{
	json_error_t jerr;
	json_t      *j;
	size_t       len;
	int          rv;

	if ((j = json_loadb(rq->body != NULL ? rq->body : "", rq->len,
	         JSON_DECODE_ANY, &jerr))
	    == NULL) {
		count(hs, k, AD_HOOK_NOT_JSON);
		answer(a, 400, AGENTD_EINVAL,
		    "webhook %s: the body is not JSON: line %d column %d: %s",
		    k->name, jerr.line, jerr.column, jerr.text);
		return -1;
	}
	rv = ad_json_to_mp(j, w);
	json_decref(j);
	if (rv != 0) {
		count(hs, k, AD_HOOK_NOT_JSON);
		answer(a, 400, AGENTD_EINVAL,
		    "webhook %s: the JSON is nested deeper than %d levels",
		    k->name, AGENTD_MSG_MAX_DEPTH);
		return -1;
	}
	/* An event's envelope holds it with room for its other fields. */
	agentd_writer_data(w, &len);
	if (len + 1024 > rq->max_body) {
		count(hs, k, AD_HOOK_TOO_BIG);
		answer(a, 413, AGENTD_ETOOBIG,
		    "webhook %s: the event would be over max_message_size "
		    "(%zu "
		    "bytes): raise agentd { max_message_size }",
		    k->name, rq->max_body);
		return -1;
	}
	return 0;
}

/*
 * Publish the event (with its id remembered, if there is one): 0 with
 * the subscribers it went to in *n, or answered.
 */
static int
publish(struct ad_hooks *hs, struct hook *k, const char *id, agentd_writer *w,
    unsigned *n, struct ad_hook_answer *a)
{
	struct ad_sv         *sv = hs->sv;
	struct ad_envelope    ev;
	unsigned char         key[MAC_LEN];
	const struct seen_id *seen;
	int64_t               now = ad_now_ms();
	char                  note[AD_RATELIMIT_NOTE];
	int                   rv = 0;

	if (id != NULL)
		EVP_Digest(id, strlen(id), key, NULL, EVP_sha256(), NULL);
	memset(&ev, 0, sizeof(ev));
	ev.kind = AD_KIND_EVENT;
	snprintf(ev.dst, sizeof(ev.dst), "%s", k->topic);
	ev.body = agentd_writer_data(w, &ev.body_len);
	pthread_mutex_lock(&sv->mtx);
	if (sv->stopping) {
		k->n[AD_HOOK_UNAVAILABLE]++;
		answer(a, 503, AGENTD_ECLOSED, "agentd is stopping");
		rv = -1;
	} else if (id != NULL) {
		ids_expire(&k->ids, now);
		if ((seen = ids_find(&k->ids, key)) != NULL) {
			k->n[AD_HOOK_REPLAYED]++;
			if (ad_ratelimit(
			        &k->replayed_log, now, note, sizeof(note)))
				ad_sv_audit(sv, NULL, NULL, "webhook.replayed",
				    "webhook %s: delivery %s again after "
				    "%llds: "
				    "not published (%llu so far)%s",
				    k->name, id,
				    (long long)((now - seen->until_ms
				                    + k->window_ms)
				        / 1000),
				    (unsigned long long)k->n[AD_HOOK_REPLAYED],
				    note);
			answer(a, 409, AGENTD_EEXIST,
			    "webhook %s: delivery %s was received %llds ago "
			    "(replay_window %llds): not published again",
			    k->name, id,
			    (long long)((now - seen->until_ms + k->window_ms)
			        / 1000),
			    (long long)(k->window_ms / 1000));
			rv = -1;
		} else if (ids_add(&k->ids, key, now + k->window_ms) != 0) {
			k->n[AD_HOOK_BUSY]++;
			answer(a, 429, AGENTD_EBUSY,
			    "webhook %s: %d deliveries within replay_window "
			    "already: send it again later",
			    k->name, AD_HOOK_IDS_MAX);
			rv = -1;
		}
	}
	if (rv == 0) {
		*n = ad_hub_deliver(sv, k->src, "", &ev);
		k->n[AD_HOOK_DELIVERED]++;
	}
	pthread_mutex_unlock(&sv->mtx);
	return rv;
}

void
ad_hooks_handle(struct ad_hooks *hs, const struct ad_hook_req *rq,
    struct ad_hook_answer *a)
{
	struct hook   *k = hook_at(hs, rq->path);
	const char    *sig, *id = NULL;
	agentd_writer *w;
	unsigned       n = 0;
	char           out[64];

	memset(a, 0, sizeof(*a));
	if (k == NULL) {
		answer(a, 404, AGENTD_ENOENT,
		    "%s: no webhook has this path (http { webhook } in "
		    "agentd's configuration)",
		    rq->path);
		return;
	}
	if (strcmp(rq->method, "POST") != 0) {
		count(hs, k, AD_HOOK_METHOD);
		snprintf(a->allow, sizeof(a->allow), "POST");
		answer(a, 405, AGENTD_EINVAL, "%s %s: a webhook takes POST",
		    rq->method, rq->path);
		return;
	}
	if ((sig = rq->header(rq->header_arg, k->sig_header)) == NULL) {
		refused(hs, k, AD_HOOK_NO_SIGNATURE, "no signature header");
		answer(a, 401, AGENTD_EDENIED,
		    "webhook %s: no %s header: the platform signs each "
		    "delivery there",
		    k->name, k->sig_header);
		return;
	}
	if (!signed_by(k, sig, rq->body, rq->len)) {
		refused(hs, k, AD_HOOK_BAD_SIGNATURE, "a wrong signature");
		answer(a, 401, AGENTD_EDENIED,
		    "webhook %s: %s is not the HMAC-SHA256 (%s) of this body "
		    "under its secret",
		    k->name, k->sig_header, k->hex ? "hex" : "base64");
		return;
	}
	if (k->id_header != NULL
	    && !id_ok(id = rq->header(rq->header_arg, k->id_header))) {
		count(hs, k, AD_HOOK_NO_ID);
		answer(a, 400, AGENTD_EINVAL,
		    "webhook %s: %s %s: it names each delivery, in at most %d "
		    "printable characters",
		    k->name, k->id_header,
		    id == NULL ? "is missing"
		               : "is not "
		                 "a delivery id",
		    ID_MAX);
		return;
	}
	agentd_writer_new(&w);
	if (body_event(hs, k, rq, w, a) == 0
	    && publish(hs, k, id, w, &n, a) == 0) {
		snprintf(out, sizeof(out), "{\"delivered\":%u}", n);
		a->json = ad_xstrdup(out);
		a->code = 200;
	}
	agentd_writer_free(w);
}
