/*
 * shopkit - what the shop's plugins (publisher, fulfilment, catalog; scout
 * and vetting its URL and secret checks) share:
 * their settings' checks, the secret files they read at init, and the
 * turning of an http_async answer into one agentd_error and one line.
 * Compiled into each plugin (no library of its own: a plugin exports only
 * its descriptor).
 */
#ifndef SHOPKIT_H
#define SHOPKIT_H

#include <stddef.h>

#include <jansson.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "sku.h"

#define SHOPKIT_URL_MAX 512
#define SHOPKIT_SECRET_MAX 512

/*
 * Copy the base URL url (http:// or https://, a host, no query, no
 * trailing slash) into buf; 0, or AGENTD_EINVAL with why (one line).
 */
int shopkit_base_url(
    const char *url, char *buf, size_t size, char *why, size_t whylen);

/*
 * The first line of the file at path (its \n or \r\n not part of it,
 * not empty) into buf; 0, or an error with why naming the file but never
 * its content.
 */
int shopkit_read_secret(
    const char *path, char *buf, size_t size, char *why, size_t whylen);

/*
 * Where a plugin's remote API is and how it is called: its base URL, the
 * secret it presents, the timeout of each request.
 */
struct shopkit_api {
	char     base[SHOPKIT_URL_MAX];
	char     secret[SHOPKIT_SECRET_MAX]; /* "": none */
	uint32_t timeout_ms;
};

/*
 * The settings url_key (a base URL, shopkit_base_url), secret_key (the
 * file holding the secret, shopkit_read_secret; with secret_optional an
 * empty setting means no secret) and timeout_ms (100 to 600000) into a.
 * 0, or AGENTD_ECONFIG after one line "settings: KEY ..." in the log.
 */
int shopkit_api_settings(const struct agentd_host *host, agentd_ctx *ctx,
    const char *url_key, const char *secret_key, int secret_optional,
    struct shopkit_api *a);

/*
 * What an answer means: 0 for a 2xx; AGENTD_EUNAVAIL when no answer came
 * (refused, timeout), AGENTD_EDENIED for 401 and 403, AGENTD_ENOENT for
 * 404, AGENTD_EIO for any other code.  what names the request in the
 * line written in msg ("GET products.json: HTTP 500").
 */
int shopkit_http_error(const struct agentd_http_response *r, const char *what,
    char *msg, size_t msglen);

/* The answer's body as a JSON object, or NULL (not JSON, not an object):
 * caller owns, free with json_decref(). */
json_t *shopkit_json_body(const struct agentd_http_response *r);

/* A JSON number or a string holding one ("22.80"), else def. */
double shopkit_json_money(const json_t *v, double def);

/* A msgpack value as an integer id: an int, or a string of digits
 * (the webhook's order id comes as a number, an agent's as a string).
 * 0, or AGENTD_EINVAL. */
int shopkit_get_id(const agentd_value *v, char *buf, size_t size);

/* Answer req with writer w's bytes and free w. */
int shopkit_reply(const struct agentd_host *host, agentd_ctx *ctx,
    agentd_request *req, agentd_writer *w);

#endif /* SHOPKIT_H */
