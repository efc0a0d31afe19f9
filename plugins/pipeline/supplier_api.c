/*
 * supplier_api.c - the supplier catalog's API as scout and vetting use
 * it: checks of its settings, one GET, its failures told with the URL and
 * the status, its JSON re-encoded as msgpack (supplier_api.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "supplier_api.h"

void
pl_query_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t            o     = 0;

	for (; *s != '\0' && o + 4 <= size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		    || (c >= '0' && c <= '9') || c == '-' || c == '_'
		    || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else if (c == ' ') {
			out[o++] = '+';
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (size > 0)
		out[o < size ? o : size - 1] = '\0';
}

int
pl_get(const struct agentd_host *host, agentd_ctx *ctx, const char *url,
    const char *key, unsigned timeout_ms, agentd_http_fn cb, void *arg)
{
	struct agentd_http_request req = AGENTD_HTTP_REQUEST_INIT;
	struct agentd_http_header  h[2];
	char                       bearer[PL_KEY_MAX + 16];

	h[0].name    = "Accept";
	h[0].value   = "application/json";
	req.nheaders = 1;
	if (key != NULL && key[0] != '\0') {
		snprintf(bearer, sizeof(bearer), "Bearer %s", key);
		h[1].name    = "Authorization";
		h[1].value   = bearer;
		req.nheaders = 2;
	}
	req.method     = "GET";
	req.url        = url;
	req.headers    = h;
	req.timeout_ms = timeout_ms;
	req.attempts   = 2;
	return host->http_async(ctx, &req, cb, arg);
}

int
pl_answer_json(const struct agentd_http_response *r, const char *url,
    json_t **out, char *err)
{
	json_error_t je;

	*out = NULL;
	if (r->status != 0) {
		snprintf(err, PL_ERR_MAX, "GET %s: no answer (%s: %s)", url,
		    agentd_errname(r->status), agentd_strerror(r->status));
		return AGENTD_EUNAVAIL;
	}
	if (r->http_code >= 500) {
		snprintf(err, PL_ERR_MAX, "GET %s: HTTP %d, the server failed",
		    url, r->http_code);
		return AGENTD_EUNAVAIL;
	}
	if (r->http_code == 404) {
		snprintf(err, PL_ERR_MAX, "GET %s: HTTP 404, not found", url);
		return AGENTD_ENOENT;
	}
	if (r->http_code != 200) {
		snprintf(err, PL_ERR_MAX, "GET %s: HTTP %d%s", url,
		    r->http_code,
		    r->http_code == 401 || r->http_code == 403
		        ? ", refused: check api_key_file"
		        : ", not the answer of the catalog API");
		return AGENTD_EPROTO;
	}
	*out = json_loadb(r->body, r->body_len, 0, &je);
	if (*out == NULL) {
		snprintf(err, PL_ERR_MAX,
		    "GET %s: HTTP 200 but the body is not JSON (%s, at byte "
		    "%d)",
		    url, je.text, je.position);
		return AGENTD_EPROTO;
	}
	return 0;
}

double
pl_num(const json_t *obj, const char *key, double def)
{
	const json_t *v = json_object_get(obj, key);
	double        d;

	if (!json_is_number(v))
		return def;
	d = json_number_value(v);
	return isfinite(d) ? d : def;
}
