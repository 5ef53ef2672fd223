#!/bin/bash
# Install what p11smime needs to build, test and run its demo on Debian 12.
# Run as root (or with sudo). Does nothing when everything is present.
set -euo pipefail

PACKAGES=(
	build-essential autoconf automake libtool pkg-config xz-utils
	libssl-dev openssl            # CMS, X.509, ciphers
	libp11-kit-dev p11-kit p11-kit-modules  # module registry, RFC 7512 URIs
	opensc                        # pkcs11-tool (fixtures) and the card driver
	softhsm2                      # the embedded token for tests and the demo
	gnutls-bin                    # p11tool (fixtures: CA certificate category)
	libldap-dev                   # LDAP directories: recipients' certificates
	libcmocka-dev                 # unit tests
	slapd ldap-utils              # tests: a throwaway directory server of their own
	lighttpd                      # tests: a real web server (static, chunked CGI, redirections) for CRL/OCSP/AIA fetches
	python3 util-linux bsdutils   # tests: JSON checks, flock, setsid, script (a terminal)
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
# slapd, lighttpd: no system-wide server (the tests start their own on the
# loopback, lighttpd's would take port 80), slapd with no database of its
# own: nothing may start services while installing
new_slapd=0
new_lighttpd=0
policy_added=0
[[ " ${missing[*]} " == *" lighttpd "* ]] && new_lighttpd=1
[[ " ${missing[*]} " == *" slapd "* ]] && new_slapd=1
[ $new_slapd = 1 ] && echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
if [ $new_slapd = 1 ] || [ $new_lighttpd = 1 ]; then
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_added=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -d /run/systemd/system ]; then
	[ $new_slapd = 0 ] || systemctl disable --now slapd >/dev/null 2>&1 || true
	[ $new_lighttpd = 0 ] || systemctl disable --now lighttpd >/dev/null 2>&1 || true
fi
[ $policy_added = 0 ] || rm -f /usr/sbin/policy-rc.d
exit 0
