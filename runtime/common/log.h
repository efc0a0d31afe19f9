/*
 * log.h - the one logging call of the runtime.
 *
 * Lines go to stderr.  When stderr is the journal (JOURNAL_STREAM is set),
 * each line starts with its syslog priority ("<3>") so journald files it
 * correctly; otherwise with an ISO time, the program name and pid.
 */
#ifndef AD_LOG_H
#define AD_LOG_H

#include <stdarg.h>

#include <agentd/agent.h> /* enum agentd_log_level */

void ad_log_init(const char *progname, int level);
void ad_log_set_level(int level);
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
