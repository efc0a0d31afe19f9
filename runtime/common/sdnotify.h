/*
 * sdnotify.h - the systemd notification protocol, spoken by hand.
 *
 * When agentd runs as a Type=notify service, systemd passes the path of a
 * datagram socket in $NOTIFY_SOCKET; each datagram is newline-separated
 * VAR=value lines (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1).  Outside
 * systemd the variable is unset and every call here does nothing.  The
 * protocol is small and stable (sd_notify(3)), so agentd writes it itself
 * rather than linking libsystemd.
 */
#ifndef AD_SDNOTIFY_H
#define AD_SDNOTIFY_H

#include <stdint.h>

/*
 * Read $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID once, at start.
 * Returns 1 when notifications go somewhere, 0 when they do not.
 */
int ad_sd_init(void);

/* Send one datagram (printf format).  Returns 0, or -1 with errno. */
int ad_sd_notify(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * The watchdog interval systemd asked for, in microseconds, or 0 when
 * WatchdogSec= is not set (or is meant for another process).  agentd
 * sends WATCHDOG=1 every half of it.
 */
uint64_t ad_sd_watchdog_usec(void);

#endif
