/*
 * http_hooks.h - webhooks: signed POSTs under /hooks/ that become events
 * (doc/http.md, "Webhooks").
 *
 * Each http { webhook "NAME" { } } of the configuration is a path.  A
 * POST to it carries, in the webhook's signature header, the HMAC-SHA256
 * of its raw body under the secret shared with the platform (base64 or
 * hex, as the webhook says); the signature is who asks, so no token is
 * needed.  A request whose signature checks out, whose body is JSON and
 * whose delivery id (with id_header) was not seen within replay_window
 * is published on the webhook's topic, from the source "webhook.NAME",
 * through the hub as an operator's event is (ad_hub_deliver): the
 * webhook's own topic is the only one it may publish on, and the
 * subscribers' subscribe = { } decide who gets it.
 *
 * The secrets are read when the server starts and kept in memory only
 * here (wiped when freed).  Everything is guarded by sv->mtx but the
 * signature check, which needs none of it.
 *
 * This file owns struct ad_hooks: the webhooks, their secrets, the ids
 * they remember and their counters.
 */
#ifndef AD_HTTP_HOOKS_H
#define AD_HTTP_HOOKS_H

#include <stddef.h>
#include <stdint.h>

struct ad_sv;
struct ad_global_conf;
struct ad_hooks;

/* Delivery ids one webhook remembers at once: a new one past them is
 * refused (429) until the oldest expire. */
#define AD_HOOK_IDS_MAX 65536

/* What became of one request to a webhook, as /metrics names it. */
enum ad_hook_outcome {
	AD_HOOK_DELIVERED = 0, /* published: 200 */
	AD_HOOK_NO_SIGNATURE,  /* no signature header: 401 */
	AD_HOOK_BAD_SIGNATURE, /* one that does not check out: 401 */
	AD_HOOK_NO_ID,         /* id_header missing or not an id: 400 */
	AD_HOOK_REPLAYED,      /* its id seen within replay_window: 409 */
	AD_HOOK_NOT_JSON,      /* a body that is not JSON: 400 */
	AD_HOOK_TOO_BIG,       /* its msgpack over max_message_size: 413 */
	AD_HOOK_BUSY,          /* AD_HOOK_IDS_MAX ids remembered: 429 */
	AD_HOOK_UNAVAILABLE,   /* agentd stopping: 503 */
	AD_HOOK_METHOD,        /* not a POST: 405 */
	AD_HOOK_OUTCOMES
};

/* "delivered", "bad_signature" ... */
const char *ad_hook_outcome_name(enum ad_hook_outcome o);

/* One webhook's counters, by outcome. */
struct ad_hook_stats {
	char     name[64];
	uint64_t n[AD_HOOK_OUTCOMES];
};

/*
 * The webhooks of g (none: *out NULL), their secrets read.  On failure
 * one line in err ("FILE:LINE: http: webhook \"NAME\": ...").
 */
int  ad_hooks_open(struct ad_sv *sv, const struct ad_global_conf *g,
     struct ad_hooks **out, char *err, size_t errlen);
void ad_hooks_free(struct ad_hooks *hs);

/* Does path name a webhook (or lie under /hooks/, where only webhooks
 * are)?  1 or 0. */
int ad_hooks_path(const char *path);

/* One request; every pointer borrowed for the call. */
struct ad_hook_req {
	const char *path; /* decoded, no query */
	const char *method;
	/* The value of a request header (case-insensitive), or NULL. */
	const char *(*header)(void *arg, const char *name);
	void       *header_arg;
	const char *body; /* the raw body, as signed */
	size_t      len;
	size_t      max_body; /* max_message_size */
};

/* Its answer: the HTTP status and a JSON object, caller frees json. */
struct ad_hook_answer {
	unsigned code;
	char    *json;
	char     allow[8]; /* 405: the method the path takes */
};

/*
 * Answer rq: 200 {"delivered": N} once published, or an error as the
 * rest of the API gives them ({"error", "message"}); counted, and 401s
 * and 409s audited at most once a second per webhook.  hs may be NULL
 * (no webhooks: 404).  Without sv->mtx: it takes it to publish.
 */
void ad_hooks_handle(struct ad_hooks *hs, const struct ad_hook_req *rq,
    struct ad_hook_answer *a);

/* The server refused a body over max_message_size sent to path before
 * it was read: counted as the webhook's too_big.  mtx held. */
void ad_hooks_too_big(struct ad_hooks *hs, const char *path);

/* A copy of every webhook's counters (caller frees *out), how many.
 * mtx held. */
size_t ad_hooks_stats(struct ad_hooks *hs, struct ad_hook_stats **out);

#endif
