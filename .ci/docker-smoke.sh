#!/usr/bin/env bash
# The image for real: build it (on a local stand-in for node:24-bookworm-slim when no registry is reachable), check
# `docker run IMAGE --help`, start the shipped docker-compose.yml with a CI override, wait for `healthy`, run a psql
# query through the loopback-published port to the DSQL emulator + PostgreSQL, stop it (SIGTERM) and expect exit 0.
# Exit status: 0 passed, 1 failed, 77 skipped (Docker cannot be installed or started here; the reason is printed).
# Needs root. Leaves no process behind: a dockerd it started is stopped again (images stay, so reruns are faster).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
D=/usr/bin/docker # Debian's CLI: a newer one without buildx may come first in PATH
SKIPPED=77
image=dsql-proxy:ci-smoke
project=dsqlproxysmoke$$
network=${project}_net
# A fixed bridge subnet, so the upstream's address (the gateway, i.e. this host) is known before the container starts.
subnet=172.30.199.0/24
gateway=172.30.199.1
standin=${NODE_BASE_STANDIN:-$repo/../shared/tools/node-base-standin.sh}
[[ -f $standin ]] || standin=/work/shared/tools/node-base-standin.sh

work=$(mktemp -d /tmp/dsql-proxy-docker-smoke.XXXXXX)
chmod 755 "$work"
dockerd_pid='' upstream_pid='' compose_up='' network_made=''
compose() { docker-compose -f "$repo/docker-compose.yml" -f "$work/override.yml" --project-directory "$work" -p "$project" "$@"; }
say() { echo "[docker-smoke] $*"; }
cleanup() {
  [[ -n $compose_up ]] && compose down --timeout 5 >/dev/null 2>&1
  [[ -n $network_made ]] && $D network rm "$network" >/dev/null 2>&1
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

# 4. Upstream: the DSQL emulator and PostgreSQL on this host, reachable from the container through the bridge gateway.
$D network create --subnet "$subnet" --gateway "$gateway" "$network" >/dev/null 2>&1 || skip "cannot create a bridge network"
network_made=1
npx tsc -p .ci/tsconfig.upstream.json --outDir "$work/upstream-js" || fail "compiling test/support/standalone-upstream.ts"
echo '{"type":"module"}' >"$work/upstream-js/package.json"
node "$work/upstream-js/test/support/standalone-upstream.js" "$work" "$gateway" >"$work/upstream.log" 2>&1 &
upstream_pid=$!
for _ in $(seq 1 120); do grep -q '^ready$' "$work/upstream.log" && break; kill -0 "$upstream_pid" 2>/dev/null || break; sleep 0.5; done
grep -q '^ready$' "$work/upstream.log" || { cat "$work/upstream.log"; fail "the emulator and PostgreSQL did not start"; }

# 5. The shipped compose file, changed only by an override: the CI image tag, the emulator's CA, the fake AWS profile
# in place of ~/.aws, the external network. Settings reach it as a user's would, from .env in the project directory.
host_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
{ cat "$work/upstream.env"; echo "HOST_PORT=$host_port"; } >"$work/.env"
cat >"$work/override.yml" <<YAML
services:
  dsql-proxy:
    image: $image
    build:
      context: $repo
      network: host
    environment:
      - DSQL_PROXY_CA_FILE=/etc/dsql-proxy-smoke/ca.crt
      - AWS_EC2_METADATA_DISABLED=true
    volumes:
      - $work/aws:/home/node/.aws:ro
      - $work/ca.crt:/etc/dsql-proxy-smoke/ca.crt:ro
networks:
  default:
    name: $network
    external: true
YAML
compose config >"$work/config.yml" 2>&1 || { cat "$work/config.yml"; fail "docker-compose config"; }
grep -q "127.0.0.1:$host_port:5432" "$work/config.yml" || fail "the port is not published on loopback only"
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

# 7. A query through the published port, the proxy in the container, the emulator (SNI, cluster id, SigV4) to PostgreSQL.
answer=$(PGCONNECT_TIMEOUT=10 psql -X -A -t -h 127.0.0.1 -p "$host_port" -U admin -d postgres -c "select 'through the image as ' || current_user" 2>&1)
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
