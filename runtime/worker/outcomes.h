/*
 * outcomes.h - the worker's reading of agentd's "decisions" control
 * message (doc/protocol.md): the outcomes of its agent's decisions, each
 * an event for the plugin's on_event.  No I/O and no worker state, so
 * that tests/fuzz/fuzz_outcomes.c can feed it any bytes.
 */
#ifndef AD_WORKER_OUTCOMES_H
#define AD_WORKER_OUTCOMES_H

#include <stddef.h>

/* One outcome: topic and body are borrowed until the call returns. */
typedef void (*ad_outcome_fn)(
    void *arg, const char *topic, const void *body, size_t len);

/*
 * Call fn for each event of body[0..len), {"events": [[TOPIC, BODY],
 * ...]}, in order.  An entry that is not a topic string (at most
 * AD_TARGET_MAX - 1 bytes, no NUL) and a bin is skipped.  0, or
 * AGENTD_EPROTO when body is not one msgpack map (fn is never called).
 */
int ad_outcomes_each(
    const void *body, size_t len, ad_outcome_fn fn, void *arg);

#endif
