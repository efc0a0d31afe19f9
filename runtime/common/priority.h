/*
 * priority.h - a worker's CPU priority while it starts and while it exits.
 *
 * A worker starting (loading its plugin, nng's threads, dialing agentd)
 * or exiting (the teardown after fini) takes CPU from the instances that
 * serve requests meanwhile: during a reload on a busy machine, two new
 * workers starting tripled the requests' p99 (doc/performance.md, "Hot
 * reload").  So those phases run at the lowest priority, nice 19:
 * agentd's spawning thread lowers itself around posix_spawn, so the
 * worker starts low (and is told with --nice where to come back); the
 * worker comes back to that priority when agentd's "init" arrives,
 * before the plugin's init runs (a plugin's own start-up is real work
 * and must not starve on a loaded machine), and lowers itself again
 * after the plugin's fini.
 *
 * Raising the nice value is always allowed; coming back down needs
 * CAP_SYS_NICE or an RLIMIT_NICE that allows the original value (the
 * systemd unit sets LimitNICE=+0).  A worker that could not come back
 * does not lower itself while starting.
 */
#ifndef AD_PRIORITY_H
#define AD_PRIORITY_H

#include <stdint.h>

/*
 * May a process come back to nice value target?  capeff: its effective
 * capabilities (bit 23 is CAP_SYS_NICE); rlim_nice: its RLIMIT_NICE soft
 * limit, which allows nice values down to 20 - rlim_nice.
 */
int ad_prio_allowed(int target, uint64_t capeff, uint64_t rlim_nice);

/* The same for this process (from /proc/self/status and getrlimit). */
int ad_prio_may_return(int target);

/*
 * Set every thread of this process to nice value n (on Linux a nice
 * value belongs to a thread; new threads take their creator's).  0, or
 * -1 with errno from the first thread that could not be set.
 */
int ad_prio_set_all(int n);

#endif
