#include "config.h"

#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "config/conf.h"
#include "config/options.h"
#include "policy/rules.h"

/* ---- the rows -------------------------------------------------------- */

/*
 * Where a row's value lands: the offset of FIELD in the struct ST that
 * the section's rows land in, checked at build time to be a TYPE (a
 * compound literal of TYPE * initialised with the field's address warns
 * otherwise; sizeof keeps it from being evaluated).
 */
#define LANDS(field, type)                                                    \
	(offsetof(ST, field) + 0 * sizeof((type *) { &((ST *)0)->field }))
/* An enum is stored as an int: its size is all that can be checked. */
#define INT_SIZED(x) (0 * sizeof(char[sizeof(x) == sizeof(int) ? 1 : -1]))
#define LANDS_ENUM(field) (offsetof(ST, field) + INT_SIZED(((ST *)0)->field))

/* The rows, one per option.  Optional fields (shown_def, limits) follow
 * doc as designated initialisers. */
#define COUNT(n_, def_, lo_, hi_, field, doc_, ...)                           \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_COUNT, .def = (def_),            \
		.lo = (lo_), .hi = (hi_), .at = LANDS(field, unsigned),       \
		.doc = (doc_), __VA_ARGS__                                    \
	}
#define BYTES(n_, def_, lo_, hi_, field, doc_, ...)                           \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_BYTES, .def = (def_),            \
		.lo = (lo_), .hi = (hi_), .at = LANDS(field, size_t),         \
		.doc = (doc_), __VA_ARGS__                                    \
	}
#define DURATION(n_, def_, lo_, field, doc_, ...)                             \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_DURATION, .def = (def_),         \
		.lo = (lo_), .at = LANDS(field, int64_t), .doc = (doc_),      \
		__VA_ARGS__                                                   \
	}
#define BOOL(n_, def_, field, doc_)                                           \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_BOOL, .def = (def_),             \
		.at = LANDS(field, int), .doc = (doc_)                        \
	}
#define ENUM(n_, def_, words_, field, doc_, ...)                              \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_ENUM, .def = (def_),             \
		.words = (words_), .at = LANDS_ENUM(field), .doc = (doc_),    \
		__VA_ARGS__                                                   \
	}
#define WORD(n_, def_, words_, parse_, field, doc_)                           \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_WORD, .def = (def_),             \
		.words = (words_), .parse = (parse_),                         \
		.at = LANDS(field, char *), .doc = (doc_)                     \
	}
/* A word its own parse() accepts (no list of words): type_ names it in
 * the page, hint_ ends the line refusing another ("is not HINT"). */
#define TEXT(n_, parse_, field, type_, hint_, doc_, ...)                      \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_WORD, .parse = (parse_),         \
		.word_type = (type_), .word_hint = (hint_),                   \
		.at = LANDS(field, char *), .doc = (doc_), __VA_ARGS__        \
	}
#define SECRET(n_, field, doc_, ...)                                          \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_SECRET,                          \
		.at = LANDS(field, char *), .doc = (doc_), __VA_ARGS__        \
	}
#define WEBHOOKS(n_, sub_, field, count, doc_, ...)                           \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_WEBHOOKS, .sub = (sub_),         \
		.at       = LANDS(field, struct ad_webhook_conf *),           \
		.count_at = LANDS(count, size_t), .doc = (doc_), __VA_ARGS__  \
	}
#define SCHEDULES(n_, sub_, field, count, doc_, ...)                          \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_SCHEDULES, .sub = (sub_),        \
		.at       = LANDS(field, struct ad_schedule_conf *),          \
		.count_at = LANDS(count, size_t), .doc = (doc_), __VA_ARGS__  \
	}
#define PATH(n_, field, shown_, doc_)                                         \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_PATH,                            \
		.at = LANDS(field, char *), .shown_def = (shown_),            \
		.doc = (doc_)                                                 \
	}
#define PLUGIN(n_, field, doc_)                                               \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_PLUGIN,                          \
		.at = LANDS(field, char *), .shown_def = "none: required",    \
		.doc = (doc_)                                                 \
	}
#define LIST(n_, kind_, field, count, doc_, ...)                              \
	{                                                                     \
		.name = (n_), .kind = (kind_), .at = LANDS(field, char **),   \
		.count_at = LANDS(count, size_t), .doc = (doc_), __VA_ARGS__  \
	}
#define USER(n_, field, shown_, doc_)                                         \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_USER,                            \
		.at = LANDS(field, char *), .shown_def = (shown_),            \
		.doc = (doc_)                                                 \
	}
#define SECTION(n_, sub_)                                                     \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_SECTION, .sub = (sub_)           \
	}
/* A number that may be left unset (NAN); 0 or more. */
#define NUMBER(n_, field, doc_, ...)                                          \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_NUMBER,                          \
		.at = LANDS(field, double), .shown_def = "none",              \
		.doc = (doc_), __VA_ARGS__                                    \
	}
#define POLICY(n_, field, sub_, doc_)                                         \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_POLICY,                          \
		.at = LANDS(field, struct ad_policy *), .sub = (sub_),        \
		.shown_def = "agentd's", .doc = (doc_)                        \
	}
#define RULES(n_, sub_, doc_, ...)                                            \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_RULES, .sub = (sub_),            \
		.doc = (doc_), __VA_ARGS__                                    \
	}
/* The row records in this int whether its option is written. */
#define SET(field) .set_at = LANDS(field, int)
#define SETTINGS(n_, doc_)                                                    \
	{                                                                     \
		.name = (n_), .kind = AD_OPT_SETTINGS, .doc = (doc_)          \
	}
#define END                                                                   \
	{                                                                     \
		.name = NULL                                                  \
	}

#define POSITIVE 1 /* a duration longer than 0 */

static int
topic_word(const char *s)
{
	return ad_valid_topic(s) ? 0 : -1;
}

/* In the order of enum ad_webhook_encoding. */
static const char *const encodings[] = { "base64", "hex", NULL };

#define ST struct ad_webhook_conf

const struct ad_opt ad_webhook_opts[] = {
	TEXT("path", ad_webhook_path_word, path, "path",
	    "a path under /hooks/: write one such as /hooks/shop/orders "
	    "(letters, digits, '.', '_', '~' and '-' between the slashes, no "
	    "\".\" or \"..\")",
	    "where the platform POSTs: `/hooks/` and at least one segment "
	    "more, unique among the webhooks",
	    .shown_def = "none: required"),
	TEXT("topic", topic_word, topic, "topic",
	    "a topic: use 1 to 255 letters, digits, '_', '.' or '-'",
	    "the topic its events are published on: the only one it may "
	    "publish on",
	    .shown_def = "none: required"),
	SECRET("secret_file", secret_file,
	    "the file holding the shared secret the platform signs with, on "
	    "one line (keep it mode 0600), read when agentd starts",
	    .shown_def = "none: required"),
	TEXT("signature_header", ad_header_word, signature_header,
	    "header name",
	    "a header name: use letters, digits and '-', as "
	    "X-Shopify-Hmac-Sha256",
	    "the header holding the HMAC-SHA256 of the body "
	    "(`X-Shopify-Hmac-Sha256`, `X-Hub-Signature-256`)",
	    .shown_def = "none: required"),
	ENUM("encoding", "base64", encodings, encoding,
	    "how the header writes the HMAC's 32 bytes (a leading `sha256=` "
	    "is allowed)"),
	TEXT("id_header", ad_header_word, id_header, "header name",
	    "a header name: use letters, digits and '-', as "
	    "X-Shopify-Webhook-Id",
	    "the header naming each delivery (`X-Shopify-Webhook-Id`): an id "
	    "seen within `replay_window` is refused; unset: no check",
	    .shown_def = "none"),
	DURATION("replay_window", "10m", POSITIVE, replay_window_ms,
	    "how long a delivery's id is remembered"),
	END,
};

#undef ST
#define ST struct ad_global_conf

const struct ad_opt ad_http_opts[] = {
	TEXT("listen", ad_listen_word, http_listen, "address",
	    "an address: write HOST:PORT, as 127.0.0.1:8470 or [::1]:8470",
	    "`HOST:PORT` to serve the HTTP API on (`[ADDR]:PORT` for IPv6; "
	    "port 0: any free one, written to `RUN_DIR/http.addr`); unset: "
	    "no HTTP server. Anything but a loopback address needs "
	    "`cert_file` and `key_file`, or `insecure = true` "
	    "([http.md](http.md))"),
	PATH("cert_file", http_cert_file, "none",
	    "the TLS certificate chain (PEM); with `key_file`, agentd speaks "
	    "HTTPS"),
	PATH("key_file", http_key_file, "none", "the TLS private key (PEM)"),
	BOOL("insecure", "false", http_insecure,
	    "allow plain HTTP on an address other than loopback (behind a "
	    "proxy that does TLS)"),
	COUNT("max_connections", "1024", 1, 65536, http_max_connections,
	    "connections open at once; one more is closed as it is accepted"),
	DURATION("timeout", "30s", POSITIVE, http_timeout_ms,
	    "a connection idle this long is closed (a slow client cannot "
	    "hold a slot)"),
	DURATION("call_timeout", "30s", POSITIVE, http_call_timeout_ms,
	    "the deadline of a call through HTTP unless it asks for a "
	    "shorter one (`?timeout_ms=`)"),
	BOOL("metrics_public", "false", http_metrics_public,
	    "serve `/metrics` and `/healthz` without a token"),
	WEBHOOKS("webhook", ad_webhook_opts, http_webhooks, http_nwebhooks,
	    "a webhook, by name ([below](#webhook-name--))",
	    .limits = "names and paths unique"),
	END,
};

const struct ad_opt ad_log_opts[] = {
	TEXT("target", ad_log_target_word, log_target, "target",
	    "stderr, syslog or an absolute path: write one of them, such as "
	    "\"/var/log/agentd.log\" (in quotes)",
	    "where agentd and its workers log: `stderr` (the journal under "
	    "systemd), `syslog` (syslog(3), facility daemon, each level as "
	    "its priority) or `\"FILE\"`, an absolute path, appended to and "
	    "opened again on SIGHUP (for logrotate). Read at start "
	    "([operations.md](operations.md#logging-without-systemd))",
	    .def = "stderr"),
	END,
};

/* A group of this system (control { group }). */
static int
group_word(const char *s)
{
	return getgrnam(s) != NULL ? 0 : -1;
}

const struct ad_opt ad_control_opts[] = {
	TEXT("group", group_word, control_group, "group",
	    "a group of this system: create it (addgroup --system NAME) or "
	    "name another",
	    "the group whose members may use `control.sock` and `tail.sock` "
	    "as agentd's user may (full control): the sockets become mode "
	    "0660 with this group; unset: 0600, root and agentd's user only. "
	    "Read at start ([security.md](security.md#the-control-group))",
	    .shown_def = "none"),
	END,
};

static const char *const log_levels[]
    = { "error", "warn", "info", "debug", NULL };

const struct ad_opt ad_global_opts[] = {
	PATH("state_dir", state_dir,
	    "`LOCALSTATEDIR/lib/agentd` (`/usr/local/var/lib/agentd`)",
	    "the LMDB environment lives in `state_dir/db` "
	    "([state.md](state.md))"),
	PATH("run_dir", run_dir,
	    "`RUNSTATEDIR/agentd` (`/usr/local/var/run/agentd`)",
	    "the sockets ([protocol.md](protocol.md#sockets))"),
	PATH("plugin_dir", plugin_dir,
	    "`LIBDIR/agentd/plugins` (`/usr/local/lib/agentd/plugins`)",
	    "where a bare plugin name is found"),
	WORD("log_level", "info", log_levels, ad_log_parse_level, log_level,
	    "the least severe message logged (`warning` is `warn`)"),
	BYTES("max_message_size", "1048576", 1024, 1L << 30, max_message_size,
	    "the largest message on any socket, in bytes: 1 MiB by default, "
	    "1 GiB at most ([protocol.md](protocol.md#message-size))"),
	DURATION("audit_retention", "0", 0, audit_retention_ms,
	    "audit records older than this move to archive files; `0` keeps "
	    "them all ([state.md](state.md#retention-and-archive-files))"),
	PATH("audit_archive_dir", audit_archive_dir, "`STATE_DIR/archive`",
	    "where archive files go"),
	COUNT("audit_seal_records", "1000", 0, UINT_MAX, audit_seal_records,
	    "a signed seal once this many audit records are unsealed; `0`: "
	    "not by count ([state.md](state.md#sealing-decided))"),
	DURATION("audit_seal_interval", "60s", 0, audit_seal_interval_ms,
	    "a seal once the oldest unsealed record is this old; `0`: not by "
	    "time"),
	BOOL("watch", "false", watch,
	    "reload by itself when a `.conf` or a plugin file changes "
	    "([reload.md](reload.md#watching-the-files-watch--true))"),
	DURATION("watch_delay", "500ms", 0, watch_delay_ms,
	    "with `watch`, reload once nothing changed for this long"),
	USER("plugin_user", plugin_user,
	    "`agentd-plugin` if agentd may switch users, else none",
	    "the user workers run as, unless the agent names its own "
	    "([security.md](security.md#identity))"),
	SECTION("http", ad_http_opts),
	SECTION("log", ad_log_opts),
	SECTION("control", ad_control_opts),
	END,
};

#undef ST
#define ST struct ad_agent_conf

static const struct ad_opt instances_opts[] = {
	COUNT("min", "1", 0, UINT_MAX, min_instances,
	    "instances started; the autoscaler keeps at least this many"),
	COUNT("max", NULL, 1, UINT_MAX, max_instances,
	    "the most instances the autoscaler starts",
	    .shown_def = "max(`min`, 1)", .limits = "at least `min`"),
	COUNT("target_inflight", "4", 1, UINT_MAX, target_inflight,
	    "requests in flight or queued per instance the autoscaler aims "
	    "at"),
	COUNT("concurrency", "1", 1, UINT_MAX, concurrency,
	    "requests one instance holds at a time"),
	DURATION("upscale_delay", "2s", 0, upscale_delay_ms,
	    "how long the load stays above the target before instances are "
	    "added"),
	DURATION("downscale_delay", "30s", 0, downscale_delay_ms,
	    "how long the load stays below the target before instances are "
	    "removed"),
	END,
};

/* In the order of enum ad_restart_policy. */
static const char *const restart_policies[]
    = { "permanent", "transient", "temporary", NULL };

static const struct ad_opt restart_opts[] = {
	ENUM("policy", "permanent", restart_policies, restart_policy,
	    "which exits start a new instance"),
	COUNT("intensity", "5", 0, UINT_MAX, restart_intensity,
	    "restarts within `period` past which the agent is marked failed"),
	DURATION("period", "10s", POSITIVE, restart_period_ms,
	    "the window `intensity` counts restarts in"),
	DURATION("stable_after", "10s", 0, stable_after_ms,
	    "ready this long, an instance's next restart waits "
	    "`backoff_initial` again"),
	DURATION("backoff_initial", "100ms", 0, backoff_initial_ms,
	    "the wait before the first restart in a row",
	    .limits = "at most `backoff_max`"),
	DURATION("backoff_max", "30s", 0, backoff_max_ms,
	    "the longest wait before a restart (before jitter)"),
	END,
};

static const struct ad_opt paths_opts[] = {
	LIST("read", AD_OPT_PATHS, read_paths, nread_paths,
	    "files and directories its workers may read "
	    "([security.md](security.md#files))"),
	LIST("write", AD_OPT_PATHS, write_paths, nwrite_paths,
	    "files and directories its workers may read, write, create "
	    "and remove in"),
	LIST("exec", AD_OPT_PATHS, exec_paths, nexec_paths,
	    "programs its workers may run (absolute paths of files; "
	    "[exec.md](exec.md), "
	    "[security.md](security.md#running-programs))"),
	END,
};

/* http { }: outbound HTTP of its workers (host->http_async). */
static const struct ad_opt outbound_opts[] = {
	LIST("allow", AD_OPT_HOSTS, http_allow, nhttp_allow,
	    "the hosts `http_async` may reach: `api.example.com`, "
	    "`*.myshopify.com` (every name below it), `127.0.0.1`, `[::1]`; "
	    "empty: none, and no network at all "
	    "([plugin-guide.md](plugin-guide.md#21-outbound-http))"),
	COUNT("max_concurrent", "256", 1, 65536, http_max_concurrent,
	    "requests one instance may have outstanding; one more is "
	    "`EBUSY`"),
	BYTES("max_response", "1048576", 1, 1L << 30, http_max_response,
	    "the largest answer body, in bytes; a larger one is stopped "
	    "and `ETOOBIG`"),
	DURATION("timeout", "30s", POSITIVE, http_timeout_ms,
	    "an attempt's timeout unless the request asks for a shorter "
	    "one; the longest it may ask"),
	PATH("ca_file", http_ca_file, "none",
	    "PEM certificates trusted besides the system's CAs (a private "
	    "CA)"),
	END,
};

static const struct ad_opt health_opts[] = {
	DURATION("heartbeat", "1s", POSITIVE, heartbeat_ms,
	    "a worker reports this often"),
	DURATION("hung_after", "30s", POSITIVE, hung_after_ms,
	    "silent, or in one callback, this long: the instance is hung",
	    .limits = "at least two heartbeats"),
	DURATION("init_timeout", "30s", POSITIVE, init_timeout_ms,
	    "from spawn to the end of the plugin's init at most"),
	DURATION("drain_timeout", "30s", 0, drain_timeout_ms,
	    "a stopping instance finishes what it holds within this"),
	DURATION(
	    "stop_grace", "5s", 0, stop_grace_ms, "from SIGTERM to SIGKILL"),
	DURATION("probation", "5s", 0, probation_ms,
	    "a reloaded generation that fails this soon is rolled back"),
	END,
};

#undef ST
#define ST struct ad_schedule_conf

/* In the order of enum ad_schedule_missed. */
static const char *const missed_words[] = { "skip", "run", NULL };

const struct ad_opt ad_schedule_opts[] = {
	DURATION("every", NULL, POSITIVE, every_ms,
	    "a run this often, from when agentd starts (then on the grid of "
	    "the last run)",
	    .shown_def = "none", .limits = "`every` or `cron`, not both"),
	TEXT("cron", ad_cron_word, cron, "cron expression",
	    "a cron expression: five fields, minute hour day-of-month month "
	    "day-of-week, as \"0 3 * * *\"",
	    "a run at the times it matches: `\"minute hour day-of-month "
	    "month day-of-week\"` as cron(8) reads it, or `@daily`, "
	    "`@hourly` ...",
	    .shown_def = "none"),
	TEXT("timezone", ad_zone_word, timezone, "zone",
	    "a zone of the tz database, such as \"Europe/Berlin\"",
	    "the zone `cron` is read in: `\"Europe/Berlin\"`, `\"UTC\"`",
	    .shown_def = "the machine's", .limits = "`cron` only"),
	ENUM("missed", "skip", missed_words, missed,
	    "runs that came due while agentd was down, or the clock jumped "
	    "past them: `run` once at once, or `skip` them"),
	TEXT("body", ad_schedule_body_word, body, "JSON object",
	    "a JSON object, as \"{\\\"full\\\": true}\", without the keys "
	    "schedule, due and missed",
	    "keys added to each run's event, beside `schedule`, `due` and "
	    "`missed`",
	    .shown_def = "none"),
	END,
};

#undef ST
#define ST struct ad_agent_conf

const struct ad_opt ad_agent_opts[] = {
	PLUGIN("plugin", plugin,
	    "the plugin's file "
	    "([where it is found](#the-plugin-and-where-it-is-found))"),
	SECTION("instances", instances_opts),
	SECTION("restart", restart_opts),
	SECTION("health", health_opts),
	DURATION("request_timeout", "30s", POSITIVE, request_timeout_ms,
	    "the longest a request may take, time in the queue included"),
	COUNT("queue_max", "1024", 1, UINT_MAX, queue_max,
	    "requests that may wait for a free instance"),
	LIST("subscribe", AD_OPT_TOPICS, subscribe, nsubscribe,
	    "the topics whose events it receives"),
	LIST("publish", AD_OPT_TOPICS, publish, npublish,
	    "the topics it may publish on"),
	LIST("calls", AD_OPT_NAMES, calls, ncalls, "the agents it may call"),
	LIST("capabilities", AD_OPT_CAPS, capabilities, ncapabilities,
	    "what it can do (`\"pricing\"`), besides what its plugin "
	    "declares: other agents find it by them "
	    "([plugin-guide.md](plugin-guide.md#27-capabilities-and-discovery)"
	    ")",
	    .limits = "at most 32 with the plugin's"),
	USER("user", user, "`plugin_user`",
	    "the user its workers run as "
	    "([security.md](security.md#identity))"),
	BOOL("network", "false", network,
	    "its workers may open Internet sockets (AF_INET, AF_INET6) "
	    "([security.md](security.md#system-calls))"),
	SECTION("paths", paths_opts),
	SECTION("http", outbound_opts),
	POLICY("policy", policy, ad_policy_opts,
	    "its own policy: its rules are tried before agentd's, the "
	    "options it writes override agentd's ([below](#policy-))"),
	SETTINGS("settings", "the plugin's own ([below](#settings-))"),
	SCHEDULES("schedule", ad_schedule_opts, schedules, nschedules,
	    "a schedule, by name: an event to this agent at its times "
	    "([below](#schedule-name--))",
	    .limits = "names unique in the agent"),
	END,
};

#undef ST

/* In the order of enum ad_risk and enum ad_at_deadline. */
static const char *const risks[]        = { "low", "medium", "high", NULL };
static const char *const at_deadlines[] = { "reject", "approve", NULL };

/* Nothing has a default here: what a rule does not write, its policy
 * (or agentd's) decides, and the rule's bounds are unset (NAN). */
#define ST struct ad_policy_rule

const struct ad_opt ad_rule_opts[] = {
	LIST("type", AD_OPT_TOPICS, types, ntypes,
	    "the proposal types it covers, each with every type below it "
	    "(`price` covers `price.change`); `*`: all",
	    .shown_def = "any type"),
	NUMBER("amount_at_least", amount_min,
	    "it matches an amount of at least this"),
	NUMBER("amount_below", amount_max, "it matches an amount below this",
	    .limits = "more than `amount_at_least`"),
	NUMBER("confidence_at_least", confidence_min,
	    "it matches a confidence of at least this"),
	NUMBER("confidence_below", confidence_max,
	    "it matches a confidence below this",
	    .limits = "more than `confidence_at_least`"),
	ENUM("risk", NULL, risks, risk, "the risk of what it matches",
	    .shown_def = "none: required"),
	DURATION("deadline", NULL, POSITIVE, deadline_ms,
	    "`high`: how long a person has to decide",
	    .shown_def = "the policy's `deadline`",
	    .limits    = "within `deadline_min` and `deadline_max`"),
	ENUM("at_deadline", NULL, at_deadlines, at_deadline,
	    "`high`: what a decision still pending at its deadline becomes",
	    .shown_def = "the policy's `at_deadline`", SET(at_deadline_set)),
	END,
};

#undef ST

/*
 * The defaults are agentd's policy's (an agent's policy takes what it
 * does not write from agentd's: conf.c gives libconfuse no default
 * here, so that the *_set flags say what is written).
 */
#define ST struct ad_policy

const struct ad_opt ad_policy_opts[] = {
	ENUM("default_risk", "high", risks, default_risk,
	    "the risk of a proposal no rule matches", SET(default_risk_set)),
	DURATION("deadline", "24h", POSITIVE, deadline_ms,
	    "how long a person has to decide a `high` proposal whose rule "
	    "sets no deadline",
	    SET(deadline_set),
	    .limits = "within `deadline_min` and `deadline_max`"),
	ENUM("at_deadline", "reject", at_deadlines, at_deadline,
	    "what a `high` decision still pending at its deadline becomes: "
	    "`reject` (it expires) or `approve`",
	    SET(at_deadline_set)),
	COUNT("max_pending", "1000", 1, UINT_MAX, max_pending,
	    "`high` decisions of one agent that may wait at once"),
	DURATION("deadline_min", "1m", POSITIVE, deadline_min_ms,
	    "the shortest deadline a policy may write", .agentd_only = 1,
	    .limits = "agentd's policy only"),
	DURATION("deadline_max", "30d", POSITIVE, deadline_max_ms,
	    "the longest deadline a policy may write", .agentd_only = 1,
	    .limits = "agentd's policy only, at least `deadline_min`"),
	RULES("rule", ad_rule_opts,
	    "a rule, by name; the first that matches decides",
	    .limits = "names unique in the section, not `default`"),
	END,
};

#undef ST

/* ---- what the rows land in ------------------------------------------- */

/* An ENUM is written through an int: the enum's compatible type is int
 * or unsigned int, either of which may alias it; LANDS_ENUM checked its
 * size. */
#define FIELD AD_OPT_FIELD
#define COUNT_OF AD_OPT_COUNT_FIELD
#define CFIELD(base, o, type) ((const type *)((const char *)(base) + (o)->at))
#define CCOUNT_OF(base, o)                                                    \
	((const size_t *)((const char *)(base) + (o)->count_at))

int
ad_opt_word(const struct ad_opt *o, const char *s)
{
	int i;

	if (o->parse != NULL)
		return o->parse(s);
	for (i = 0; o->words[i] != NULL; i++)
		if (strcmp(o->words[i], s) == 0)
			return i;
	return -1;
}

void
ad_opts_defaults(const struct ad_opt *rows, void *base)
{
	const struct ad_opt *o;
	int64_t              ms = 0;

	for (o = rows; o->name != NULL; o++) {
		switch (o->kind) {
		case AD_OPT_COUNT:
			if (o->def != NULL)
				*FIELD(base, o, unsigned)
				    = (unsigned)strtoul(o->def, NULL, 10);
			break;
		case AD_OPT_BYTES:
			*FIELD(base, o, size_t) = strtoul(o->def, NULL, 10);
			break;
		case AD_OPT_DURATION:
			ms = 0;
			if (o->def != NULL)
				ad_parse_duration(o->def, &ms);
			*FIELD(base, o, int64_t) = ms;
			break;
		case AD_OPT_BOOL:
			*FIELD(base, o, int) = strcmp(o->def, "true") == 0;
			break;
		case AD_OPT_ENUM:
			if (o->def != NULL)
				*FIELD(base, o, int) = ad_opt_word(o, o->def);
			break;
		case AD_OPT_NUMBER:
			*FIELD(base, o, double) = NAN;
			break;
		case AD_OPT_POLICY:
			*FIELD(base, o, struct ad_policy *) = NULL;
			break;
		case AD_OPT_WORD:
		case AD_OPT_PATH:
		case AD_OPT_PLUGIN:
		case AD_OPT_USER:
		case AD_OPT_SECRET:
			*FIELD(base, o, char *) = ad_xstrdup_or_null(o->def);
			break;
		case AD_OPT_TOPICS:
		case AD_OPT_NAMES:
		case AD_OPT_PATHS:
		case AD_OPT_HOSTS:
		case AD_OPT_CAPS:
			*FIELD(base, o, char **) = NULL;
			*COUNT_OF(base, o)       = 0;
			break;
		case AD_OPT_WEBHOOKS:
			*FIELD(base, o, struct ad_webhook_conf *) = NULL;
			*COUNT_OF(base, o)                        = 0;
			break;
		case AD_OPT_SCHEDULES:
			*FIELD(base, o, struct ad_schedule_conf *) = NULL;
			*COUNT_OF(base, o)                         = 0;
			break;
		case AD_OPT_SECTION:
			ad_opts_defaults(o->sub, base);
			break;
		case AD_OPT_SETTINGS:
		case AD_OPT_RULES:
		case AD_OPT_END:
			break;
		}
	}
}

/* AD_OPT_SCHEDULES: free, copy, compare (file order counts). */
static void
schedules_free(const struct ad_opt *o, void *base)
{
	struct ad_schedule_conf *v
	    = *FIELD(base, o, struct ad_schedule_conf *);
	size_t i;

	for (i = 0; i < *COUNT_OF(base, o); i++) {
		free(v[i].name);
		ad_opts_free(o->sub, &v[i]);
	}
	free(v);
	*FIELD(base, o, struct ad_schedule_conf *) = NULL;
	*COUNT_OF(base, o)                         = 0;
}

static void
schedules_dup(const struct ad_opt *o, void *dst, const void *src)
{
	size_t                         i, n = *CCOUNT_OF(src, o);
	const struct ad_schedule_conf *from
	    = *CFIELD(src, o, struct ad_schedule_conf *);
	struct ad_schedule_conf *v = ad_xcalloc(n, sizeof(*v));

	for (i = 0; i < n; i++) {
		v[i]      = from[i];
		v[i].name = ad_xstrdup(from[i].name);
		ad_opts_dup(o->sub, &v[i], &from[i]);
	}
	*FIELD(dst, o, struct ad_schedule_conf *) = v;
	*COUNT_OF(dst, o)                         = n;
}

static int
schedules_same(const struct ad_opt *o, const void *a, const void *b)
{
	const struct ad_schedule_conf *x
	    = *CFIELD(a, o, struct ad_schedule_conf *);
	const struct ad_schedule_conf *y
	    = *CFIELD(b, o, struct ad_schedule_conf *);
	size_t i, n = *CCOUNT_OF(a, o);

	if (n != *CCOUNT_OF(b, o))
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(x[i].name, y[i].name) != 0
		    || !ad_opts_same(o->sub, &x[i], &y[i]))
			return 0;
	return 1;
}

void
ad_opts_free(const struct ad_opt *rows, void *base)
{
	const struct ad_opt    *o;
	struct ad_webhook_conf *hooks;
	size_t                  i;

	for (o = rows; o->name != NULL; o++) {
		switch (o->kind) {
		case AD_OPT_SCHEDULES:
			schedules_free(o, base);
			break;
		case AD_OPT_WEBHOOKS:
			hooks = *FIELD(base, o, struct ad_webhook_conf *);
			for (i = 0; i < *COUNT_OF(base, o); i++) {
				free(hooks[i].name);
				ad_opts_free(o->sub, &hooks[i]);
			}
			free(hooks);
			*FIELD(base, o, struct ad_webhook_conf *) = NULL;
			*COUNT_OF(base, o)                        = 0;
			break;
		case AD_OPT_WORD:
		case AD_OPT_PATH:
		case AD_OPT_PLUGIN:
		case AD_OPT_USER:
		case AD_OPT_SECRET:
			free(*FIELD(base, o, char *));
			*FIELD(base, o, char *) = NULL;
			break;
		case AD_OPT_TOPICS:
		case AD_OPT_NAMES:
		case AD_OPT_PATHS:
		case AD_OPT_HOSTS:
		case AD_OPT_CAPS:
			for (i = 0; i < *COUNT_OF(base, o); i++)
				free((*FIELD(base, o, char **))[i]);
			free(*FIELD(base, o, char **));
			*FIELD(base, o, char **) = NULL;
			*COUNT_OF(base, o)       = 0;
			break;
		case AD_OPT_SECTION:
			ad_opts_free(o->sub, base);
			break;
		case AD_OPT_POLICY:
			ad_policy_clear(*FIELD(base, o, struct ad_policy *));
			free(*FIELD(base, o, struct ad_policy *));
			*FIELD(base, o, struct ad_policy *) = NULL;
			break;
		default:
			break;
		}
	}
}

void
ad_opts_dup(const struct ad_opt *rows, void *dst, const void *src)
{
	const struct ad_opt          *o;
	const struct ad_policy       *p;
	struct ad_policy             *copy;
	const struct ad_webhook_conf *from;
	struct ad_webhook_conf       *hooks;
	size_t                        i, n;
	char                        **v;

	for (o = rows; o->name != NULL; o++) {
		switch (o->kind) {
		case AD_OPT_SCHEDULES:
			schedules_dup(o, dst, src);
			break;
		case AD_OPT_WEBHOOKS:
			n     = *CCOUNT_OF(src, o);
			from  = *CFIELD(src, o, struct ad_webhook_conf *);
			hooks = ad_xcalloc(n, sizeof(*hooks));
			for (i = 0; i < n; i++) {
				hooks[i]      = from[i];
				hooks[i].name = ad_xstrdup(from[i].name);
				ad_opts_dup(o->sub, &hooks[i], &from[i]);
			}
			*FIELD(dst, o, struct ad_webhook_conf *) = hooks;
			*COUNT_OF(dst, o)                        = n;
			break;
		case AD_OPT_WORD:
		case AD_OPT_PATH:
		case AD_OPT_PLUGIN:
		case AD_OPT_USER:
		case AD_OPT_SECRET:
			*FIELD(dst, o, char *)
			    = ad_xstrdup_or_null(*CFIELD(src, o, char *));
			break;
		case AD_OPT_TOPICS:
		case AD_OPT_NAMES:
		case AD_OPT_PATHS:
		case AD_OPT_HOSTS:
		case AD_OPT_CAPS:
			n = *CCOUNT_OF(src, o);
			v = ad_xcalloc(n, sizeof(*v));
			for (i = 0; i < n; i++)
				v[i] = ad_xstrdup(
				    (*CFIELD(src, o, char **))[i]);
			*FIELD(dst, o, char **) = v;
			*COUNT_OF(dst, o)       = n;
			break;
		case AD_OPT_SECTION:
			ad_opts_dup(o->sub, dst, src);
			break;
		case AD_OPT_POLICY:
			p    = *CFIELD(src, o, struct ad_policy *);
			copy = NULL;
			if (p != NULL) {
				copy = ad_xcalloc(1, sizeof(*copy));
				ad_policy_copy(copy, p);
			}
			*FIELD(dst, o, struct ad_policy *) = copy;
			break;
		default:
			break;
		}
	}
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_webhooks(const struct ad_opt *o, const void *a, const void *b);

static int
same_one(const struct ad_opt *o, const void *a, const void *b)
{
	size_t i, n;

	switch (o->kind) {
	case AD_OPT_COUNT:
		return *CFIELD(a, o, unsigned) == *CFIELD(b, o, unsigned);
	case AD_OPT_BYTES:
		return *CFIELD(a, o, size_t) == *CFIELD(b, o, size_t);
	case AD_OPT_DURATION:
		return *CFIELD(a, o, int64_t) == *CFIELD(b, o, int64_t);
	case AD_OPT_BOOL:
	case AD_OPT_ENUM:
		return *CFIELD(a, o, int) == *CFIELD(b, o, int);
	case AD_OPT_WORD:
	case AD_OPT_PATH:
	case AD_OPT_USER:
	case AD_OPT_SECRET:
		return same_str(*CFIELD(a, o, char *), *CFIELD(b, o, char *));
	case AD_OPT_WEBHOOKS:
		return same_webhooks(o, a, b);
	case AD_OPT_SCHEDULES:
		return schedules_same(o, a, b);
	case AD_OPT_TOPICS:
	case AD_OPT_NAMES:
	case AD_OPT_PATHS:
	case AD_OPT_HOSTS:
	case AD_OPT_CAPS:
		n = *CCOUNT_OF(a, o);
		if (n != *CCOUNT_OF(b, o))
			return 0;
		for (i = 0; i < n; i++)
			if (!same_str((*CFIELD(a, o, char **))[i],
			        (*CFIELD(b, o, char **))[i]))
				return 0;
		return 1;
	case AD_OPT_SECTION:
		return ad_opts_same(o->sub, a, b);
	case AD_OPT_NUMBER:
		/* Unset (NAN) is the same as unset. */
		return (isnan(*CFIELD(a, o, double))
		           && isnan(*CFIELD(b, o, double)))
		    || *CFIELD(a, o, double) == *CFIELD(b, o, double);
	case AD_OPT_POLICY:
		return ad_policy_same(*CFIELD(a, o, struct ad_policy *),
		    *CFIELD(b, o, struct ad_policy *));
	default:
		/* PLUGIN: its resolved path counts; SETTINGS: conf.c. */
		return 1;
	}
}

/* The same webhooks in the same order (where they are written aside). */
static int
same_webhooks(const struct ad_opt *o, const void *a, const void *b)
{
	const struct ad_webhook_conf *x
	    = *CFIELD(a, o, struct ad_webhook_conf *);
	const struct ad_webhook_conf *y
	    = *CFIELD(b, o, struct ad_webhook_conf *);
	size_t i, n = *CCOUNT_OF(a, o);

	if (n != *CCOUNT_OF(b, o))
		return 0;
	for (i = 0; i < n; i++)
		if (!same_str(x[i].name, y[i].name)
		    || !ad_opts_same(o->sub, &x[i], &y[i]))
			return 0;
	return 1;
}

int
ad_opts_same(const struct ad_opt *rows, const void *a, const void *b)
{
	const struct ad_opt *o;

	for (o = rows; o->name != NULL; o++)
		if (!same_one(o, a, b))
			return 0;
	return 1;
}

/* ---- words, for messages and the documentation ----------------------- */

void
ad_opt_words(const struct ad_opt *o, const char *quote, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; o->words != NULL && o->words[i] != NULL && n < len; i++) {
		const char *sep = i == 0      ? ""
		    : o->words[i + 1] == NULL ? " or "
		                              : ", ";

		n += (size_t)snprintf(buf + n, len - n, "%s%s%s%s", sep, quote,
		    o->words[i], quote);
	}
}
