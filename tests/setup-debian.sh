#!/bin/bash
# Install what p11smime needs to build, test and run its demo on Debian 12.
# Run as root (or with sudo). Does nothing when everything is present.
set -euo pipefail

PACKAGES=(
	build-essential autoconf automake libtool pkg-config xz-utils
	libssl-dev openssl            # CMS, X.509, ciphers
	libp11-dev                    # PKCS#11 keys as EVP_PKEYs
	libp11-kit-dev p11-kit p11-kit-modules  # module registry, RFC 7512 URIs
	opensc                        # pkcs11-tool (fixtures) and the card driver
	softhsm2                      # the embedded token for tests and the demo
	gnutls-bin                    # p11tool (fixtures: CA certificate category)
	libcmocka-dev                 # unit tests
	python3 util-linux            # tests: JSON checks, flock, setsid
	gpgsm gnupg libnss3-tools     # interop peers: gpgsm, NSS cmsutil
	libengine-pkcs11-openssl gnupg-pkcs11-scd hyperfine time   # make bench: the peers on the token
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "setup-debian.sh: missing packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "setup-debian.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
