#!/bin/sh
# Install what building and testing agentd needs, from Debian 12 packages.
# Used by the README's commands and by .ci/run: one list, kept here.
set -e
PACKAGES="build-essential autoconf automake libtool pkg-config \
 libnng-dev libmsgpack-dev liblmdb-dev lmdb-utils libconfuse-dev \
 libjansson-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev libseccomp-dev procps jq man-db \
 po-debconf lintian clang libclang-rt-14-dev stress-ng curl openssl prometheus \
 chromium chromium-driver python3-selenium"
missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (or: sudo sh contrib/deps.sh) to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
