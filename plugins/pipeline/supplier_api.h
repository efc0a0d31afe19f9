/*
 * supplier_api.h - what scout and vetting share about the supplier
 * catalog's HTTP API (doc/shop-contracts.md): its settings' checks, the
 * GET and the way its failures are told, its JSON turned into msgpack.
 * Compiled into each plugin that uses it (no symbol is exported: the
 * plugins export only their descriptor).
 */
#ifndef PIPELINE_SUPPLIER_API_H
#define PIPELINE_SUPPLIER_API_H

#include <stddef.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../jsonkit/jsonkit.h"
#include "../shopkit/shopkit.h"

#define PL_SKU_MAX SHOPKIT_SKU_MAX
#define PL_KEY_MAX 512   /* an API key, in bytes */
#define PL_BASE_MAX 1024 /* a base URL such as catalog_url */
#define PL_ERR_MAX 2048  /* a one-line error message */

/* A SKU: shopkit_valid_sku() (plugins/shopkit/sku.h). */
#define pl_valid_sku shopkit_valid_sku

/* A base URL setting and an API key file: shopkit_base_url and
 * shopkit_read_secret (plugins/shopkit). */

/* s percent-encoded as a query value into out (size bytes; cut, still
 * NUL-terminated, when it does not fit: callers bound s first). */
void pl_query_escape(const char *s, char *out, size_t size);

/*
 * A GET of url (borrowed for the call) with "Authorization: Bearer KEY"
 * when key is not empty, timeout_ms an attempt, two attempts (a GET is
 * safe to try again).  0 and cb runs later, or http_async's refusal.
 */
int pl_get(const struct agentd_host *host, agentd_ctx *ctx, const char *url,
    const char *key, unsigned timeout_ms, agentd_http_fn cb, void *arg);

/*
 * The JSON of an answer to GET url.  0 and *out (caller owns, free with
 * json_decref()) for a 200 whose body is JSON; otherwise an error and a
 * message in err (PL_ERR_MAX bytes) naming the URL and what came back:
 *   AGENTD_EUNAVAIL  no answer (the transfer's status named), or a 5xx
 *   AGENTD_ENOENT    404
 *   AGENTD_EPROTO    another code, or a body that is not JSON
 */
int pl_answer_json(const struct agentd_http_response *r, const char *url,
    json_t **out, char *err);

/* JSON as msgpack: jsonkit_write (plugins/jsonkit). */

/* A number of a JSON object (integer or real); def when absent or not
 * a number. */
double pl_num(const json_t *obj, const char *key, double def);

#endif /* PIPELINE_SUPPLIER_API_H */
