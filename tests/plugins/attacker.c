/*
 * attacker - a test plugin that, from inside its worker, tries what a
 * hostile plugin would: reach agentd's sockets and files, another
 * instance, agentd's process, the raw network and files outside what its
 * agent was granted.  Each attempt uses the plain system call, so what
 * stops it is the kernel's answer, and the reply says which:
 *   {"ROW": "ok" | "EACCES" | "EPERM" | ..., ...}
 * Request body (every field optional, a row without its input is left
 * out):
 *   run_dir, state_dir   agentd's directories
 *   store_file           a file in agentd's plugin store
 *   sibling              another instance's id ("victim-1")
 *   agentd_pid, sibling_pid
 *   outside              a readable file the agent was not granted
 *   granted_read         a file of paths { read }: must be "ok"
 *   granted_write        a file in a directory of paths { write }: "ok"
 *   victim               an agent whose state and life a stolen control
 *                        connection would change
 *   groups               true: signal 0 to process groups it must not
 *                        reach even with paths { exec } (its own, which
 *                        is agentd's; every process, -1), also with the
 *                        register's upper half set (the kernel reads 32
 *                        bits); and to its own pid, which it may
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <netinet/in.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

#include "bus/envelope.h"

struct attacker {
	agentd_ctx               *ctx;
	const struct agentd_host *host;
};

/* What one attempt came to: "ok" or the errno's name. */
static const char *
outcome(int rv)
{
	const char *name;

	if (rv >= 0)
		return "ok";
	name = strerrorname_np(errno);
	return name != NULL ? name : "error";
}

static int
try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * Code that runs at dlopen, before any callback: in describe mode too.
 * With AGENTD_TEST_ATTACK_CTOR set, it tries what a hostile constructor
 * would and says on stderr what it came to (containment.sh).
 */
__attribute__((constructor)) static void
attack_at_load(void)
{
	int s;

	if (getenv("AGENTD_TEST_ATTACK_CTOR") == NULL)
		return;
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	fprintf(stderr, "attacker at load: uid %d shadow %s socket %s\n",
	    (int)geteuid(), outcome(try_open("/etc/shadow", O_RDONLY)),
	    outcome(s));
	if (s >= 0)
		close(s);
}

/* socket(AF_UNIX) and connect to run_dir/name. */
static int
try_dial(const char *dir, const char *name)
{
	struct sockaddr_un sa;
	int                fd, rv;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rv;
}

static int
try_socket(int domain, int type, int proto)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, proto);

	if (fd >= 0)
		close(fd);
	return fd;
}

static int
try_ptrace(pid_t pid)
{
	long rv = ptrace(PTRACE_ATTACH, pid, NULL, NULL);

	if (rv == 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	return rv == 0 ? 0 : -1;
}

/* The control request agentctl would send; agentd's status. */
static int
control_request(const char *dir, const char *op, const char *victim)
{
	struct ad_envelope req, rep;
	agentd_writer     *body, *env;
	nng_socket         sock;
	nng_msg           *msg = NULL;
	char               url[300];
	const void        *p;
	size_t             len;
	int                rv;

	snprintf(url, sizeof(url), "ipc://%s/control.sock", dir);
	memset(&req, 0, sizeof(req));
	agentd_writer_new(&body);
	agentd_write_map(body, 3);
	agentd_write_str(body, "agent");
	agentd_write_str(body, victim);
	agentd_write_str(body, "key");
	agentd_write_bin(body, "planted", 7);
	agentd_write_str(body, "val");
	agentd_write_bin(body, "by attacker", 11);
	req.id   = ad_envelope_next_id();
	req.kind = AD_KIND_CONTROL;
	snprintf(req.dst, sizeof(req.dst), "%s", op);
	req.body = agentd_writer_data(body, &req.body_len);
	agentd_writer_new(&env);
	ad_envelope_encode(&req, env);
	p = agentd_writer_data(env, &len);
	if ((rv = nng_req0_open(&sock)) == 0) {
		nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 3000);
		nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 3000);
		if ((rv = nng_dial(sock, url, NULL, 0)) == 0
		    && (rv = nng_send(sock, (void *)p, len, 0)) == 0
		    && (rv = nng_recvmsg(sock, &msg, 0)) == 0) {
			rv = ad_envelope_decode(nng_msg_body(msg),
			         nng_msg_len(msg), 1 << 20, &rep)
			        == 0
			    ? rep.status
			    : AGENTD_EPROTO;
			nng_msg_free(msg);
		} else
			rv = AGENTD_EIO;
		nng_close(sock);
	} else
		rv = AGENTD_EIO;
	agentd_writer_free(env);
	agentd_writer_free(body);
	return rv;
}

struct input {
	char run_dir[256], state_dir[256], store_file[512], sibling[64];
	char outside[512], granted_read[512], granted_write[512], victim[64];
	long agentd_pid, sibling_pid;
	int  groups;
};

/* The outcomes, in the order tried. */
#define MAX_ROWS 32

struct rows {
	const char *name[MAX_ROWS];
	const char *what[MAX_ROWS];
	unsigned    n;
};

static void
row(struct rows *r, const char *name, const char *what)
{
	if (r->n < MAX_ROWS) {
		r->name[r->n] = name;
		r->what[r->n] = what;
		r->n++;
	}
}

#define PATHF(buf, ...) (snprintf(buf, sizeof(buf), __VA_ARGS__), buf)

/* kill() as the raw system call, so that the upper half is ours. */
static int
raw_kill(unsigned long pid)
{
	return (int)syscall(SYS_kill, pid, 0);
}

static void
attack_groups(struct rows *r)
{
	long own = (long)getpgrp();

	row(r, "signal_self", outcome(kill(getpid(), 0)));
	row(r, "signal_own_group", outcome(kill(-(pid_t)own, 0)));
	row(r, "signal_own_group_zext",
	    outcome(raw_kill((unsigned long)(uint32_t)-own)));
	row(r, "signal_every", outcome(kill(-1, 0)));
	row(r, "signal_every_high", outcome(raw_kill(0x1ffffffffUL)));
	row(r, "signal_pgrp_zero", outcome(kill(0, 0)));
}

/* Every attempt whose input is there. */
static void
attack(const struct input *in, struct rows *r)
{
	char path[600];

	if (in->run_dir[0] != '\0') {
		int ctl = try_dial(in->run_dir, "control.sock");

		row(r, "dial_control", outcome(ctl));
		/* Let through, the plugin acts as the operator. */
		if (ctl == 0 && in->victim[0] != '\0') {
			row(r, "control_state_put",
			    agentd_errname(control_request(
			        in->run_dir, "state.put", in->victim)));
			row(r, "control_stop",
			    agentd_errname(control_request(
			        in->run_dir, "stop", in->victim)));
		}
		row(r, "dial_tail",
		    outcome(try_dial(in->run_dir, "tail.sock")));
		if (in->sibling[0] != '\0')
			row(r, "dial_sibling",
			    outcome(try_dial(in->run_dir,
			        PATHF(path, "%s.sock", in->sibling))));
	}
	if (in->state_dir[0] != '\0') {
		PATHF(path, "%s/db/data.mdb", in->state_dir);
		row(r, "lmdb_read", outcome(try_open(path, O_RDONLY)));
		row(r, "lmdb_write", outcome(try_open(path, O_RDWR)));
	}
	if (in->store_file[0] != '\0')
		row(r, "store_write",
		    outcome(try_open(in->store_file, O_WRONLY | O_APPEND)));
	if (in->agentd_pid > 0) {
		row(r, "ptrace_agentd",
		    outcome(try_ptrace((pid_t)in->agentd_pid)));
		row(r, "signal_agentd",
		    outcome(kill((pid_t)in->agentd_pid, 0)));
	}
	if (in->sibling_pid > 0)
		row(r, "ptrace_sibling",
		    outcome(try_ptrace((pid_t)in->sibling_pid)));
	if (in->groups)
		attack_groups(r);
	row(r, "socket_packet",
	    outcome(try_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))));
	row(r, "socket_raw",
	    outcome(try_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)));
	row(r, "socket_inet", outcome(try_socket(AF_INET, SOCK_STREAM, 0)));
	row(r, "socket_unix", outcome(try_socket(AF_UNIX, SOCK_STREAM, 0)));
	row(r, "read_shadow", outcome(try_open("/etc/shadow", O_RDONLY)));
	if (in->outside[0] != '\0')
		row(r, "read_outside",
		    outcome(try_open(in->outside, O_RDONLY)));
	if (in->granted_read[0] != '\0')
		row(r, "read_granted",
		    outcome(try_open(in->granted_read, O_RDONLY)));
	if (in->granted_write[0] != '\0')
		row(r, "write_granted",
		    outcome(try_open(
		        in->granted_write, O_WRONLY | O_CREAT | O_TRUNC)));
}

static void
take_input(const agentd_value *root, struct input *in)
{
	int64_t v = 0;

	memset(in, 0, sizeof(*in));
#define STR(f)                                                                \
	agentd_get_strcpy(agentd_map_get(root, #f), in->f, sizeof(in->f))
	STR(run_dir);
	STR(state_dir);
	STR(store_file);
	STR(sibling);
	STR(outside);
	STR(granted_read);
	STR(granted_write);
	STR(victim);
#undef STR
	agentd_get_bool(agentd_map_get(root, "groups"), &in->groups);
	if (agentd_get_int(agentd_map_get(root, "agentd_pid"), &v) == 0)
		in->agentd_pid = (long)v;
	v = 0;
	if (agentd_get_int(agentd_map_get(root, "sibling_pid"), &v) == 0)
		in->sibling_pid = (long)v;
}

static int
attacker_init(agentd_ctx *ctx, const struct agentd_host *host, void **state)
{
	static struct attacker a;

	a.ctx  = ctx;
	a.host = host;
	*state = &a;
	return 0;
}

static int
attacker_request(
    void *state, agentd_request *req, const void *body, size_t len)
{
	struct attacker *a   = state;
	agentd_doc      *doc = NULL;
	agentd_writer   *w;
	struct input     in;
	struct rows      r;
	const void      *out;
	size_t           outlen;
	unsigned         i;
	int              rv;

	if (agentd_parse(body, len, &doc) != 0)
		return AGENTD_EINVAL;
	take_input(agentd_doc_root(doc), &in);
	agentd_doc_free(doc);
	memset(&r, 0, sizeof(r));
	attack(&in, &r);
	agentd_writer_new(&w);
	agentd_write_map(w, r.n);
	for (i = 0; i < r.n; i++) {
		agentd_write_str(w, r.name[i]);
		agentd_write_str(w, r.what[i]);
	}
	out = agentd_writer_data(w, &outlen);
	rv  = a->host->reply(a->ctx, req, out, outlen);
	agentd_writer_free(w);
	return rv;
}

AGENTD_PLUGIN(.name = "attacker", .version = "1.0.0",
    .description = "tries what a hostile plugin would, for tests",
    .init = attacker_init, .on_request = attacker_request);
