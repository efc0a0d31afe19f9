/*
 * test_priority.c - a worker in the background while it starts and exits:
 * when the way back is allowed, and setting every thread of the process.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tap.h"
#include "common/priority.h"

#define SYS_NICE ((uint64_t)1 << 23)

static pthread_mutex_t mtx  = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cond = PTHREAD_COND_INITIALIZER;
static int             done, started;
static pid_t           tids[2];

static void *
sleeper(void *arg)
{
	pthread_mutex_lock(&mtx);
	tids[(intptr_t)arg] = (pid_t)syscall(SYS_gettid);
	started++;
	pthread_cond_broadcast(&cond);
	while (!done)
		pthread_cond_wait(&cond, &mtx);
	pthread_mutex_unlock(&mtx);
	return NULL;
}

static int
nice_of(pid_t tid)
{
	errno = 0;
	return getpriority(PRIO_PROCESS, (id_t)tid);
}

/* Do the calling thread and both others run under policy, at nice n? */
static int
all_at(int policy, int n)
{
	pid_t who[3] = { 0, tids[0], tids[1] };
	int   i;

	for (i = 0; i < 3; i++) {
		if (sched_getscheduler(who[i]) != policy
		    || nice_of(who[i]) != n)
			return 0;
	}
	return 1;
}

int
main(void)
{
	pthread_t t[2];
	int       n0, i, may;

	plan(11);
	ok(ad_prio_allowed(0, SYS_NICE, 0), "CAP_SYS_NICE: back to 0");
	ok(ad_prio_allowed(-10, SYS_NICE, 0), "CAP_SYS_NICE: back to -10");
	ok(!ad_prio_allowed(0, 0, 0),
	    "no capability, RLIMIT_NICE 0: not to 0");
	ok(ad_prio_allowed(0, 0, 20), "RLIMIT_NICE 20 (LimitNICE=+0): to 0");
	ok(!ad_prio_allowed(-1, 0, 20), "RLIMIT_NICE 20: not to -1");
	ok(ad_prio_allowed(5, 0, 15) && !ad_prio_allowed(4, 0, 15),
	    "RLIMIT_NICE 15: to 5, not to 4");
	ok(ad_prio_allowed(-20, 0, (uint64_t)RLIM_INFINITY),
	    "RLIMIT_NICE unlimited: anywhere");

	n0 = nice_of(0);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, sleeper, (void *)(intptr_t)i);
	pthread_mutex_lock(&mtx);
	while (started < 2)
		pthread_cond_wait(&cond, &mtx);
	pthread_mutex_unlock(&mtx);

	/* Going to the background is always allowed. */
	may = ad_prio_may_background();
	is_int(ad_prio_set_all(1), 0, "every thread to the background");
	ok(all_at(SCHED_IDLE, n0),
	    "the calling thread and both others run under SCHED_IDLE, at "
	    "their nice value");
	if (may) {
		is_int(ad_prio_set_all(0), 0, "and back (allowed here)");
		ok(all_at(SCHED_OTHER, n0),
		    "every thread is back under SCHED_OTHER, at its nice "
		    "value");
	} else {
		ok(1, "# SKIP not allowed back from SCHED_IDLE here");
		ok(1, "# SKIP");
	}
	pthread_mutex_lock(&mtx);
	done = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mtx);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return done_testing();
}
