/*
 * priority.h - a worker in the background while it starts and exits.
 *
 * A worker starting (exec, loading its plugin, nng's threads, dialing
 * agentd) or exiting (the teardown after fini) takes CPU from the
 * instances that serve requests meanwhile: during a reload on a busy
 * machine, two new workers starting tripled the requests' p99
 * (doc/performance.md, "Hot reload").  So those phases run under
 * SCHED_IDLE: the scheduler gives them what is left, and a thread serving
 * requests that wakes up takes the CPU from them at once (a nice 19
 * thread may keep it for the rest of its slice).  agentd spawns the
 * worker so, with --background (its spawning thread goes to SCHED_IDLE
 * around posix_spawn and the child inherits it: glibc's spawn attributes
 * refuse that policy); the worker comes back to SCHED_OTHER, at the nice
 * value it kept, when agentd's "init" arrives, before the plugin's init
 * runs (a plugin's own start-up is real work and must not starve on a
 * loaded machine), and goes back to SCHED_IDLE after the plugin's fini.
 *
 * Going to SCHED_IDLE is always allowed; leaving it needs CAP_SYS_NICE or
 * an RLIMIT_NICE that allows the thread's nice value (the kernel treats
 * SCHED_IDLE as nice 20; the systemd unit sets LimitNICE=+0).  agentd
 * does not spawn a worker in the background that could not come back,
 * nor when it does not run under SCHED_OTHER itself (an operator's
 * `chrt` is left alone).
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

/*
 * May this process go to the background and come back?  It runs under
 * SCHED_OTHER and may return to its nice value (from /proc/self/status
 * and getrlimit).
 */
int ad_prio_may_background(void);
/* The same for a process that gives up its capabilities before it comes
 * back (a worker, doc/security.md): RLIMIT_NICE alone decides. */
int ad_prio_may_background_uncapped(void);

/*
 * Every thread of this process to SCHED_IDLE (background 1) or back to
 * SCHED_OTHER (0); nice values are kept.  (On Linux a policy belongs to a
 * thread; new threads take their creator's.)  0, or -1 with errno from
 * the first thread that could not be set.
 */
int ad_prio_set_all(int background);

#endif
