# p11smime integration tests: a throwaway OpenLDAP slapd on the loopback,
# run as the current user from a folder of its own. Source it after lib.sh.
#
#   slapd_setup DIR CERT KEY     slapd.conf in DIR: mdb, suffix
#                                dc=example,dc=org, rootdn cn=admin (password
#                                $SLAPD_ROOTPW), TLS with CERT (PEM, chain
#                                after it) and KEY; ou=staff readable only
#                                after a bind
#   slapd_load LDIF              load entries (slapadd, before the start)
#   slapd_start                  listen on ldap:// $SLAPD_PORT and ldaps://
#                                $SLAPD_TLS_PORT (free ports) on 127.0.0.1,
#                                return once it answers and listens on both
#                                itself; stopped when the test ends
#   slapd_stop                   stop it (the data stays; slapd_start again
#                                reuses the same ports)
#
# Sets SLAPD_URL (ldap://127.0.0.1:PORT) and SLAPD_TLS_URL (ldaps://...).

SLAPD_BIN=${SLAPD_BIN:-$(command -v slapd || echo /usr/sbin/slapd)}
SLAPADD_BIN=${SLAPADD_BIN:-$(command -v slapadd || echo /usr/sbin/slapadd)}
SLAPD_SUFFIX="dc=example,dc=org"
SLAPD_ROOTDN="cn=admin,$SLAPD_SUFFIX"
SLAPD_ROOTPW="admin-secret"
SLAPD_PID=
SLAPD_PORT=
SLAPD_TLS_PORT=

slapd_require() {
	local t
	for t in "$SLAPD_BIN" "$SLAPADD_BIN" ldapsearch; do
		command -v "$t" >/dev/null 2>&1 || {
			echo "Bail out! $t is missing: run tests/setup-debian.sh (packages slapd, ldap-utils)"
			exit 1
		}
	done
}

_slapd_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

slapd_setup() { # dir cert key
	slapd_require
	SLAPD_DIR=$1
	local modules=/usr/lib/ldap
	[ -e "$modules/back_mdb.so" ] || modules=$(dirname "$(find /usr/lib -name 'back_mdb.so' -print -quit 2>/dev/null)")
	mkdir -p "$SLAPD_DIR/db"
	chmod 700 "$SLAPD_DIR"
	# paths in double quotes: $TMP may have a space in it
	cat >"$SLAPD_DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath "$modules"
moduleload back_mdb
pidfile "$SLAPD_DIR/slapd.pid"
argsfile "$SLAPD_DIR/slapd.args"
TLSCertificateFile "$2"
TLSCertificateKeyFile "$3"
database mdb
maxsize 16777216
suffix "$SLAPD_SUFFIX"
rootdn "$SLAPD_ROOTDN"
rootpw $SLAPD_ROOTPW
directory "$SLAPD_DIR/db"
access to attrs=userPassword by anonymous auth by * none
access to dn.subtree="ou=staff,$SLAPD_SUFFIX" by users read by * none
access to * by * read
EOF
}

slapd_load() { # ldif
	"$SLAPADD_BIN" -q -f "$SLAPD_DIR/slapd.conf" -l "$1" >"$SLAPD_DIR/slapadd.log" 2>&1 || {
		diag <"$SLAPD_DIR/slapadd.log"
		echo "Bail out! slapadd failed"
		exit 1
	}
}

# the ports once chosen stay, so that a restarted slapd keeps its URLs.
# Each is one the kernel gave to a socket just closed: another program may
# take it before slapd binds it (slapd then exits: tried again on other
# ports) or have it already; slapd is only taken once it answers and
# listens on both ports itself.
slapd_start() {
	local try i
	[ -n "${_slapd_at_exit:-}" ] || { at_exit slapd_stop; _slapd_at_exit=1; }
	for try in 1 2 3; do
		[ -n "$SLAPD_PORT" ] && [ "$try" -eq 1 ] || {
			SLAPD_PORT=$(_slapd_free_port)
			SLAPD_TLS_PORT=$(_slapd_free_port)
		}
		SLAPD_URL=ldap://127.0.0.1:$SLAPD_PORT
		SLAPD_TLS_URL=ldaps://127.0.0.1:$SLAPD_TLS_PORT
		# -d: stay in the foreground (no fork), so $! is slapd itself
		"$SLAPD_BIN" -d 0 -f "$SLAPD_DIR/slapd.conf" -h "$SLAPD_URL/ $SLAPD_TLS_URL/" \
			>>"$SLAPD_DIR/slapd.log" 2>&1 &
		SLAPD_PID=$!
		for i in $(seq 1 100); do
			kill -0 "$SLAPD_PID" 2>/dev/null || break
			if ldapsearch -x -LLL -o nettimeout=2 -H "$SLAPD_URL" -b "" -s base namingContexts \
				>/dev/null 2>&1; then
				pid_listens "$SLAPD_PID" "$SLAPD_PORT" && pid_listens "$SLAPD_PID" "$SLAPD_TLS_PORT" &&
					return 0
				break
			fi
			sleep 0.1
		done
		slapd_stop
	done
	tail -20 "$SLAPD_DIR/slapd.log" | diag
	echo "Bail out! slapd did not start"
	exit 1
}

slapd_stop() {
	local i
	[ -n "$SLAPD_PID" ] || return 0
	kill "$SLAPD_PID" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$SLAPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SLAPD_PID" 2>/dev/null
	wait "$SLAPD_PID" 2>/dev/null
	SLAPD_PID=
	return 0
}
