/*
 * crash.h - the last thing a process says when it crashes.
 *
 * A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) writes one
 * line naming the signal, the faulting address and the thread, then the
 * stack as glibc's backtrace() sees it (one frame a line: object, symbol
 * or offset, address), to stderr, which is the log when agentd logs to a
 * file; then the signal is raised again with its default action, so the
 * exit status, a core dump and systemd see the crash as before.  The
 * frames are addresses in the binaries: `addr2line -f -e BINARY OFFSET`
 * on the same build names the lines.  Not in a sanitizer build, whose own
 * report says more.
 */
#ifndef AD_CRASH_H
#define AD_CRASH_H

/* Install the handlers for the whole process (every thread), prog the
 * name the line starts with (borrowed: a string literal). */
void ad_crash_install(const char *prog);

/* One more line said after the stack (borrowed, NUL-terminated, kept
 * until exit; NULL: none): the worker names the plugin file it loaded
 * through /proc/self/fd, as the frames call it. */
void ad_crash_note(const char *line);

#endif
