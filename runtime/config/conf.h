/*
 * conf.h - the one place that turns configuration files into runtime
 * objects.
 *
 * Every *.conf in the configuration directory is read, then every *.conf
 * in its conf.d/ subdirectory if there is one, each set in name order.  At
 * most one file holds the global `agentd { }` section, and at most one a
 * `policy { }` at its top level (agentd's policy: doc/policy.md).  Each
 * `agent "NAME" { }` section describes one agent (with its own policy { }
 * if it has one); its `settings { }` are checked against the schema its
 * plugin declares.  Any error is one line naming the file
 * and line, and nothing of a refused configuration is used.
 */
#ifndef AD_CONF_H
#define AD_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "plugin/describe.h"
#include "policy/rules.h"
#include "sdk/contract.h" /* struct ad_setting_value */

enum ad_restart_policy {
	AD_RESTART_PERMANENT = 0, /* always restart */
	AD_RESTART_TRANSIENT,     /* restart only after an abnormal exit */
	AD_RESTART_TEMPORARY,     /* never restart */
};

struct ad_agent_conf {
	char *name;
	char *file; /* the .conf that defines it */
	int   line; /* line of its `agent` section */

	/*
	 * From here on, what the options of the agent's section hold (but
	 * plugin_path and settings).  Their names in a file, defaults and
	 * bounds are in the rows of config/options.c, which also free, copy
	 * and compare these fields.
	 */
	char *plugin;      /* as written */
	char *plugin_path; /* resolved: absolute, or relative to the cwd */

	/* instances { } */
	unsigned min_instances;
	unsigned max_instances;
	unsigned target_inflight;
	unsigned concurrency; /* requests one instance holds */
	int64_t  upscale_delay_ms;
	int64_t  downscale_delay_ms;

	/* restart { } */
	enum ad_restart_policy restart_policy;
	unsigned               restart_intensity;
	int64_t                restart_period_ms;
	int64_t                stable_after_ms;
	int64_t                backoff_initial_ms;
	int64_t                backoff_max_ms;

	/* health { } */
	int64_t heartbeat_ms;     /* a worker reports this often */
	int64_t hung_after_ms;    /* silent or stuck this long: hung */
	int64_t init_timeout_ms;  /* spawn to ready at most */
	int64_t drain_timeout_ms; /* a stopping instance finishes */
	int64_t stop_grace_ms;    /* SIGTERM to SIGKILL */
	/* a reloaded generation that fails this soon is rolled back */
	int64_t probation_ms;

	int64_t  request_timeout_ms;
	unsigned queue_max;

	char **subscribe; /* topic prefixes */
	size_t nsubscribe;
	char **publish;
	size_t npublish;
	char **calls; /* agent names it may call */
	size_t ncalls;
	/* capabilities = { } and its plugin's .capabilities, sorted,
	 * unique, at most AGENTD_CAPABILITIES_MAX (with a lookup; without
	 * one, those written alone) */
	char **capabilities;
	size_t ncapabilities;

	/* Its workers' identity and sandbox (doc/security.md). */
	char  *user;       /* NULL: agentd { plugin_user } */
	int    network;    /* may open AF_INET and AF_INET6 sockets */
	char **read_paths; /* paths { read }, absolute or cwd-relative */
	size_t nread_paths;
	char **write_paths; /* paths { write } */
	size_t nwrite_paths;
	char **exec_paths; /* paths { exec }: programs its workers may run */
	size_t nexec_paths;

	/* http { }: outbound HTTP (worker/http.h); no allow: none */
	char   **http_allow; /* host patterns (sdk/http_rules.h) */
	size_t   nhttp_allow;
	unsigned http_max_concurrent;
	size_t   http_max_response;
	int64_t  http_timeout_ms;
	char    *http_ca_file; /* NULL: the system's CAs only */

	/* policy { }: its rules and what it overrides of agentd's; NULL
	 * when the section has none (doc/policy.md). */
	struct ad_policy *policy;

	/* settings { }, validated, defaults applied, in schema order */
	struct ad_setting_value *settings;
	size_t                   nsettings;

	/* schedule "NAME" { }, in file order (supervisor/schedule.h) */
	struct ad_schedule_conf *schedules;
	size_t                   nschedules;
};

/* What a schedule does about runs it missed. */
enum ad_schedule_missed {
	AD_MISSED_SKIP = 0, /* none */
	AD_MISSED_RUN,      /* one, at once */
};

/*
 * An agent's schedule "NAME" { }: every or cron, one of them.  The rows
 * of config/options.c (ad_schedule_opts) say what each option holds.
 */
struct ad_schedule_conf {
	char                   *name;
	int                     line;     /* of its section */
	int64_t                 every_ms; /* 0: not written */
	char                   *cron;     /* NULL: not written */
	char                   *timezone; /* NULL: the machine's */
	enum ad_schedule_missed missed;
	char                   *body; /* a JSON object's text, or NULL */
};

/* How a webhook's signature header writes the HMAC's 32 bytes. */
enum ad_webhook_encoding {
	AD_WEBHOOK_BASE64 = 0, /* Shopify's */
	AD_WEBHOOK_HEX,        /* GitHub's (after "sha256=") */
};

/* A webhook's name leaves room for "webhook." in an event's source. */
#define AD_WEBHOOK_NAME_MAX 55
/* A secret file holding more than this is not a shared secret. */
#define AD_WEBHOOK_SECRET_MAX 4096

/*
 * http { webhook "NAME" { } }: a path under /hooks/ whose signed POSTs
 * become events (supervisor/http_hooks.h, doc/http.md).  The rows of
 * config/options.c (ad_webhook_opts) say what each option holds.
 */
struct ad_webhook_conf {
	char *name;
	int   line; /* of its section, in agentd { }'s file */
	char *path; /* "/hooks/..." */
	char *topic;
	char *secret_file; /* absolute, or relative to the cwd */
	char *signature_header;
	enum ad_webhook_encoding encoding;
	char                    *id_header; /* NULL: no replay check */
	int64_t                  replay_window_ms;
};

/* agentd { }: the rows of config/options.c say what each option holds. */
struct ad_global_conf {
	char *file; /* where agentd { } was, or NULL */
	char *state_dir;
	char *run_dir;
	char *plugin_dir;
	char *log_level;
	/* log { target }: "stderr", "syslog" or an absolute path. */
	char  *log_target;
	size_t max_message_size;
	/* Audit records older than this move to audit_archive_dir; 0 keeps
	 * them all.  The directory: NULL when not set (the supervisor then
	 * uses STATE_DIR/archive). */
	int64_t audit_retention_ms;
	char   *audit_archive_dir;
	/* A seal every so many records or so long (0: not on that count). */
	unsigned audit_seal_records;
	int64_t  audit_seal_interval_ms;
	/* Reload when a .conf or a plugin file changes (watch.h), once
	 * nothing changed for watch_delay_ms. */
	int     watch;
	int64_t watch_delay_ms;
	/* Workers' user unless an agent names one; NULL: not written. */
	char *plugin_user;
	/* control { group }: who else may use control.sock and tail.sock
	 * (supervisor/pipes.c); NULL: not written. */
	char *control_group;
	/* http { }: the HTTP API (supervisor/http.h); listen NULL: none.
	 * http_line: where http { } is, for messages about it. */
	char                   *http_listen;
	char                   *http_cert_file;
	char                   *http_key_file;
	int                     http_insecure;
	unsigned                http_max_connections;
	int64_t                 http_timeout_ms;
	int64_t                 http_call_timeout_ms;
	int                     http_metrics_public;
	int                     http_line;
	struct ad_webhook_conf *http_webhooks; /* in file order */
	size_t                  http_nwebhooks;
	/* The top-level policy { } of a file (not a row of agentd { }):
	 * every value written or its default; policy.file NULL when no
	 * file has one.  Agents' deadlines are checked against its
	 * deadline_min and deadline_max. */
	struct ad_policy policy;
};

/* What tolerant loading (a reload) left out, and why. */
struct ad_config_problem {
	char *file;  /* the .conf it is about */
	char *agent; /* the agent left out, or NULL: the whole file */
	char *err;   /* one line, "FILE:LINE: agent \"NAME\": ..." */
};

struct ad_config {
	struct ad_global_conf global;
	struct ad_agent_conf *agents;
	size_t                nagents;
	/* Only with opts->tolerant: what was refused. */
	struct ad_config_problem *problems;
	size_t                    nproblems;
};

/*
 * Looks up the settings schema of an agent's plugin (the supervisor runs
 * the worker in describe mode; tests hand back a fixed schema).  The
 * returned schema is caller owns, free with ad_schema_free().  On failure
 * it fills err with one line.
 */
typedef int (*ad_schema_lookup_fn)(void *arg, const struct ad_agent_conf *a,
    struct ad_schema **schema, char *err, size_t errlen);

struct ad_config_opts {
	const char *plugin_dir; /* overrides agentd { plugin_dir }, or NULL */
	/* defaults for the global section when the files say nothing */
	const char *default_state_dir;
	const char *default_run_dir;
	const char *default_plugin_dir;
	/*
	 * Reload: a file that does not parse, or an agent with an error, is
	 * left out and recorded in problems; the rest loads.  Only a missing
	 * directory fails the whole load.
	 */
	int tolerant;
	/*
	 * Without tolerant, loading still goes on past an error where it
	 * can (to the next agent, the next file, the checks made once every
	 * file is read), as a compiler does, and the configuration is
	 * refused at the end.  Each error found is handed to report, if
	 * set, as one line in the order found; the line is borrowed, valid
	 * until report returns.
	 */
	void (*report)(void *arg, const char *line);
	void *report_arg;
};

/*
 * Read the configuration directory.  On success *out is caller owns, free
 * with ad_config_free().  On failure returns AGENTD_ECONFIG (or
 * AGENTD_ENOENT for a missing directory) with one line in err, in the form
 * "FILE:LINE: agent \"NAME\": what is wrong: what to do": the first error
 * found, every one of them having gone to opts->report.
 */
int ad_config_load(const char *confdir, const struct ad_config_opts *opts,
    ad_schema_lookup_fn lookup, void *lookup_arg, struct ad_config **out,
    char *err, size_t errlen);

void ad_config_free(struct ad_config *c);

const struct ad_agent_conf *ad_config_agent(
    const struct ad_config *c, const char *name);
const struct ad_setting_value *ad_agent_setting(
    const struct ad_agent_conf *a, const char *name);

/* A deep copy of one agent's configuration, owned by the caller. */
struct ad_agent_conf *ad_agent_conf_dup(const struct ad_agent_conf *a);
void                  ad_agent_conf_free(struct ad_agent_conf *a);
/*
 * Do two agent sections ask for the same thing?  Where they are written
 * (file, line) does not count: a comment added above one is no change.
 */
int ad_agent_conf_same(
    const struct ad_agent_conf *a, const struct ad_agent_conf *b);

/* "250ms", "2s", "5m", "1h", or a bare number of milliseconds. */
int ad_parse_duration(const char *s, int64_t *ms);

/*
 * A webhook's secret: the bytes of the file at path, one line ending in
 * "\n" or "\r\n" taken without it.  0 with *secret (caller owns, wipe
 * and free with ad_webhook_secret_free) and *len; AGENTD_ECONFIG with
 * one line in err saying what is wrong with the file (unreadable,
 * empty, longer than AD_WEBHOOK_SECRET_MAX).
 */
int  ad_webhook_secret_read(const char *path, unsigned char **secret,
     size_t *len, char *err, size_t errlen);
void ad_webhook_secret_free(unsigned char *secret, size_t len);

/* Is s a webhook's path: "/hooks/" then segments of letters, digits,
 * '.', '_', '~' and '-', none "." or ".."?  0, or -1. */
int ad_webhook_path_word(const char *s);
/* A schedule's cron (common/cron.h), timezone (a zone of the tz
 * database) and body (a JSON object without the keys of every run's
 * event): 0, or -1. */
int ad_cron_word(const char *s);
int ad_zone_word(const char *s);
int ad_schedule_body_word(const char *s);

/* Is s a header name (letters, digits, '-'; at most 64)?  0, or -1. */
int ad_header_word(const char *s);

#endif
