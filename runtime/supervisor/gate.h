/*
 * gate.h - the policy gate: proposals classified, committed, answered by
 * people, expired, and their outcomes delivered to the proposing agent.
 *
 * Owns struct ad_gate: the decisions not yet finished (pending, or
 * decided and not yet taken by an instance), in memory as ids and a few
 * fields, by id and per agent (a count of the pending ones, a queue of
 * the outcomes to send); the records themselves live in LMDB
 * (store/decisions.h), and a decided record is also kept in memory until
 * it is delivered.  Every change of a decision is committed with the
 * audit record that tells it (audit side writes), and only then answered
 * or acted on.  The proposals of one policy.propose message are one
 * change, answered together; so are the outcomes one instance took.
 *
 * Outcomes travel to one ready instance of the agent at a time on its
 * control slot ("decisions", doc/protocol.md); the worker's answer is the
 * instance having taken them.  Until then they stay open and are sent
 * again, also after a restart of the instance or of agentd: at least
 * once.
 *
 * Every function is called with sv->mtx held.
 */
#ifndef AD_GATE_H
#define AD_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "store/decisions.h"

struct ad_sv;
struct ad_agent;
struct ad_instance;
struct ad_srvctx;
struct ad_envelope;
struct ad_slot;

struct ad_gate;

/* Open the decisions and load the open ones.  At start. */
int  ad_gate_open(struct ad_sv *sv, char *err, size_t errlen);
void ad_gate_close(struct ad_sv *sv);

/* policy.propose from an instance on calls.sock: one proposal, or a
 * batch (policy/propose.h). */
void ad_gate_propose(struct ad_srvctx *c, struct ad_instance *inst,
    const struct ad_envelope *e);

/* The operator's operations on control.sock: approvals, decision,
 * approve, reject, modify, decisions, policy.test.  0 if e->dst is none
 * of them. */
int ad_gate_control(
    struct ad_srvctx *c, const struct ad_envelope *e, const char *by);

/* Deadlines and deliveries: from the main loop's tick. */
void ad_gate_tick(struct ad_sv *sv, int64_t now_wall_ms);

/* An instance became ready: outcomes may go to it. */
void ad_gate_kick(struct ad_sv *sv, const char *agent);

/* The worker answered the "decisions" message on its control slot. */
void ad_gate_taken(struct ad_instance *inst, int status);

/* The instance's connection is gone: what it had not taken goes again. */
void ad_gate_instance_gone(struct ad_instance *inst);

/* Decisions of agent pending now, and in *next_deadline_ms (wall) the
 * soonest of their deadlines, 0 when none is pending.  A scan of the open
 * decisions: for a snapshot, not for a hot path. */
unsigned ad_gate_pending(
    const struct ad_sv *sv, const char *agent, int64_t *next_deadline_ms);

#endif
