#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static char            log_prog[32] = "agentd";
static int             log_level    = AGENTD_LOG_INFO;
static int             log_journal;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int             log_syslog;
static char           *log_file; /* the file target's path, or NULL */

void
ad_log_init(const char *progname, int level)
{
	const char *target = getenv(AD_LOG_TARGET_ENV);

	snprintf(log_prog, sizeof(log_prog), "%s", progname);
	log_level   = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (target != NULL && strcmp(target, "syslog") == 0) {
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
	}
}

int
ad_log_target_word(const char *s)
{
	if (strcmp(s, "stderr") == 0 || strcmp(s, "syslog") == 0)
		return 0;
	return s[0] == '/' && s[1] != '\0' ? 0 : -1;
}

/* path opened for appending and made fd 2 (log_mtx held). */
static int
file_onto_stderr(const char *path, char *err, size_t errlen)
{
	int fd = open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		snprintf(err, errlen,
		    "cannot open the log file %s: %s: check agentd { log { "
		    "target } } and that its folder is writable by agentd",
		    path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

int
ad_log_set_target(const char *target, char *err, size_t errlen)
{
	int rv = 0;

	if (target == NULL)
		target = "stderr";
	pthread_mutex_lock(&log_mtx);
	if (strcmp(target, "syslog") == 0) {
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		/* For the workers it spawns.  agentd sets its target before
		 * it starts threads that could read the environment. */
		setenv(AD_LOG_TARGET_ENV, "syslog", 1);
	} else if (strcmp(target, "stderr") != 0) {
		rv = file_onto_stderr(target, err, errlen);
		if (rv == 0) {
			free(log_file);
			log_file = strdup(target);
			log_journal
			    = 0; /* time stamps: a file is no journal */
		}
	}
	pthread_mutex_unlock(&log_mtx);
	return rv;
}

int
ad_log_reopen(char *err, size_t errlen)
{
	int rv = 0;

	pthread_mutex_lock(&log_mtx);
	if (log_file != NULL)
		rv = file_onto_stderr(log_file, err, errlen);
	pthread_mutex_unlock(&log_mtx);
	return rv;
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
	if (log_syslog) {
		/* The levels are syslog's priorities (agentd/agent.h). */
		syslog(level, "%s", line);
	} else if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, line);
		fflush(stderr);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03dZ %s[%d] %s: %s\n", stamp,
		    (int)(tv.tv_usec / 1000), log_prog, (int)getpid(),
		    level_name(level), line);
		fflush(stderr);
	}
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
