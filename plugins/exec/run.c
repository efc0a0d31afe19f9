/*
 * run.c - one run of a tool, as a state machine driven by the instance's
 * poll loop (doc/exec.md "A run").
 *
 * The child is started by posix_spawn in a process group of its own
 * (its pid is the group's id), stdin /dev/null, stdout and stderr pipes,
 * no other descriptor of the worker.  Three descriptors are watched with
 * host->watch_fd: the two pipes and a pidfd of the child, readable once
 * it has exited.  The group, not the child alone, is what is stopped:
 *
 *   RUNNING --timeout or output past the cap (overflow kill)--> STOPPING
 *     SIGTERM to the group, a timer of kill_grace_ms started
 *   STOPPING --the grace timer--> SIGKILL to the group (stays STOPPING)
 *   RUNNING, STOPPING --the child exited (pidfd, or SIGCHLD)--> done
 *     SIGKILL to what is left of the group, while the child is still a
 *     zombie (so that its pid, the group's id, cannot have been reused),
 *     then the child reaped, the pipes read to their end or for as long
 *     as they hold data, everything closed, done() called.
 *
 * Memory is bounded by output_max per stream: what comes past it is read
 * (so that the tool is not stuck on a full pipe), counted and digested,
 * and dropped.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exec.h"

#define READ_CHUNK 65536
#define READS_PER_TURN 16 /* per callback: other requests are served too */

enum run_state {
	RUN_RUNNING,
	RUN_STOPPING,
};

/* What happens to a run; run_on() is its one transition function. */
enum run_event {
	RUN_TIMEOUT,  /* timeout_ms passed */
	RUN_OVERFLOW, /* output past output_max, overflow "kill" */
	RUN_GRACE,    /* kill_grace_ms passed since SIGTERM */
	RUN_EXITED,   /* the child has exited (a zombie until reaped) */
};

struct stream {
	int         fd; /* -1 once at its end */
	char       *buf;
	size_t      len, max;
	uint64_t    total;
	EVP_MD_CTX *md;
};

struct exec_run {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
	const struct exec_tool   *tool;
	exec_done_fn              done;
	void                     *arg;
	uint64_t                  kill_grace_ms;
	enum run_state            state;
	pid_t                     pid;   /* also the group's id */
	int                       pidfd; /* -1: waits on SIGCHLD instead */
	struct exec_run          *chld_next;
	struct stream             out, err;
	uint64_t                  timer; /* timeout, then the grace; 0 none */
	uint64_t                  t0;
	int                       timed_out, truncated;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
stream_close(struct exec_run *r, struct stream *s)
{
	if (s->fd < 0)
		return;
	r->host->watch_fd(r->ctx, s->fd, 0, NULL, NULL);
	close(s->fd);
	s->fd = -1;
}

static void
stream_free(struct stream *s)
{
	free(s->buf);
	EVP_MD_CTX_free(s->md);
}

static void
hex_digest(struct stream *s, char hex[65])
{
	unsigned char md[32];
	unsigned int  n = 0, i;

	EVP_DigestFinal_ex(s->md, md, &n);
	for (i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
}

static void run_on(struct exec_run *r, enum run_event ev);

/* What read returned: counted, digested, kept up to the cap. */
static void
stream_take(struct exec_run *r, struct stream *s, const char *p, size_t n)
{
	size_t keep = s->max - s->len < n ? s->max - s->len : n;

	EVP_DigestUpdate(s->md, p, n);
	s->total += n;
	memcpy(s->buf + s->len, p, keep);
	s->len += keep;
	if (keep < n && !r->truncated) {
		r->truncated = 1;
		if (r->tool->overflow_kill)
			run_on(r, RUN_OVERFLOW);
	}
}

/* Read what the pipe holds, at most `reads` times; the end closes it. */
static void
stream_read(struct exec_run *r, struct stream *s, int reads)
{
	char    chunk[READ_CHUNK];
	ssize_t n;

	while (s->fd >= 0 && reads-- > 0) {
		n = read(s->fd, chunk, sizeof(chunk));
		if (n > 0) {
			stream_take(r, s, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		stream_close(r, s); /* the end, or an error: nothing more */
	}
}

static void
on_pipe(void *arg, int fd, int events)
{
	struct exec_run *r = arg;

	(void)events;
	stream_read(r, fd == r->out.fd ? &r->out : &r->err, READS_PER_TURN);
}

static void
on_timer(void *arg, uint64_t id)
{
	struct exec_run *r = arg;

	(void)id;
	r->timer = 0;
	run_on(r, r->state == RUN_RUNNING ? RUN_TIMEOUT : RUN_GRACE);
}

/* ---- the child's exit --------------------------------------------------- */

/*
 * A pidfd (Linux 5.3) is readable once the child has exited.  Where
 * pidfd_open is missing (an older kernel, valgrind) a SIGCHLD handler,
 * installed the first time, writes a byte to a pipe, watched while runs
 * wait on it; each of them is then asked.  Both are the process's, like
 * its children: there is one instance per worker.
 */
static int              chld_pipe[2] = { -1, -1 };
static struct exec_run *chld_runs;

static void run_exited(struct exec_run *r);

/* Has the child exited?  It stays a zombie (WNOWAIT) until reaped. */
static int
exited(const struct exec_run *r)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT)
	    == 0
	    && si.si_pid != 0;
}

static void
on_pidfd(void *arg, int fd, int events)
{
	(void)fd;
	(void)events;
	if (exited(arg))
		run_on(arg, RUN_EXITED);
}

static void
on_sigchld(int sig)
{
	int     saved = errno;
	ssize_t n     = write(chld_pipe[1], "", 1);

	(void)sig;
	(void)n;
	errno = saved;
}

static void
on_chld_pipe(void *arg, int fd, int events)
{
	struct exec_run *r, *next;
	char             buf[256];

	(void)arg;
	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	for (r = chld_runs; r != NULL; r = next) {
		next = r->chld_next;
		if (exited(r))
			run_on(r, RUN_EXITED);
	}
}

static int
chld_install(void)
{
	struct sigaction sa;

	if (chld_pipe[0] >= 0)
		return 0;
	if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sa.sa_flags   = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGCHLD, &sa, NULL);
}

/*
 * Before the first spawn: does this kernel have pidfd_open?  Without it
 * the SIGCHLD handler goes in now, before any child can exit unheard.
 */
static int
exit_prepare(void)
{
	static int pidfds = -1; /* -1: not asked yet */
	int        fd;

	if (pidfds < 0) {
		fd     = (int)syscall(SYS_pidfd_open, getpid(), 0);
		pidfds = fd >= 0 || errno != ENOSYS;
		if (fd >= 0)
			close(fd);
	}
	return pidfds || chld_install() == 0 ? 0 : -1;
}

/* Watch for the child's exit, with a pidfd or on SIGCHLD. */
static int
exit_watch(struct exec_run *r)
{
	ssize_t n;

	if (chld_pipe[0] < 0) {
		r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
		if (r->pidfd < 0)
			return AGENTD_EIO;
		return r->host->watch_fd(
		    r->ctx, r->pidfd, AGENTD_FD_READ, on_pidfd, r);
	}
	if (chld_runs == NULL
	    && r->host->watch_fd(
	           r->ctx, chld_pipe[0], AGENTD_FD_READ, on_chld_pipe, NULL)
	        != 0)
		return AGENTD_EIO;
	r->chld_next = chld_runs;
	chld_runs    = r;
	/* The next turn asks every run, this one included: an exit before
	 * it was listed is not missed. */
	n = write(chld_pipe[1], "", 1);
	(void)n;
	return 0;
}

static void
exit_unwatch(struct exec_run *r)
{
	struct exec_run **p;

	if (r->pidfd >= 0) {
		r->host->watch_fd(r->ctx, r->pidfd, 0, NULL, NULL);
		close(r->pidfd);
		r->pidfd = -1;
		return;
	}
	for (p = &chld_runs; *p != NULL && *p != r; p = &(*p)->chld_next)
		;
	if (*p == NULL)
		return;
	*p = r->chld_next;
	if (chld_runs == NULL)
		r->host->watch_fd(r->ctx, chld_pipe[0], 0, NULL, NULL);
}

static void
run_free(struct exec_run *r)
{
	if (r->timer != 0)
		r->host->timer_cancel(r->ctx, r->timer);
	stream_close(r, &r->out);
	stream_close(r, &r->err);
	exit_unwatch(r);
	stream_free(&r->out);
	stream_free(&r->err);
	free(r);
}

/* The child has exited: the rest of its group goes, then the result. */
static void
run_exited(struct exec_run *r)
{
	struct exec_result res;
	int                st = 0;

	/* Still a zombie: the group's id is still this child's. */
	kill(-r->pid, SIGKILL);
	while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
		;
	/* What the child wrote is in the pipes by now; what the group's
	 * others write is theirs until SIGKILL lands: read what is there. */
	stream_read(r, &r->out, (int)(r->out.max / READ_CHUNK) + 64);
	stream_read(r, &r->err, (int)(r->err.max / READ_CHUNK) + 64);
	memset(&res, 0, sizeof(res));
	res.exit_code   = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	res.signal      = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	res.timed_out   = r->timed_out;
	res.truncated   = r->truncated;
	res.out         = r->out.buf;
	res.out_len     = r->out.len;
	res.out_total   = r->out.total;
	res.err         = r->err.buf;
	res.err_len     = r->err.len;
	res.err_total   = r->err.total;
	res.duration_ms = now_ms() - r->t0;
	hex_digest(&r->out, res.out_sha256);
	hex_digest(&r->err, res.err_sha256);
	r->done(r->arg, &res);
	run_free(r);
}

/* SIGTERM to the group, and SIGKILL kill_grace_ms later. */
static void
run_stop(struct exec_run *r)
{
	r->state = RUN_STOPPING;
	if (r->timer != 0)
		r->host->timer_cancel(r->ctx, r->timer);
	r->timer = 0;
	kill(-r->pid, SIGTERM);
	if (r->host->timer_start(
	        r->ctx, r->kill_grace_ms, 0, on_timer, r, &r->timer)
	    != 0)
		kill(-r->pid, SIGKILL);
}

static void
run_on(struct exec_run *r, enum run_event ev)
{
	switch (ev) {
	case RUN_TIMEOUT:
		r->timed_out = 1;
		/* FALLTHROUGH */
	case RUN_OVERFLOW:
		if (r->state == RUN_RUNNING)
			run_stop(r);
		break;
	case RUN_GRACE:
		kill(-r->pid, SIGKILL);
		break;
	case RUN_EXITED:
		run_exited(r); /* r is gone */
		break;
	}
}

static int
stream_init(struct stream *s, size_t max)
{
	s->fd  = -1;
	s->max = max;
	s->buf = malloc(max == 0 ? 1 : max);
	s->md  = EVP_MD_CTX_new();
	if (s->buf == NULL || s->md == NULL
	    || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
		return AGENTD_ENOMEM;
	return 0;
}

/* The child's side: its own group, pipes on 1 and 2, nothing else. */
static int
spawn(struct exec_run *r, char *const *argv, int out_w, int err_w, char *err,
    size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          attr;
	sigset_t                   none, all;
	int                        rv;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
	        | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawn_file_actions_addchdir_np(&fa, r->tool->cwd);
	rv = posix_spawn(&r->pid, argv[0], &fa, &attr, argv, r->tool->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0) {
		snprintf(err, errlen, "cannot run %s in %s: %s%s", argv[0],
		    r->tool->cwd, strerror(rv),
		    rv == EACCES || rv == EPERM
		        ? " (is it in the agent's paths { exec }, and its cwd "
		          "in paths { read } or { write }?)"
		        : "");
		return AGENTD_EIO;
	}
	return 0;
}

static int
watch_all(struct exec_run *r)
{
	int rv;

	if ((rv = r->host->watch_fd(
	         r->ctx, r->out.fd, AGENTD_FD_READ, on_pipe, r))
	        != 0
	    || (rv = r->host->watch_fd(
	            r->ctx, r->err.fd, AGENTD_FD_READ, on_pipe, r))
	        != 0
	    || (rv = exit_watch(r)) != 0)
		return rv;
	return r->host->timer_start(
	    r->ctx, r->tool->timeout_ms, 0, on_timer, r, &r->timer);
}

int
exec_run_start(agentd_ctx *ctx, const struct agentd_host *host,
    const struct exec_spawn *s, struct exec_run **run, char *err,
    size_t errlen)
{
	struct exec_run *r     = calloc(1, sizeof(*r));
	int              po[2] = { -1, -1 }, pe[2] = { -1, -1 }, rv, i;

	if (r == NULL)
		return AGENTD_ENOMEM;
	r->ctx = ctx, r->host = host, r->tool = s->tool;
	r->done = s->done, r->arg = s->arg;
	r->kill_grace_ms = s->kill_grace_ms;
	r->pidfd         = -1;
	r->pid           = 0;
	r->t0            = now_ms();
	if ((rv = stream_init(&r->out, s->tool->output_max)) != 0
	    || (rv = stream_init(&r->err, s->tool->output_max)) != 0)
		goto fail;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		snprintf(
		    err, errlen, "cannot make pipes: %s", strerror(errno));
		rv = AGENTD_EIO;
		goto fail;
	}
	r->out.fd = po[0], r->err.fd = pe[0];
	po[0] = pe[0] = -1;
	fcntl(r->out.fd, F_SETFL, O_NONBLOCK);
	fcntl(r->err.fd, F_SETFL, O_NONBLOCK);
	if (exit_prepare() != 0) {
		snprintf(err, errlen, "cannot watch for exits: %s",
		    strerror(errno));
		rv = AGENTD_EIO;
		close(po[1]);
		close(pe[1]);
		po[1] = pe[1] = -1;
		goto fail;
	}
	rv = spawn(r, s->argv, po[1], pe[1], err, errlen);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (rv != 0)
		goto fail;
	if ((rv = watch_all(r)) != 0) {
		snprintf(err, errlen, "cannot watch %s: %s", s->argv[0],
		    rv == AGENTD_EIO ? strerror(errno) : agentd_strerror(rv));
		kill(-r->pid, SIGKILL);
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto fail;
	}
	*run = r;
	return 0;
fail:
	for (i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	run_free(r);
	return rv;
}

void
exec_run_abort(struct exec_run *r)
{
	kill(-r->pid, SIGKILL);
	while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
		;
	run_free(r);
}
