#!/usr/bin/env bash
# Makes a fixture vault (see README.md here) with the coffer binary given as
# $1, into the directory $2; $3 is the size of reports/scan.bin (150000 for
# vault-schema2, 4344304, two content segments, for vault-schema3).
set -euo pipefail
coffer=$1
out=$2
scan_size=${3:-150000}
mkdir -p "$out/in/reports" "$out/keys"
export COFFER_VAULT="$out/vault" COFFER_STATE_DIR="$out/state" COFFER_IDENTITY="$out/keys/alice.identity"
"$coffer" identity new --out "$out/keys/alice.identity" --name alice --no-passphrase >/dev/null
"$coffer" identity new --out "$out/keys/bob.identity" --name bob --no-passphrase >/dev/null
"$coffer" identity new --out "$out/keys/carol.identity" --name carol --no-passphrase >/dev/null
pub() { "$coffer" identity show --identity "$1" --json | sed -n 's/.*"identity":"\([^"]*\)".*/\1/p'; }
"$coffer" init >/dev/null
printf 'Q3 numbers: 1,234,567\n' >"$out/in/reports/q3.txt"
: >"$out/in/reports/empty.txt"
# Deterministic bytes: 150000 hash outputs, then (for a bigger size) a
# pattern that compresses, so that only the ciphertext weighs in the archive.
python3 -c 'import sys,hashlib; n=int(sys.argv[1]); b=b"".join(hashlib.sha256(i.to_bytes(4,"big")).digest() for i in range(6000))[:150000]; b+=bytes(i%251 for i in range(n-len(b))); sys.stdout.buffer.write(b)' "$scan_size" >"$out/in/reports/scan.bin"
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
