#!/bin/bash
# p11smime tokens: modules, slots, tokens and PIN state, human and JSON;
# the same token seen through two modules is listed once.
. "$top_srcdir/tests/integration/lib.sh"
plan 12
fixtures

run --module "$MODULE" tokens
check "tokens exits 0" rc_is 0
check "tokens lists the user token" out_has "token 'p11smime-user'"
check "tokens lists the PIV-like token" out_has "token 'p11smime-piv'"
check "tokens says a login is required" out_has "login:        required"
check "tokens shows each token's pkcs11: URI" out_has "uri:          pkcs11:model=SoftHSM%20v2;"

run --module "$MODULE" tokens --json
check "tokens --json is valid JSON" json_ok
check "tokens --json has the tokens and their PIN flags" json_q '
  any(s.get("token",{}).get("label")=="p11smime-piv" and s["token"]["login_required"]
      and not s["token"]["user_pin_locked"] and not s["token"]["user_pin_final_try"]
      for m in d["modules"] for s in m["slots"])'

# default: every module registered with p11-kit (softhsm2 registers itself)
run tokens
check "without --module, p11-kit's registered modules are used" out_has "token 'p11smime-user'"

# the same SoftHSM token through a second module: listed once
cp "$MODULE" "$TMP/libsofthsm2-copy.so"
run --module "$MODULE" --module "$TMP/libsofthsm2-copy.so" tokens --json
check "a second module showing the same token is seen" json_q '
  sum(1 for m in d["modules"] for s in m["slots"]
      if s.get("token",{}).get("label")=="p11smime-user")==2'
check "...and the token is marked as a duplicate once" json_q '
  sum(1 for m in d["modules"] for s in m["slots"]
      if s.get("token",{}).get("label")=="p11smime-user" and not s["token"]["duplicate"])==1'
run --module "$MODULE" --module "$TMP/libsofthsm2-copy.so" keys --pin-source "$USER_PIN" \
	--token "pkcs11:token=p11smime-user" --json
check "keys lists a duplicated token's keys once" json_q '
  sum(1 for k in d["keys"] if k["label"]=="alice")==1'

run tokens --help
check "tokens --help explains the command" out_has "Usage: p11smime tokens"
done_testing
