/*
 * control.h - the sockets other programs talk to.
 *
 *   control.sock  agentctl: status, publish, and calls to agents
 *   calls.sock    instances calling other agents (identity by peer pid;
 *                 the agent's calls = { } list decides who may be called)
 * Both are servers (server.h) whose files are created mode 0600 before
 * they listen.
 *
 * This file owns the operations of both sockets (private to control.c):
 * what each message asks, who may ask it, and the answer.
 */
#ifndef AD_CONTROL_H
#define AD_CONTROL_H

#include <stddef.h>

#include "common/ops.h"

struct ad_sv;
struct ad_instance;

#define AD_CTL_CONTEXTS 16
#define AD_CALLS_CONTEXTS 128
#define AD_CALLS_SOCKET "calls.sock"

struct ad_envelope;
struct ad_srvctx;

int ad_control_start(struct ad_sv *sv, char *err, size_t errlen);

/*
 * Answer e through c for someone of the given role: a request is a call
 * to an agent (it needs AD_ROLE_OPERATOR), a control envelope one of the
 * operations of common/ops.h, each with the role it needs (EDENIED
 * otherwise).  The one way into the table, for control.sock and HTTP
 * alike.  mtx held.
 */
void ad_control_run(
    struct ad_srvctx *c, const struct ad_envelope *e, enum ad_role role);
/* The role e needs, AD_ROLE_NONE for no such operation. */
enum ad_role ad_control_role(const struct ad_envelope *e);
void         ad_control_stop(struct ad_sv *sv);

/*
 * May inst call agent dst (its calls = { })?  0, or AGENTD_EDENIED with
 * why set, the denial counted, logged and audited (at most once a second
 * per agent).  mtx held.
 */
int ad_call_admit(
    struct ad_instance *inst, const char *dst, char *why, size_t whylen);
/* Append to out the values p holds encoded one after another (as a
 * writer used as a sink holds them), each as one value. */
void ad_write_values(agentd_writer *out, const void *p, size_t len);

struct ad_audit_entry;
/* One audit record as the audit operation answers it (a map of seq,
 * time_ms, agent, instance, kind, summary, detail, hash), into w. */
void ad_audit_entry_write(agentd_writer *w, const struct ad_audit_entry *e);

/* Why a call to agent could not be dispatched (rv), and what to do. */
void ad_call_refused(int rv, const char *agent, char *why, size_t whylen);

#endif
