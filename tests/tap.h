/*
 * tests/tap.h - the smallest TAP producer that does the job.
 *
 *   plan(3);
 *   ok(x == 1, "x is one");
 *   is_int(f(), 0, "f succeeds");
 *   is_str(name, "echo", "name read back");
 *   return done_testing();
 *
 * Output goes to stdout as TAP 13; diagnostics to stdout as "# ..." lines so
 * automake's tap-driver keeps them in the log next to the failing test.
 */
#ifndef AGENTD_TAP_H
#define AGENTD_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run_;
static int tap_failed_;
static int tap_planned_;

static inline void
plan(int n)
{
	tap_planned_ = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void
diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static inline int
tap_result_(int pass, const char *file, int line, const char *name)
{
	tap_run_++;
	if (!pass)
		tap_failed_++;
	printf("%s %d - %s\n", pass ? "ok" : "not ok", tap_run_, name);
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

#define ok(cond, name) tap_result_(!!(cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name)                                               \
	do {                                                                  \
		long long g_ = (long long)(got), w_ = (long long)(want);      \
		if (!tap_result_(g_ == w_, __FILE__, __LINE__, (name)))       \
			diag("  got %lld, want %lld", g_, w_);                \
	} while (0)

#define is_str(got, want, name)                                               \
	do {                                                                  \
		const char *g_ = (got), *w_ = (want);                         \
		int         p_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_; \
		if (!tap_result_(p_, __FILE__, __LINE__, (name)))             \
			diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", \
			    w_ ? w_ : "(null)");                              \
	} while (0)

/* Does s contain sub?  For checking error messages. */
#define like(s, sub, name)                                                    \
	do {                                                                  \
		const char *s_ = (s), *u_ = (sub);                            \
		int         p_ = s_ && u_ && strstr(s_, u_) != NULL;          \
		if (!tap_result_(p_, __FILE__, __LINE__, (name)))             \
			diag("  \"%s\" does not contain \"%s\"",              \
			    s_ ? s_ : "(null)", u_ ? u_ : "(null)");          \
	} while (0)

static inline int
done_testing(void)
{
	if (tap_planned_ && tap_run_ != tap_planned_)
		diag("planned %d tests, ran %d", tap_planned_, tap_run_);
	return (tap_failed_ == 0
	           && (!tap_planned_ || tap_run_ == tap_planned_))
	    ? 0
	    : 1;
}

#endif /* AGENTD_TAP_H */
