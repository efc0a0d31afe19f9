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

struct ad_sv;
struct ad_instance;

#define AD_CTL_CONTEXTS 16
#define AD_CALLS_CONTEXTS 128
#define AD_CTL_SOCKET "control.sock"
#define AD_CALLS_SOCKET "calls.sock"

int  ad_control_start(struct ad_sv *sv, char *err, size_t errlen);
void ad_control_stop(struct ad_sv *sv);

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

/* Why a call to agent could not be dispatched (rv), and what to do. */
void ad_call_refused(int rv, const char *agent, char *why, size_t whylen);

#endif
