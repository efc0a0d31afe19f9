/*
 * harness.h - what bench/run's agentd rows share: a real agentd (from
 * $BENCH_BUILDDIR) started on the configuration a program wrote in
 * $BENCH_TMPDIR/conf, one request at a time on its control socket, and a
 * wait until its agents are ready.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>

#include <agentd/msg.h>

#include "bus/envelope.h"

/* $BENCH_TMPDIR and $BENCH_BUILDDIR, once harness_env() read them. */
extern const char *harness_tmpdir, *harness_builddir;

/* Read the two variables; 0, or 2 with one line on stderr naming prog. */
int harness_env(const char *prog);

/* agentd --foreground on TMPDIR/conf, state and run dirs beside it. */
pid_t harness_start(void);

/*
 * The same at log_level, with its output (and its workers') in
 * TMPDIR/agentd.log rather than bench/run's pipe, which it would hold
 * open; SIGTERM, SIGINT or SIGHUP to this program SIGKILL it first
 * (bench/run's timeout must not leave it behind).  harness_agentd is its
 * pid until it is stopped or killed.
 */
pid_t                 harness_start_logged(const char *log_level);
extern volatile pid_t harness_agentd;

/* SIGKILL the agentd of harness_start_logged, and wait for it. */
void harness_kill(void);

/*
 * harness_kill, then SIGKILL every other child of this process (found in
 * /proc) and reap them all.  For a start that went wrong: agentd may be
 * restarting hundreds of instances, a graceful stop took minutes, and
 * workers left alone each notice only when their own connection attempts
 * time out.  The caller made itself a child subreaper
 * (PR_SET_CHILD_SUBREAPER) before starting agentd, so agentd's workers
 * became its children when agentd died.
 */
void harness_kill_all(void);

/* The last 20 lines of TMPDIR/agentd.log on stderr, naming prog. */
void harness_log_tail(const char *prog);

/* SIGTERM, and wait for it. */
void harness_stop(pid_t pid);

/*
 * One request (kind, dst, body or NULL) on the control socket, waiting at
 * most timeout_ms.  On success *doc is the reply body, borrowing from
 * *keep: free both (agentd_doc_free, nng_msg_free).  -1 on any failure; a
 * non-zero status is printed on stderr, naming prog.
 */
int harness_control(const char *prog, enum ad_kind kind, const char *dst,
    agentd_writer *body, int64_t timeout_ms, agentd_doc **doc, nng_msg **keep);

/* An integer of a map, 0 when absent. */
int64_t harness_int(const agentd_value *map, const char *key);

/*
 * Until every agent has at least min_ready ready instances (and there are
 * nagents of them, when nagents is not 0), at most timeout_ms.  0 or -1.
 */
int harness_wait_ready(size_t nagents, int64_t min_ready, int64_t timeout_ms);

#endif
