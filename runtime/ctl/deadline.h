/*
 * deadline.h - agentctl ends by its deadline, whatever agentd does.
 *
 * nng bounds a send and a receive (NNG_OPT_SENDTIMEO, NNG_OPT_RECVTIMEO)
 * but not nng_dial(): against an agentd stopped with SIGSTOP, or a socket
 * still held by a child it was spawning, the kernel takes the connection
 * and the dial waits for nng's 10-second handshake timeout, longer than a
 * short --timeout.  A watchdog thread ends the process instead: armed
 * with a deadline and the line to print, it writes that line on stderr
 * and exits with agentctl's "cannot reach agentd" status (3) if it is
 * still armed then.  Exiting is all it can do, and all agentctl needs: a
 * socket left to exit to close is what `agentctl tail` does anyway
 * (doc/architecture.md, "What must never wait").
 */
#ifndef AD_CTL_DEADLINE_H
#define AD_CTL_DEADLINE_H

#include <stdint.h>

/*
 * Arm the watchdog: if ctl_deadline_disarm() has not been called by
 * deadline_ms (ad_now_ms()'s clock), print "agentctl: " and the formatted
 * line on stderr and _exit(status).  Arming again replaces the previous
 * deadline and line.
 */
void ctl_deadline_arm(int64_t deadline_ms, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Disarm it.  Once this returns, the watchdog prints nothing. */
void ctl_deadline_disarm(void);

#endif
