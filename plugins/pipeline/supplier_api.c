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

int
pl_base_url(const char *url, char *out)
{
	size_t      n = strlen(url);
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return AGENTD_EINVAL;
	if (n >= PL_BASE_MAX || *host == '\0' || *host == '/'
	    || strpbrk(url, "?# \t\r\n") != NULL)
		return AGENTD_EINVAL;
	memcpy(out, url, n + 1);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

int
pl_read_key(const char *path, char *key, char *why, size_t why_size)
{
	FILE  *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		snprintf(why, why_size, "api_key_file %s: %s", path,
		    strerror(errno));
		return AGENTD_ECONFIG;
	}
	if (fgets(key, PL_KEY_MAX, f) == NULL)
		key[0] = '\0';
	fclose(f);
	n = strlen(key);
	if (n == PL_KEY_MAX - 1 && key[n - 1] != '\n') {
		snprintf(why, why_size,
		    "api_key_file %s: longer than %d bytes", path,
		    PL_KEY_MAX - 2);
		key[0] = '\0';
		return AGENTD_ECONFIG;
	}
	while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
		key[--n] = '\0';
	if (n == 0) {
		snprintf(why, why_size, "api_key_file %s: empty", path);
		return AGENTD_ECONFIG;
	}
	return 0;
}

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
