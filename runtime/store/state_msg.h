#ifndef AGENTD_STORE_STATE_MSG_H
#define AGENTD_STORE_STATE_MSG_H

/*
 * The bodies of state.batch and state.batches as agentd reads them from a
 * worker (host->state_batch, host->state_batch_async) or agentctl: the
 * reading only, apart from control.c's answering so that the fuzz harness
 * (tests/fuzz/fuzz_state_batches.c) reads them as agentd does.  Nothing
 * here checks a key or a value's limits: ad_state_batch and
 * ad_state_batches do, for every caller.
 */

#include <stddef.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "store/state.h"

/*
 * A batch's ops, [[key, val or nil], ...] (nil: delete key): *ops (n of
 * them, caller frees with free()) point into list's document.  0, or
 * AGENTD_EINVAL for anything else (then *ops is still the caller's to
 * free, and holds nothing to read).
 */
int ad_state_ops_read(
    const agentd_value *list, struct agentd_state_op **ops, size_t *n);

/*
 * state.batches' {"batches": [OPS, ...]}, at least one: *bs (n of them)
 * point into root's document; free with ad_state_batches_free().  0, or
 * AGENTD_EINVAL (then *bs is NULL).
 */
int ad_state_batches_read(
    const agentd_value *root, struct ad_state_batch **bs, size_t *n);
void ad_state_batches_free(struct ad_state_batch *bs, size_t n);

#endif
