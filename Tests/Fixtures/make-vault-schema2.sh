#!/usr/bin/env bash
# Makes Tests/Fixtures/vault-schema2.tar.gz (see README.md there) with the coffer
# binary given as $1, into the directory $2.
set -euo pipefail
coffer=$1
out=$2
mkdir -p "$out/in/reports" "$out/keys"
export COFFER_VAULT="$out/vault" COFFER_STATE_DIR="$out/state" COFFER_IDENTITY="$out/keys/alice.identity"
"$coffer" identity new --out "$out/keys/alice.identity" --name alice --no-passphrase >/dev/null
"$coffer" identity new --out "$out/keys/bob.identity" --name bob --no-passphrase >/dev/null
"$coffer" identity new --out "$out/keys/carol.identity" --name carol --no-passphrase >/dev/null
pub() { "$coffer" identity show --identity "$1" --json | sed -n 's/.*"identity":"\([^"]*\)".*/\1/p'; }
"$coffer" init >/dev/null
printf 'Q3 numbers: 1,234,567\n' >"$out/in/reports/q3.txt"
: >"$out/in/reports/empty.txt"
# Three frames and a bit: deterministic bytes.
python3 -c 'import sys,hashlib; b=b"".join(hashlib.sha256(i.to_bytes(4,"big")).digest() for i in range(6000)); sys.stdout.buffer.write(b[:150000])' >"$out/in/reports/scan.bin"
printf 'merger plan\n' >"$out/in/plan.txt"
"$coffer" seal "$out/in/reports" --label confidential >/dev/null
"$coffer" seal "$out/in/plan.txt" --label confidential >/dev/null
"$coffer" role create legal --clearance confidential >/dev/null
"$coffer" role add legal "$(pub "$out/keys/bob.identity")" --name bob >/dev/null
"$coffer" role add legal "$(pub "$out/keys/carol.identity")" --name carol >/dev/null
"$coffer" share reports/q3.txt --role legal >/dev/null
"$coffer" share plan.txt --role legal >/dev/null
COFFER_IDENTITY="$out/keys/bob.identity" "$coffer" open reports/q3.txt -o - >/dev/null
"$coffer" rotate role legal >/dev/null
"$coffer" rotate doc plan.txt >/dev/null
"$coffer" revoke carol >/dev/null
"$coffer" gc >/dev/null
"$coffer" backup create "$out/backup" >/dev/null
"$coffer" verify >/dev/null
