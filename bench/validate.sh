#!/usr/bin/env bash
# Validation must stay linear in the file size: a drill with 64,000 bad durations (one
# diagnostic each) is validated in under 2 s by a release build, or this fails.
# Usage: bench/validate.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "$0")/lib.sh"
bin=${1:-$bin}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 - "$scratch/many.toml" <<'PY'
import sys
stages = ",\n".join('{ duration = "%ds-ish", target = 1 }' % i for i in range(64000))
open(sys.argv[1], "w").write(f'''target = "http://127.0.0.1:1"
[[requests]]
name = "r"
path = "/"
[[phases]]
name = "ramp"
executor = "ramping-vus"
stages = [
{stages}
]
''')
PY
start=$(date +%s.%N)
set +e
"$bin" validate "$scratch/many.toml" 2> "$scratch/errors" >/dev/null
code=$?
set -e
end=$(date +%s.%N)
lines=$(wc -l < "$scratch/errors")
secs=$(python3 -c "print(f'{$end - $start:.2f}')")
echo "validate: 64000 bad durations, $lines diagnostics, exit $code, ${secs}s"
[[ $code -eq 2 ]] || { echo "expected exit 2"; exit 1; }
[[ $lines -ge 64000 ]] || { echo "expected one diagnostic per bad duration"; exit 1; }
python3 -c "import sys; sys.exit(0 if $end - $start < 2.0 else 1)" || { echo "validation took ${secs}s (limit 2 s): no longer linear?"; exit 1; }
