#!/usr/bin/env bash
# Runs every benchmark under bench/ (release build) and prints their results, headed by the
# date, the machine and the exact commands, ready to paste into BENCHMARKS.md.
#
#   bench/run.sh            # all: scenarios S1 S2 S4 S5, then every other bench (ingest = S3, ...)
#   bench/run.sh S1 S4      # only these scenarios, no other bench
#
# Needs /usr/sbin/sshd (openssh-server) for the simulated switches.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), memory: $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
echo

status=0
run() {
    echo "\$ $*"
    "$@" || status=$?
    echo
}

cargo bench --no-run --quiet 2>&1 | grep -v '^$' || true
if [ $# -gt 0 ]; then
    run cargo bench --quiet --bench scenarios -- "$@"
    exit $status
fi
run cargo bench --quiet --bench scenarios
for file in bench/*.rs; do
    name=$(basename "$file" .rs)
    [ "$name" = scenarios ] && continue
    grep -q "name = \"$name\"" Cargo.toml || continue
    run cargo bench --quiet --bench "$name"
done
exit $status
