/*
 * proposal_tmp.h - TEMPORARY: the proposal contract check, until it lands
 * in contract.h (being written beside this).  The declaration and the
 * limits are exactly those contract.h gets; drop this file and
 * proposal_tmp.c at merge, and include contract.h where this is included.
 *
 * Internal to the SDK and the runtime; not installed.
 */
#ifndef AGENTD_PROPOSAL_TMP_H
#define AGENTD_PROPOSAL_TMP_H

#include <stddef.h>

#include <agentd/agent.h>

/* The longest proposal title, reasoning and params, in bytes. */
#define AGENTD_PROPOSAL_TITLE_MAX 200
#define AGENTD_PROPOSAL_REASONING_MAX 4096
#define AGENTD_PROPOSAL_PARAMS_MAX 65536

/*
 * 0 if p may be proposed: type a valid topic; title non-empty, at most
 * AGENTD_PROPOSAL_TITLE_MAX bytes; reasoning NULL or at most
 * AGENTD_PROPOSAL_REASONING_MAX; amount finite and >= 0; confidence
 * finite, in 0..1; params_len 0 (no parameters), or exactly one msgpack
 * map of at most AGENTD_PROPOSAL_PARAMS_MAX bytes.  Otherwise
 * AGENTD_EINVAL, and err[0..errlen) (err may be NULL) gets one line
 * saying which field is wrong.  p is borrowed for the call.
 */
int ad_proposal_check(
    const struct agentd_proposal *p, char *err, size_t errlen);

#endif /* AGENTD_PROPOSAL_TMP_H */
