#!/usr/bin/env bash
# Build the SDKs of the interop matrix (tests/test_interop_matrix.py), each apart from ours as a user's app would be:
# a venv per tests/interop/requirements-<sdk>.txt under $1 (default .interop), and the Vercel AI SDK's npm packages
# (npm ci in tests/interop/vercel). Run by `make interop` (and so by `make test`).
set -euo pipefail
root=${1:-.interop}
python=${PYTHON:-python3}
mkdir -p "$root"
pids=()
for requirements in tests/interop/requirements-*.txt; do
    sdk=$(basename "$requirements" .txt)
    sdk=${sdk#requirements-}
    (
        rm -rf "$root/$sdk"
        "$python" -m venv "$root/$sdk"
        "$root/$sdk/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
            >"$root/$sdk.log" 2>&1 || { echo "interop: installing $sdk failed, see $root/$sdk.log" >&2; exit 1; }
    ) &
    pids+=($!)
done
if ! command -v npm >/dev/null; then
    echo "interop: the Vercel AI SDK needs Node.js and npm: apt-get install -y nodejs npm" >&2
    exit 1
fi
(cd tests/interop/vercel && npm ci --no-audit --no-fund --loglevel=error >/dev/null) &
pids+=($!)
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
