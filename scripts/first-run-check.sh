#!/usr/bin/env bash
# first-run-check.sh - proves a new user's first run: clones the committed HEAD into an empty
# temp folder (nothing beside it), runs the README's quick-start command there exactly as
# written until /healthz answers, stops it, then runs the README's test command from that
# clone, and fails if any process the tests started is still running afterwards.
#
# Usage: scripts/first-run-check.sh      (as root or with sudo, like scripts/test-all.sh)
# Env:   FIRST_RUN_TARGET_DIR=DIR   build into DIR (CARGO_TARGET_DIR) instead of the clone's
#                                   target/: a cache only, the clone builds without it
#        FIRST_RUN_KEEP=1           keep the temp folder for a post-mortem
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '==> first run: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# The commands are read from the README, so the check follows what users are told to type:
# the first two ```sh blocks of "## Quick start".
readme_commands() {
  awk '/^## Quick start/{q=1; next} /^## /{q=0} q && /^```sh/{b=1; next} q && /^```/{b=0} q && b' "$1"
}

# The check itself waits on /healthz with curl, before the test command installs anything.
if ! command -v curl >/dev/null 2>&1; then
  log "installing curl"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
fi

work=$(mktemp -d /tmp/mesa-first-run.XXXXXX)
# netconfd runs as the unprivileged user `netconf` and must reach its state under $work/tmp.
chmod 755 "$work"
serve_pid=''
cleanup() {
  if [ -n "$serve_pid" ]; then kill -TERM -- -"$serve_pid" 2>/dev/null || true; fi
  if [ -z "${FIRST_RUN_KEEP:-}" ]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT

git clone -q "$repo" "$work/mesa"
cd "$work/mesa"
mapfile -t commands < <(readme_commands README.md)
[ ${#commands[@]} -eq 2 ] || die "expected 2 commands in README's Quick start, found: ${commands[*]}"
quick_start=${commands[0]} test_command=${commands[1]}
[ -n "${FIRST_RUN_TARGET_DIR:-}" ] && export CARGO_TARGET_DIR=$FIRST_RUN_TARGET_DIR
mkdir -p "$work/tmp" && chmod 1777 "$work/tmp"
export TMPDIR=$work/tmp

if (: </dev/tcp/127.0.0.1/51360) 2>/dev/null; then die "127.0.0.1:51360 is in use; stop what listens there"; fi
log "in $PWD: $quick_start"
start=$(date +%s)
# Own process group, so that stopping it stops cargo and mesa.
setsid bash -c "$quick_start" >"$work/serve.log" 2>&1 &
serve_pid=$!
until curl -fsS http://127.0.0.1:51360/healthz >/dev/null 2>&1; do
  kill -0 "$serve_pid" 2>/dev/null || { tail -30 "$work/serve.log" >&2; die "'$quick_start' exited"; }
  [ $(($(date +%s) - start)) -lt 3600 ] || die "no /healthz after an hour"
  sleep 2
done
log "/healthz answers after $(($(date +%s) - start)) s; readyz: $(curl -sS http://127.0.0.1:51360/readyz)"
grep -q 'WARN' "$work/serve.log" || { cat "$work/serve.log" >&2; die "no WARN about the missing Mist setup"; }
kill -TERM -- -"$serve_pid"
for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$serve_pid" 2>/dev/null && die "'$quick_start' did not stop on SIGTERM"
serve_pid=''

log "in $PWD: $test_command"
start=$(date +%s)
bash -c "$test_command"
log "test command passed in $(($(date +%s) - start)) s"

# Everything the tests started lives under $work (state dirs, sockets, configs).
sleep 1
if left=$(pgrep -af -- "$work"); then
  die "processes left behind by the tests:"$'\n'"$left"
fi
log "OK: nothing left running"
