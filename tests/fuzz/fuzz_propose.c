/*
 * fuzz_propose - libFuzzer harness for agentd's reading of policy.propose
 * (policy/propose.c), the body every worker sends the policy gate: one
 * proposal as a map, or a batch as a bin of maps end to end.
 *
 * What must hold for any bytes: the parse answers 0, AGENTD_EPROTO or
 * AGENTD_ETOOBIG and never reads outside the input; a refusal of the
 * whole message hands back nothing; otherwise there are 1 to
 * AD_PROPOSE_BATCH_MAX proposals (exactly 1 when not a batch), each
 * either refused (EINVAL or ETOOBIG with a line saying why, holding
 * nothing) or accepted with what the gate relies on: a type that is a
 * topic, a title within the contract's limit, reasoning (maybe ""), an
 * amount and a confidence in range, params one msgpack map; and the
 * answer the gate writes for them is one complete msgpack value.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/error.h>
#include <agentd/msg.h>

#include "policy/propose.h"
#include "sdk/contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_accepted(const struct ad_proposal_in *p)
{
	agentd_doc *doc;

	if (p->type == NULL || !ad_valid_topic(p->type) || p->title == NULL
	    || p->title[0] == '\0'
	    || strlen(p->title) > AGENTD_PROPOSAL_TITLE_MAX
	    || p->reasoning == NULL
	    || strlen(p->reasoning) > AGENTD_PROPOSAL_REASONING_MAX
	    || !isfinite(p->amount) || p->amount < 0
	    || !isfinite(p->confidence) || p->confidence < 0
	    || p->confidence > 1 || p->params == NULL || p->params_len == 0
	    || p->params_len > AGENTD_PROPOSAL_PARAMS_MAX)
		abort();
	if (agentd_parse(p->params, p->params_len, &doc) != 0
	    || agentd_type_of(agentd_doc_root(doc)) != AGENTD_T_MAP)
		abort();
	agentd_doc_free(doc);
}

static void
check_refused(const struct ad_proposal_in *p)
{
	if ((p->status != AGENTD_EINVAL && p->status != AGENTD_ETOOBIG)
	    || p->err[0] == '\0'
	    || memchr(p->err, '\0', sizeof(p->err)) == NULL || p->type != NULL
	    || p->title != NULL || p->reasoning != NULL || p->params != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_proposal_in *in;
	agentd_writer         *w;
	agentd_doc            *doc;
	const void            *p;
	size_t                 n, i, len;
	int                    batch, rv;

	rv = ad_propose_parse(data, size, &in, &n, &batch);
	if (rv != 0) {
		if ((rv != AGENTD_EPROTO && rv != AGENTD_ETOOBIG) || in != NULL
		    || n != 0)
			abort();
		return 0;
	}
	if (n == 0 || n > AD_PROPOSE_BATCH_MAX || (!batch && n != 1))
		abort();
	agentd_writer_new(&w);
	agentd_write_array(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		if (in[i].status != 0) {
			check_refused(&in[i]);
			ad_propose_write_refusal(w, in[i].status, in[i].err);
		} else {
			struct ad_proposal_answer a
			    = { i + 1, AD_RISK_LOW, in[i].type, 0 };

			check_accepted(&in[i]);
			ad_propose_write_answer(w, &a);
		}
	}
	p = agentd_writer_data(w, &len);
	if (p == NULL || agentd_parse(p, len, &doc) != 0)
		abort();
	agentd_doc_free(doc);
	agentd_writer_free(w);
	ad_propose_free(in, n);
	return 0;
}
