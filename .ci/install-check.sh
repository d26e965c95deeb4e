#!/usr/bin/env bash
# Installable outside a clone: `npm pack` makes a tarball (with LICENSE), `npm install -g` of it into a throwaway
# prefix gives a working `dsql-proxy` command. Needs the repository's dev dependencies (npm ci) for the build.
set -uo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/dsql-proxy-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "[install] FAILED: $*"; exit 1; }
npm pack --silent --pack-destination "$tmp" >"$tmp/pack.log" 2>&1 || { cat "$tmp/pack.log"; fail "npm pack"; }
version=$(node -p 'require("./package.json").version')
tarball="$tmp/dsql-proxy-$version.tgz"
[[ -f $tarball ]] || fail "npm pack made no $tarball"
contents=$(tar -tzf "$tarball")
for f in package/LICENSE package/README.md package/bin/dsql-proxy.js package/dist/cli.js; do
  grep -qx "$f" <<<"$contents" || fail "$f is not in the tarball"
done
npm install -g --prefix "$tmp/prefix" --no-audit --no-fund "$tarball" >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "npm install -g $tarball"; }
help=$("$tmp/prefix/bin/dsql-proxy" --help 2>&1) || { echo "$help" | tail -n 5; fail "dsql-proxy --help exited non-zero"; }
grep -q 'dsql-proxy serve' <<<"$help" || fail "dsql-proxy --help printed no usage"
[[ $("$tmp/prefix/bin/dsql-proxy" --version) == "$version" ]] || fail "dsql-proxy --version is not $version"
echo "[install] npm pack + npm install -g: dsql-proxy $version runs --help from $(basename "$tarball")"
