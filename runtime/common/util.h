/*
 * util.h - small helpers every runtime module uses.
 */
#ifndef AD_UTIL_H
#define AD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Errors a person can cause are reported as one line of text.  Functions
 * that can meet such errors take (char *err, size_t errlen) and fill it;
 * AD_ERRLEN is enough for any of them.
 */
#define AD_ERRLEN 512

void ad_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds: monotonic (for timeouts) and wall clock (on the wire). */
int64_t ad_now_ms(void);
int64_t ad_now_us(void); /* monotonic, for latency histograms */
int64_t ad_wall_ms(void);

/* malloc that never returns NULL: the runtime aborts on exhaustion. */
void *ad_xmalloc(size_t n);
void *ad_xcalloc(size_t n, size_t size);
void *ad_xrealloc(void *p, size_t n);
char *ad_xstrdup(const char *s);
/* At most n bytes of s (up to a NUL), NUL-terminated. */
char *ad_xstrndup(const char *s, size_t n);
/* The same, NULL for NULL. */
char *ad_xstrdup_or_null(const char *s);
char *ad_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* v in decimal into buf (AD_U64_DEC bytes, NUL-terminated); its length.
 * What snprintf("%llu") gives, without printf (ids on hot paths). */
#define AD_U64_DEC 21
size_t ad_u64_dec(uint64_t v, char buf[AD_U64_DEC]);

/* Join a directory and a relative path ("dir/rel"); absolute rel as is. */
char *ad_path_join(const char *dir, const char *rel);
/* path made absolute against the current directory; caller owns, free(). */
char *ad_abspath(const char *path);

/* Directory part of a path ("a/b.conf" -> "a", "b.conf" -> "."). */
char *ad_dirname(const char *path);

/* Create a directory (and its parents) with mode; 0 or errno. */
int ad_mkdir_p(const char *path, unsigned mode);

/* ad_valid_name() and ad_valid_topic(): the plugin boundary's rules. */
#include "sdk/contract.h"

/*
 * Does a publish or subscribe entry cover a topic?  "a.b" covers "a.b" and
 * every "a.b.<more>" (whole segments only: not "a.bc"); "*" covers all.
 */
int ad_topic_match(const char *pattern, const char *topic);

/* Any of n patterns covers topic. */
int ad_topic_any(char *const *patterns, size_t n, const char *topic);

/* Bytes to lowercase hex; out must hold 2*n+1. */
void ad_hex(const unsigned char *in, size_t n, char *out);

/* May this process become another user: root, or CAP_SETUID and
 * CAP_SETGID in effect? */
int ad_may_switch_users(void);

/*
 * "HOST:PORT" or "[ADDR]:PORT", numeric (no name lookup), port 0 (any
 * free one) to 65535: into *ss (its length *sslen), *loopback whether it is
 * 127.0.0.0/8 or ::1.  0, or -1 for anything else.  Any pointer but s may
 * be NULL.
 */
struct sockaddr_storage;
int ad_parse_listen(const char *s, struct sockaddr_storage *ss,
    unsigned *sslen, int *loopback);
/* The same as a configuration row's parse(): 0 or -1. */
int ad_listen_word(const char *s);

/* Does the group database list user uid in gid?  Any thread. */
int ad_user_in_group(uid_t uid, gid_t gid);

#endif
