/*
 * agentd/error.h - the one error space of agentd and its SDK.
 *
 * Every fallible SDK and host function returns 0 on success or one of the
 * positive codes below.  Codes are stable: new ones are only ever appended,
 * and their numbers travel on the wire (a reply's status), so a plugin and
 * the daemon built from different releases still agree on what they mean.
 */
#ifndef AGENTD_ERROR_H
#define AGENTD_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, number, text).  The text completes "agentd: ..." in a log line. */
#define AGENTD_ERRORS(X)                                                      \
	X(OK, 0, "success")                                                   \
	X(ENOMEM, 1, "out of memory")                                         \
	X(EINVAL, 2, "invalid argument")                                      \
	X(ENOTSUP, 3, "not supported by this host yet")                       \
	X(ENOENT, 4, "no such agent, key or entry")                           \
	X(EDENIED, 5, "denied by configuration")                              \
	X(EBUSY, 6, "busy: queue full")                                       \
	X(ETIMEOUT, 7, "deadline passed")                                     \
	X(EFAILED, 8, "failed: no instance could handle it")                  \
	X(ETOOBIG, 9, "too large")                                            \
	X(EPROTO, 10, "malformed message")                                    \
	X(EIO, 11, "input/output error")                                      \
	X(ECLOSED, 12, "closed or shutting down")                             \
	X(EABI, 13, "plugin ABI mismatch")                                    \
	X(ECONFIG, 14, "invalid configuration")                               \
	X(EPLUGIN, 15, "plugin reported an error")                            \
	X(EEXIST, 16, "already exists")                                       \
	X(EUNAVAIL, 17, "no ready instance")

enum agentd_error {
#define AGENTD_ERROR_ENUM_(name, num, text) AGENTD_##name = num,
	AGENTD_ERRORS(AGENTD_ERROR_ENUM_)
#undef AGENTD_ERROR_ENUM_
};

/*
 * Text for an error code; never NULL (unknown codes get a generic text).
 * Returns a static string: borrowed, valid for the life of the process.
 */
const char *agentd_strerror(int err);

/*
 * Short stable name of a code ("ETIMEOUT"), for JSON and scripts.
 * Returns a static string: borrowed, valid for the life of the process.
 */
const char *agentd_errname(int err);

#ifdef __cplusplus
}
#endif

#endif /* AGENTD_ERROR_H */
