/*
 * scout - finds candidate products in the supplier catalog and scores
 * their demand (doc/scout.md, doc/shop-contracts.md).
 *
 * {"query": "desk lamp", "limit": 10} is a GET of
 * {catalog_url}/products?q=desk+lamp&limit=10 through host->http_async
 * (with "Authorization: Bearer KEY" when api_key_file is set).  Each
 * product is scored for demand in 0..1 from its own numbers:
 *
 *   volume     = orders_30d / (orders_30d + 50)
 *   conversion = min(1, (orders_30d / views_30d) / 0.05)   (0 without views)
 *   quality    = rating / 5 * reviews / (reviews + 20)
 *   score      = 0.5 volume + 0.2 conversion + 0.3 quality, to 3 decimals
 *
 * and the answer is {"query", "found": N, "candidates": [{"sku", "title",
 * "score"}...] (highest score first), "best": PRODUCT + {"score"} or nil},
 * best being the highest score at or over min_score.  The best is also
 * published as product.found {"sku", "title", "score", "query"}.
 *
 * The catalog down, a 5xx: EUNAVAIL; another code than 200, a body that
 * is not JSON or has no "products" list: EPROTO; each with a message
 * naming the URL and what came back.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "../pipeline/supplier_api.h"

#define QUERY_MAX 200
#define LIMIT_MAX 100
#define URL_MAX (PL_BASE_MAX + 3 * QUERY_MAX + 64)

static const struct agentd_setting scout_settings[] = {
	{ "catalog_url", AGENTD_SETTING_STRING, "http://127.0.0.1:8471/v1",
	    "the supplier catalog API's base URL, ending in /v1" },
	{ "api_key_file", AGENTD_SETTING_STRING, "",
	    "a file holding the catalog's API key (one line); empty: none" },
	{ "min_score", AGENTD_SETTING_DOUBLE, "0.3",
	    "the lowest demand score (0..1) a best candidate may have" },
	{ "limit", AGENTD_SETTING_INT, "10",
	    "products asked of the catalog when a request gives no limit "
	    "(1..100)" },
	{ "timeout_ms", AGENTD_SETTING_INT, "10000",
	    "one attempt of the catalog's GET, at most (two attempts)" },
	{ NULL, 0, NULL, NULL },
};

struct scout {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	char                      base[PL_BASE_MAX];
	char                      key[PL_KEY_MAX];
	double                    min_score;
	int64_t                   limit, timeout_ms;
};

/* A search waiting for the catalog. */
struct search {
	struct scout   *s;
	agentd_request *req;
	char            query[QUERY_MAX + 1];
	char            url[URL_MAX];
};

/* One product of the answer, with its score. */
struct cand {
	const json_t *p;
	const char   *sku, *title;
	double        score;
	size_t        order; /* in the catalog's answer */
};

static int
scout_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	struct scout *s;
	const char   *url, *keyfile;
	char          why[PL_ERR_MAX], why2[PL_ERR_MAX - 32];

	if (!AGENTD_HOST_HAS(host, http_async))
		return AGENTD_ENOTSUP;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return AGENTD_ENOMEM;
	s->ctx  = ctx;
	s->host = host;
	host->setting_string(ctx, "catalog_url", &url);
	host->setting_string(ctx, "api_key_file", &keyfile);
	host->setting_double(ctx, "min_score", &s->min_score);
	host->setting_int(ctx, "limit", &s->limit);
	host->setting_int(ctx, "timeout_ms", &s->timeout_ms);
	why[0] = '\0';
	if (shopkit_base_url(url, s->base, sizeof(s->base), why2, sizeof(why2))
	    != 0)
		snprintf(why, sizeof(why), "catalog_url %s", why2);
	else if (!(s->min_score >= 0 && s->min_score <= 1))
		snprintf(why, sizeof(why), "min_score %g is not in 0..1",
		    s->min_score);
	else if (s->limit < 1 || s->limit > LIMIT_MAX)
		snprintf(why, sizeof(why), "limit %lld is not in 1..%d",
		    (long long)s->limit, LIMIT_MAX);
	else if (s->timeout_ms < 1 || s->timeout_ms > 600000)
		snprintf(why, sizeof(why),
		    "timeout_ms %lld is not in 1..600000",
		    (long long)s->timeout_ms);
	else if (keyfile[0] != '\0')
		if (shopkit_read_secret(
		        keyfile, s->key, sizeof(s->key), why2, sizeof(why2))
		    != 0)
			snprintf(why, sizeof(why), "api_key_file: %s", why2);
	if (why[0] != '\0') {
		host->log(ctx, AGENTD_LOG_ERROR, "settings: %s", why);
		free(s);
		return AGENTD_ECONFIG;
	}
	*state = s;
	return 0;
}

static void
scout_fini(void *state)
{
	struct scout *s = state;

	memset(s->key, 0, sizeof(s->key));
	free(s);
}

/* The demand score of product p (the formula above). */
static double
demand_score(const json_t *p)
{
	double orders  = fmax(0, pl_num(p, "orders_30d", 0));
	double views   = fmax(0, pl_num(p, "views_30d", 0));
	double rating  = fmin(5, fmax(0, pl_num(p, "rating", 0)));
	double reviews = fmax(0, pl_num(p, "reviews", 0));
	double volume, conversion, quality;

	volume     = orders / (orders + 50);
	conversion = views > 0 ? fmin(1, orders / views / 0.05) : 0;
	quality    = rating / 5 * reviews / (reviews + 20);
	return round((0.5 * volume + 0.2 * conversion + 0.3 * quality) * 1000)
	    / 1000;
}

static int
by_score(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The product's map with "score" (replaced if it had one). */
static void
write_best(agentd_writer *w, const struct cand *c)
{
	const char *k;
	json_t     *v;

	agentd_write_map_begin(w);
	json_object_foreach((json_t *)c->p, k, v)
	{
		if (strcmp(k, "score") == 0)
			continue;
		agentd_write_str(w, k);
		jsonkit_write(w, v);
	}
	agentd_write_str(w, "score");
	agentd_write_double(w, c->score);
	agentd_write_map_end(w);
}

static void
publish_found(struct search *q, const struct cand *c)
{
	struct scout  *s = q->s;
	agentd_writer *w;
	const void    *data;
	size_t         len;

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "sku");
	agentd_write_str(w, c->sku);
	agentd_write_str(w, "title");
	agentd_write_str(w, c->title);
	agentd_write_str(w, "score");
	agentd_write_double(w, c->score);
	agentd_write_str(w, "query");
	agentd_write_str(w, q->query);
	data = agentd_writer_data(w, &len);
	if (s->host->publish(s->ctx, "product.found", data, len) != 0)
		s->host->log(s->ctx, AGENTD_LOG_WARN,
		    "product.found for %s not published (publish = { })",
		    c->sku);
	agentd_writer_free(w);
}

/* Answer q from the catalog's list of products. */
static void
answer(struct search *q, const json_t *products)
{
	struct scout  *s = q->s;
	struct cand   *c;
	size_t         n = 0, skipped = 0, i;
	json_t        *p;
	agentd_writer *w;
	const void    *data;
	size_t         len;

	c = calloc(json_array_size(products) + 1, sizeof(*c));
	if (c == NULL) {
		s->host->reply_error(s->ctx, q->req, AGENTD_ENOMEM, "scout");
		return;
	}
	json_array_foreach(products, i, p)
	{
		const char *sku = json_string_value(json_object_get(p, "sku"));
		const char *title
		    = json_string_value(json_object_get(p, "title"));

		if (sku == NULL || !pl_valid_sku(sku, strlen(sku))) {
			skipped++;
			continue;
		}
		c[n].p     = p;
		c[n].sku   = sku;
		c[n].title = title != NULL ? title : "";
		c[n].score = demand_score(p);
		c[n].order = i;
		n++;
	}
	if (skipped > 0)
		s->host->log(s->ctx, AGENTD_LOG_WARN,
		    "GET %s: %zu product(s) without a valid sku skipped",
		    q->url, skipped);
	qsort(c, n, sizeof(*c), by_score);

	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "query");
	agentd_write_str(w, q->query);
	agentd_write_str(w, "found");
	agentd_write_uint(w, n);
	agentd_write_str(w, "candidates");
	agentd_write_array(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		agentd_write_map(w, 3);
		agentd_write_str(w, "sku");
		agentd_write_str(w, c[i].sku);
		agentd_write_str(w, "title");
		agentd_write_str(w, c[i].title);
		agentd_write_str(w, "score");
		agentd_write_double(w, c[i].score);
	}
	agentd_write_str(w, "best");
	if (n > 0 && c[0].score >= s->min_score) {
		write_best(w, &c[0]);
		publish_found(q, &c[0]);
	} else {
		agentd_write_nil(w);
	}
	data = agentd_writer_data(w, &len);
	s->host->reply(s->ctx, q->req, data, len);
	agentd_writer_free(w);
	free(c);
}

static void
catalog_answered(void *arg, const struct agentd_http_response *r)
{
	struct search *q = arg;
	struct scout  *s = q->s;
	char           err[PL_ERR_MAX];
	json_t        *root;
	const json_t  *products;
	int            rv;

	rv = pl_answer_json(r, q->url, &root, err);
	if (rv == AGENTD_ENOENT)
		rv = AGENTD_EPROTO; /* the list is never missing: a wrong URL
		                     */
	if (rv != 0) {
		s->host->log(s->ctx, AGENTD_LOG_WARN, "%s", err);
		s->host->reply_error(s->ctx, q->req, rv, err);
	} else if (!json_is_array(
	               products = json_object_get(root, "products"))) {
		snprintf(err, sizeof(err),
		    "GET %s: HTTP 200 but the answer has no \"products\" list",
		    q->url);
		s->host->log(s->ctx, AGENTD_LOG_WARN, "%s", err);
		s->host->reply_error(s->ctx, q->req, AGENTD_EPROTO, err);
	} else {
		answer(q, products);
	}
	json_decref(root);
	free(q);
}

/* The request's query and limit into q; a message for a bad one. */
static const char *
read_request(
    struct scout *s, const agentd_value *m, struct search *q, int64_t *limit)
{
	const agentd_value *lv = agentd_map_get(m, "limit");
	const char         *str;
	size_t              len;

	if (agentd_get_str(agentd_map_get(m, "query"), &str, &len) != 0
	    || len == 0 || len > QUERY_MAX)
		return "\"query\": words to look for, 1 to 200 bytes";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)str[i] < 0x20 || str[i] == 0x7f)
			return "\"query\": no control characters";
	memcpy(q->query, str, len);
	q->query[len] = '\0';
	*limit        = s->limit;
	if (lv != NULL
	    && (agentd_get_int(lv, limit) != 0 || *limit < 1
	        || *limit > LIMIT_MAX))
		return "\"limit\": a whole number, 1 to 100";
	return NULL;
}

static int
scout_request(void *state, agentd_request *req, const void *body, size_t len)
{
	struct scout  *s = state;
	struct search *q;
	agentd_doc    *doc;
	const char    *bad;
	char           esc[3 * QUERY_MAX + 1], err[PL_ERR_MAX];
	int64_t        limit;
	int            rv;

	if (agentd_parse(body, len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP) {
		agentd_doc_free(doc);
		return s->host->reply_error(s->ctx, req, AGENTD_EINVAL,
		    "send a map {\"query\": \"desk lamp\", \"limit\": 10}");
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		agentd_doc_free(doc);
		return AGENTD_ENOMEM;
	}
	q->s   = s;
	q->req = req;
	bad    = read_request(s, agentd_doc_root(doc), q, &limit);
	agentd_doc_free(doc);
	if (bad != NULL) {
		free(q);
		return s->host->reply_error(s->ctx, req, AGENTD_EINVAL, bad);
	}
	pl_query_escape(q->query, esc, sizeof(esc));
	snprintf(q->url, sizeof(q->url), "%s/products?q=%s&limit=%lld",
	    s->base, esc, (long long)limit);
	rv = pl_get(s->host, s->ctx, q->url, s->key, (unsigned)s->timeout_ms,
	    catalog_answered, q);
	if (rv != 0) {
		snprintf(err, sizeof(err), "GET %s refused: %s%s", q->url,
		    agentd_errname(rv),
		    rv == AGENTD_EDENIED ? " (is its host in http { allow }?)"
		                         : "");
		free(q);
		return s->host->reply_error(s->ctx, req, rv, err);
	}
	return 0;
}

/* What other agents find it by (host->find_agents). */
static const char *const scout_capabilities[] = { "product.search", NULL };

AGENTD_PLUGIN(.name = "scout", .version = "1.0.0",
    .description = "finds products in the supplier catalog and scores "
                   "their demand",
    .settings = scout_settings, .init = scout_init,
    .on_request = scout_request, .fini = scout_fini,
    .capabilities = scout_capabilities);
