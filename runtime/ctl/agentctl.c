/*
 * agentctl - operate a running agentd.  See agentctl(1).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <openssl/evp.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus/envelope.h"
#include "common/json_mp.h"
#include "common/json_out.h"
#include "common/nngx.h"
#include "common/paths.h"
#include "common/util.h"
#include "config/conf.h"
#include "ctl/deadline.h"
#include "store/audit.h"
#include "common/ops.h"

/* Exit codes (agentctl(1)). */
enum {
	EXIT_OK      = 0,
	EXIT_FAILED  = 1, /* agentd or the agent answered with an error */
	EXIT_USAGE   = 2,
	EXIT_CONNECT = 3, /* agentd could not be reached */
};

struct ctl_opts {
	const char *run_dir;
	int         json;
	int64_t     timeout_ms;
};

static const char *const commands_help
    = "Commands:\n"
      "  status                 agents and their instances\n"
      "  call AGENT JSON        send JSON to AGENT, print its reply\n"
      "  publish TOPIC JSON     publish an event, print how many agents "
      "got it\n"
      "  tail [PREFIX]          print events as they pass, one JSON line "
      "each\n"
      "  audit [FILTERS]        the audit trail, newest first\n"
      "  audit verify           check the audit trail's hash chain\n"
      "  audit verify --key PUB check it and its seals against a key\n"
      "  audit key              the keys the seals start from\n"
      "  state get|put|del|ls AGENT [KEY] [JSON]   an agent's state\n"
      "  restart AGENT          start a failed agent again, or replace "
      "its instances\n"
      "  stop AGENT             drain and stop an agent's instances\n"
      "  start AGENT            start a stopped agent\n"
      "  scale AGENT N|auto     pin an agent at N instances, or scale "
      "automatically\n"
      "  reload [--canary AGENT PERCENT]   apply conf.d/ and new plugin "
      "files\n"
      "  promote AGENT          give a canary all of the agent's "
      "requests\n"
      "  rollback AGENT         back to the agent's previous version\n"
      "  versions AGENT         the plugin versions an agent has run\n"
      "  settings AGENT         the settings an agent runs with, secrets "
      "masked\n"
      "  approvals [--agent A]  decisions waiting for a person, oldest "
      "first (100 a page)\n"
      "  approvals show ID      every field of one decision\n"
      "  approve ID [--note T]  approve a pending decision\n"
      "  reject ID --reason T   reject a pending decision, saying why\n"
      "  modify ID JSON [--note T]   answer it with other parameters "
      "(classified again)\n"
      "  decisions [FILTERS]    the gate's decisions, newest first\n"
      "  policy test AGENT TYPE AMOUNT CONFIDENCE   the rule and risk a "
      "proposal gets\n"
      "  token create NAME --role viewer|operator|admin   a token for "
      "the HTTP API\n"
      "  token list             the HTTP API's tokens (never the tokens "
      "themselves)\n"
      "  token revoke NAME      refuse a token from now on\n"
      "  agents [--capability NAME]   the agents and their "
      "capabilities\n"
      "Run `agentctl COMMAND --help` for a command's options.\n";

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentctl [--run-dir DIR] [--json] COMMAND [ARG]...\n"
	    "Operate a running agentd over its control socket.\n\n"
	    "  --run-dir DIR   agentd's run directory (default: "
	    "$AGENTD_RUN_DIR,\n"
	    "                  else %s)\n"
	    "  --json          machine-readable output\n"
	    "  --version       print the version and exit\n"
	    "  --help          print this help and exit\n\n%s\n"
	    "Exit status: 0 success; 1 agentd or the agent answered with an "
	    "error;\n2 usage error; 3 agentd could not be reached.\n",
	    AGENTD_RUNDIR, commands_help);
}

/*
 * How long an exchange with agentd may take beyond the operation's own
 * timeout: agentd answers a request whose deadline passed at that
 * deadline, and the answer needs time to come back.  Every exchange ends
 * by the operation's timeout plus this, whatever agentd does; the
 * watchdog (ctl/deadline.h) fires WATCHDOG_LATE_MS after it, so that
 * nng's own timeouts, whose messages say more, speak first.
 */
#define CTL_MARGIN_MS 2000
#define WATCHDOG_LATE_MS 500

/* Milliseconds left until deadline (ad_now_ms()), at least 1. */
static nng_duration
ms_left(int64_t deadline)
{
	int64_t left = deadline - ad_now_ms();

	return (nng_duration)(left < 1 ? 1 : left);
}

/*
 * Who may use the socket at path, for a dial refused with "Permission
 * denied": its mode says whether agentd opened it to a group (agentd {
 * control { group } }, doc/security.md), and which.  Into buf.
 */
static const char *
denied_hint(const char *path, char *buf, size_t len)
{
	struct stat    st;
	struct passwd *pw;
	struct group  *gr;
	char           owner[64], group[64];

	if (stat(path, &st) != 0) {
		/* The run directory is closed to this user. */
		snprintf(buf, len,
		    "only root, the user agentd runs as and the members of "
		    "its control group (if agentd { control { group } } is "
		    "set) may use its sockets: run agentctl as root or as "
		    "that user (with the Debian package: sudo -u agentd "
		    "agentctl ...), or as a member of that group "
		    "(doc/security.md)");
		return buf;
	}
	if ((pw = getpwuid(st.st_uid)) != NULL)
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	else
		snprintf(
		    owner, sizeof(owner), "%lu", (unsigned long)st.st_uid);
	if ((st.st_mode & S_IWGRP) == 0) {
		snprintf(buf, len,
		    "only root and the user agentd runs as may use its "
		    "sockets: run agentctl as root or as that user (sudo -u "
		    "%s agentctl ...), or let a group in with agentd { "
		    "control { group } } (doc/security.md)",
		    owner);
		return buf;
	}
	if ((gr = getgrgid(st.st_gid)) != NULL)
		snprintf(group, sizeof(group), "%s", gr->gr_name);
	else
		snprintf(
		    group, sizeof(group), "%lu", (unsigned long)st.st_gid);
	snprintf(buf, len,
	    "only root, the user agentd runs as (%s) and the members of its "
	    "group %s may use its sockets: run agentctl as one of them "
	    "(adduser YOU %s, then log in again)",
	    owner, group, group);
	return buf;
}

/*
 * agentd closed a connection to the socket at name under o->run_dir at
 * once: was it its peer check (supervisor/pipes.c)?  The kernel let this
 * process in through the group of a 0660 socket, but agentd asks the
 * group database too, which does not list this user.  The line to print
 * into buf, or NULL when that is not why.
 */
static const char *
refused_hint(const struct ctl_opts *o, const char *name, char *buf, size_t len)
{
	char          *path = ad_xasprintf("%s/%s", o->run_dir, name);
	struct stat    st;
	struct passwd *pw;
	struct group  *gr;
	int            refused;

	refused = stat(path, &st) == 0 && (st.st_mode & S_IWGRP) != 0
	    && geteuid() != 0 && geteuid() != st.st_uid
	    && getegid() != st.st_gid
	    && !ad_user_in_group(geteuid(), st.st_gid);
	free(path);
	if (!refused)
		return NULL;
	pw = getpwuid(geteuid());
	gr = getgrgid(st.st_gid);
	snprintf(buf, len,
	    "agentd refused this user on %s: this process holds group %s, "
	    "but the group database does not list user %s in it, and agentd "
	    "checks both (doc/security.md): adduser %s %s, or run agentctl "
	    "as root or as the user agentd runs as",
	    name, gr != NULL ? gr->gr_name : "of the socket",
	    pw != NULL ? pw->pw_name : "(this uid)",
	    pw != NULL ? pw->pw_name : "USER",
	    gr != NULL ? gr->gr_name : "GROUP");
	return buf;
}

/*
 * What to do about a dial of the socket at path that failed with nng
 * error rv.  nng says "Connection refused" for a missing file too: a
 * stat() tells the two apart (never a connect(), which agentd would have
 * to take).
 */
static const char *
dial_hint(int rv, const char *path)
{
	static char buf[512];
	struct stat st;

	switch (rv) {
	case NNG_ECONNREFUSED:
		if (stat(path, &st) != 0)
			break;
		return "nothing listens on it: agentd is not running (it "
		       "left its socket behind) or is restarting";
	case NNG_EPERM:
		/* Not "is agentd running?": this user may not reach it.
		 * The sockets are 0600, or 0660 with agentd's control
		 * group, and the peer is checked (doc/security.md). */
		return denied_hint(path, buf, sizeof(buf));
	case NNG_EAGAIN:
	case NNG_ETIMEDOUT:
		return "agentd does not complete connections: is it stopped "
		       "(SIGSTOP), or overloaded?";
	}
	return "is agentd running, and is --run-dir or AGENTD_RUN_DIR right?";
}

/*
 * Dial one of agentd's sockets, or say in one line why not.  The dial
 * blocks so that nng says why it cannot connect, and has no deadline of
 * its own: the watchdog ends it at deadline.
 */
static int
dial_agentd(
    const struct ctl_opts *o, nng_socket s, const char *name, int64_t deadline)
{
	char *path = ad_xasprintf("%s/%s", o->run_dir, name);
	char *url  = ad_xasprintf("ipc://%s", path);
	int   rv;

	ctl_deadline_arm(deadline, EXIT_CONNECT,
	    "agentd at %s takes connections but did not complete one within "
	    "%.1fs: is it stopped (SIGSTOP), or overloaded?",
	    url, (double)ms_left(deadline) / 1000);
	rv = nng_dial(s, url, NULL, 0);
	ctl_deadline_disarm();
	if (rv != 0)
		fprintf(stderr,
		    "agentctl: cannot reach agentd at %s: %s: %s\n", url,
		    nng_strerror(rv), dial_hint(rv, path));
	free(url);
	free(path);
	return rv;
}

/*
 * One request to agentd, one answer back, within o->timeout_ms plus
 * CTL_MARGIN_MS.  The send has a deadline too: when agentd went away
 * between the dial and the send, nng waits for it to come back (a
 * restart), and without one it waited for ever, redialling a socket that
 * was gone.  On an error the socket is left for exit to close: nothing is
 * to be flushed, and a close then is the one thing that could still wait
 * (doc/architecture.md, "What must never wait").
 */
static int
roundtrip(const struct ctl_opts *o, const struct ad_envelope *req,
    nng_msg **reply, struct ad_envelope *rep)
{
	int64_t    deadline = ad_now_ms() + o->timeout_ms + CTL_MARGIN_MS;
	double     secs     = (double)(o->timeout_ms + CTL_MARGIN_MS) / 1000;
	nng_socket s;
	nng_msg   *msg;
	char       why[512];
	int        rv;

	if ((rv = nng_req0_open(&s)) != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    /* Answers come from agentd itself: no size limit. */
	    || (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0)) != 0) {
		fprintf(stderr, "agentctl: %s\n", nng_strerror(rv));
		return EXIT_CONNECT;
	}
	if (dial_agentd(o, s, AD_CTL_SOCKET, deadline) != 0)
		return EXIT_CONNECT;
	ctl_deadline_arm(deadline + WATCHDOG_LATE_MS, EXIT_CONNECT,
	    "no answer from agentd within %.1fs: is it stopped (SIGSTOP), or "
	    "overloaded?",
	    secs);
	if (ad_envelope_to_msg(req, &msg) != 0)
		abort(); /* only ENOMEM is possible */
	if ((rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, ms_left(deadline)))
	        != 0
	    || (rv = nng_sendmsg(s, msg, 0)) != 0) {
		ctl_deadline_disarm();
		nng_msg_free(msg);
		if (rv == NNG_ETIMEDOUT)
			fprintf(stderr,
			    "agentctl: agentd went away before the request "
			    "could be sent, and did not come back within "
			    "%.1fs\n",
			    secs);
		else
			fprintf(stderr,
			    "agentctl: cannot send to agentd: %s\n",
			    nng_strerror(rv));
		return EXIT_CONNECT;
	}
	if ((rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, ms_left(deadline)))
	        != 0
	    || (rv = nng_recvmsg(s, reply, 0)) != 0) {
		ctl_deadline_disarm();
		if (rv == NNG_ETIMEDOUT)
			fprintf(stderr,
			    "agentctl: no answer from agentd within %.1fs: is "
			    "it stopped (SIGSTOP), or overloaded?\n",
			    secs);
		else if ((rv == NNG_ECONNRESET || rv == NNG_ECLOSED
		             || rv == NNG_ECONNSHUT)
		    && refused_hint(o, AD_CTL_SOCKET, why, sizeof(why))
		        != NULL)
			fprintf(stderr, "agentctl: %s\n", why);
		else if (rv == NNG_ECONNRESET || rv == NNG_ECLOSED
		    || rv == NNG_ECONNSHUT)
			fprintf(stderr,
			    "agentctl: agentd closed the connection before "
			    "answering (it stopped or restarted): the request "
			    "may or may not have been carried out\n");
		else
			fprintf(stderr,
			    "agentctl: no answer from agentd: %s\n",
			    nng_strerror(rv));
		return EXIT_CONNECT;
	}
	nng_close(s);
	ctl_deadline_disarm();
	if (ad_envelope_decode(
	        nng_msg_body(*reply), nng_msg_len(*reply), SIZE_MAX, rep)
	    != 0) {
		fprintf(stderr, "agentctl: malformed answer from agentd\n");
		nng_msg_free(*reply);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* Print an error answer: its "error" text if it has one. */
static int
print_error(const struct ctl_opts *o, const struct ad_envelope *rep)
{
	json_t     *j = NULL, *text;
	const char *line;

	ad_mp_to_json(rep->body, rep->body_len, &j);
	text = j ? json_object_get(j, "error") : NULL;
	line = json_is_string(text) ? json_string_value(text)
	                            : agentd_strerror(rep->status);
	if (o->json) {
		json_t *out
		    = json_pack("{s:s, s:s, s:i}", "error", line, "code",
		        agentd_errname(rep->status), "status", rep->status);
		ad_json_dumpf(out, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(out);
	}
	fprintf(
	    stderr, "agentctl: %s (%s)\n", line, agentd_errname(rep->status));
	json_decref(j);
	return EXIT_FAILED;
}

/*
 * One operation: send kind/dst with body (NULL: none) and, when agentd or
 * the agent answers 0, hand back the answer's body as JSON (*out: caller
 * owns, json_decref).  Every failure is printed here, in one line; the
 * result is an exit code.
 */
static int
request(const struct ctl_opts *o, enum ad_kind kind, const char *dst,
    agentd_writer *body, int64_t deadline_ms, json_t **out)
{
	struct ad_envelope req, rep;
	nng_msg           *reply;
	int                rv;

	*out = NULL;
	memset(&req, 0, sizeof(req));
	req.id          = ad_envelope_next_id();
	req.kind        = kind;
	req.deadline_ms = deadline_ms;
	snprintf(req.dst, sizeof(req.dst), "%s", dst);
	if (body != NULL)
		req.body = agentd_writer_data(body, &req.body_len);
	if ((rv = roundtrip(o, &req, &reply, &rep)) != EXIT_OK)
		return rv;
	if (rep.status != 0) {
		rv = print_error(o, &rep);
	} else if (rep.body_len == 0) {
		*out = json_null(); /* done, nothing to say */
	} else if (ad_mp_to_json(rep.body, rep.body_len, out) != 0) {
		fprintf(stderr, "agentctl: the answer is not valid msgpack\n");
		rv = EXIT_FAILED;
	}
	nng_msg_free(reply);
	return rv;
}

/* A JSON value on one line. */
static void
print_line(const json_t *v)
{
	ad_json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	putchar('\n');
}

static void
fmt_age(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
}

/*
 * The generations of agent a, one line each, when a canary runs or one of
 * them has counters (host->count()): what compares the two versions.
 */
static void
print_generations(json_t *a)
{
	json_t     *gens = json_object_get(a, "generations"), *g, *c, *v;
	const char *name;
	size_t      k;
	int         show = 0;

	json_array_foreach(gens, k, g)
	{
		show |= strcmp(json_string_value(json_object_get(g, "role")),
		            "canary")
		    == 0;
		show |= json_object_size(json_object_get(g, "counters")) > 0;
	}
	if (!show)
		return;
	json_array_foreach(gens, k, g)
	{
		printf("  gen %-3lld %-8s %-10s share %3lld%%  requests %lld  "
		       "errors %lld",
		    json_integer_value(json_object_get(g, "generation")),
		    json_string_value(json_object_get(g, "role")),
		    json_string_value(json_object_get(g, "version")),
		    json_integer_value(json_object_get(g, "share")),
		    json_integer_value(json_object_get(g, "requests")),
		    json_integer_value(json_object_get(g, "errors")));
		c = json_object_get(g, "counters");
		json_object_foreach(c, name, v)
		    printf("  %s %lld", name, json_integer_value(v));
		putchar('\n');
	}
}

/* "  capabilities: a, b" under an agent that has some. */
static void
print_capabilities(json_t *a)
{
	json_t *caps = json_object_get(a, "capabilities"), *c;
	size_t  k;

	if (json_array_size(caps) == 0)
		return;
	printf("  capabilities:");
	json_array_foreach(caps, k, c)
	    printf("%s %s", k > 0 ? "," : "", json_string_value(c));
	putchar('\n');
}

/* A wall time in ms as "2026-05-01 10:00:00Z", or "-" for null. */
static void
fmt_due(const json_t *v, char *buf, size_t len)
{
	time_t    t;
	struct tm tm;

	if (!json_is_integer(v)) {
		snprintf(buf, len, "-");
		return;
	}
	t = (time_t)(json_integer_value(v) / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* The schedules of agent a, one line each. */
static void
print_schedules(json_t *a)
{
	json_t     *v = json_object_get(a, "schedules"), *s;
	const char *zone;
	char        next[32], last[32];
	size_t      k;

	json_array_foreach(v, k, s)
	{
		zone = json_string_value(json_object_get(s, "timezone"));
		fmt_due(json_object_get(s, "next_due_ms"), next, sizeof(next));
		fmt_due(json_object_get(s, "last_due_ms"), last, sizeof(last));
		printf("  schedule %-14s %s%s%s  next %s  last %s  runs %lld "
		       "(missed %lld, skipped %lld)\n",
		    json_string_value(json_object_get(s, "name")),
		    json_string_value(json_object_get(s, "spec")),
		    zone != NULL ? " " : "", zone != NULL ? zone : "", next,
		    last, json_integer_value(json_object_get(s, "runs")),
		    json_integer_value(json_object_get(s, "missed_runs")),
		    json_integer_value(json_object_get(s, "skipped")));
	}
}

static void
print_status(json_t *st)
{
	json_t *agents = json_object_get(st, "agents"), *a, *i;
	size_t  k, m;
	char    age[32];

	fmt_age(ad_wall_ms()
	        - json_integer_value(json_object_get(st, "started_ms")),
	    age, sizeof(age));
	printf("agentd %s, pid %lld, up %s\n",
	    json_string_value(json_object_get(st, "version")),
	    json_integer_value(json_object_get(st, "pid")), age);
	printf("%-16s %-10s %7s %8s %8s %7s %9s %7s %8s  %s\n", "AGENT",
	    "VERSION", "READY", "DESIRED", "INFLIGHT", "QUEUED", "REQUESTS",
	    "ERRORS", "RESTARTS", "STATE");
	json_array_foreach(agents, k, a)
	{
		json_t *insts = json_object_get(a, "instances");
		char    desired[32], state[64];

		snprintf(desired, sizeof(desired), "%lld%s",
		    json_integer_value(json_object_get(a, "desired")),
		    strcmp(json_string_value(json_object_get(a, "scaling")),
		        "pinned")
		            == 0
		        ? " pin"
		        : "");
		snprintf(state, sizeof(state), "%s",
		    json_string_value(json_object_get(a, "state")));
		if (json_integer_value(json_object_get(a, "starting")) > 0
		    || json_integer_value(json_object_get(a, "draining")) > 0)
			snprintf(state + strlen(state),
			    sizeof(state) - strlen(state),
			    " (%lld starting, %lld draining)",
			    json_integer_value(json_object_get(a, "starting")),
			    json_integer_value(
			        json_object_get(a, "draining")));
		printf("%-16s %-10s %7lld %8s %8lld %7lld %9lld %7lld %8lld  "
		       "%s\n",
		    json_string_value(json_object_get(a, "name")),
		    json_string_value(json_object_get(a, "version")),
		    json_integer_value(json_object_get(a, "ready")), desired,
		    json_integer_value(json_object_get(a, "inflight")),
		    json_integer_value(json_object_get(a, "queued")),
		    json_integer_value(json_object_get(a, "requests")),
		    json_integer_value(json_object_get(a, "errors")),
		    json_integer_value(json_object_get(a, "restarts")), state);
		print_generations(a);
		print_capabilities(a);
		json_array_foreach(insts, m, i)
		{
			fmt_age(json_integer_value(
			            json_object_get(i, "uptime_ms")),
			    age, sizeof(age));
			printf("  %-14s pid %-8lld %-9s gen %-3lld up %-6s "
			       "served %-8lld rss %lld KiB\n",
			    json_string_value(json_object_get(i, "id")),
			    json_integer_value(json_object_get(i, "pid")),
			    json_string_value(json_object_get(i, "state")),
			    json_integer_value(
			        json_object_get(i, "generation")),
			    age,
			    json_integer_value(json_object_get(i, "served")),
			    json_integer_value(json_object_get(i, "rss_kb")));
		}
		print_schedules(a);
	}
}

static int
want_help(int argc, char **argv, const char *text)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0
		    || strcmp(argv[i], "-h") == 0) {
			fputs(text, stdout);
			return 1;
		}
	}
	return 0;
}

static int
cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	json_t *st;
	int     rv;

	if (want_help(argc, argv,
	        "usage: agentctl status\n"
	        "Show each agent (version, ready instances, queue, "
	        "counters) and\nits instances (pid, state, uptime, requests "
	        "served).\n"))
		return EXIT_OK;
	if (argc > 1) {
		fprintf(stderr, "agentctl: status takes no argument\n");
		return EXIT_USAGE;
	}
	rv = request(o, AD_KIND_CONTROL, "status", NULL, 0, &st);
	if (rv == EXIT_OK && o->json)
		print_line(st);
	else if (rv == EXIT_OK)
		print_status(st);
	json_decref(st);
	return rv;
}

static const char *const call_help
    = "usage: agentctl call [--timeout DURATION] AGENT JSON\n"
      "Send JSON (any JSON value) as a request to AGENT and print its reply "
      "as JSON.\n"
      "  --timeout DURATION   how long to wait: 250ms, 5s, 1m "
      "(default 30s)\n";

static int
cmd_call(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	agentd_writer *w;
	json_t        *out;
	char           err[AD_ERRLEN];
	int            c, rv;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (ad_parse_duration(optarg, &o->timeout_ms) != 0
			    || o->timeout_ms <= 0) {
				fprintf(stderr,
				    "agentctl: bad --timeout \"%s\": use "
				    "250ms, 5s or 1m\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(call_help, stdout);
			return EXIT_OK;
		default:
			fputs(call_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fputs(call_help, stderr);
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	if (ad_json_text_to_mp(argv[optind + 1], w, err, sizeof(err)) != 0) {
		fprintf(
		    stderr, "agentctl: the body is not valid JSON: %s\n", err);
		agentd_writer_free(w);
		return EXIT_USAGE;
	}
	rv = request(o, AD_KIND_REQUEST, argv[optind], w,
	    ad_wall_ms() + o->timeout_ms, &out);
	agentd_writer_free(w);
	if (rv == EXIT_OK && o->json) {
		print_line(out);
	} else if (rv == EXIT_OK) {
		ad_json_dumpf(out, stdout, JSON_ENCODE_ANY | JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(out);
	return rv;
}

static const char *const publish_help
    = "usage: agentctl publish TOPIC JSON\n"
      "Publish JSON as an event on TOPIC to every agent subscribed to "
      "it, as the\noperator (any topic is allowed).  Prints "
      "{\"delivered\": N}: how many agents it\nwas handed to.\n";

static int
cmd_publish(struct ctl_opts *o, int argc, char **argv)
{
	agentd_writer *body, *w;
	json_t        *out;
	const void    *p;
	size_t         n;
	char           err[AD_ERRLEN];
	int            rv;

	if (want_help(argc, argv, publish_help))
		return EXIT_OK;
	if (argc != 3) {
		fputs(publish_help, stderr);
		return EXIT_USAGE;
	}
	agentd_writer_new(&body);
	if (ad_json_text_to_mp(argv[2], body, err, sizeof(err)) != 0) {
		fprintf(
		    stderr, "agentctl: the body is not valid JSON: %s\n", err);
		agentd_writer_free(body);
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, 2);
	agentd_write_str(w, "topic");
	agentd_write_str(w, argv[1]);
	agentd_write_str(w, "body");
	p = agentd_writer_data(body, &n);
	agentd_write_bin(w, p, n);
	rv = request(o, AD_KIND_CONTROL, "publish", w, 0, &out);
	agentd_writer_free(w);
	agentd_writer_free(body);
	if (rv == EXIT_OK)
		print_line(out);
	json_decref(out);
	return rv;
}

static const char *const tail_help
    = "usage: agentctl tail [--count N] [PREFIX]\n"
      "Print events as agentd accepts them, one JSON line each:\n"
      "  {\"topic\": ..., \"src\": AGENT, \"instance\": ID, \"body\": ...}\n"
      "PREFIX selects topics as subscribe = { } does (\"orders\" covers "
      "\"orders\" and\n\"orders.new\").  Runs until interrupted, or "
      "until N events with --count.\nA reader that falls behind misses "
      "events: tail observes, it does not queue.\n";

/* One tail message (topic NUL envelope) as a JSON line; 1 if printed. */
static int
print_tail_event(nng_msg *msg, const char *prefix)
{
	const char        *topic = nng_msg_body(msg);
	size_t             len   = nng_msg_len(msg);
	size_t             tl    = strnlen(topic, len);
	struct ad_envelope e;
	json_t            *body = NULL, *line;

	if (tl == len
	    || ad_envelope_decode(topic + tl + 1, len - tl - 1, SIZE_MAX, &e)
	        != 0)
		return 0;
	if (prefix != NULL && !ad_topic_match(prefix, e.dst))
		return 0;
	if (ad_mp_to_json(e.body, e.body_len, &body) != 0)
		body = json_null();
	line = json_pack("{s:s, s:s, s:s, s:o}", "topic", e.dst, "src", e.src,
	    "instance", e.src_instance, "body", body);
	ad_json_dumpf(line, stdout, JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
	json_decref(line);
	return 1;
}

/*
 * tail learns that agentd is gone from its pipe's removal (a subscriber
 * never sends, so no send fails).  nng runs the callback on its own
 * thread; the receive loop polls the flag every TAIL_POLL_MS, having
 * printed every event that arrived first.
 */
#define TAIL_POLL_MS 200
static atomic_int tail_gone;

static void
tail_pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	atomic_store(&tail_gone, 1);
}

static int
cmd_tail(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prefix = NULL;
	long        count = -1, seen = 0;
	char        why[512];
	nng_socket  s;
	nng_msg    *msg;
	int         c, rv;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'h':
			fputs(tail_help, stdout);
			return EXIT_OK;
		default:
			fputs(tail_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || count == 0) {
		fputs(tail_help, stderr);
		return EXIT_USAGE;
	}
	if (optind < argc)
		prefix = argv[optind];
	/* Registered before the dial, so no pipe can go unseen. */
	if ((rv = nng_sub0_open(&s)) != 0
	    || (rv = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE,
	            prefix ? prefix : "", prefix ? strlen(prefix) : 0))
	        != 0
	    || (rv = nng_pipe_notify(
	            s, NNG_PIPE_EV_REM_POST, tail_pipe_gone, NULL))
	        != 0
	    || (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TAIL_POLL_MS))
	        != 0
	    || (rv = dial_agentd(o, s, AD_TAIL_SOCKET,
	            ad_now_ms() + o->timeout_ms + CTL_MARGIN_MS))
	        != 0)
		return EXIT_CONNECT;
	while (count < 0 || seen < count) {
		if (atomic_load(&tail_gone)) {
			/* What arrived before the close, then one line. */
			while ((count < 0 || seen < count)
			    && nng_recvmsg(s, &msg, NNG_FLAG_NONBLOCK) == 0) {
				seen += print_tail_event(msg, prefix);
				nng_msg_free(msg);
			}
			if (count >= 0 && seen >= count)
				break;
			if (seen == 0
			    && refused_hint(
			           o, AD_TAIL_SOCKET, why, sizeof(why))
			        != NULL) {
				fprintf(stderr, "agentctl: %s\n", why);
				return EXIT_CONNECT;
			}
			fprintf(stderr,
			    "agentctl: agentd closed the connection (it "
			    "stopped "
			    "or restarted): tail ends\n");
			return EXIT_CONNECT;
		}
		rv = nng_recvmsg(s, &msg, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0) {
			fprintf(stderr, "agentctl: %s\n", nng_strerror(rv));
			return EXIT_CONNECT;
		}
		seen += print_tail_event(msg, prefix);
		nng_msg_free(msg);
	}
	/*
	 * The socket is left for exit to close.  nng 1.5.2's nng_close() of a
	 * subscriber whose publisher is still sending can wait forever for its
	 * pipe's teardown (seen here as `tail --count` that never ended; nng
	 * issues 1543 and 1813, fixed after 1.5.2), and a process that is
	 * about to exit has nothing to flush: the kernel closes the
	 * connection.
	 */
	return EXIT_OK;
}

static const char *const audit_help
    = "usage: agentctl audit [--agent A] [--kind K] [--since T] [--until T]\n"
      "                      [--limit N] [--follow]\n"
      "       agentctl audit verify [--key PUB]... [ARCHIVE-FILE...]\n"
      "       agentctl audit key\n"
      "Show the audit trail, newest first (default: the last 100 "
      "records), or\ncheck that its hash chain is whole.  T is a time: "
      "2026-11-21, 2026-11-21T10:00:00Z,\nor a duration ago: 90m, 24h.  "
      "With --json, one JSON object per line.\n--follow: the last "
      "records (default 10) oldest first, then each new\nrecord as it is "
      "committed, until interrupted.\nverify with files checks archive "
      "files (from audit_retention) here, as one\nchain.  "
      "--key PUB (ed25519:HEX, as agentd printed it at its first start; "
      "again\nfor a key it printed after losing its key file) also "
      "checks the signed seals:\na rewritten chain, a forged or "
      "removed seal.  audit key shows the keys the\nstate names: compare "
      "them with the copy you kept.  Exit status of verify: 0\n"
      "whole, 1 broken (the first bad record is named).\n";

/* "2026-11-21", "2026-11-21T10:00:00Z" (UTC), or a duration ago. */
static int
parse_time(const char *s, int64_t *ms)
{
	struct tm   tm;
	const char *end;
	int64_t     ago_ms;

	if (ad_parse_duration(s, &ago_ms) == 0) {
		*ms = ad_wall_ms() - ago_ms;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || (*end != '\0' && strcmp(end, "Z") != 0))
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

static void
print_record(json_t *r)
{
	char   stamp[32];
	time_t t = (time_t)(json_integer_value(json_object_get(r, "time_ms"))
	    / 1000);
	struct tm tm;
	json_t   *agent = json_object_get(r, "agent");
	json_t   *inst  = json_object_get(r, "instance");

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s #%lld %s%s%s %s: %s\n", stamp,
	    json_integer_value(json_object_get(r, "seq")),
	    json_is_string(agent) ? json_string_value(agent) : "agentd",
	    json_is_string(inst) ? "/" : "",
	    json_is_string(inst) ? json_string_value(inst) : "",
	    json_string_value(json_object_get(r, "kind")),
	    json_string_value(json_object_get(r, "summary")));
}

/* The --key options of audit verify. */
struct audit_keys {
	unsigned char pub[AD_AUDIT_KEYS_MAX][AD_AUDIT_KEY_LEN];
	size_t        n;
};

static void
print_sealed(json_t *v)
{
	json_int_t archived
	    = json_integer_value(json_object_get(v, "archived_seals"));

	printf("sealed: records to %lld, %lld seal(s) checked with the key%s",
	    json_integer_value(json_object_get(v, "sealed_seq")),
	    json_integer_value(json_object_get(v, "seals")),
	    archived > 0 ? "" : "\n");
	if (archived > 0)
		printf(
		    " (%lld over archived records: their records are in the "
		    "archive files)\n",
		    archived);
	printf("unsealed, %lld records after record %lld\n",
	    json_integer_value(json_object_get(v, "unsealed")),
	    json_integer_value(json_object_get(v, "sealed_seq")));
}

static int
audit_verify(const struct ctl_opts *o, const struct audit_keys *k)
{
	agentd_writer *w = NULL;
	json_t        *v;
	int            rv;

	if (k->n > 0) {
		agentd_writer_new(&w);
		agentd_write_map(w, 1);
		agentd_write_str(w, "keys");
		agentd_write_array(w, (uint32_t)k->n);
		for (size_t i = 0; i < k->n; i++)
			agentd_write_bin(w, k->pub[i], AD_AUDIT_KEY_LEN);
	}
	rv = request(o, AD_KIND_CONTROL, "audit.verify", w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK) {
		/* nothing more to say */
	} else if (o->json) {
		print_line(v);
		rv = json_is_true(json_object_get(v, "ok")) ? EXIT_OK
		                                            : EXIT_FAILED;
	} else if (json_is_true(json_object_get(v, "ok"))) {
		printf("audit trail whole: records %lld to %lld (%lld), head "
		       "sha256:%s\n",
		    json_integer_value(json_object_get(v, "first_seq")),
		    json_integer_value(json_object_get(v, "last_seq")),
		    json_integer_value(json_object_get(v, "records")),
		    json_string_value(json_object_get(v, "head_hash")));
		if (k->n > 0)
			print_sealed(v);
	} else {
		printf("audit trail BROKEN at record %lld: %s\n",
		    json_integer_value(json_object_get(v, "bad_seq")),
		    json_string_value(json_object_get(v, "what")));
		rv = EXIT_FAILED;
	}
	json_decref(v);
	return rv;
}

/* The keys the seals start from, as agentd's state names them. */
static int
audit_key(const struct ctl_opts *o)
{
	json_t *v, *k;
	size_t  i;
	int     rv;

	if ((rv = request(o, AD_KIND_CONTROL, "audit.key", NULL, 0, &v))
	    != EXIT_OK)
		return rv;
	json_array_foreach(json_object_get(v, "keys"), i, k)
	{
		char      stamp[32];
		time_t    t = (time_t)(json_integer_value(
		                           json_object_get(k, "time_ms"))
                    / 1000);
		struct tm tm;

		if (o->json) {
			print_line(k);
			continue;
		}
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s  from seal %lld (%s)%s\n",
		    json_string_value(json_object_get(k, "key")),
		    json_integer_value(json_object_get(k, "seal")), stamp,
		    json_is_true(json_object_get(k, "restart"))
		        ? ": a new key, made when agentd found its key file "
		          "lost or not matching"
		        : "");
	}
	if (!o->json && json_array_size(json_object_get(v, "keys")) == 0)
		printf("no seal yet\n");
	json_decref(v);
	return EXIT_OK;
}

struct archive_file {
	const char                   *path;
	struct ad_audit_verify_result res;
};

static int
by_first_seq(const void *a, const void *b)
{
	const struct archive_file *x = a, *y = b;

	return x->res.first_seq < y->res.first_seq ? -1
	    : x->res.first_seq > y->res.first_seq  ? 1
	                                           : 0;
}

/*
 * Archive files, checked here (no agentd needed): each file's chain, then
 * the files as one chain in sequence order, each starting where the one
 * before ended.
 */
static int
audit_verify_files(const struct ctl_opts *o, int n, char **paths)
{
	struct archive_file *f    = ad_xcalloc((size_t)n, sizeof(*f));
	const unsigned char *prev = NULL;
	char                 hex[2 * AD_AUDIT_HASH_LEN + 1];
	int                  i, rv = EXIT_OK;

	for (i = 0; i < n; i++) {
		f[i].path = paths[i];
		if (ad_audit_verify_archive(paths[i], NULL, &f[i].res) != 0) {
			fprintf(stderr, "agentctl: %s: %s\n", paths[i],
			    f[i].res.what);
			free(f);
			return EXIT_FAILED;
		}
	}
	qsort(f, (size_t)n, sizeof(*f), by_first_seq);
	for (i = 0; i < n; i++) {
		if (i > 0 && f[i].res.first_seq != f[i - 1].res.last_seq + 1) {
			f[i].res.ok      = 0;
			f[i].res.bad_seq = f[i - 1].res.last_seq + 1;
			snprintf(f[i].res.what, sizeof(f[i].res.what),
			    "records %llu to %llu are in no file given",
			    (unsigned long long)f[i - 1].res.last_seq + 1,
			    (unsigned long long)f[i].res.first_seq - 1);
		} else if (prev != NULL
		    && ad_audit_verify_archive(f[i].path, prev, &f[i].res)
		        != 0) {
			f[i].res.ok = 0;
		}
		ad_hex(f[i].res.head_hash, AD_AUDIT_HASH_LEN, hex);
		if (f[i].res.ok)
			printf("%s: whole: records %llu to %llu (%llu), last "
			       "sha256:%s\n",
			    f[i].path, (unsigned long long)f[i].res.first_seq,
			    (unsigned long long)f[i].res.last_seq,
			    (unsigned long long)f[i].res.records, hex);
		else {
			printf("%s: BROKEN at record %llu: %s\n", f[i].path,
			    (unsigned long long)f[i].res.bad_seq,
			    f[i].res.what);
			rv = EXIT_FAILED;
			break;
		}
		prev = f[i].res.head_hash;
	}
	free(f);
	return rv;
}

struct audit_query {
	const char *agent, *kind;
	int64_t     since_ms, until_ms;
	int64_t     limit;   /* -1: the command's default */
	int64_t     min_seq; /* 0: from the first */
	int         oldest_first;
};

/* One "audit" request; *out the array of records. */
static int
audit_request(struct ctl_opts *o, const struct audit_query *q, json_t **out)
{
	agentd_writer *w;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 7);
	agentd_write_str(w, "agent");
	q->agent ? agentd_write_str(w, q->agent) : agentd_write_nil(w);
	agentd_write_str(w, "kind");
	q->kind ? agentd_write_str(w, q->kind) : agentd_write_nil(w);
	agentd_write_str(w, "since_ms");
	agentd_write_int(w, q->since_ms);
	agentd_write_str(w, "until_ms");
	agentd_write_int(w, q->until_ms);
	agentd_write_str(w, "limit");
	agentd_write_int(w, q->limit);
	agentd_write_str(w, "min_seq");
	agentd_write_int(w, q->min_seq);
	agentd_write_str(w, "oldest_first");
	agentd_write_bool(w, q->oldest_first);
	rv = request(o, AD_KIND_CONTROL, "audit", w, 0, out);
	agentd_writer_free(w);
	return rv;
}

static void
audit_print(const struct ctl_opts *o, json_t *r)
{
	if (o->json)
		print_line(r);
	else
		print_record(r);
}

static int
audit_show(struct ctl_opts *o, struct audit_query *q)
{
	json_t *v, *r;
	size_t  i;
	int     rv;

	if (q->limit < 0)
		q->limit = 100;
	rv = audit_request(o, q, &v);
	json_array_foreach(json_object_get(v, "records"), i, r)
	    audit_print(o, r);
	json_decref(v);
	return rv;
}

/*
 * The last records (newest first from agentd, printed oldest first), then
 * every record after the newest seen, polled four times a second: appends
 * are committed in groups, so a record shows up within one poll of its
 * commit.  Ends when interrupted or when agentd goes away.
 */
static int
audit_follow(struct ctl_opts *o, struct audit_query *q)
{
	struct timespec pause = { 0, 250 * 1000 * 1000 };
	json_t         *v, *recs, *r;
	size_t          i, n;
	int64_t         last = 0, seq;
	int             rv;

	if (q->limit < 0)
		q->limit = 10;
	if ((rv = audit_request(o, q, &v)) != EXIT_OK)
		return rv;
	recs = json_object_get(v, "records");
	for (n = json_array_size(recs); n > 0; n--)
		audit_print(o, json_array_get(recs, n - 1));
	if (json_array_size(recs) > 0)
		last = json_integer_value(
		    json_object_get(json_array_get(recs, 0), "seq"));
	json_decref(v);
	fflush(stdout);
	q->oldest_first = 1;
	q->limit        = 1000;
	for (;;) {
		q->min_seq = last + 1;
		if ((rv = audit_request(o, q, &v)) != EXIT_OK)
			return rv;
		recs = json_object_get(v, "records");
		json_array_foreach(recs, i, r)
		{
			audit_print(o, r);
			seq = json_integer_value(json_object_get(r, "seq"));
			if (seq > last)
				last = seq;
		}
		n = json_array_size(recs);
		json_decref(v);
		fflush(stdout);
		if (n < 1000)
			nanosleep(&pause, NULL);
	}
}

static int
key_add(struct audit_keys *k, const char *s)
{
	if (k->n == AD_AUDIT_KEYS_MAX) {
		fprintf(
		    stderr, "agentctl: at most %d --key\n", AD_AUDIT_KEYS_MAX);
		return -1;
	}
	if (ad_audit_key_parse(s, k->pub[k->n]) != 0) {
		fprintf(stderr,
		    "agentctl: bad key \"%s\": give it as agentd printed it, "
		    "ed25519: and 64 hex digits\n",
		    s);
		return -1;
	}
	k->n++;
	return 0;
}

/*
 * What follows "verify": --key PUB (or --key=PUB) and --json may come
 * there too; the rest are archive files, moved to the front of args.
 * The number of files, or -1 after a usage message.
 */
static int
verify_args(struct ctl_opts *o, struct audit_keys *k, int n, char **args)
{
	int files = 0;

	for (int i = 0; i < n; i++) {
		if (strcmp(args[i], "--key") == 0) {
			if (++i == n) {
				fputs(audit_help, stderr);
				return -1;
			}
			if (key_add(k, args[i]) != 0)
				return -1;
		} else if (strncmp(args[i], "--key=", 6) == 0) {
			if (key_add(k, args[i] + 6) != 0)
				return -1;
		} else if (strcmp(args[i], "--json") == 0) {
			o->json = 1;
		} else {
			args[files++] = args[i];
		}
	}
	return files;
}

static int
cmd_audit(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "kind", required_argument, NULL, 'k' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "limit", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "key", required_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_query q      = { NULL, NULL, 0, 0, -1, 0, 0 };
	struct audit_keys  keys   = { .n = 0 };
	int                follow = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			q.agent = optarg;
			break;
		case 'k':
			q.kind = optarg;
			break;
		case 's':
		case 'u':
			if (parse_time(
			        optarg, c == 's' ? &q.since_ms : &q.until_ms)
			    != 0) {
				fprintf(stderr,
				    "agentctl: bad time \"%s\": use "
				    "2026-11-21, 2026-11-21T10:00:00Z or "
				    "24h\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			q.limit = strtoll(optarg, NULL, 10);
			break;
		case 'f':
			follow = 1;
			break;
		case 'K':
			if (key_add(&keys, optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(audit_help, stdout);
			return EXIT_OK;
		default:
			fputs(audit_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind], "verify") == 0) {
		int nfiles = verify_args(
		    o, &keys, argc - optind - 1, argv + optind + 1);

		if (nfiles < 0)
			return EXIT_USAGE;
		if (nfiles == 0)
			return audit_verify(o, &keys);
		argc = optind + 1 + nfiles;
		if (keys.n > 0) {
			fprintf(stderr,
			    "agentctl: --key checks the seals of the live "
			    "trail, not archive files: run audit verify "
			    "--key without files\n");
			return EXIT_USAGE;
		}
		return audit_verify_files(
		    o, argc - optind - 1, argv + optind + 1);
	}
	if (optind + 1 == argc && strcmp(argv[optind], "key") == 0)
		return audit_key(o);
	if (keys.n > 0) {
		fputs(audit_help, stderr);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		fputs(audit_help, stderr);
		return EXIT_USAGE;
	}
	return follow ? audit_follow(o, &q) : audit_show(o, &q);
}

/*
 * A state value as JSON: it is msgpack by convention, which arrives here
 * as a JSON string (text) or {"$base64": ...} (other bytes); decode it.
 */
static void
print_value(json_t *val)
{
	const char    *text = json_string_value(val);
	json_t        *b64 = json_object_get(val, "$base64"), *value = NULL;
	unsigned char *raw = NULL;
	int            n   = 0;

	if (text != NULL) {
		raw = (unsigned char *)ad_xstrdup(text);
		n   = (int)json_string_length(val);
	} else if (json_is_string(b64)) {
		const char *s = json_string_value(b64);
		size_t      l = json_string_length(b64);

		raw = ad_xmalloc(l + 4);
		n   = EVP_DecodeBlock(raw, (const unsigned char *)s, (int)l);
		/* EVP_DecodeBlock counts the padding as data bytes. */
		if (n > 0 && l >= 1 && s[l - 1] == '=')
			n--;
		if (n > 0 && l >= 2 && s[l - 2] == '=')
			n--;
	}
	if (raw != NULL && n >= 0
	    && ad_mp_to_json(raw, (size_t)n, &value) == 0)
		print_line(value);
	else
		print_line(val);
	json_decref(value);
	free(raw);
}

static const char *const state_help
    = "usage: agentctl state get AGENT KEY\n"
      "       agentctl state put AGENT KEY JSON [TTL]\n"
      "       agentctl state del AGENT KEY\n"
      "       agentctl state ls AGENT [PREFIX]\n"
      "Read or change an agent's state as its plugin sees it (values are "
      "stored as\nmsgpack, shown as JSON).  ls lists the keys, in order, "
      "each with the time\nleft before it expires if it has a TTL "
      "(put's TTL: a duration, 10m).\n";

/* Time left as "1d2h", "3h4m", "5m6s" or "7s": the two largest units. */
static void
print_left(const char *key, json_int_t ms)
{
	long long s = (long long)(ms + 999) / 1000;

	if (s >= 86400)
		printf("%s\t%lldd%lldh\n", key, s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		printf("%s\t%lldh%lldm\n", key, s / 3600, s % 3600 / 60);
	else if (s >= 60)
		printf("%s\t%lldm%llds\n", key, s / 60, s % 60);
	else
		printf("%s\t%llds\n", key, s);
}

static int
cmd_state(struct ctl_opts *o, int argc, char **argv)
{
	const char    *op = argc > 1 ? argv[1] : "";
	agentd_writer *w, *val = NULL;
	json_t        *v, *e;
	const void    *p;
	size_t         n, i;
	char           err[AD_ERRLEN], dst[32];
	int            want, rv;

	if (want_help(argc, argv, state_help))
		return EXIT_OK;
	int64_t ttl_ms = 0;

	want = strcmp(op, "put") == 0 ? (argc == 6 ? 6 : 5)
	    : strcmp(op, "ls") == 0   ? (argc == 4 ? 4 : 3)
	    : strcmp(op, "get") == 0 || strcmp(op, "del") == 0 ? 4
	                                                       : -1;
	if (want < 0 || argc != want) {
		fputs(state_help, stderr);
		return EXIT_USAGE;
	}
	if (want == 6
	    && (ad_parse_duration(argv[5], &ttl_ms) != 0 || ttl_ms <= 0)) {
		fprintf(stderr,
		    "agentctl: TTL \"%s\" is not a duration longer than 0: "
		    "write 30s, 10m, 2h or 7d\n",
		    argv[5]);
		return EXIT_USAGE;
	}
	if (strcmp(op, "put") == 0) {
		agentd_writer_new(&val);
		if (ad_json_text_to_mp(argv[4], val, err, sizeof(err)) != 0) {
			fprintf(stderr,
			    "agentctl: the value is not valid JSON: %s\n",
			    err);
			agentd_writer_free(val);
			return EXIT_USAGE;
		}
	}
	agentd_writer_new(&w);
	agentd_write_map(w, (val ? 3 : 2) + (ttl_ms > 0));
	agentd_write_str(w, "agent");
	agentd_write_str(w, argv[2]);
	agentd_write_str(w, "key");
	agentd_write_bin(
	    w, argc > 3 ? argv[3] : "", argc > 3 ? strlen(argv[3]) : 0);
	if (val != NULL) {
		p = agentd_writer_data(val, &n);
		agentd_write_str(w, "val");
		agentd_write_bin(w, p, n);
	}
	if (ttl_ms > 0) {
		agentd_write_str(w, "ttl_ms");
		agentd_write_uint(w, (uint64_t)ttl_ms);
	}
	snprintf(
	    dst, sizeof(dst), "state.%s", strcmp(op, "ls") == 0 ? "scan" : op);
	rv = request(o, AD_KIND_CONTROL, dst, w, 0, &v);
	agentd_writer_free(w);
	agentd_writer_free(val);
	if (rv == EXIT_OK && strcmp(op, "get") == 0) {
		print_value(json_object_get(v, "val"));
	} else if (rv == EXIT_OK && strcmp(op, "ls") == 0) {
		json_array_foreach(json_object_get(v, "entries"), i, e)
		{
			json_t *k    = json_array_get(e, 0);
			json_t *left = json_array_get(e, 2); /* ms, if a TTL */

			if (o->json && left != NULL) {
				json_t *obj = json_pack(
				    "{sOsO}", "key", k, "ttl_ms", left);

				print_line(obj);
				json_decref(obj);
			} else if (o->json)
				print_line(k);
			else if (left != NULL)
				print_left(json_string_value(k),
				    json_integer_value(left));
			else
				printf("%s\n", json_string_value(k));
		}
	}
	json_decref(v);
	return rv;
}

/*
 * restart, stop, start AGENT and scale AGENT N|auto: one control
 * operation on one agent, {agent[, count]}.
 */
static int
cmd_agent_op(struct ctl_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name, *help, *done;
	} ops[] = {
		{ "restart",
		    "usage: agentctl restart AGENT\n"
		    "Start a failed or stopped agent again (its backoff and "
		    "restart count\nstart afresh), or replace a running "
		    "agent's instances (the old ones\ndrain first).\n",
		    "restarted" },
		{ "stop",
		    "usage: agentctl stop AGENT\n"
		    "Stop an agent gracefully: its instances take no new "
		    "requests, finish\nwhat they hold (health { drain_timeout "
		    "}), run the plugin's fini and\nexit.  Requests for it "
		    "are answered \"unavailable\" until `agentctl start`.\n",
		    "stopping" },
		{ "start",
		    "usage: agentctl start AGENT\n"
		    "Start an agent stopped by `agentctl stop`.\n",
		    "started" },
		{ "scale",
		    "usage: agentctl scale AGENT N|auto\n"
		    "Pin an agent at N instances (0 to its instances { max "
		    "}), "
		    "or hand it\nback to the autoscaler with auto.\n",
		    "scaled" },
	};
	agentd_writer *w;
	json_t        *v;
	long           count = -1;
	char          *end;
	size_t         i;
	int            rv, scale = strcmp(argv[0], "scale") == 0;

	for (i = 0; strcmp(ops[i].name, argv[0]) != 0; i++)
		;
	if (want_help(argc, argv, ops[i].help))
		return EXIT_OK;
	if (argc != (scale ? 3 : 2)) {
		fputs(ops[i].help, stderr);
		return EXIT_USAGE;
	}
	if (scale && strcmp(argv[2], "auto") != 0) {
		errno = 0;
		count = strtol(argv[2], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[2]
		    || count < 0) {
			fprintf(stderr,
			    "agentctl: scale: \"%s\" is not a count: give a "
			    "whole number of instances, or auto\n",
			    argv[2]);
			return EXIT_USAGE;
		}
	}
	agentd_writer_new(&w);
	agentd_write_map(w, scale ? 2 : 1);
	agentd_write_str(w, "agent");
	agentd_write_str(w, argv[1]);
	if (scale) {
		agentd_write_str(w, "count");
		agentd_write_int(w, count);
	}
	rv = request(o, AD_KIND_CONTROL, argv[0], w, 0, &v);
	agentd_writer_free(w);
	json_decref(v);
	if (rv == EXIT_OK && !o->json && scale && count < 0)
		printf("agent %s: automatic scaling\n", argv[1]);
	else if (rv == EXIT_OK && !o->json && scale)
		printf("agent %s: pinned at %ld instance%s\n", argv[1], count,
		    count == 1 ? "" : "s");
	else if (rv == EXIT_OK && !o->json)
		printf("agent %s %s\n", argv[1], ops[i].done);
	return rv;
}

static const char *const reload_help
    = "usage: agentctl reload [--canary AGENT PERCENT] [--timeout "
      "DURATION]\n"
      "       agentctl promote AGENT\n"
      "       agentctl rollback AGENT\n"
      "reload reads the configuration again and, per agent, leaves it "
      "alone\n(unchanged), starts it (new), drains and stops it "
      "(removed), or brings\nin a new generation (its plugin file or its "
      "section changed): the new\ninstances take the requests once "
      "ready, and the old ones stand by for\nhealth { probation } in "
      "case the new ones fail.  An agent whose file or\nplugin has an "
      "error keeps running what it ran.  Waits until every agent\nhas "
      "settled and prints one line each; exit status 1 if any was "
      "refused\nor rolled back.\n"
      "--canary AGENT PERCENT reloads only AGENT and sends PERCENT of "
      "its\nrequests to the new version; promote gives it all of them, "
      "rollback\nabandons it.  rollback without a canary returns to the "
      "previous version.\n"
      "  --timeout DURATION   how long to wait (default 10m)\n";

/* reload [--canary AGENT PERCENT], promote AGENT, rollback AGENT */
static int
cmd_reload(struct ctl_opts *o, int argc, char **argv)
{
	const char    *agent = NULL, *op = argv[0];
	long           pct = 0;
	char          *end;
	int            i, rv, bad = 0;
	agentd_writer *w;
	json_t        *v, *list, *it;
	size_t         k;

	if (want_help(argc, argv, reload_help))
		return EXIT_OK;
	o->timeout_ms = 600000;
	for (i = 1; i < argc; i++) {
		if (strcmp(op, "reload") == 0
		    && strcmp(argv[i], "--canary") == 0 && i + 2 < argc) {
			agent = argv[++i];
			errno = 0;
			pct   = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || pct < 1
			    || pct > 99) {
				fprintf(stderr,
				    "agentctl: reload: \"%s\" is not a "
				    "percentage from 1 to 99\n",
				    argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (ad_parse_duration(argv[++i], &o->timeout_ms) != 0
			    || o->timeout_ms <= 0) {
				fprintf(stderr,
				    "agentctl: --timeout: \"%s\" is not a "
				    "duration (like 30s or 5m)\n",
				    argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(op, "reload") != 0 && agent == NULL
		    && argv[i][0] != '-') {
			agent = argv[i];
		} else {
			fputs(reload_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (strcmp(op, "reload") != 0 && agent == NULL) {
		fputs(reload_help, stderr);
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, agent != NULL ? 2 : 0);
	if (agent != NULL) {
		agentd_write_str(w, "agent");
		agentd_write_str(w, agent);
		agentd_write_str(w, "percent");
		agentd_write_int(w, pct);
	}
	rv = request(o, AD_KIND_CONTROL, op, w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	list = json_object_get(v, "agents");
	json_array_foreach(list, k, it)
	{
		const char *what
		    = json_string_value(json_object_get(it, "outcome"));
		const char *name
		    = json_string_value(json_object_get(it, "agent"));

		if (what != NULL
		    && (strcmp(what, "refused") == 0
		        || (strcmp(what, "rolled back") == 0
		            && strcmp(op, "rollback") != 0)))
			bad++;
		if (!o->json)
			printf("%s: %s\n",
			    name != NULL && name[0] != '\0'
			        ? name
			        : json_string_value(
			            json_object_get(it, "file")),
			    json_string_value(json_object_get(it, "line")));
	}
	if (o->json)
		print_line(v);
	json_decref(v);
	return bad > 0 ? EXIT_FAILED : EXIT_OK;
}

/*
 * An operation whose request is {"agent": AGENT}: its answer in *v to
 * print, or, with --json, printed here and *v NULL.  An exit status.
 */
static int
request_agent(
    struct ctl_opts *o, const char *op, const char *agent, json_t **v)
{
	agentd_writer *w;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "agent");
	agentd_write_str(w, agent);
	rv = request(o, AD_KIND_CONTROL, op, w, 0, v);
	agentd_writer_free(w);
	if (rv == EXIT_OK && o->json) {
		print_line(*v);
		json_decref(*v);
		*v = NULL;
	}
	return rv;
}

static const char *const versions_help
    = "usage: agentctl versions AGENT\n"
      "The plugin builds AGENT has run, by content hash: version string, "
      "when\nand by whom each was last loaded, and which one serves "
      "(current), is\nbeing tried (canary, next) or would come back with "
      "rollback (previous).\n";

static int
cmd_versions(struct ctl_opts *o, int argc, char **argv)
{
	json_t *v, *it;
	size_t  k;
	char    when[32];
	int     rv;

	if (want_help(argc, argv, versions_help))
		return EXIT_OK;
	if (argc != 2) {
		fputs(versions_help, stderr);
		return EXIT_USAGE;
	}
	if ((rv = request_agent(o, "versions", argv[1], &v)) != EXIT_OK
	    || v == NULL)
		return rv;
	printf("%-16s %-12s %-20s %-9s %s\n", "HASH", "VERSION",
	    "LOADED (UTC)", "STATE", "BY");
	json_array_foreach(json_object_get(v, "versions"), k, it)
	{
		const char *h = json_string_value(json_object_get(it, "hash"));
		time_t      t = (time_t)(json_integer_value(
		                             json_object_get(it, "loaded_ms"))
                    / 1000);
		struct tm   tm;

		if (h != NULL && strncmp(h, "sha256:", 7) == 0)
			h += 7;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-16.16s %-12s %-20s %-9s %s\n", h ? h : "",
		    json_string_value(json_object_get(it, "version")), when,
		    json_string_value(json_object_get(it, "state")),
		    json_string_value(json_object_get(it, "by")));
	}
	json_decref(v);
	return EXIT_OK;
}

static const char *const settings_help
    = "usage: agentctl settings AGENT\n"
      "The settings AGENT runs with (its configuration's settings { }, "
      "defaults\napplied), one a line: name, type, value.  A setting "
      "whose name contains\nsecret, token, password, passwd, key, "
      "credential or private shows ********,\nand so does one read from "
      "a file (NAME_file = \"PATH\" in settings { }), with\nthe path.\n";

static int
cmd_settings(struct ctl_opts *o, int argc, char **argv)
{
	json_t *v, *it;
	size_t  k;
	int     rv;

	if (want_help(argc, argv, settings_help))
		return EXIT_OK;
	if (argc != 2) {
		fputs(settings_help, stderr);
		return EXIT_USAGE;
	}
	if ((rv = request_agent(o, "settings", argv[1], &v)) != EXIT_OK
	    || v == NULL)
		return rv;
	printf("%-24s %-7s %s\n", "NAME", "TYPE", "VALUE");
	json_array_foreach(json_object_get(v, "settings"), k, it)
	{
		json_t *val = json_object_get(it, "value");
		char   *text;

		if (json_is_string(val))
			text = strdup(json_string_value(val));
		else
			text = json_dumps(
			    val, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		printf("%-24s %-7s %s",
		    json_string_value(json_object_get(it, "name")),
		    json_string_value(json_object_get(it, "type")),
		    text != NULL ? text : "");
		if (json_is_string(json_object_get(it, "file")))
			printf(" (from %s)",
			    json_string_value(json_object_get(it, "file")));
		putchar('\n');
		free(text);
	}
	json_decref(v);
	return EXIT_OK;
}

/* ---- the policy gate: approvals, answers, history, rules ------------- */

/* A span of time, its two largest units: 45s, 1m30s, 5m, 2h3m, 24h. */
static void
fmt_span(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600 && s % 60 != 0)
		snprintf(buf, len, "%lldm%llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 3600)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s % 3600 / 60 != 0)
		snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
}

/* Wall-clock ms as 2026-12-07T10:00:00Z. */
static void
fmt_utc(int64_t ms, char *buf, size_t len)
{
	time_t    t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The string member key of v, or "" (a field agentd left out). */
static const char *
str_of(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));

	return s != NULL ? s : "";
}

/*
 * s, and a newline, in at most width columns (at least 20; characters as
 * UTF-8 counts them): a longer s is cut and ends in "...".  Control
 * characters print as spaces, so one field stays on one line.
 */
static void
print_cut(const char *s, int width)
{
	const unsigned char *p;
	int                  chars = 0, keep, seen = 0;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		chars += (*p & 0xc0) != 0x80;
	if (width < 20)
		width = 20;
	keep = chars > width ? width - 3 : chars;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80 && seen++ == keep)
			break;
		putchar(*p < 0x20 || *p == 0x7f ? ' ' : *p);
	}
	if (chars > width)
		fputs("...", stdout);
	putchar('\n');
}

/*
 * getopt_long() ("+") for a command whose options may also follow its
 * arguments (`approve ID --note TEXT`): each argument met is moved to the
 * front, after argv[0], and the options after it are read too.  At the
 * end (-1) the arguments are argv[1] to argv[*nargs], in order.  "--"
 * ends the options: what follows it is arguments.
 */
static int
getopt_args(int argc, char **argv, const struct option *longopts, int *nargs)
{
	int c, at, dashes;

	for (;;) {
		at = optind;
		if ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1)
			return c;
		dashes = optind == at + 1; /* it read "--" */
		while (optind < argc) {
			char *arg = argv[optind];

			memmove(argv + *nargs + 2, argv + *nargs + 1,
			    (size_t)(optind - *nargs - 1) * sizeof(*argv));
			argv[++*nargs] = arg;
			optind++;
			if (!dashes)
				break;
		}
		if (optind >= argc)
			return -1;
	}
}

/* A decision's id is decimal digits; else a usage error, said here. */
static int
check_id(const char *cmd, const char *id)
{
	size_t n = strspn(id, "0123456789");

	if (n > 0 && id[n] == '\0' && n < 32)
		return 0;
	fprintf(stderr,
	    "agentctl: %s: \"%s\" is not a decision id: ids are decimal "
	    "digits, as agentctl approvals shows them\n",
	    cmd, id);
	return -1;
}

/* One decision operation on {"id": ID}: decision (show). */
static int
request_id(
    const struct ctl_opts *o, const char *op, const char *id, json_t **out)
{
	agentd_writer *w;
	int            rv;

	agentd_writer_new(&w);
	agentd_write_map(w, 1);
	agentd_write_str(w, "id");
	agentd_write_str(w, id);
	rv = request(o, AD_KIND_CONTROL, op, w, 0, out);
	agentd_writer_free(w);
	return rv;
}

/* One field of a decision map: "key: value", params as indented JSON. */
static void
print_field(const char *key, json_t *val)
{
	size_t klen = strlen(key);
	char   when[32];

	printf("%s:", key);
	if (json_is_string(val)) {
		printf("%s%s\n", json_string_length(val) > 0 ? " " : "",
		    json_string_value(val));
	} else if (json_is_integer(val)) {
		json_int_t ms = json_integer_value(val);

		printf(" %lld", (long long)ms);
		if (strcmp(key, "age_ms") == 0
		    || strcmp(key, "left_ms") == 0) {
			fmt_span(ms, when, sizeof(when));
			printf(" (%s)", when);
		} else if (klen > 3 && strcmp(key + klen - 3, "_ms") == 0
		    && ms > 0) {
			fmt_utc(ms, when, sizeof(when));
			printf(" (%s)", when);
		}
		putchar('\n');
	} else if (json_is_real(val)) {
		char real[AD_REAL_TEXT_MAX];

		ad_real_text(json_real_value(val), real);
		printf(" %s\n", real);
	} else {
		putchar(' ');
		ad_json_dumpf(val, stdout, JSON_ENCODE_ANY | JSON_INDENT(2));
		putchar('\n');
	}
}

/* Every field of a decision, "key: value", in the protocol's order. */
static void
print_decision(json_t *d)
{
	static const char *const order[] = { "id", "agent", "instance",
		"state", "risk", "rule", "type", "title", "reasoning",
		"amount", "confidence", "params", "proposed_params",
		"proposed_ms", "deadline_ms", "at_deadline", "age_ms",
		"left_ms", "decided_ms", "by", "note", "delivered_ms" };
	const char              *key;
	json_t                  *val;
	size_t                   i, n = sizeof(order) / sizeof(order[0]);

	for (i = 0; i < n; i++) {
		if ((val = json_object_get(d, order[i])) != NULL)
			print_field(order[i], val);
	}
	/* Fields this agentctl does not know yet, as they came. */
	json_object_foreach(d, key, val)
	{
		for (i = 0; i < n && strcmp(order[i], key) != 0; i++)
			;
		if (i == n)
			print_field(key, val);
	}
}

static const char *const approvals_help
    = "usage: agentctl approvals [--agent A] [--limit N] [--after ID] "
      "[--json]\n"
      "       agentctl approvals show ID [--json]\n"
      "The decisions waiting for a person (risk high), oldest first: id, "
      "agent,\nrisk, age, time left to the deadline, amount, type and "
      "title (cut to fit\n100 columns); the first 100, and how many more "
      "wait.  show prints every\nfield of one decision.  Answer them "
      "with approve, reject or modify.  With\n--json, one JSON object "
      "per line (how many more wait goes to stderr).\n"
      "  --agent A    only the decisions of agent A\n"
      "  --limit N    at most N (default 100; 0: all of them)\n"
      "  --after ID   those after decision ID: the next page\n";

static int
cmd_approvals(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char    *agent = NULL, *after = NULL;
	agentd_writer *w;
	json_t        *v, *list, *d;
	json_int_t     more;
	size_t         k;
	char           age[32], left[32], *end;
	long long      limit = -1;
	int            c, n, rv, nargs = 0;

	optind = 1;
	while ((c = getopt_args(argc, argv, longopts, &nargs)) != -1) {
		switch (c) {
		case 'a':
			agent = optarg;
			break;
		case 'l':
			errno = 0;
			limit = strtoll(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0'
			    || errno != 0 || limit > UINT32_MAX) {
				fprintf(stderr,
				    "agentctl: approvals: --limit \"%s\" is "
				    "not a count: give 0 (all) or more\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'A':
			if (check_id("approvals --after", optarg) != 0)
				return EXIT_USAGE;
			after = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(approvals_help, stdout);
			return EXIT_OK;
		default:
			fputs(approvals_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (nargs > 0 && strcmp(argv[1], "show") != 0) {
		fprintf(stderr,
		    "agentctl: approvals: unknown subcommand \"%s\": use "
		    "approvals [--agent A] or approvals show ID\n",
		    argv[1]);
		return EXIT_USAGE;
	}
	if (nargs > 0) {
		if (nargs != 2 || agent != NULL || limit >= 0
		    || after != NULL) {
			fputs(approvals_help, stderr);
			return EXIT_USAGE;
		}
		if (check_id("approvals show", argv[2]) != 0)
			return EXIT_USAGE;
		if ((rv = request_id(o, "decision", argv[2], &v)) != EXIT_OK)
			return rv;
		if (o->json)
			print_line(v);
		else
			print_decision(v);
		json_decref(v);
		return EXIT_OK;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, (agent != NULL) + (limit >= 0) + (after != NULL));
	if (agent != NULL) {
		agentd_write_str(w, "agent");
		agentd_write_str(w, agent);
	}
	if (limit >= 0) {
		agentd_write_str(w, "limit");
		agentd_write_int(w, limit);
	}
	if (after != NULL) {
		agentd_write_str(w, "after");
		agentd_write_str(w, after);
	}
	rv = request(o, AD_KIND_CONTROL, "approvals", w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	list = json_object_get(v, "approvals");
	more = json_integer_value(json_object_get(v, "more"));
	if (o->json) {
		json_array_foreach(list, k, d)
		{
			print_line(d);
		}
	} else if (json_array_size(list) == 0) {
		printf(after != NULL ? "no pending approvals after %s\n"
		                     : "no pending approvals\n",
		    after);
	} else {
		printf("%-6s %-12s %-6s %-6s %-7s %9s %-14s %s\n", "ID",
		    "AGENT", "RISK", "AGE", "LEFT", "AMOUNT", "TYPE", "TITLE");
		json_array_foreach(list, k, d)
		{
			json_int_t ms = json_integer_value(
			    json_object_get(d, "left_ms"));

			fmt_span(
			    json_integer_value(json_object_get(d, "age_ms")),
			    age, sizeof(age));
			if (ms > 0)
				fmt_span(ms, left, sizeof(left));
			else
				snprintf(left, sizeof(left), "expired");
			n = printf("%-6s %-12s %-6s %-6s %-7s %9.2f %-14s ",
			    str_of(d, "id"), str_of(d, "agent"),
			    str_of(d, "risk"), age, left,
			    json_number_value(json_object_get(d, "amount")),
			    str_of(d, "type"));
			print_cut(str_of(d, "title"), 100 - n);
		}
	}
	/* The next page: the same command after the last one listed. */
	if (more > 0
	    && (d = json_array_get(list, json_array_size(list) - 1)) != NULL) {
		char lim[32] = "";

		if (limit > 0)
			snprintf(lim, sizeof(lim), " --limit %lld", limit);
		fprintf(o->json ? stderr : stdout,
		    "%lld more pending: agentctl%s approvals%s%s%s --after "
		    "%s\n",
		    (long long)more, o->json ? " --json" : "",
		    agent != NULL ? " --agent " : "",
		    agent != NULL ? agent : "", lim, str_of(d, "id"));
	}
	json_decref(v);
	return EXIT_OK;
}

static const char *const approve_help
    = "usage: agentctl approve ID [--note TEXT]\n"
      "Approve the pending decision ID, as proposed: the agent runs it.  "
      "You are\nnamed as who decided (agentctl (USER)).\n"
      "  --note TEXT   a note kept with the decision\n";

static const char *const reject_help
    = "usage: agentctl reject ID --reason TEXT\n"
      "Reject the pending decision ID: the agent is told, with the "
      "reason, and\ndoes not run it.  --reason is required.\n"
      "  --reason TEXT   why (kept with the decision, sent to the agent)\n";

static const char *const modify_help
    = "usage: agentctl modify ID JSON [--note TEXT]\n"
      "Answer the pending decision ID with other parameters: JSON, an "
      "object,\nreplaces its params (its type, amount and confidence "
      "stay; a number\n\"amount\" in JSON replaces the amount).  The "
      "rules classify it again: low\nor medium approves it at once, high "
      "keeps it pending with a new deadline.\n"
      "  --note TEXT   a note kept with the decision\n";

/* approve ID [--note], reject ID --reason, modify ID JSON [--note] */
static int
cmd_answer(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option note_opts[] = {
		{ "note", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option reason_opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char      *op = argv[0], *note = NULL, *reason = NULL;
	int              reject = strcmp(op, "reject") == 0;
	int              modify = strcmp(op, "modify") == 0;
	const char      *help   = reject ? reject_help
	           : modify              ? modify_help
	                                 : approve_help;
	agentd_writer   *w, *params = NULL;
	agentd_doc      *doc;
	enum agentd_type type;
	json_t          *v;
	const void      *p = NULL;
	size_t           n = 0;
	char             err[AD_ERRLEN], when[32];
	int              c, rv, nargs = 0;

	optind = 1;
	while ((c = getopt_args(
	            argc, argv, reject ? reason_opts : note_opts, &nargs))
	    != -1) {
		switch (c) {
		case 'n':
			note = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		default:
			fputs(help, stderr);
			return EXIT_USAGE;
		}
	}
	if (nargs != (modify ? 2 : 1)) {
		fputs(help, stderr);
		return EXIT_USAGE;
	}
	if (reject && (reason == NULL || reason[0] == '\0')) {
		fprintf(stderr,
		    "agentctl: reject: --reason is required: say why (the "
		    "agent is told)\n");
		return EXIT_USAGE;
	}
	if (check_id(op, argv[1]) != 0)
		return EXIT_USAGE;
	if (modify) {
		agentd_writer_new(&params);
		if (ad_json_text_to_mp(argv[2], params, err, sizeof(err))
		    != 0) {
			fprintf(stderr,
			    "agentctl: modify: the parameters are not valid "
			    "JSON: %s\n",
			    err);
			agentd_writer_free(params);
			return EXIT_USAGE;
		}
		p = agentd_writer_data(params, &n);
		if (agentd_parse(p, n, &doc) != 0)
			abort(); /* ad_json_text_to_mp wrote one value */
		type = agentd_type_of(agentd_doc_root(doc));
		agentd_doc_free(doc);
		if (type != AGENTD_T_MAP) {
			fprintf(stderr,
			    "agentctl: modify: the parameters must be a JSON "
			    "object, like '{\"price\": 9.5}', not %s\n",
			    type == AGENTD_T_ARRAY      ? "an array"
			        : type == AGENTD_T_STR  ? "a string"
			        : type == AGENTD_T_BOOL ? "true or false"
			        : type == AGENTD_T_NIL  ? "null"
			                                : "a number");
			agentd_writer_free(params);
			return EXIT_USAGE;
		}
	}
	agentd_writer_new(&w);
	agentd_write_map(w, 1 + (note != NULL) + reject + modify);
	agentd_write_str(w, "id");
	agentd_write_str(w, argv[1]);
	if (reject) {
		agentd_write_str(w, "reason");
		agentd_write_str(w, reason);
	}
	if (modify) {
		agentd_write_str(w, "params");
		agentd_write_raw(w, p, n);
	}
	if (note != NULL) {
		agentd_write_str(w, "note");
		agentd_write_str(w, note);
	}
	rv = request(o, AD_KIND_CONTROL, op, w, 0, &v);
	agentd_writer_free(w);
	agentd_writer_free(params);
	if (rv != EXIT_OK)
		return rv;
	if (o->json) {
		print_line(v);
	} else if (reject) {
		printf("decision %s: rejected: %s\n", argv[1],
		    json_is_string(json_object_get(v, "note"))
		        ? str_of(v, "note")
		        : reason);
	} else if (!modify) {
		printf("decision %s: %s by %s\n", argv[1], str_of(v, "state"),
		    str_of(v, "by"));
	} else if (strcmp(str_of(v, "state"), "pending") == 0) {
		fmt_utc(json_integer_value(json_object_get(v, "deadline_ms")),
		    when, sizeof(when));
		printf("decision %s: modified: now %s, pending until %s\n",
		    argv[1], str_of(v, "risk"), when);
	} else {
		printf("decision %s: modified: now %s, %s\n", argv[1],
		    str_of(v, "risk"), str_of(v, "state"));
	}
	json_decref(v);
	return EXIT_OK;
}

static const char *const decisions_help
    = "usage: agentctl decisions [--agent A] [--since T] [--outcome "
      "STATE]\n"
      "                          [--limit N] [--json]\n"
      "The policy gate's decisions, newest first (default: the last 100): "
      "id,\nagent, state, who decided, when (UTC), type and title (cut to "
      "fit 100\ncolumns).  With --json, one JSON object per line.\n"
      "  --agent A         only the decisions of agent A\n"
      "  --since T         only those from T on: 2026-11-21,\n"
      "                    2026-11-21T10:00:00Z, or a duration ago: "
      "90m, 24h\n"
      "  --outcome STATE   approved, rejected, expired or pending\n"
      "  --limit N         at most N (0: all)\n";

static int
cmd_decisions(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "since", required_argument, NULL, 's' },
		{ "outcome", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char    *agent = NULL, *outcome = NULL;
	int64_t        since_ms = 0;
	long long      limit    = -1;
	agentd_writer *w;
	json_t        *v, *d;
	size_t         k;
	char          *end, when[32];
	int            c, n, rv;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			agent = optarg;
			break;
		case 's':
			if (parse_time(optarg, &since_ms) != 0) {
				fprintf(stderr,
				    "agentctl: bad time \"%s\": use "
				    "2026-11-21, 2026-11-21T10:00:00Z or "
				    "24h\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			outcome = optarg;
			if (strcmp(outcome, "approved") != 0
			    && strcmp(outcome, "rejected") != 0
			    && strcmp(outcome, "expired") != 0
			    && strcmp(outcome, "pending") != 0) {
				fprintf(stderr,
				    "agentctl: decisions: bad --outcome "
				    "\"%s\": use approved, rejected, expired "
				    "or pending\n",
				    outcome);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			errno = 0;
			limit = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg
			    || limit < 0) {
				fprintf(stderr,
				    "agentctl: decisions: bad --limit \"%s\": "
				    "give a whole number, 0 for all\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(decisions_help, stdout);
			return EXIT_OK;
		default:
			fputs(decisions_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fputs(decisions_help, stderr);
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	agentd_write_map(w,
	    (agent != NULL) + (since_ms != 0) + (outcome != NULL)
	        + (limit >= 0));
	if (agent != NULL) {
		agentd_write_str(w, "agent");
		agentd_write_str(w, agent);
	}
	if (since_ms != 0) {
		agentd_write_str(w, "since_ms");
		agentd_write_int(w, since_ms);
	}
	if (outcome != NULL) {
		agentd_write_str(w, "outcome");
		agentd_write_str(w, outcome);
	}
	if (limit >= 0) {
		agentd_write_str(w, "limit");
		agentd_write_int(w, limit);
	}
	rv = request(o, AD_KIND_CONTROL, "decisions", w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	if (!o->json)
		printf("%-6s %-12s %-8s %-15s %-19s %-14s %s\n", "ID", "AGENT",
		    "STATE", "BY", "DECIDED (UTC)", "TYPE", "TITLE");
	json_array_foreach(json_object_get(v, "decisions"), k, d)
	{
		json_int_t ms
		    = json_integer_value(json_object_get(d, "decided_ms"));

		if (o->json) {
			print_line(d);
			continue;
		}
		if (ms > 0) {
			time_t    t = (time_t)(ms / 1000);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		} else {
			snprintf(when, sizeof(when), "-");
		}
		n = printf("%-6s %-12s %-8s %-15s %-19s %-14s ",
		    str_of(d, "id"), str_of(d, "agent"), str_of(d, "state"),
		    ms > 0 ? str_of(d, "by") : "-", when, str_of(d, "type"));
		print_cut(str_of(d, "title"), 100 - n);
	}
	json_decref(v);
	return EXIT_OK;
}

static const char *const policy_help
    = "usage: agentctl policy test AGENT TYPE AMOUNT CONFIDENCE\n"
      "Which rule of AGENT's policy a proposal of TYPE with AMOUNT and "
      "CONFIDENCE\n(numbers, such as 120 and 0.85) would match, and the "
      "risk, deadline and\nwhat its deadline does that it would get.  "
      "Nothing is proposed.\n";

/* A number, all of s: strtod's syntax, finite. */
static int
parse_number(const char *s, double *out)
{
	char *end;

	if (s[0] == '\0' || isspace((unsigned char)s[0]))
		return -1;
	errno = 0;
	*out  = strtod(s, &end);
	return errno != 0 || *end != '\0' || !isfinite(*out) ? -1 : 0;
}

static int
cmd_policy(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const what[] = { "AMOUNT", "CONFIDENCE" };
	agentd_writer           *w;
	json_t                  *v;
	double                   num[2];
	char                     span[32];
	int                      c, i, rv;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(policy_help, stdout);
			return EXIT_OK;
		default:
			fputs(policy_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind], "test") != 0) {
		fprintf(stderr,
		    "agentctl: policy: unknown subcommand \"%s\": use policy "
		    "test AGENT TYPE AMOUNT CONFIDENCE\n",
		    argv[optind]);
		return EXIT_USAGE;
	}
	if (argc - optind != 5) {
		fputs(policy_help, stderr);
		return EXIT_USAGE;
	}
	argv += optind;
	for (i = 0; i < 2; i++) {
		if (parse_number(argv[3 + i], &num[i]) != 0) {
			fprintf(stderr,
			    "agentctl: policy test: %s \"%s\" is not a "
			    "number\n",
			    what[i], argv[3 + i]);
			return EXIT_USAGE;
		}
	}
	agentd_writer_new(&w);
	agentd_write_map(w, 4);
	agentd_write_str(w, "agent");
	agentd_write_str(w, argv[1]);
	agentd_write_str(w, "type");
	agentd_write_str(w, argv[2]);
	agentd_write_str(w, "amount");
	agentd_write_double(w, num[0]);
	agentd_write_str(w, "confidence");
	agentd_write_double(w, num[1]);
	rv = request(o, AD_KIND_CONTROL, "policy.test", w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	if (o->json) {
		print_line(v);
		json_decref(v);
		return EXIT_OK;
	}
	if (strcmp(str_of(v, "rule"), "default") == 0)
		printf("no rule matches: default_risk %s", str_of(v, "risk"));
	else
		printf("rule \"%s\" (%s:%lld): %s", str_of(v, "rule"),
		    str_of(v, "file"),
		    (long long)json_integer_value(json_object_get(v, "line")),
		    str_of(v, "risk"));
	if (strcmp(str_of(v, "risk"), "high") == 0) {
		fmt_span(json_integer_value(json_object_get(v, "deadline_ms")),
		    span, sizeof(span));
		printf(", deadline %s, at the deadline: %s", span,
		    str_of(v, "at_deadline"));
	}
	putchar('\n');
	json_decref(v);
	return EXIT_OK;
}

/* ---- the HTTP API's tokens -------------------------------------------- */

static const char *const agents_help
    = "usage: agentctl agents [--capability NAME] [--json]\n"
      "The agents of the running configuration, by name, one a line: "
      "its name and\nits capabilities (its plugin's and its .conf's), "
      "comma-separated.  With\n--json, one JSON object per agent "
      "(name, version, state, capabilities).\n"
      "  --capability NAME   only the agents that have capability NAME\n";

static void
print_agent_line(json_t *a)
{
	json_t *c;
	size_t  k;

	printf("%-20s ", json_string_value(json_object_get(a, "name")));
	json_array_foreach(json_object_get(a, "capabilities"), k, c)
	    printf("%s%s", k > 0 ? "," : "", json_string_value(c));
	putchar('\n');
}

static int
cmd_agents(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "capability", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char    *cap = NULL;
	agentd_writer *w;
	json_t        *v, *a;
	size_t         k;
	int            c, rv, nargs = 0;

	optind = 1;
	while ((c = getopt_args(argc, argv, longopts, &nargs)) != -1) {
		switch (c) {
		case 'c':
			cap = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(agents_help, stdout);
			return EXIT_OK;
		default:
			fputs(agents_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (nargs > 0) {
		fprintf(stderr,
		    "agentctl: agents takes no argument: agents "
		    "[--capability NAME]\n");
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, cap != NULL);
	if (cap != NULL) {
		agentd_write_str(w, "capability");
		agentd_write_str(w, cap);
	}
	rv = request(o, AD_KIND_CONTROL, AD_OP_AGENTS, w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	json_array_foreach(json_object_get(v, "agents"), k, a)
	{
		if (o->json)
			print_line(a);
		else
			print_agent_line(a);
	}
	json_decref(v);
	return EXIT_OK;
}

static const char *const token_help
    = "usage: agentctl token create NAME --role viewer|operator|admin\n"
      "       agentctl token list\n"
      "       agentctl token revoke NAME\n"
      "Tokens for agentd's HTTP API (doc/http.md).  create prints the new "
      "token\nonce: agentd keeps only its SHA-256.  A viewer reads; an "
      "operator also\ncalls agents, publishes, writes state and answers "
      "approvals; an admin\nalso reloads, scales, restarts, stops and "
      "manages tokens.\n";

static int
token_list(struct ctl_opts *o)
{
	json_t *v, *it;
	size_t  k;
	char    when[32];
	int     rv;

	if ((rv = request(o, AD_KIND_CONTROL, AD_OP_TOKEN_LIST, NULL, 0, &v))
	    != EXIT_OK)
		return rv;
	if (o->json) {
		print_line(v);
		json_decref(v);
		return EXIT_OK;
	}
	printf("%-20s %-9s %-20s %-20s %s\n", "NAME", "ROLE", "CREATED (UTC)",
	    "LAST USED (UTC)", "BY");
	json_array_foreach(json_object_get(v, "tokens"), k, it)
	{
		char      used[32] = "-";
		time_t    t;
		struct tm tm;
		int64_t   u
		    = json_integer_value(json_object_get(it, "last_used_ms"));

		t = (time_t)(json_integer_value(
		                 json_object_get(it, "created_ms"))
		    / 1000);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (u > 0) {
			t = (time_t)(u / 1000);
			gmtime_r(&t, &tm);
			strftime(used, sizeof(used), "%Y-%m-%d %H:%M:%S", &tm);
		}
		printf("%-20s %-9s %-20s %-20s %s\n", str_of(it, "name"),
		    str_of(it, "role"), when, used, str_of(it, "by"));
	}
	json_decref(v);
	return EXIT_OK;
}

static int
cmd_token(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char    *role = NULL, *sub;
	agentd_writer *w;
	json_t        *v;
	int            c, rv, nargs = 0;

	if (want_help(argc, argv, token_help))
		return EXIT_OK;
	if (argc < 2) {
		fputs(token_help, stderr);
		return EXIT_USAGE;
	}
	sub = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_args(argc, argv, longopts, &nargs)) != -1) {
		if (c == 'r')
			role = optarg;
		else if (c == 'j')
			o->json = 1;
		else {
			fputs(token_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (strcmp(sub, "list") == 0 && nargs == 0)
		return token_list(o);
	if ((strcmp(sub, "create") != 0 && strcmp(sub, "revoke") != 0)
	    || nargs != 1 || (strcmp(sub, "create") == 0) != (role != NULL)) {
		fputs(token_help, stderr);
		return EXIT_USAGE;
	}
	agentd_writer_new(&w);
	agentd_write_map(w, role != NULL ? 2 : 1);
	agentd_write_str(w, "name");
	agentd_write_str(w, argv[1]);
	if (role != NULL) {
		agentd_write_str(w, "role");
		agentd_write_str(w, role);
	}
	rv = request(o, AD_KIND_CONTROL,
	    role != NULL ? AD_OP_TOKEN_CREATE : AD_OP_TOKEN_REVOKE, w, 0, &v);
	agentd_writer_free(w);
	if (rv != EXIT_OK)
		return rv;
	if (o->json)
		print_line(v);
	else if (role != NULL)
		printf("%s\n", str_of(v, "token"));
	else
		printf("token %s revoked\n", argv[1]);
	json_decref(v);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "run-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { NULL, 0, 30000 };
	int             c;

	o.run_dir = getenv("AGENTD_RUN_DIR");
	if (o.run_dir == NULL || o.run_dir[0] == '\0')
		o.run_dir = AGENTD_RUNDIR;
	/* "+": stop at the command; its own options follow it. */
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.run_dir = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'V':
			printf("agentctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "status") == 0)
		return cmd_status(&o, argc, argv);
	if (strcmp(argv[0], "call") == 0)
		return cmd_call(&o, argc, argv);
	if (strcmp(argv[0], "publish") == 0)
		return cmd_publish(&o, argc, argv);
	if (strcmp(argv[0], "tail") == 0)
		return cmd_tail(&o, argc, argv);
	if (strcmp(argv[0], "audit") == 0)
		return cmd_audit(&o, argc, argv);
	if (strcmp(argv[0], "state") == 0)
		return cmd_state(&o, argc, argv);
	if (strcmp(argv[0], "restart") == 0 || strcmp(argv[0], "stop") == 0
	    || strcmp(argv[0], "start") == 0 || strcmp(argv[0], "scale") == 0)
		return cmd_agent_op(&o, argc, argv);
	if (strcmp(argv[0], "reload") == 0 || strcmp(argv[0], "promote") == 0
	    || strcmp(argv[0], "rollback") == 0)
		return cmd_reload(&o, argc, argv);
	if (strcmp(argv[0], "versions") == 0)
		return cmd_versions(&o, argc, argv);
	if (strcmp(argv[0], "settings") == 0)
		return cmd_settings(&o, argc, argv);
	if (strcmp(argv[0], "approvals") == 0)
		return cmd_approvals(&o, argc, argv);
	if (strcmp(argv[0], "approve") == 0 || strcmp(argv[0], "reject") == 0
	    || strcmp(argv[0], "modify") == 0)
		return cmd_answer(&o, argc, argv);
	if (strcmp(argv[0], "decisions") == 0)
		return cmd_decisions(&o, argc, argv);
	if (strcmp(argv[0], "policy") == 0)
		return cmd_policy(&o, argc, argv);
	if (strcmp(argv[0], "token") == 0)
		return cmd_token(&o, argc, argv);
	if (strcmp(argv[0], "agents") == 0)
		return cmd_agents(&o, argc, argv);
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "agentctl: unknown command \"%s\"\n%s", argv[0],
	    commands_help);
	return EXIT_USAGE;
}
