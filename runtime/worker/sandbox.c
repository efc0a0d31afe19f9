#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <elf.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <seccomp.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/sandbox.h"

/* ---- identity ---------------------------------------------------------- */

/* Capabilities of this thread: only CAP_SETUID (keep 1), or none. */
static int
set_caps(int keep_setuid)
{
	struct __user_cap_header_struct hdr
	    = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];

	memset(caps, 0, sizeof(caps));
	if (keep_setuid)
		caps[0].effective = caps[0].permitted = 1u << CAP_SETUID;
	/* Ambient capabilities (agentd's unit) would survive an exec. */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return (int)syscall(SYS_capset, &hdr, caps);
}

/*
 * Capabilities belong to a thread, and the threads started later (nng's)
 * inherit the starting thread's; so all of them go now, while the worker
 * is one thread, and every thread nng starts has none.  The uids become
 * the plugin user's now too, so agentd's peer check of every connection
 * the worker makes sees that uid (the kernel records the effective ids
 * at connect()); only the filesystem uid stays agentd's until
 * ad_sandbox_ids_finish(), so the worker still reaches its sockets in
 * agentd's 0700 run directory.  Setting it takes CAP_SETUID, kept through
 * the uid change (PR_SET_KEEPCAPS: from root the kernel would clear it)
 * and dropped right after.
 */
int
ad_sandbox_ids_begin(struct ad_sandbox *sb, char *err, size_t errlen)
{
	sb->started_uid = geteuid();
	if (!sb->switch_ids)
		return set_caps(0) == 0 ? 0 : -1;
	if (sb->uid == 0) {
		ad_seterr(err, errlen, "refusing to run a plugin as root");
		return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setgroups(0, NULL) != 0
	    || setresgid(sb->gid, sb->gid, sb->gid) != 0
	    || setresuid(sb->uid, sb->uid, sb->uid) != 0) {
		ad_seterr(err, errlen,
		    "cannot become uid %lu gid %lu: %s: agentd must run as "
		    "root or with CAP_SETUID and CAP_SETGID",
		    (unsigned long)sb->uid, (unsigned long)sb->gid,
		    strerror(errno));
		return -1;
	}
	if (set_caps(1) != 0) {
		ad_seterr(err, errlen, "cannot keep CAP_SETUID: %s",
		    strerror(errno));
		return -1;
	}
	setfsuid(sb->started_uid);
	if ((uid_t)setfsuid((uid_t)-1) != sb->started_uid || set_caps(0) != 0
	    || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
		ad_seterr(err, errlen, "cannot keep agentd's filesystem uid");
		return -1;
	}
	return 0;
}

/*
 * Every thread's filesystem uid becomes the plugin user's: setresuid()
 * to the ids it has already needs no capability, and glibc applies it to
 * every thread, where the kernel sets the filesystem uid to the new
 * effective one.  Then nothing may take agentd's uid or root back.
 */
int
ad_sandbox_ids_finish(const struct ad_sandbox *sb, char *err, size_t errlen)
{
	uid_t r, e, s;

	if (!sb->switch_ids)
		return 0;
	if (setresuid(sb->uid, sb->uid, sb->uid) != 0
	    || getresuid(&r, &e, &s) != 0 || r != sb->uid || e != sb->uid
	    || s != sb->uid || (uid_t)setfsuid((uid_t)-1) != sb->uid
	    || setfsuid(sb->started_uid) != (int)sb->uid
	    || (uid_t)setfsuid((uid_t)-1) != sb->uid) {
		ad_seterr(err, errlen, "cannot drop to uid %lu: %s",
		    (unsigned long)sb->uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- Landlock: what files the plugin reaches --------------------------- */

/* ABI 1 and 2 only: Debian 12's kernel (6.1) has 2. */
#define FS_FILE                                                               \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE           \
	    | LANDLOCK_ACCESS_FS_READ_FILE)
#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE                                                              \
	(FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE                              \
	    | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE  \
	    | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG       \
	    | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO     \
	    | LANDLOCK_ACCESS_FS_MAKE_SYM)
#define FS_ABI1                                                               \
	(FS_WRITE | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR \
	    | LANDLOCK_ACCESS_FS_MAKE_BLOCK)

/*
 * What the dynamic loader and libc read on behalf of any plugin: the
 * system's libraries, the loader's cache and the time zone.  Nothing of
 * /etc beyond that, nothing of agentd's directories.  /proc/self/task and
 * status: the worker lists its threads to change their scheduling and
 * reads its capabilities (priority.h).
 */
static const char *const system_read[] = { "/usr", "/lib", "/lib64", "/lib32",
	"/etc/ld.so.cache", "/etc/localtime", "/dev/urandom",
	"/proc/self/task", "/proc/self/status", "/proc/self/maps", NULL };

/*
 * What an agent with http { allow } reads besides: the resolver's
 * configuration (glibc's getaddrinfo, which libcurl's threaded resolver
 * calls) and the system's CAs and OpenSSL's configuration.  Nothing of
 * it for other agents, so that they cannot even learn the name servers.
 */
static const char *const http_read[] = { "/etc/resolv.conf", "/etc/hosts",
	"/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/ssl",
	NULL };

static int
add_rule(int ruleset, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb
	    = { .allowed_access = access, .parent_fd = fd };
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= FS_FILE;
	return (int)syscall(SYS_landlock_add_rule, ruleset,
	    LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

/* A path's rule; one that does not exist is no rule (0), unless must. */
static int
add_path(int ruleset, const char *path, uint64_t access, int must, char *err,
    size_t errlen)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	int rv;

	if (fd < 0 && errno == ENOENT && !must)
		return 0;
	rv = fd < 0 ? -1 : add_rule(ruleset, fd, access);
	if (rv != 0)
		ad_seterr(
		    err, errlen, "cannot grant %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rv;
}

/* ---- paths { exec }: programs and what runs them ------------------------ */

#define FS_RUN (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE)

/* "#!" and the program after it, read as the kernel does: from the
 * first 256 bytes (BINPRM_BUF_SIZE). */
static void
script_interpreter(const char *buf, size_t n, char *out, size_t outlen)
{
	size_t i = 2, k = 0;

	while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	while (i + k < n && k + 1 < outlen && buf[i + k] != ' '
	    && buf[i + k] != '\t' && buf[i + k] != '\n')
		k++;
	memcpy(out, buf + i, k);
	out[k] = '\0';
}

/* A 64-bit ELF file's PT_INTERP, if it has one; -1 if it cannot be read. */
static int
elf_interpreter(int fd, const Elf64_Ehdr *eh, char *out, size_t outlen)
{
	Elf64_Phdr ph;
	int        i;

	if (eh->e_ident[EI_CLASS] != ELFCLASS64
	    || eh->e_phentsize != sizeof(ph))
		return 0;
	for (i = 0; i < eh->e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph),
		        (off_t)(eh->e_phoff + (uint64_t)i * sizeof(ph)))
		    != (ssize_t)sizeof(ph))
			return -1;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz >= outlen
		    || pread(fd, out, ph.p_filesz, (off_t)ph.p_offset)
		        != (ssize_t)ph.p_filesz)
			return -1;
		out[ph.p_filesz] = '\0';
		return 0;
	}
	return 0;
}

/*
 * The interpreter the kernel opens to run path, into out: an ELF file's
 * PT_INTERP (the dynamic loader, which the kernel opens for execution as
 * it does the program), or a script's "#!" program.  0 and "" when it has
 * none (a static program), -1 when path cannot be read.
 */
static int
interpreter_of(const char *path, char *out, size_t outlen)
{
	union {
		char       buf[256];
		Elf64_Ehdr eh;
	} head;
	ssize_t n;
	int     fd = open(path, O_RDONLY | O_CLOEXEC), rv = 0;

	out[0] = '\0';
	if (fd < 0)
		return -1;
	n = pread(fd, head.buf, sizeof(head.buf), 0);
	if (n >= 2 && memcmp(head.buf, "#!", 2) == 0)
		script_interpreter(head.buf, (size_t)n, out, outlen);
	else if (n >= (ssize_t)sizeof(Elf64_Ehdr)
	    && memcmp(head.eh.e_ident, ELFMAG, SELFMAG) == 0)
		rv = elf_interpreter(fd, &head.eh, out, outlen);
	close(fd);
	return rv;
}

/*
 * Execute (and read) on each program, on the interpreter that runs it and
 * on that one's interpreter in turn (a script's shell, then its loader),
 * at most three deep.  Libraries the loader maps need no execute right
 * (Landlock checks only what is opened for execution); they are under
 * system_read.
 */
static int
add_programs(int rs, const struct ad_sandbox *sb, char *err, size_t errlen)
{
	char   path[PATH_MAX], next[PATH_MAX];
	size_t i;
	int    depth;

	for (i = 0; i < sb->nexec; i++) {
		snprintf(path, sizeof(path), "%s", sb->exec[i]);
		for (depth = 0; depth < 3 && path[0] != '\0'; depth++) {
			if (add_path(rs, path, FS_RUN, 1, err, errlen) != 0)
				return -1;
			if (interpreter_of(path, next, sizeof(next)) != 0) {
				ad_seterr(err, errlen, "cannot read %s: %s",
				    path, strerror(errno));
				return -1;
			}
			memcpy(path, next, sizeof(path));
		}
	}
	return 0;
}

static int
fill_ruleset(int rs, const struct ad_sandbox *sb, uint64_t handled, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; system_read[i] != NULL; i++)
		if (add_path(rs, system_read[i], FS_READ, 0, err, errlen) != 0)
			return -1;
	if (add_path(rs, "/dev/null", FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE,
	        0, err, errlen)
	        != 0
	    || add_rule(rs, sb->plugin_fd, LANDLOCK_ACCESS_FS_READ_FILE)
	        != 0) {
		if (err[0] == '\0')
			ad_seterr(err, errlen, "cannot grant the plugin: %s",
			    strerror(errno));
		return -1;
	}
	for (i = 0; sb->http && http_read[i] != NULL; i++)
		if (add_path(rs, http_read[i], FS_READ, 0, err, errlen) != 0)
			return -1;
	if (sb->http_ca_file != NULL
	    && add_path(rs, sb->http_ca_file, FS_READ, 1, err, errlen) != 0)
		return -1;
	for (i = 0; i < sb->nread; i++)
		if (add_path(rs, sb->read[i], FS_READ, 1, err, errlen) != 0)
			return -1;
	for (i = 0; i < sb->nwrite; i++)
		if (add_path(rs, sb->write[i],
		        (handled & LANDLOCK_ACCESS_FS_REFER) | FS_WRITE, 1,
		        err, errlen)
		    != 0)
			return -1;
	return add_programs(rs, sb, err, errlen);
}

int
ad_sandbox_fs(const struct ad_sandbox *sb, char *err, size_t errlen)
{
	struct landlock_ruleset_attr attr = { .handled_access_fs = FS_ABI1 };
	long                         abi;
	int                          rs, rv;

	err[0] = '\0';
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		ad_seterr(err, errlen, "cannot set no_new_privs: %s",
		    strerror(errno));
		return -1;
	}
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		/* Once per worker; the uid and seccomp layers still hold. */
		ad_warn("this kernel has no Landlock (%s): the plugin's file "
		        "access is limited by its uid alone",
		    strerror(errno));
		return 0;
	}
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0) {
		ad_seterr(err, errlen, "cannot create a Landlock ruleset: %s",
		    strerror(errno));
		return -1;
	}
	rv = fill_ruleset(rs, sb, attr.handled_access_fs, err, errlen);
	if (rv == 0 && syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
		ad_seterr(err, errlen, "cannot enforce Landlock: %s",
		    strerror(errno));
		rv = -1;
	}
	close(rs);
	return rv;
}

/* ---- seccomp: what the kernel does for the plugin ---------------------- */

/*
 * Default allow with a deny list: the plugin's own needs are unknown
 * (libraries, threads, timers), what it must not do is not.  The filter
 * is a short list compared per system call, so the request path pays
 * nothing measurable.  Names the kernel or libseccomp does not know are
 * skipped.
 */
static const char *const denied[] = { "ptrace", "process_vm_readv",
	"process_vm_writev", "kcmp", "pidfd_getfd", "pidfd_send_signal",
	"tkill", "mount", "umount2", "pivot_root", "chroot", "mount_setattr",
	"move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"unshare", "setns", "kexec_load", "kexec_file_load", "keyctl",
	"add_key", "request_key", "bpf", "perf_event_open", "init_module",
	"finit_module", "delete_module", "userfaultfd", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "open_by_handle_at",
	"name_to_handle_at", "swapon", "swapoff", "reboot", "acct", "quotactl",
	"syslog", "iopl", "ioperm", "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "fanotify_init", NULL };

/* Namespaces: a user namespace would hand the plugin capabilities. */
static const unsigned long clone_new[]
    = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC,
	      CLONE_NEWUTS, CLONE_NEWCGROUP };

#define EPERM_ACT SCMP_ACT_ERRNO(EPERM)

/*
 * A sanitizer build (./configure --enable-sanitizers, for tests only):
 * LeakSanitizer stops the process's threads with ptrace to scan them, so
 * ptrace is left to the seccomp filter's default there.  Landlock still
 * keeps ptrace within the worker's own process.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECKED 1
#else
#define LEAK_CHECKED 0
#endif

static int
deny_sockets(scmp_filter_ctx f, int network)
{
	int rv = 0, d;

	/* The bus is dialled: no new socket at all, unless network. */
	if (!network)
		return seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(socket), 0);
	/* AF_INET and AF_INET6 only, and no raw or packet type. */
	rv |= seccomp_rule_add(
	    f, EPERM_ACT, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_LT, AF_INET));
	rv |= seccomp_rule_add(
	    f, EPERM_ACT, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GT, AF_INET6));
	for (d = AF_INET + 1; d < AF_INET6; d++)
		rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)d));
	rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(socket), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
	rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(socket), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_PACKET));
	return rv;
}

/* kill() denied for every pid in lo..hi, as aligned blocks of values. */
static int
deny_kill_range(scmp_filter_ctx f, uint64_t lo, uint64_t hi)
{
	uint64_t next;
	unsigned j;
	int      rv = 0;

	for (;;) {
		for (j = 0; j < 63 && (lo & ((2ull << j) - 1)) == 0
		     && lo + ((2ull << j) - 1) <= hi;
		     j++)
			;
		rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(kill), 1,
		    SCMP_A0_64(SCMP_CMP_MASKED_EQ, ~((1ull << j) - 1), lo));
		next = lo + (1ull << j);
		if (next - 1 >= hi || next == 0)
			return rv;
		lo = next;
	}
}

/*
 * kill() for an agent with paths { exec }: itself, and process groups
 * (negative pids: its tools run each in a group of its own), except -1
 * (every process) and its own group (agentd's: agentd and every worker).
 * The kernel reads the pid as 32 bits and callers leave the upper half of
 * the register zero or sign-extended; the filter sees 64 bits.  So what
 * is denied is every value but self and the two forms of a negative pid,
 * 0x80000000..0xfffffffe and 0xffffffff80000000..0xfffffffffffffffe, and
 * in both forms -1 and the own group.  The kernel's own check (same uid)
 * still applies to what is let through.
 */
static int
kill_groups(scmp_filter_ctx f)
{
	uint64_t self = (uint64_t)getpid();
	int32_t  own  = (int32_t)getpgrp();
	uint64_t no[] = { 0xffffffffull, 0xffffffffffffffffull,
		(uint64_t)(uint32_t)-own, (uint64_t)(int64_t)-own };
	size_t   i;
	int      rv;

	rv = seccomp_rule_add(
	    f, EPERM_ACT, SCMP_SYS(kill), 1, SCMP_A0_64(SCMP_CMP_LT, self));
	rv |= deny_kill_range(f, self + 1, 0x7fffffffull);
	rv |= deny_kill_range(f, 0x100000000ull, 0xffffffff7fffffffull);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(kill), 1,
		    SCMP_A0_64(SCMP_CMP_EQ, no[i]));
	return rv;
}

static int
build(scmp_filter_ctx f, const struct ad_sandbox *sb)
{
	scmp_datum_t self = (scmp_datum_t)getpid();
	size_t       i;
	int          rv = 0, nr;

	for (i = 0; denied[i] != NULL; i++) {
		if (LEAK_CHECKED && strcmp(denied[i], "ptrace") == 0)
			continue;
		if ((nr = seccomp_syscall_resolve_name(denied[i]))
		    == __NR_SCMP_ERROR)
			continue;
		rv |= seccomp_rule_add(f, EPERM_ACT, nr, 0);
	}
	/* glibc falls back from clone3 (whose flags a filter cannot read)
	 * to clone. */
	rv |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	for (i = 0; i < sizeof(clone_new) / sizeof(clone_new[0]); i++)
		rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, clone_new[i], clone_new[i]));
	/* Signals to itself only: not agentd, not a sibling worker; with
	 * paths { exec }, to its tools' process groups too. */
	if (sb->nexec > 0)
		rv |= kill_groups(f);
	else
		rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(kill), 1,
		    SCMP_A0(SCMP_CMP_NE, self));
	rv |= seccomp_rule_add(
	    f, EPERM_ACT, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_NE, self));
	rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(rt_sigqueueinfo), 1,
	    SCMP_A0(SCMP_CMP_NE, self));
	rv |= seccomp_rule_add(f, EPERM_ACT, SCMP_SYS(rt_tgsigqueueinfo), 1,
	    SCMP_A0(SCMP_CMP_NE, self));
	/* Outbound HTTP connects from this process: libcurl's sockets
	 * cannot be told from the plugin's (doc/security.md). */
	rv |= deny_sockets(f, sb->network || sb->http);
	return rv;
}

int
ad_sandbox_syscalls(const struct ad_sandbox *sb, char *err, size_t errlen)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	int             rv;

	if (f == NULL) {
		ad_seterr(err, errlen, "cannot start a seccomp filter");
		return -1;
	}
	/* Every thread (nng's too), not only this one. */
	if ((rv = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1)) != 0
	    || (rv = build(f, sb)) != 0 || (rv = seccomp_load(f)) != 0)
		ad_seterr(err, errlen, "cannot load the seccomp filter: %s",
		    strerror(rv < 0 ? -rv : EINVAL));
	seccomp_release(f);
	return rv == 0 ? 0 : -1;
}
