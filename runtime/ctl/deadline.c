#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/deadline.h"

/* Everything below is under dl_mtx; the thread starts at the first arm. */
static pthread_mutex_t dl_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  dl_cond;
static int             dl_started;
static int             dl_armed;
static int64_t         dl_deadline_ms;
static int             dl_status;
static char            dl_line[600];

static void *
dl_watch(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&dl_mtx);
	for (;;) {
		if (!dl_armed) {
			pthread_cond_wait(&dl_cond, &dl_mtx);
			continue;
		}
		if (ad_now_ms() >= dl_deadline_ms) {
			/* The mutex is kept: a disarm racing with this waits
			 * for the exit, so one line is printed, never two. */
			fputs(dl_line, stderr);
			fflush(stderr);
			_exit(dl_status);
		}
		ts.tv_sec  = (time_t)(dl_deadline_ms / 1000);
		ts.tv_nsec = (long)(dl_deadline_ms % 1000) * 1000000L;
		pthread_cond_timedwait(&dl_cond, &dl_mtx, &ts);
	}
	return NULL;
}

/* dl_cond waits on the monotonic clock, ad_now_ms()'s. */
static void
dl_start(void)
{
	pthread_condattr_t attr;
	pthread_t          t;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&dl_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&t, NULL, dl_watch, NULL) != 0) {
		fputs("agentctl: cannot start a thread\n", stderr);
		_exit(1);
	}
	pthread_detach(t);
	dl_started = 1;
}

void
ctl_deadline_arm(int64_t deadline_ms, int status, const char *fmt, ...)
{
	va_list ap;
	int     n;

	pthread_mutex_lock(&dl_mtx);
	if (!dl_started)
		dl_start();
	n = snprintf(dl_line, sizeof(dl_line), "agentctl: ");
	va_start(ap, fmt);
	vsnprintf(dl_line + n, sizeof(dl_line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	snprintf(dl_line + strlen(dl_line), sizeof(dl_line) - strlen(dl_line),
	    "\n");
	dl_deadline_ms = deadline_ms;
	dl_status      = status;
	dl_armed       = 1;
	pthread_cond_signal(&dl_cond);
	pthread_mutex_unlock(&dl_mtx);
}

void
ctl_deadline_disarm(void)
{
	pthread_mutex_lock(&dl_mtx);
	dl_armed = 0;
	if (dl_started)
		pthread_cond_signal(&dl_cond);
	pthread_mutex_unlock(&dl_mtx);
}
