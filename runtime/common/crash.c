#define _GNU_SOURCE
#include "config.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/crash.h"

#if defined(__SANITIZE_ADDRESS__)
#define CRASH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CRASH_SANITIZED 1
#endif
#endif
#ifndef CRASH_SANITIZED
#define CRASH_SANITIZED 0
#endif

#define CRASH_FRAMES 64

static const char *crash_prog = "agentd";
static const char *crash_line;
/* The main thread's handler runs on it: an overflow of its stack leaves
 * no room for one (other threads' handlers run on their own stacks). */
static char crash_stack[64 * 1024];

static const int crash_signals[]
    = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* Only async-signal-safe calls from here on: write(), no stdio. */
static void
put(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

/* v in hexadecimal, or decimal when base is 10, into buf (32 bytes). */
static const char *
num(uintptr_t v, int base, char *buf)
{
	char *p = buf + 31;

	*p = '\0';
	do {
		*--p = "0123456789abcdef"[v % (uintptr_t)base];
		v /= (uintptr_t)base;
	} while (v != 0);
	if (base == 16) {
		*--p = 'x';
		*--p = '0';
	}
	return p;
}

static void
on_crash(int sig, siginfo_t *si, void *uc)
{
	void       *frames[CRASH_FRAMES];
	char        b1[32], b2[32];
	const char *name;
	int         n;

	(void)uc;
	put(crash_prog);
	put(": crashed: signal ");
	name = sigabbrev_np(sig);
	put(name != NULL ? "SIG" : "");
	put(name != NULL ? name : num((uintptr_t)sig, 10, b1));
	/* Only a fault the kernel found has an address. */
	if (si->si_code > 0) {
		put(" at address ");
		put(num((uintptr_t)si->si_addr, 16, b1));
	}
	put(" in thread ");
	put(num((uintptr_t)syscall(SYS_gettid), 10, b2));
	put("; its stack:\n");
	n = backtrace(frames, CRASH_FRAMES);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	if (crash_line != NULL) {
		put(crash_line);
		put("\n");
	}
	/* SA_RESETHAND put the default action back: the same signal again
	 * ends the process as it would have ended.  A fault repeats when the
	 * handler returns; a signal that was sent (kill, abort) is raised. */
	if (sig == SIGABRT || si->si_code <= 0)
		raise(sig);
}

void
ad_crash_install(const char *prog)
{
	struct sigaction sa;
	stack_t          ss;
	void            *one[1];
	size_t           i;

	if (CRASH_SANITIZED)
		return;
	crash_prog = prog;
	/* backtrace() loads libgcc's unwinder on its first call, which is
	 * not safe in a handler: now, once. */
	(void)backtrace(one, 1);
	ss.ss_sp    = crash_stack;
	ss.ss_size  = sizeof(crash_stack);
	ss.ss_flags = 0;
	(void)sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_crash;
	sa.sa_flags     = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		(void)sigaction(crash_signals[i], &sa, NULL);
}

void
ad_crash_note(const char *line)
{
	crash_line = line;
}
