#!/bin/bash
# p11smime demo: from a fresh Debian 12 machine (as root) to a SoftHSM token
# holding a small PKI; a real message signed, encrypted, decrypted and
# verified with the keys on it, and tampered copies caught.
#
#   bash softhsm-fixtures/demo.sh            installs, builds, makes tokens, runs
#   bash softhsm-fixtures/demo.sh BUILDDIR   uses an already built tree
#
# The tokens live in ./_demo (SOFTHSM2_CONF points there); your own tokens
# and settings are never touched.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}

if [ -z "$build" ]; then
	bash "$top/tests/setup-debian.sh"
	build=$top/_build-demo
	if [ ! -x "$build/p11smime" ]; then
		echo "== building p11smime in $build"
		(cd "$top" && [ -x configure ] || ./autogen.sh >/dev/null 2>&1)
		mkdir -p "$build"
		(cd "$build" && { [ -f Makefile ] || "$top/configure" >/dev/null; } && make -j"$(nproc)" >/dev/null)
	fi
fi
P11SMIME=$build/p11smime
demo=$top/_demo
export P11SMIME_HOME=$demo/home

echo "== making a test PKI and two SoftHSM tokens in $demo"
rm -rf "$demo"
mkdir -p "$P11SMIME_HOME"
"$top/softhsm-fixtures/mkfixtures.sh" all "$demo" >"$demo.log" 2>&1 ||
	{ cat "$demo.log"; exit 1; }
# shellcheck disable=SC1091
. "$demo/env.sh"

# show ARGS...: the command as it can be pasted (quoted: a pkcs11: URI
# holds ';'), then its run
show() { echo; printf '$ p11smime'; printf ' %q' "$@"; echo; "$P11SMIME" "$@"; }

show --module "$P11SMIME_TEST_MODULE" tokens
show --module "$P11SMIME_TEST_MODULE" keys --token "$P11SMIME_TEST_PIV_TOKEN_URI"
echo "(no PIN given: the token shows only its certificates)"
show --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_PIV_PIN_FILE" \
	keys --token "$P11SMIME_TEST_PIV_TOKEN_URI"
show --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_USER_PIN_FILE" \
	keys --token "$P11SMIME_TEST_USER_TOKEN_URI"

# a real message, signed on the token by the key whose certificate has the From: address
cat >"$demo/message.eml" <<'MSG'
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Quarterly figures
Date: Sat, 28 Nov 2026 12:00:00 +0000
Message-ID: <demo-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hello Bob,

the figures are attached in my head. Grüße, Alice
MSG
# (--anchors: the root the chain ends at, so sign knows the chain it sends
# is complete; a real machine has its CA in the system store)
show --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_USER_PIN_FILE" \
	sign --anchors "$P11SMIME_TEST_PKI/anchors.pem" -o "$demo/signed.eml" "$demo/message.eml"
echo "--- $demo/signed.eml (first lines) ---"
sed -n '1,22p' "$demo/signed.eml"
echo "..."
show verify --anchors "$P11SMIME_TEST_PKI/anchors.pem" -o "$demo/verified.eml" "$demo/signed.eml"
echo "--- the verified content ---"
cat "$demo/verified.eml"
echo
sed 's/Hello Bob/Hello Eve/' "$demo/signed.eml" >"$demo/tampered.eml"
echo "\$ p11smime verify ... tampered.eml   (one word changed)"
"$P11SMIME" verify --anchors "$P11SMIME_TEST_PKI/anchors.pem" -o "$demo/tampered.out" "$demo/tampered.eml" ||
	echo "(exit $?: nothing was written to tampered.out)"

# sign on the token and encrypt, in one pass, to Bob and to Alice herself
show --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_USER_PIN_FILE" \
	sign-encrypt --anchors "$P11SMIME_TEST_PKI/anchors.pem" -o "$demo/encrypted.eml" "$demo/message.eml"
echo "--- $demo/encrypted.eml (first lines) ---"
sed -n '1,16p' "$demo/encrypted.eml"
echo "..."
# decrypt it: the key is found from the message itself, which names its
# recipients (Bob, and Alice for her own copy; both keys are on the user
# token, so the first, Alice's, is taken; --key would choose Bob's), and
# Alice's signature inside is checked in the same step
show --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_USER_PIN_FILE" \
	decrypt --anchors "$P11SMIME_TEST_PKI/anchors.pem" -o "$demo/decrypted.eml" "$demo/encrypted.eml"
echo "--- the decrypted message, as a mail program shows it ---"
cat "$demo/decrypted.eml"
echo
echo "\$ p11smime decrypt ... (one bit of the encrypted message flipped)"
python3 - "$demo/encrypted.eml" "$demo/flipped.eml" <<'PY'
import base64, sys
head, body = open(sys.argv[1], 'rb').read().split(b'\n\n', 1)
der = bytearray(base64.b64decode(body))
der[len(der) // 2] ^= 1
open(sys.argv[2], 'wb').write(head + b'\n\n' + base64.encodebytes(bytes(der)))
PY
"$P11SMIME" --module "$P11SMIME_TEST_MODULE" --pin-source "file:$P11SMIME_TEST_USER_PIN_FILE" \
	decrypt -o "$demo/flipped.out" "$demo/flipped.eml" ||
	echo "(exit $?: AES-GCM caught it, nothing was written to flipped.out)"
echo
echo "The PINs came from files readable only by you (chmod 600), never from the command line."
echo
echo "To go on with these tokens yourself:"
echo "  . $demo/env.sh       # SOFTHSM2_CONF and the P11SMIME_TEST_* paths"
echo "  $P11SMIME --module \"\$P11SMIME_TEST_MODULE\" --pin-source \"file:\$P11SMIME_TEST_USER_PIN_FILE\" keys"
