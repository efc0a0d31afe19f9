/*
 * ops.h - the names of agentd's operations and the roles that may ask
 * for them, shared by agentd (control.sock and the HTTP API serve the
 * same table, supervisor/control.c) and agentctl.
 *
 * An operation is a control envelope whose dst is one of these names
 * (doc/protocol.md); a call to an agent is a request envelope instead,
 * and needs AD_ROLE_OPERATOR.  A role allows what the roles below it
 * allow.  The control socket's peer (agentd's user or root, mode 0600)
 * is an administrator; an HTTP token has the role it was created with.
 */
#ifndef AD_OPS_H
#define AD_OPS_H

#define AD_CTL_SOCKET "control.sock"
#define AD_TAIL_SOCKET "tail.sock"

enum ad_role {
	AD_ROLE_NONE = 0, /* nothing: no token, or a refused one */
	AD_ROLE_VIEWER,   /* reads: status, audit, state, decisions */
	AD_ROLE_OPERATOR, /* and calls, events, state writes, approvals */
	AD_ROLE_ADMIN,    /* and reload, scale, restart, stop, tokens */
};

/* "viewer", "operator", "admin" ("none" for AD_ROLE_NONE); and back,
 * -1 for a word that is none of the three. */
const char *ad_role_name(enum ad_role r);
int         ad_role_parse(const char *word);

#define AD_OP_STATUS "status"
#define AD_OP_PUBLISH "publish"
#define AD_OP_RESTART "restart"
#define AD_OP_STOP "stop"
#define AD_OP_START "start"
#define AD_OP_SCALE "scale"
#define AD_OP_RELOAD "reload"
#define AD_OP_PROMOTE "promote"
#define AD_OP_ROLLBACK "rollback"
#define AD_OP_VERSIONS "versions"
#define AD_OP_SETTINGS "settings"
#define AD_OP_AUDIT "audit"
#define AD_OP_AUDIT_VERIFY "audit.verify"
#define AD_OP_AUDIT_KEY "audit.key"
#define AD_OP_STATE_GET "state.get"
#define AD_OP_STATE_PUT "state.put"
#define AD_OP_STATE_DEL "state.del"
#define AD_OP_STATE_SCAN "state.scan"
#define AD_OP_STATE_BATCH "state.batch"
#define AD_OP_APPROVALS "approvals"
#define AD_OP_DECISION "decision"
#define AD_OP_DECISIONS "decisions"
#define AD_OP_POLICY_TEST "policy.test"
#define AD_OP_APPROVE "approve"
#define AD_OP_REJECT "reject"
#define AD_OP_MODIFY "modify"
#define AD_OP_TOKEN_CREATE "token.create"
#define AD_OP_TOKEN_LIST "token.list"
#define AD_OP_TOKEN_REVOKE "token.revoke"
/* The agents of the running configuration and their capabilities, those
 * with {"capability": NAME} only; also what host->find_agents asks on
 * the calls socket. */
#define AD_OP_AGENTS "agents"
/* Answered by the HTTP server itself (http.c): the token's name and
 * role. */
#define AD_OP_WHOAMI "whoami"

/*
 * Does a setting called name look like it holds a secret?  Its name
 * contains, in any case, one of: secret, token, password, passwd, key,
 * credential, private.  The settings operation shows such a value as
 * AD_SETTING_MASK, whatever its type (doc/protocol.md).
 */
#define AD_SETTING_MASK "********"
int ad_setting_is_secret(const char *name);

#endif
