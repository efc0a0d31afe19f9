/*
 * control.h - the control socket agentctl talks to.
 *
 * REP with one nng context per concurrent client (AD_CTL_CONTEXTS); each
 * context runs its own small state machine: receive, handle (perhaps
 * waiting for a dispatched request), send, receive again.  The socket file
 * is created mode 0600 before the listener starts.
 */
#ifndef AD_CONTROL_H
#define AD_CONTROL_H

#include "supervisor/supervisor.h"

#define AD_CTL_CONTEXTS 16
#define AD_CTL_SOCKET "control.sock"

int  ad_control_start(struct ad_sv *sv, char *err, size_t errlen);
void ad_control_stop(struct ad_sv *sv);

#endif
