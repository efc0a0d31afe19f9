/*
 * priority.c - see priority.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/priority.h"

#define CAP_SYS_NICE_BIT 23

int
ad_prio_allowed(int target, uint64_t capeff, uint64_t rlim_nice)
{
	if (capeff & ((uint64_t)1 << CAP_SYS_NICE_BIT))
		return 1;
	return rlim_nice == (uint64_t)RLIM_INFINITY
	    || (int64_t)rlim_nice >= 20 - (int64_t)target;
}

/* The CapEff line of /proc/self/status, or 0. */
static uint64_t
cap_effective(void)
{
	FILE    *f = fopen("/proc/self/status", "r");
	char     line[256];
	uint64_t caps = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "CapEff:", 7) == 0) {
			caps = strtoull(line + 7, NULL, 16);
			break;
		}
	}
	fclose(f);
	return caps;
}

static int
may_background(int capped)
{
	struct rlimit rl;
	int           n;

	if (sched_getscheduler(0) != SCHED_OTHER)
		return 0;
	errno = 0;
	n     = getpriority(PRIO_PROCESS, 0);
	if (errno != 0)
		return 0;
	if (getrlimit(RLIMIT_NICE, &rl) != 0)
		rl.rlim_cur = 0;
	return ad_prio_allowed(
	    n, capped ? cap_effective() : 0, (uint64_t)rl.rlim_cur);
}

int
ad_prio_may_background(void)
{
	return may_background(1);
}

int
ad_prio_may_background_uncapped(void)
{
	return may_background(0);
}

/* One thread (0: the caller) to SCHED_IDLE or SCHED_OTHER. */
static int
set_one(pid_t tid, int background)
{
	struct sched_param sp = { .sched_priority = 0 };

	return sched_setscheduler(
	    tid, background ? SCHED_IDLE : SCHED_OTHER, &sp);
}

int
ad_prio_set_all(int background)
{
	DIR           *d = opendir("/proc/self/task");
	struct dirent *de;
	int            rv = 0, err = 0;

	if (d == NULL) /* no /proc: the calling thread at least */
		return set_one(0, background);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (set_one((pid_t)atoi(de->d_name), background) != 0
		    && errno != ESRCH && rv == 0) {
			rv  = -1;
			err = errno;
		}
	}
	closedir(d);
	errno = err;
	return rv;
}
