/*
 * shopkit - helpers the shop's plugins share (shopkit.h).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shopkit.h"

int
shopkit_base_url(
    const char *url, char *buf, size_t size, char *why, size_t whylen)
{
	size_t      len = strlen(url);
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		host = NULL;
	if (host == NULL || *host == '\0' || *host == '/') {
		snprintf(why, whylen,
		    "\"%s\" is not an http:// or https:// URL "
		    "with a host",
		    url);
		return AGENTD_EINVAL;
	}
	if (strpbrk(url, "?#@ \t\r\n") != NULL || len >= size) {
		snprintf(why, whylen,
		    "\"%s\": no query, credentials or spaces, "
		    "at most %zu bytes",
		    url, size - 1);
		return AGENTD_EINVAL;
	}
	while (len > 0 && url[len - 1] == '/')
		len--;
	memcpy(buf, url, len);
	buf[len] = '\0';
	return 0;
}

int
shopkit_read_secret(
    const char *path, char *buf, size_t size, char *why, size_t whylen)
{
	FILE  *f;
	size_t n;

	if (path[0] == '\0') {
		snprintf(why, whylen, "no file given");
		return AGENTD_EINVAL;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(
		    why, whylen, "cannot read %s: %s", path, strerror(errno));
		return AGENTD_EIO;
	}
	if (fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strlen(buf);
	if (n == size - 1 && buf[n - 1] != '\n') {
		snprintf(why, whylen,
		    "%s: its first line is longer than %zu "
		    "bytes",
		    path, size - 2);
		return AGENTD_EINVAL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0) {
		snprintf(why, whylen, "%s: its first line is empty", path);
		return AGENTD_EINVAL;
	}
	return 0;
}

int
shopkit_api_settings(const struct agentd_host *host, agentd_ctx *ctx,
    const char *url_key, const char *secret_key, int secret_optional,
    struct shopkit_api *a)
{
	const char *url = "", *file = "";
	int64_t     timeout = 10000;
	char        why[600];

	host->setting_string(ctx, url_key, &url);
	host->setting_string(ctx, secret_key, &file);
	host->setting_int(ctx, "timeout_ms", &timeout);
	if (shopkit_base_url(url, a->base, sizeof(a->base), why, sizeof(why))
	    != 0) {
		host->log(
		    ctx, AGENTD_LOG_ERROR, "settings: %s %s", url_key, why);
		return AGENTD_ECONFIG;
	}
	a->secret[0] = '\0';
	if ((file[0] != '\0' || !secret_optional)
	    && shopkit_read_secret(
	           file, a->secret, sizeof(a->secret), why, sizeof(why))
	        != 0) {
		host->log(ctx, AGENTD_LOG_ERROR, "settings: %s: %s",
		    secret_key, why);
		return AGENTD_ECONFIG;
	}
	if (timeout < 100 || timeout > 600000) {
		host->log(ctx, AGENTD_LOG_ERROR,
		    "settings: timeout_ms %" PRId64 " is not 100 to 600000",
		    timeout);
		explicit_bzero(a->secret, sizeof(a->secret));
		return AGENTD_ECONFIG;
	}
	a->timeout_ms = (uint32_t)timeout;
	return 0;
}

int
shopkit_http_error(const struct agentd_http_response *r, const char *what,
    char *msg, size_t msglen)
{
	if (r->status != 0) {
		snprintf(msg, msglen, "%s: no answer (%s)", what,
		    agentd_strerror(r->status));
		return r->status == AGENTD_ECLOSED ? AGENTD_ECLOSED
		                                   : AGENTD_EUNAVAIL;
	}
	if (r->http_code >= 200 && r->http_code < 300)
		return 0;
	snprintf(msg, msglen, "%s: HTTP %d%s", what, r->http_code,
	    r->http_code == 401 || r->http_code == 403
	        ? " (the token was refused)"
	        : "");
	if (r->http_code == 401 || r->http_code == 403)
		return AGENTD_EDENIED;
	if (r->http_code == 404)
		return AGENTD_ENOENT;
	return AGENTD_EIO;
}

json_t *
shopkit_json_body(const struct agentd_http_response *r)
{
	json_t *j;

	if (r->body == NULL || r->body_len == 0)
		return NULL;
	j = json_loadb(r->body, r->body_len, 0, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

double
shopkit_json_money(const json_t *v, double def)
{
	char  *end;
	double d;

	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v)) {
		d = strtod(json_string_value(v), &end);
		if (end != json_string_value(v) && *end == '\0')
			return d;
	}
	return def;
}

int
shopkit_get_id(const agentd_value *v, char *buf, size_t size)
{
	int64_t     i;
	const char *s;
	size_t      len;

	if (agentd_get_int(v, &i) == 0 && i > 0) {
		snprintf(buf, size, "%" PRId64, i);
		return 0;
	}
	if (agentd_get_str(v, &s, &len) != 0 || len == 0 || len >= size)
		return AGENTD_EINVAL;
	for (size_t k = 0; k < len; k++)
		if (s[k] < '0' || s[k] > '9')
			return AGENTD_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

int
shopkit_reply(const struct agentd_host *host, agentd_ctx *ctx,
    agentd_request *req, agentd_writer *w)
{
	const void *out;
	size_t      len;
	int         rv;

	out = agentd_writer_data(w, &len);
	rv  = host->reply(ctx, req, out, len);
	agentd_writer_free(w);
	return rv;
}
