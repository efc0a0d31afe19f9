/*
 * log.h - the one logging call of the runtime.
 *
 * Lines go to stderr.  When stderr is the journal (JOURNAL_STREAM is set),
 * each line starts with its syslog priority ("<3>") so journald files it
 * correctly; otherwise with an ISO time, the program name and pid.
 *
 * agentd { log { target } } may send them elsewhere instead: to syslog(3)
 * (facility daemon, the level as its priority), or to a file, which is
 * then made this process's stderr so that the workers it spawns write
 * there too.  A worker logs to syslog when AD_LOG_TARGET_ENV says so.
 */
#ifndef AD_LOG_H
#define AD_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <agentd/agent.h> /* enum agentd_log_level */

void ad_log_init(const char *progname, int level);
void ad_log_set_level(int level);
/* Set by agentd for its workers when it logs to syslog. */
#define AD_LOG_TARGET_ENV "AGENTD_LOG_TARGET"

/* Is s a log target: "stderr", "syslog" or an absolute path?  0 or -1. */
int ad_log_target_word(const char *s);
/*
 * Log to target from now on (NULL: stderr).  A file is opened for
 * appending (0640, created if missing) and becomes fd 2.  0, or -1 with
 * one line in err; the target is then unchanged.
 */
int ad_log_set_target(const char *target, char *err, size_t errlen);
/* A file target opened again at its path (after logrotate moved it);
 * nothing for the others.  0, or -1 with one line in err (the old file
 * stays in use). */
int ad_log_reopen(char *err, size_t errlen);

/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int ad_log_parse_level(const char *name);

void ad_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ad_vlog(int level, const char *fmt, va_list ap);

#define ad_error(...) ad_log(AGENTD_LOG_ERROR, __VA_ARGS__)
#define ad_warn(...) ad_log(AGENTD_LOG_WARN, __VA_ARGS__)
#define ad_info(...) ad_log(AGENTD_LOG_INFO, __VA_ARGS__)
#define ad_debug(...) ad_log(AGENTD_LOG_DEBUG, __VA_ARGS__)

#endif
