/*
 * envelope.h - the one message format on every agentd socket.
 *
 * An envelope is a msgpack map with short string keys (doc/protocol.md):
 *   "v"   version (1)            "k"   kind (1 request, 2 reply, 3 event,
 *   "id"  message id                   4 control)
 *   "src" source agent           "si"  source instance
 *   "dst" target agent, topic or control operation
 *   "cid" correlation id (a reply carries its request's id)
 *   "dl"  deadline, wall-clock ms since the epoch (0: none)
 *   "st"  status (replies: 0 or an agentd_error code)
 *   "b"   body, bin: msgpack bytes by convention
 * Unknown keys are ignored (a newer peer may add some); a known key with a
 * wrong type, a missing required key, a name too long or an unknown kind
 * makes the whole envelope AGENTD_EPROTO.
 *
 * The bus sends an envelope as one nng message (ad_envelope_to_msg); nng's
 * codes become agentd's in common/nngx.h.
 */
#ifndef AD_ENVELOPE_H
#define AD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include <agentd/msg.h>

#define AD_ENVELOPE_VERSION 1
#define AD_NAME_MAX 64    /* agent and instance names, with the NUL */
#define AD_TARGET_MAX 256 /* agent, topic or operation, with the NUL */

enum ad_kind {
	AD_KIND_REQUEST = 1,
	AD_KIND_REPLY   = 2,
	AD_KIND_EVENT   = 3,
	AD_KIND_CONTROL = 4,
};

struct ad_envelope {
	unsigned     version;
	uint64_t     id;
	enum ad_kind kind;
	char         src[AD_NAME_MAX];
	char         src_instance[AD_NAME_MAX];
	char         dst[AD_TARGET_MAX];
	uint64_t     correlation;
	int64_t      deadline_ms;
	int          status;
	const void  *body; /* see ad_envelope_decode */
	size_t       body_len;
};

/* Append e as one msgpack value to w. */
int ad_envelope_encode(const struct ad_envelope *e, agentd_writer *w);

/*
 * Decode buf[0..len) into e.  e->body points into buf: borrowed, valid
 * while buf is.  Returns 0, AGENTD_EPROTO (malformed) or AGENTD_ETOOBIG
 * (len over max_len).
 */
int ad_envelope_decode(
    const void *buf, size_t len, size_t max_len, struct ad_envelope *e);

/*
 * Decode the first envelope of buf[0..len), which may hold several one
 * after another (a batch of events); *used gets its size.
 */
int ad_envelope_decode_prefix(const void *buf, size_t len, size_t max_len,
    struct ad_envelope *e, size_t *used);

/*
 * Fill r as the reply (status, body borrowed) to the request whose id is
 * request_id, addressed back to `to`; source fields left empty.
 */
void ad_envelope_reply(struct ad_envelope *r, uint64_t request_id,
    const char *to, int status, const void *body, size_t len);

/* The envelope encoded into a new nng message (caller owns, nng_msg_free). */
int ad_envelope_to_msg(const struct ad_envelope *e, nng_msg **out);

/* Build a reply envelope answering `req` into a new nng message. */
int ad_reply_msg(const struct ad_envelope *req, int status, const void *body,
    size_t len, nng_msg **out);

/* A fresh message id: unique within this process, never 0. */
uint64_t ad_envelope_next_id(void);

#endif
