/*
 * propose.h - the body of policy.propose (doc/protocol.md) read into
 * proposals, and the answer to it written: what the policy gate
 * receives from a worker and sends back, without the gate.  No I/O, no
 * supervisor: tests/fuzz/fuzz_propose.c feeds it any bytes.
 *
 * A body is one proposal (a map: what a worker sends for host->propose(),
 * and what every worker sent before batches) or a batch (a bin holding
 * one or more such maps end to end: propose_async's).  A batch is
 * answered per proposal, in order; a refused proposal does not refuse
 * the others.
 */
#ifndef AD_POLICY_PROPOSE_H
#define AD_POLICY_PROPOSE_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/msg.h>

#include "policy/rules.h"

/* Proposals one policy.propose message may carry. */
#define AD_PROPOSE_BATCH_MAX 4096

/* One proposal as read, and checked by ad_proposal_check()'s rules. */
struct ad_proposal_in {
	int  status;   /* 0, or why it is refused (err says more) */
	char err[200]; /* status != 0: one line */
	/* status 0: caller owns, ad_propose_free() frees what is left;
	 * take a field by setting it to NULL. */
	char  *type;
	char  *title;
	char  *reasoning; /* "" when none */
	double amount;
	double confidence;
	void  *params; /* a msgpack map; {} (1 byte) when none */
	size_t params_len;
};

/*
 * Read body[0..len) into *out (caller owns, free with ad_propose_free),
 * *n proposals, *batch 1 for a batch.  Returns 0 (each proposal's own
 * status says whether it was refused: AGENTD_EINVAL, AGENTD_ETOOBIG),
 * AGENTD_EPROTO (not a map or a bin of maps end to end: nothing is
 * proposed), or AGENTD_ETOOBIG (over AD_PROPOSE_BATCH_MAX proposals).
 */
int ad_propose_parse(const void *body, size_t len, struct ad_proposal_in **out,
    size_t *n, int *batch);
void ad_propose_free(struct ad_proposal_in *p, size_t n);

/* What the gate answers for one accepted proposal. */
struct ad_proposal_answer {
	uint64_t     id;
	enum ad_risk risk;
	const char  *rule;
	int64_t      deadline_ms;
};

/* {"id", "risk", "rule", "deadline_ms"}: the answer of one proposal, and
 * of a batch's accepted ones. */
void ad_propose_write_answer(
    agentd_writer *w, const struct ad_proposal_answer *a);

/* {"st": status, "error": err}: a batch's refused one. */
void ad_propose_write_refusal(agentd_writer *w, int status, const char *err);

#endif
