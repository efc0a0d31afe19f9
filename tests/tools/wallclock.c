/*
 * wallclock - a wall clock a test can move, for agentd alone.
 *
 * Loaded with LD_PRELOAD into agentd or agentctl, it adds to every
 * CLOCK_REALTIME reading of clock_gettime() the number of milliseconds written
 * in the file that AGENTD_TEST_WALLCLOCK names (read at each call; a missing
 * or empty file is 0), so that tests/system/schedule_clock.sh can jump the
 * clock forward and back without touching the machine's.  The monotonic clock
 * is left alone, as a real jump leaves it.  Both variables are taken out
 * of the environment before agentd's main(), so its workers do not
 * inherit the shim; in any other program (valgrind's launcher under
 * AGENTD_TEST_WRAP) it does nothing and leaves them for agentd.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char path[4096];
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void
wallclock_init(void)
{
	const char *p = getenv("AGENTD_TEST_WALLCLOCK");

	/* Only agentd and agentctl: whatever runs them (env, valgrind's
	 * launcher and its script) passes the variables on. */
	if (strcmp(program_invocation_short_name, "agentd") != 0
	    && strcmp(program_invocation_short_name, "agentctl") != 0)
		return;
	if (p != NULL)
		snprintf(path, sizeof(path), "%s", p);
	unsetenv("AGENTD_TEST_WALLCLOCK");
	unsetenv("LD_PRELOAD");
	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(
	    RTLD_NEXT, "clock_gettime");
}

static long long
offset_ms(void)
{
	char    buf[32];
	ssize_t n = -1;
	int     fd;

	if (path[0] == '\0' || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	long long off;
	int       rv;

	if (real_clock_gettime == NULL)
		return -1;
	rv = real_clock_gettime(id, ts);
	if (rv != 0 || id != CLOCK_REALTIME || (off = offset_ms()) == 0)
		return rv;
	ts->tv_sec += off / 1000;
	ts->tv_nsec += (off % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	} else if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000L;
	}
	return rv;
}
