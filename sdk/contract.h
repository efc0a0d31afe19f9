/*
 * contract.h - the rules agentd applies at the plugin boundary, in one
 * place: the runtime and the mock host of <agentd/mock.h> both call these,
 * so a plugin's unit test and agentd cannot disagree about a name, a key,
 * a setting, an audit record or a descriptor.
 *
 * Internal to the SDK and the runtime; not installed.  Compiled into
 * libsdk (hidden visibility), which the runtime and libagentd-sdk.a link.
 * The limits a plugin author needs are public, in <agentd/agent.h>.
 */
#ifndef AGENTD_CONTRACT_H
#define AGENTD_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/agent.h>
#include <agentd/msg.h>

/* p, or a line on stderr and abort() if it is NULL: out of memory is
 * fatal in agentd and in the SDK's writer alike. */
void *ad_alloc_check(void *p);

/* ---- names ------------------------------------------------------------ */

/* Agent and setting names: 1..AGENTD_NAME_MAX bytes of [A-Za-z0-9_.-]. */
int ad_valid_name(const char *s);

/* Topics: the same characters, 1..AGENTD_TOPIC_MAX bytes. */
int ad_valid_topic(const char *s);

/* Capabilities (ABI 1.5): 1..AGENTD_NAME_MAX bytes of [a-z0-9_.-]. */
int ad_valid_capability(const char *s);

/* ---- messages --------------------------------------------------------- */

/* What an event envelope adds to its topic and body, at most. */
#define AD_ENVELOPE_ALLOWANCE 256

/*
 * Append len bytes holding nvalues whole msgpack values that the runtime
 * encoded itself or checked already: agentd_write_raw() without checking
 * them again (a decision's parameters, copied into each message about
 * it).  Never for bytes a plugin or a peer gave and nobody checked.
 */
int ad_write_encoded(
    agentd_writer *w, const void *p, size_t len, size_t nvalues);

/* What one entry of a state scan answer adds to its key and value. */
#define AD_SCAN_ENTRY_OVERHEAD 16

/* ---- state ------------------------------------------------------------ */

/*
 * 0 if key[0..keylen) may be a state key: 1..AGENTD_STATE_KEY_MAX bytes,
 * any bytes; with allow_empty (a scan prefix) 0 bytes too.  AGENTD_EINVAL
 * otherwise, and for a NULL key with keylen > 0.
 */
int ad_state_key_check(const void *key, size_t keylen, int allow_empty);

/* ---- audit ------------------------------------------------------------ */

/*
 * The fields a plugin gives an audit record: AGENTD_EINVAL for a missing
 * or empty kind, a missing summary or detail NULL with detail_len > 0;
 * then AGENTD_ETOOBIG for a field over its AGENTD_AUDIT_*_MAX; then
 * AGENTD_EPROTO if detail is not exactly one msgpack value; else 0.  All
 * borrowed for the call.
 */
int ad_audit_fields_check(const char *kind, const char *summary,
    const void *detail, size_t detail_len);

/*
 * Is kind one of agentd's own?  Those whose first dot-separated segment
 * is agentd, agent, instance, call, state, event, audit, policy or
 * approval, in any case ("agent", "agent.reload", "Agent.Reload"; not
 * "agents.x" or "my.agent.reload"): agentd writes them, and a plugin's
 * record of one would read as agentd's.
 */
int ad_audit_kind_reserved(const char *kind);

/*
 * A plugin's record: ad_audit_fields_check(), then AGENTD_EDENIED for a
 * kind of agentd's own.  What the mock, the worker and agentd's calls
 * socket apply (agentd's own records take ad_audit_fields_check only).
 */
int ad_audit_plugin_check(const char *kind, const char *summary,
    const void *detail, size_t detail_len);

/* ---- reading --------------------------------------------------------- */

/*
 * agentd_parse_prefix() for values read one after another (a batch of
 * proposals): *doc (NULL the first time) is reused, its msgpack zone
 * cleared instead of a new one made per value, and holds only the value
 * parsed last; free it with agentd_doc_free().  Same checks and errors as
 * agentd_parse_prefix(); after an error *doc holds nil.  agentd's own: not
 * in the plugins' API.
 */
int ad_parse_next(const void *buf, size_t len, agentd_doc **doc, size_t *used);

/* ---- proposals -------------------------------------------------------- */

/* Check a proposal before it leaves the plugin's process.  0, or
 * AGENTD_EINVAL / AGENTD_ETOOBIG with one line in err. */
int ad_proposal_check(
    const struct agentd_proposal *p, char *err, size_t errlen);

/* ---- settings --------------------------------------------------------- */

/* A setting value typed by the plugin's schema. */
struct ad_setting_value {
	char                    *name;
	enum agentd_setting_type type;
	union {
		char   *s;
		int64_t i;
		double  d;
		int     b;
	} v;
	/* The file the value was read from (`NAME_file = "PATH"` in
	 * settings { }), or NULL.  Set and freed only by agentd's
	 * configuration loader (runtime/config); NULL everywhere else. */
	char *file;
};

/* "string", "int", "double", "bool" and back; NULL / 0 if unknown. */
const char              *ad_setting_type_name(enum agentd_setting_type t);
enum agentd_setting_type ad_setting_type_parse(const char *name);

/*
 * Type text as v->type: 0 and v->v set, or -1 if text is not of that
 * type.  A string is any text and is not copied: v->v.s is left alone
 * for the caller to set to its own copy.
 */
int ad_setting_parse(const char *text, struct ad_setting_value *v);

/*
 * The setting called name among set[0..n), into *out (a const char **,
 * int64_t *, double * or int * as t says; a string is borrowed from set).
 * AGENTD_ENOENT if there is none, AGENTD_EINVAL if it has another type:
 * what host->setting_*() answer.
 */
int ad_setting_get(const struct ad_setting_value *set, size_t n,
    const char *name, enum agentd_setting_type t, void *out);

/* host->free(): what every host hands a plugin is malloc()ed. */
void ad_host_free(void *p);

/*
 * The initializer of a struct agentd_host whose functions are the file's
 * static host_<member>() (host_reply, host_state_get, ...), with
 * ad_host_free.  The worker's table and the mock's are both written with it,
 * so a function appended to the table is one the mock must have too: it does
 * not build without.
 */
/* clang-format off */
#define AD_HOST_TABLE_INIT                                                    \
	{                                                                     \
		.size           = sizeof(struct agentd_host),                 \
		.abi_major      = AGENTD_ABI_MAJOR,                           \
		.abi_minor      = AGENTD_ABI_MINOR,                           \
		.reply          = host_reply,                                 \
		.reply_error    = host_reply_error,                           \
		.call           = host_call,                                  \
		.call_async     = host_call_async,                            \
		.publish        = host_publish,                               \
		.state_get      = host_state_get,                             \
		.state_put      = host_state_put,                             \
		.state_del      = host_state_del,                             \
		.state_scan     = host_state_scan,                            \
		.state_batch    = host_state_batch,                           \
		.audit          = host_audit,                                 \
		.propose        = host_propose,                               \
		.log            = host_log,                                   \
		.setting_string = host_setting_string,                        \
		.setting_int    = host_setting_int,                           \
		.setting_double = host_setting_double,                        \
		.setting_bool   = host_setting_bool,                          \
		.free           = ad_host_free,                               \
		.agent_name     = host_agent_name,                            \
		.instance_id    = host_instance_id,                           \
		.audit_async    = host_audit_async,                           \
		.propose_async  = host_propose_async,                         \
		.http_async     = host_http_async,                            \
		.request_caller = host_request_caller,                        \
		.state_put_ttl  = host_state_put_ttl,                         \
		.count          = host_count,                                 \
		.watch_fd       = host_watch_fd,                              \
		.timer_start    = host_timer_start,                           \
		.timer_cancel   = host_timer_cancel,                          \
		.call_error     = host_call_error,                            \
		.find_agents    = host_find_agents,                           \
		.state_batch_async = host_state_batch_async,                  \
	}
/* clang-format on */

/*
 * Define the four host->setting_*() of a host table as static functions
 * host_setting_string(), _int(), _double() and _bool(), each calling
 *   static int get(agentd_ctx *ctx, const char *name,
 *       enum agentd_setting_type t, void *out);
 * which the host defines (normally with ad_setting_get()).  The worker and
 * the mock both define theirs with this, so they cannot answer apart.
 */
#define AD_HOST_SETTING_GETTERS(get)                                          \
	static int host_setting_string(                                       \
	    agentd_ctx *ctx, const char *name, const char **out)              \
	{                                                                     \
		return get(ctx, name, AGENTD_SETTING_STRING, out);            \
	}                                                                     \
	static int host_setting_int(                                          \
	    agentd_ctx *ctx, const char *name, int64_t *out)                  \
	{                                                                     \
		return get(ctx, name, AGENTD_SETTING_INT, out);               \
	}                                                                     \
	static int host_setting_double(                                       \
	    agentd_ctx *ctx, const char *name, double *out)                   \
	{                                                                     \
		return get(ctx, name, AGENTD_SETTING_DOUBLE, out);            \
	}                                                                     \
	static int host_setting_bool(                                         \
	    agentd_ctx *ctx, const char *name, int *out)                      \
	{                                                                     \
		return get(ctx, name, AGENTD_SETTING_BOOL, out);              \
	}

/* ---- the descriptor --------------------------------------------------- */

/* The smallest descriptor agentd accepts: up to and including fini. */
#define AD_DESC_MIN_SIZE                                                      \
	(offsetof(struct agentd_plugin, fini)                                 \
	    + sizeof(((struct agentd_plugin *)0)->fini))

/* What is wrong with a descriptor; each caller words its own message. */
enum ad_desc_fault {
	AD_DESC_OK = 0,
	AD_DESC_MAGIC,        /* too small for a magic, or a wrong one */
	AD_DESC_MAJOR,        /* another ABI major */
	AD_DESC_SIZE,         /* .size below AD_DESC_MIN_SIZE or past avail */
	AD_DESC_NAME,         /* .name is not a valid name */
	AD_DESC_VERSION,      /* no .version, or an empty one */
	AD_DESC_ON_REQUEST,   /* no .on_request */
	AD_DESC_SETTING_TYPE, /* a setting of an unknown type */
	AD_DESC_CAPABILITY,   /* a capability that is not a valid one */
	AD_DESC_CAPABILITIES, /* more than AGENTD_CAPABILITIES_MAX */
};

/*
 * The parts of d that must be checked before copying it: magic, ABI major
 * and declared size, against avail, the bytes the symbol occupies.  0 (not
 * known from the symbol table) fails; SIZE_MAX trusts d to be as big as
 * it says (a descriptor handed over in memory).
 */
enum ad_desc_fault ad_desc_check_head(
    const struct agentd_plugin *d, size_t avail);

/*
 * The fields of a descriptor copied by the caller; *bad (may be NULL) gets
 * the offending setting for AD_DESC_SETTING_TYPE.
 */
enum ad_desc_fault ad_desc_check_fields(
    const struct agentd_plugin *d, const struct agentd_setting **bad);

/*
 * The descriptor's .capabilities alone (ad_desc_check_fields checks them
 * last): *bad (may be NULL) gets the index of the offending entry, for
 * AD_DESC_CAPABILITIES the first one past the limit.
 */
enum ad_desc_fault ad_desc_check_capabilities(
    const struct agentd_plugin *d, size_t *bad);

/*
 * The descriptor of the plugin dlopen()ed as dl, or NULL; *avail gets the
 * bytes its symbol occupies (0 if unknown) and, when there is none,
 * *other_major the ABI major of another descriptor the plugin has (-1 if
 * none) for a better message.
 */
const struct agentd_plugin *ad_desc_find(
    void *dl, size_t *avail, int *other_major);

/* ---- a failed call's message (host->call_error) ----------------------- */

/* What host->call_error() answers at most, without its NUL. */
#define AD_CALL_ERROR_MAX 1024

/*
 * s[0..len) as host->call_error() answers it, into out: one line (each
 * control character a space), cut to AD_CALL_ERROR_MAX bytes where a
 * UTF-8 character begins.  s is borrowed for the call; NULL is "".
 */
void ad_call_error_line(
    const char *s, size_t len, char out[AD_CALL_ERROR_MAX + 1]);

/*
 * The message of a failed call's reply body, {"error": message} as agentd
 * and the worker send it with every failure (doc/protocol.md), into out
 * as ad_call_error_line() makes it; fallback (NULL: "") when body holds
 * no such string.  body is borrowed for the call.
 */
void ad_call_error_text(const void *body, size_t len, const char *fallback,
    char out[AD_CALL_ERROR_MAX + 1]);

#endif /* AGENTD_CONTRACT_H */
