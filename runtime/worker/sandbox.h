/*
 * sandbox.h - what the worker (trusted host code) takes away from itself
 * before it loads the plugin (doc/security.md).
 *
 * In order, from main():
 *   ad_sandbox_ids_begin()   groups cleared, gid and effective uid of the
 *                            plugin user; files still reached as agentd
 *   ad_sandbox_fs()          no_new_privs and the Landlock ruleset, while
 *                            the process has one thread (a ruleset binds
 *                            the thread that makes it and its children)
 *   (the bus is dialled: agentd sees the plugin user's uid)
 *   ad_sandbox_ids_finish()  every uid the plugin user's, no capability
 *   ad_sandbox_syscalls()    the seccomp filter, on every thread
 *   (the plugin is loaded)
 * Each returns 0, or -1 with one line in err; the worker then exits.
 */
#ifndef AD_SANDBOX_H
#define AD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

struct ad_sandbox {
	int   switch_ids; /* 1: become uid/gid (agentd may switch users) */
	uid_t uid;
	gid_t gid;
	int   network; /* network = true: AF_INET and AF_INET6 sockets */
	/* paths { read } and { write }: borrowed, valid until exit */
	char **read;
	size_t nread;
	char **write;
	size_t nwrite;
	/* paths { exec }: programs it may run (borrowed, valid until exit);
	 * any of them also lets it signal process groups (sandbox.c) */
	char **exec;
	size_t nexec;
	/* http { allow }: Internet sockets as network, and read of what the
	 * resolver and TLS need (sandbox.c); its ca_file (borrowed) too */
	int         http;
	const char *http_ca_file;
	int    plugin_fd; /* the plugin file, opened before any of this */
	/* Filled by ad_sandbox_ids_begin(): who the worker started as. */
	uid_t started_uid;
};

/* The user describe mode runs as when it may switch users (or nobody). */
#define AD_DESCRIBE_USER "agentd-plugin"

int ad_sandbox_ids_begin(struct ad_sandbox *sb, char *err, size_t errlen);
int ad_sandbox_fs(const struct ad_sandbox *sb, char *err, size_t errlen);
int ad_sandbox_ids_finish(
    const struct ad_sandbox *sb, char *err, size_t errlen);
int ad_sandbox_syscalls(const struct ad_sandbox *sb, char *err, size_t errlen);

#endif
