/*
 * proposal_tmp.c - TEMPORARY: ad_proposal_check() until contract.c has
 * it; see proposal_tmp.h.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <agentd/msg.h>

#include "contract.h"
#include "proposal_tmp.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return AGENTD_EINVAL;
}

int
ad_proposal_check(const struct agentd_proposal *p, char *err, size_t errlen)
{
	agentd_doc *doc;
	int         is_map;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (p == NULL)
		return bad(err, errlen, "no proposal");
	if (!ad_valid_topic(p->type))
		return bad(err, errlen,
		    "type: \"%s\" is not 1-%d characters of [A-Za-z0-9_.-]",
		    p->type ? p->type : "(null)", AGENTD_TOPIC_MAX);
	if (p->title == NULL || p->title[0] == '\0')
		return bad(err, errlen, "title: missing or empty");
	if (strnlen(p->title, AGENTD_PROPOSAL_TITLE_MAX + 1)
	    > AGENTD_PROPOSAL_TITLE_MAX)
		return bad(err, errlen, "title: over %d bytes",
		    AGENTD_PROPOSAL_TITLE_MAX);
	if (p->reasoning != NULL
	    && strnlen(p->reasoning, AGENTD_PROPOSAL_REASONING_MAX + 1)
	        > AGENTD_PROPOSAL_REASONING_MAX)
		return bad(err, errlen, "reasoning: over %d bytes",
		    AGENTD_PROPOSAL_REASONING_MAX);
	if (!isfinite(p->amount) || p->amount < 0)
		return bad(err, errlen,
		    "amount: %g is not a finite number >= 0", p->amount);
	if (!isfinite(p->confidence) || p->confidence < 0 || p->confidence > 1)
		return bad(err, errlen, "confidence: %g is not in 0..1",
		    p->confidence);
	if (p->params_len == 0)
		return 0; /* no parameters */
	if (p->params == NULL)
		return bad(err, errlen, "params: NULL with a length");
	if (p->params_len > AGENTD_PROPOSAL_PARAMS_MAX)
		return bad(err, errlen, "params: %zu bytes is over %d",
		    p->params_len, AGENTD_PROPOSAL_PARAMS_MAX);
	if (agentd_parse(p->params, p->params_len, &doc) != 0)
		return bad(err, errlen, "params: not one msgpack value");
	is_map = agentd_type_of(agentd_doc_root(doc)) == AGENTD_T_MAP;
	agentd_doc_free(doc);
	if (!is_map)
		return bad(err, errlen, "params: not a msgpack map");
	return 0;
}
