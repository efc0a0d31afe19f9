#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static char            log_prog[32] = "agentd";
static int             log_level    = AGENTD_LOG_INFO;
static int             log_journal;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

void
ad_log_init(const char *progname, int level)
{
	snprintf(log_prog, sizeof(log_prog), "%s", progname);
	log_level   = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
ad_log_set_level(int level)
{
	log_level = level;
}

int
ad_log_parse_level(const char *name)
{
	if (strcmp(name, "error") == 0)
		return AGENTD_LOG_ERROR;
	if (strcmp(name, "warn") == 0 || strcmp(name, "warning") == 0)
		return AGENTD_LOG_WARN;
	if (strcmp(name, "info") == 0)
		return AGENTD_LOG_INFO;
	if (strcmp(name, "debug") == 0)
		return AGENTD_LOG_DEBUG;
	return -1;
}

static const char *
level_name(int level)
{
	switch (level) {
	case AGENTD_LOG_ERROR:
		return "error";
	case AGENTD_LOG_WARN:
		return "warn";
	case AGENTD_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
ad_vlog(int level, const char *fmt, va_list ap)
{
	char           line[1024];
	char           stamp[32];
	struct timeval tv;
	struct tm      tm;

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&log_mtx);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, line);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03dZ %s[%d] %s: %s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_prog, (int)getpid(),
		    level_name(level), line);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
}

void
ad_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ad_vlog(level, fmt, ap);
	va_end(ap);
}
