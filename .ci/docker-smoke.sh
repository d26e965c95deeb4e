#!/usr/bin/env bash
# The image for real: build it (on a local stand-in for node:24-bookworm-slim when no registry is reachable), check
# `docker run IMAGE --help`, start the shipped docker-compose.yml (minus its `ports:`) with a CI override, wait for
# `healthy`, run a psql query through it to the DSQL emulator + PostgreSQL, stop it (SIGTERM) and expect exit 0.
# Every connection stays on loopback (tests here may reach nothing beyond 127.0.0.0/8 and ::1): dockerd runs without
# a bridge, the container shares the host's network (network_mode: host) and the proxy, its health endpoint, the
# emulator and PostgreSQL all listen on 127.0.0.1.
# Exit status: 0 passed, 1 failed, 77 skipped (Docker cannot be installed or started here; the reason is printed).
# Needs root. Leaves no process behind: a dockerd it started is stopped again (images stay, so reruns are faster).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
D=/usr/bin/docker # Debian's CLI: a newer one without buildx may come first in PATH
SKIPPED=77
image=dsql-proxy:ci-smoke
project=dsqlproxysmoke$$
standin=${NODE_BASE_STANDIN:-$repo/../shared/tools/node-base-standin.sh}
[[ -f $standin ]] || standin=/work/shared/tools/node-base-standin.sh

work=$(mktemp -d /tmp/dsql-proxy-docker-smoke.XXXXXX)
chmod 755 "$work"
dockerd_pid='' upstream_pid='' compose_up=''
# The shipped file as a user runs it (for the checks of what it publishes), and the one the test runs: the shipped file
# without its ports: (docker-compose 1.29 refuses network_mode: host next to port bindings, and merges ports: from
# every file, so an override cannot drop them) plus the CI override. The same project directory, so paths resolve alike.
shipped() { docker-compose -f "$repo/docker-compose.yml" --project-directory "$work" -p "$project" "$@"; }
compose() { docker-compose -f "$work/docker-compose.yml" -f "$work/override.yml" --project-directory "$work" -p "$project" "$@"; }
say() { echo "[docker-smoke] $*"; }
cleanup() {
  [[ -n $compose_up ]] && compose down --timeout 5 >/dev/null 2>&1
  if [[ -n $upstream_pid ]]; then kill "$upstream_pid" 2>/dev/null; wait "$upstream_pid" 2>/dev/null; fi
  if [[ -n $dockerd_pid ]]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    wait "$dockerd_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
skip() { say "SKIPPED: $*"; exit "$SKIPPED"; }
fail() { say "FAILED: $*"; exit 1; }

# 1. Docker, as /work/shared/tools/node-base-standin.sh describes it for these machines.
[[ $(id -u) -eq 0 ]] || skip "needs root (to install and start Docker)"
if [[ ! -x $D ]] || ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing docker.io docker-compose debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io docker-compose debootstrap; } >"$work/apt.log" 2>&1 \
    || { tail -n 5 "$work/apt.log"; skip "Docker could not be installed (apt-get install docker.io docker-compose debootstrap failed)"; }
fi
if ! $D info >/dev/null 2>&1; then
  say "starting dockerd"
  dockerd --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do $D info >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  $D info >/dev/null 2>&1 || { tail -n 5 "$work/dockerd.log"; skip "dockerd did not start"; }
fi

# 2. The base image: a stand-in unless it is here already (no registry is reachable from these machines).
base=$(awk 'toupper($1)=="FROM" && $2 ~ /^node:/ {print $2; exit}' Dockerfile)
if ! $D image inspect "$base" >/dev/null 2>&1; then
  [[ -f $standin ]] || skip "no $base image and no stand-in builder at $standin"
  say "building a stand-in for $base"
  t=$SECONDS
  bash "$standin" Dockerfile || skip "the stand-in for $base could not be built"
  say "stand-in built in $((SECONDS - t)) s"
fi

# 3. The image, and its entrypoint.
t=$SECONDS
$D build --network host -t "$image" . >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log"; fail "docker build"; }
say "docker build: $((SECONDS - t)) s"
help=$($D run --rm --network none "$image" --help 2>&1) || { echo "$help" | tail -n 5; fail "docker run $image --help exited non-zero"; }
grep -q 'dsql-proxy serve' <<<"$help" || fail "docker run $image --help printed no usage"
say "docker run $image --help: exit 0"
# What the image promises besides: Node 24, the non-root node user, production dependencies only, a HEALTHCHECK.
node_version=$($D run --rm --network none --entrypoint node "$image" --version)
[[ $node_version == v24.* ]] || fail "the image runs node $node_version, not 24"
[[ $($D image inspect -f '{{.Config.User}}' "$image") == node ]] || fail "the image does not run as user node"
$D run --rm --network none --entrypoint sh "$image" -c 'test -d /app/node_modules/yargs && test ! -e /app/node_modules/typescript && test ! -e /app/node_modules/vitest' \
  || fail "the image's node_modules is not production dependencies only"
$D image inspect -f '{{json .Config.Healthcheck.Test}}' "$image" | grep -q '"healthcheck"' || fail "no HEALTHCHECK running dsql-proxy healthcheck"

# 4. Upstream: the DSQL emulator and PostgreSQL on this host's 127.0.0.1, which the container shares.
npx tsc -p .ci/tsconfig.upstream.json --outDir "$work/upstream-js" || fail "compiling test/support/standalone-upstream.ts"
echo '{"type":"module"}' >"$work/upstream-js/package.json"
node "$work/upstream-js/test/support/standalone-upstream.js" "$work" >"$work/upstream.log" 2>&1 &
upstream_pid=$!
for _ in $(seq 1 120); do grep -q '^ready$' "$work/upstream.log" && break; kill -0 "$upstream_pid" 2>/dev/null || break; sleep 0.5; done
grep -q '^ready$' "$work/upstream.log" || { cat "$work/upstream.log"; fail "the emulator and PostgreSQL did not start"; }
grep -qx 'DSQL_PROXY_ENDPOINT=127\.0\.0\.1:[0-9]*' "$work/upstream.env" || fail "the emulator's endpoint is not on 127.0.0.1"

# 5. Settings reach the proxy as a user's would, from .env in the project directory. On the host's network the proxy
# cannot keep the image's 0.0.0.0:5432 and 127.0.0.1:9801: two free loopback ports instead (the image's HEALTHCHECK,
# `dsql-proxy healthcheck`, reads DSQL_PROXY_HTTP_LISTEN from the container's environment, so it follows).
read -r pg_port http_port < <(node -e '
  const net = require("net"), a = net.createServer(), b = net.createServer();
  a.listen(0, "127.0.0.1", () => b.listen(0, "127.0.0.1", () => {
    console.log(a.address().port, b.address().port); a.close(); b.close();
  }));')
[[ -n $http_port ]] || fail "no free loopback ports"
{
  cat "$work/upstream.env"
  echo "DSQL_PROXY_LISTEN=127.0.0.1:$pg_port"
  echo "DSQL_PROXY_HTTP_LISTEN=127.0.0.1:$http_port"
  echo "HOST_PORT=$pg_port" # only for the check of the shipped file's published port
} >"$work/.env"

# The shipped file: it publishes on the host's loopback only, which is what makes its unauthenticated setting safe.
shipped config >"$work/shipped-config.yml" 2>&1 || { cat "$work/shipped-config.yml"; fail "docker-compose -f docker-compose.yml config"; }
published=$(awk '/^    ports:$/ {p = 1; next} p && /^    - / {print $2; next} {p = 0}' "$work/shipped-config.yml")
[[ $published == "127.0.0.1:$pg_port:5432/tcp" ]] \
  || { echo "${published:-(nothing published)}"; fail "the shipped docker-compose.yml does not publish 5432 on loopback only"; }
grep -q '^      DSQL_PROXY_ALLOW_UNAUTHENTICATED: "true"$' "$work/shipped-config.yml" \
  || fail "the shipped docker-compose.yml does not set DSQL_PROXY_ALLOW_UNAUTHENTICATED"

# The file the test runs: the shipped one without the ports: of services.dsql-proxy (the key, its comments, its items).
# Anything but the expected shape (block-style "    ports:" under "  dsql-proxy:", items "      - …") stops the test.
awk '
  /^[^[:space:]#]/ { top = $0; svc = "" }
  top ~ /^services:[[:space:]]*$/ && /^  [^[:space:]#]/ { svc = $0 }
  dropping {
    if (/^[[:space:]]*$/ || /^      [[:space:]]*#/ || /^        /) next # blank, its comments, an item'"'"'s continuation
    if (/^      - /) { items++; next }
    if (/^      /) { bad = "unexpected line in it: " $0; next }
    dropping = 0
  }
  svc ~ /^  dsql-proxy:[[:space:]]*$/ && /^    ports:/ {
    if (!/^    ports:[[:space:]]*$/) bad = "not a block list: " $0
    found++; dropping = 1; next
  }
  { print }
  END {
    if (!bad && found != 1) bad = "expected one under services.dsql-proxy, found " found + 0
    if (!bad && items < 1) bad = "no list items"
    if (bad) { print "ports: of docker-compose.yml: " bad > "/dev/stderr"; exit 3 }
  }' "$repo/docker-compose.yml" >"$work/docker-compose.yml" || fail "docker-compose.yml changed shape: cannot drop its ports: for the test"
# Nothing but the ports went: its resolved config is the shipped one's without the ports block.
docker-compose -f "$work/docker-compose.yml" --project-directory "$work" -p "$project" config >"$work/derived-config.yml" 2>&1 \
  || { cat "$work/derived-config.yml"; fail "docker-compose config of the shipped file without ports:"; }
awk '/^    ports:$/ {p = 1; next} p && /^    - / {next} {p = 0; print}' "$work/shipped-config.yml" \
  | diff - "$work/derived-config.yml" || fail "dropping ports: changed more than the ports of docker-compose.yml"

# The CI override: the host's network, the CI image tag, the emulator's CA, the fake AWS profile in place of ~/.aws.
cat >"$work/override.yml" <<YAML
services:
  dsql-proxy:
    image: $image
    build:
      context: $repo
      network: host
    network_mode: host
    environment:
      - DSQL_PROXY_CA_FILE=/etc/dsql-proxy-smoke/ca.crt
      - AWS_EC2_METADATA_DISABLED=true
    volumes:
      - $work/aws:/home/node/.aws:ro
      - $work/ca.crt:/etc/dsql-proxy-smoke/ca.crt:ro
YAML
compose config >"$work/config.yml" 2>&1 || { cat "$work/config.yml"; fail "docker-compose config"; }
grep -q '^    network_mode: host$' "$work/config.yml" || fail "the test's compose config does not use the host's network"
! grep -q '^    ports:' "$work/config.yml" || fail "the test's compose config still publishes ports"
compose_up=1
say "docker-compose up -d"
compose up -d --no-build >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "docker-compose up"; }
cid=$(compose ps -q dsql-proxy)
[[ -n $cid ]] || fail "no dsql-proxy container"

# 6. Healthy (the image's HEALTHCHECK: dsql-proxy healthcheck against /readiness), bounded.
status=''
started=$SECONDS
while ((SECONDS - started < 120)); do
  status=$($D inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$cid")
  # unhealthy: the start period and three checks in a row have failed.
  [[ $status == 'running healthy' || $status == 'running unhealthy' || $status != running* ]] && break
  sleep 1
done
if [[ $status != 'running healthy' ]]; then
  compose logs --no-color | tail -n 20
  $D inspect -f '{{json .State.Health}}' "$cid" | tail -c 1500; echo
  fail "container not healthy after $((SECONDS - started)) s: $status"
fi
say "healthy after $((SECONDS - started)) s"

# 7. A query on loopback through the proxy in the container, the emulator (SNI, cluster id, SigV4) to PostgreSQL.
answer=$(PGCONNECT_TIMEOUT=10 psql -X -A -t -h 127.0.0.1 -p "$pg_port" -U admin -d postgres -c "select 'through the image as ' || current_user" 2>&1)
[[ $answer == 'through the image as admin' ]] || { echo "$answer"; compose logs --no-color | tail -n 20; fail "psql through the container"; }
say "psql: $answer"

# 8. SIGTERM (docker-compose stop, through the init) ends the proxy with exit status 0.
compose stop >/dev/null 2>&1 || fail "docker-compose stop"
code=$($D inspect -f '{{.State.ExitCode}}' "$cid")
[[ $code == 0 ]] || { compose logs --no-color | tail -n 10; fail "exit status $code after SIGTERM (expected 0)"; }
say "stopped: exit status 0"
compose down >/dev/null 2>&1 || fail "docker-compose down"
compose_up=''
say "passed"
