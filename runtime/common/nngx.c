#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentd/error.h>

#include "common/log.h"
#include "common/nngx.h"
#include "common/util.h"

int
ad_nng_error(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case NNG_ENOMEM:
		return AGENTD_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_EBADTYPE:
		return AGENTD_EINVAL;
	case NNG_ETIMEDOUT:
		return AGENTD_ETIMEOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return AGENTD_ECLOSED;
	case NNG_EMSGSIZE:
		return AGENTD_ETOOBIG;
	case NNG_EPROTO:
		return AGENTD_EPROTO;
	case NNG_ENOTSUP:
		return AGENTD_ENOTSUP;
	case NNG_EPERM:
		return AGENTD_EDENIED;
	case NNG_EBUSY:
	case NNG_EAGAIN:
		return AGENTD_EBUSY;
	case NNG_ECONNREFUSED:
	case NNG_ENOENT:
		return AGENTD_EUNAVAIL;
	default:
		return AGENTD_EIO;
	}
}

int
ad_nng_listen_ipc(
    nng_socket s, const char *path, int mode, char *err, size_t errlen)
{
	nng_listener l;
	char        *url;
	int          rv;

	/* Only the holder of the run directory's lock gets here, so a file
	 * already there was left by an agentd that died. */
	unlink(path);
	url = ad_xasprintf("ipc://%s", path);
	if ((rv = nng_listener_create(&l, s, url)) == 0
	    && (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, mode))
	        == 0)
		rv = nng_listener_start(l, 0);
	free(url);
	if (rv != 0) {
		ad_seterr(err, errlen, "cannot listen on %s: %s", path,
		    nng_strerror(rv));
		return ad_nng_error(rv);
	}
	return 0;
}

size_t
ad_transport_cap(size_t max_message)
{
	return max_message * 4 + 64 * 1024;
}

int
ad_msg_append(nng_msg *m, const void *data, size_t len)
{
	size_t need = nng_msg_len(m) + len, cap = nng_msg_capacity(m);
	int    rv;

	if (need > cap
	    && (rv = nng_msg_reserve(m, need > 2 * cap ? need : 2 * cap)) != 0)
		return rv;
	return nng_msg_append(m, data, len);
}
