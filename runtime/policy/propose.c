#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>

#include "common/util.h"
#include "policy/propose.h"
#include "sdk/contract.h"

/* A string field: NULL when absent or nil; *bad when not a string. */
static char *
dup_str(const agentd_value *v, size_t max, int *bad)
{
	const char *s;
	size_t      len;

	if (v == NULL || agentd_type_of(v) == AGENTD_T_NIL)
		return NULL;
	if (agentd_get_str(v, &s, &len) != 0 || len > max
	    || memchr(s, '\0', len) != NULL) {
		*bad = 1;
		return NULL;
	}
	return ad_xstrndup(s, len);
}

/* A value re-encoded on its own into *out (caller frees), with the
 * scratch writer w. */
static void
value_bytes(agentd_writer *w, const agentd_value *v, void **out, size_t *len)
{
	const void *p;

	agentd_writer_reset(w);
	agentd_write_value(w, v);
	p    = agentd_writer_data(w, len);
	*out = ad_xmalloc(*len ? *len : 1);
	memcpy(*out, p, *len);
}

static void
clear(struct ad_proposal_in *p)
{
	free(p->type);
	free(p->title);
	free(p->reasoning);
	free(p->params);
	p->type = p->title = p->reasoning = NULL;
	p->params                         = NULL;
}

static void
refuse(struct ad_proposal_in *p, int status, const char *why)
{
	clear(p);
	p->status = status;
	snprintf(p->err, sizeof(p->err), "%s", why);
}

/* One proposal's map into p, checked as host->propose() checks it. */
static void
read_one(agentd_writer *w, const agentd_value *root, struct ad_proposal_in *p)
{
	struct agentd_proposal c;
	const agentd_value    *pv;
	char                   err[AD_ERRLEN] = "";
	int                    bad            = 0, rv;

	memset(p, 0, sizeof(*p));
	if (agentd_type_of(root) != AGENTD_T_MAP) {
		refuse(p, AGENTD_EINVAL, "a proposal is a map");
		return;
	}
	/* Longer than the contract allows is refused by its check below;
	 * these bounds only keep a hostile length out of memory. */
	p->type      = dup_str(agentd_map_get(root, "type"), 255, &bad);
	p->title     = dup_str(agentd_map_get(root, "title"), 65536, &bad);
	p->reasoning = dup_str(agentd_map_get(root, "reasoning"), 65536, &bad);
	p->amount    = NAN;
	p->confidence = NAN;
	agentd_get_double(agentd_map_get(root, "amount"), &p->amount);
	agentd_get_double(agentd_map_get(root, "confidence"), &p->confidence);
	if ((pv = agentd_map_get(root, "params")) != NULL
	    && agentd_type_of(pv) != AGENTD_T_NIL)
		value_bytes(w, pv, &p->params, &p->params_len);
	if (bad) {
		refuse(p, AGENTD_EINVAL, "a field is not a string");
		return;
	}
	memset(&c, 0, sizeof(c));
	c.type       = p->type;
	c.title      = p->title;
	c.reasoning  = p->reasoning;
	c.amount     = p->amount;
	c.confidence = p->confidence;
	c.params     = p->params;
	c.params_len = p->params_len;
	if ((rv = ad_proposal_check(&c, err, sizeof(err))) != 0) {
		refuse(p, rv, err);
		return;
	}
	if (p->reasoning == NULL)
		p->reasoning = ad_xstrdup("");
	if (p->params == NULL) {
		p->params                   = ad_xmalloc(1);
		*(unsigned char *)p->params = 0x80; /* {} */
		p->params_len               = 1;
	}
}

int
ad_propose_parse(const void *body, size_t len, struct ad_proposal_in **out,
    size_t *n, int *batch)
{
	agentd_doc            *outer = NULL, *doc = NULL;
	const agentd_value    *root;
	const unsigned char   *p;
	struct ad_proposal_in *list = NULL;
	agentd_writer         *w;
	size_t                 left, used, cap = 0;
	const void            *bin;
	int                    rv = 0;

	*out   = NULL;
	*n     = 0;
	*batch = 0;
	if (agentd_parse(body, len, &outer) != 0)
		return AGENTD_EPROTO;
	root = agentd_doc_root(outer);
	if (agentd_type_of(root) != AGENTD_T_MAP
	    && (agentd_get_bin(root, &bin, &left) != 0 || left == 0)) {
		agentd_doc_free(outer);
		return AGENTD_EPROTO;
	}
	agentd_writer_new(&w);
	if (agentd_type_of(root) == AGENTD_T_MAP) {
		list = ad_xcalloc(1, sizeof(*list));
		read_one(w, root, list);
		agentd_writer_free(w);
		agentd_doc_free(outer);
		*out = list;
		*n   = 1;
		return 0;
	}
	for (p = bin; left > 0; p += used, left -= used) {
		if (*n == AD_PROPOSE_BATCH_MAX) {
			rv = AGENTD_ETOOBIG;
			break;
		}
		/* One doc and zone for the batch: read_one copies out what
		 * it keeps before the next proposal is parsed. */
		if (ad_parse_next(p, left, &doc, &used) != 0) {
			rv = AGENTD_EPROTO;
			break;
		}
		if (*n == cap) {
			cap  = cap ? 2 * cap : 16;
			list = ad_xrealloc(list, cap * sizeof(*list));
		}
		read_one(w, agentd_doc_root(doc), &list[(*n)++]);
	}
	agentd_doc_free(doc);
	agentd_writer_free(w);
	agentd_doc_free(outer);
	if (rv != 0) {
		ad_propose_free(list, *n);
		*n = 0;
		return rv;
	}
	*out   = list;
	*batch = 1;
	return 0;
}

void
ad_propose_free(struct ad_proposal_in *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		clear(&p[i]);
	free(p);
}

void
ad_propose_write_answer(agentd_writer *w, const struct ad_proposal_answer *a)
{
	char id[AD_U64_DEC];

	ad_u64_dec(a->id, id);
	agentd_write_map(w, 4);
	agentd_write_strn(w, "id", sizeof("id") - 1);
	agentd_write_str(w, id);
	agentd_write_strn(w, "risk", sizeof("risk") - 1);
	agentd_write_str(w, ad_risk_name(a->risk));
	agentd_write_strn(w, "rule", sizeof("rule") - 1);
	agentd_write_str(w, a->rule);
	agentd_write_strn(w, "deadline_ms", sizeof("deadline_ms") - 1);
	agentd_write_int(w, a->deadline_ms);
}

void
ad_propose_write_refusal(agentd_writer *w, int status, const char *err)
{
	agentd_write_map(w, 2);
	agentd_write_str(w, "st");
	agentd_write_int(w, status);
	agentd_write_str(w, "error");
	agentd_write_str(w, err);
}
