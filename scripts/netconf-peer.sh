#!/usr/bin/env bash
# netconf-peer.sh - runs a REAL third-party NETCONF server on 127.0.0.1 for the NETCONF client's
# integration tests (tests/netconf_peer.rs): Debian's yuma123 `netconfd` (RFC 6241 agent, run as
# the unprivileged user `netconf`) behind its own OpenSSH sshd ("Subsystem netconf").
# No systemd, no Docker. Needs root (useradd, sshd, setpriv).
#
# Usage:  scripts/netconf-peer.sh install      # apt-get install what it needs (idempotent)
#         scripts/netconf-peer.sh run PORT     # foreground; see below
#
# `run` starts both servers on 127.0.0.1:PORT with a fresh state dir (empty configuration), prints
# NETCONF_PEER_{HOST,PORT,USER,PASSWORD,KEY,KNOWN_HOSTS}=... lines and READY on stdout, then
# waits until its stdin closes (or SIGTERM/SIGINT) and stops both servers and removes the state.
# The test that starts it holds its stdin: when the test ends, fails or is killed, the pipe
# closes and nothing is left behind. Exit 3: PORT is in use (pick another one).
#
# Quirks of this server (yuma123 netconfd 2.13) the tests rely on:
# - offers base:1.0 and base:1.1 (chunked framing, replies in chunks of ~1986 bytes), :candidate,
#   :confirmed-commit, :validate, :startup, :rollback-on-error; NOT :writable-running;
# - writable: helloworld (http://helloworld.com/ns/helloworld), ietf-interfaces, ietf-system;
# - the client <hello> and the first <rpc> must not share one write;
# - after <validate> of the candidate, the next <commit> drops the edits made before it;
# - netconfd's --port must equal the sshd port, and it will not start over a stale socket.
set -euo pipefail

USR=netconf PW=netconf
PKGS=(netconfd openssh-server openssh-client)
HELLO='<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>'

log() { echo "netconf-peer: $*" >&2; }
die() { log "$*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (use sudo)"; }

cmd_install() {
  need_root
  local p missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "already installed: ${PKGS[*]}"; return; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

S='' NETCONFD_PID='' SSHD_PID=''

cleanup() {
  local pid
  for pid in $SSHD_PID $NETCONFD_PID; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $SSHD_PID $NETCONFD_PID; do
    # netconfd may ignore SIGTERM while busy: give it 5 s, then SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$S" ] && [ -z "${NETCONF_PEER_KEEP:-}" ]; then rm -rf "$S"; fi
}

# hello: open the netconf subsystem with the generated key + known_hosts; expect the server <hello>
hello() {
  timeout 10 ssh -T -F /dev/null -i "$S/client_key" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
    -o UserKnownHostsFile="$S/known_hosts" -o LogLevel=ERROR -p "$PORT" "$USR@127.0.0.1" \
    -s netconf < <(printf '%s' "$HELLO"; sleep 0.5) > "$S/server-hello.xml" 2>/dev/null || true
  grep -q 'urn:ietf:params:netconf:base:1.1' "$S/server-hello.xml"
}

cmd_run() {
  need_root
  PORT=${1:?usage: $0 run PORT}
  [[ -x /usr/sbin/netconfd && -x /usr/sbin/sshd ]] || die "not installed; run: $0 install"
  if (: </dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then log "127.0.0.1:$PORT is in use"; exit 3; fi
  # The user is shared by all peers; parallel tests must not edit /etc/shadow at the same time.
  (
    flock 9
    id "$USR" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USR"
    passwd -S "$USR" 2>/dev/null | awk '{print $2}' | grep -q '^P$' || echo "$USR:$PW" | chpasswd
  ) 9>/tmp/mesa-netconf-peer.lock
  S=$(mktemp -d "${TMPDIR:-/tmp}/mesa-netconf-peer.XXXXXX")
  trap cleanup EXIT
  trap 'exit 0' TERM INT HUP
  local NC=$S/netconfd
  mkdir -p "$NC" /run/sshd && chmod 755 "$S"
  ssh-keygen -q -t ed25519 -N '' -C netconf-peer-host -f "$S/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C netconf-peer-client -f "$S/client_key"
  cp "$S/client_key.pub" "$S/authorized_keys"
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$S/ssh_host_ed25519_key.pub")" > "$S/known_hosts"
  cat > "$S/sshd_config" <<EOF
ListenAddress 127.0.0.1:$PORT
HostKey $S/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $S/authorized_keys
AllowUsers $USR
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
MaxStartups 100
Subsystem netconf /usr/sbin/netconf-subsystem --ncxserver-sockname=$PORT@$NC/ncxserver.sock
EOF
  # newer OpenSSH (>= 9.8) penalises failed logins per source address; tests do fail logins
  if /usr/sbin/sshd -t -f "$S/sshd_config" -o PerSourcePenalties=no 2>/dev/null; then
    echo "PerSourcePenalties no" >> "$S/sshd_config"
  fi
  /usr/sbin/sshd -t -f "$S/sshd_config"
  echo '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>' > "$NC/startup-cfg.xml"
  chown -R "$USR:" "$NC"
  local ifmod=(/usr/share/yuma/modules/ietf/ietf-interfaces@*.yang)
  # --port must equal the sshd port or netconfd drops the session; --superuser bypasses NACM;
  # ietf-interfaces is loaded by file name so that no SIL code (which runs ifconfig) is loaded.
  # --pdeathsig: both servers die with this script even if it is SIGKILLed.
  (cd "$NC" && exec setpriv --pdeathsig TERM --reuid="$USR" --regid="$USR" --init-groups \
     env HOME="$NC" USER="$USR" /usr/sbin/netconfd --ncxserver-sockname="$NC/ncxserver.sock" \
     --port="$PORT" --superuser="$USR" --target=candidate --with-startup=true \
     --with-validate=true --startup="$NC/startup-cfg.xml" --module=helloworld \
     --module=iana-if-type --module="${ifmod[-1]}" \
     --log="$NC/netconfd.log" --log-level=debug </dev/null >"$NC/netconfd.out" 2>&1) &
  NETCONFD_PID=$!
  setpriv --pdeathsig TERM /usr/sbin/sshd -D -f "$S/sshd_config" -E "$S/sshd.log" </dev/null &
  SSHD_PID=$!
  local up=no
  for _ in $(seq 100); do
    kill -0 "$NETCONFD_PID" 2>/dev/null || die "netconfd exited: $(tail -5 "$NC/netconfd.log" 2>/dev/null)"
    if ! kill -0 "$SSHD_PID" 2>/dev/null; then
      # Lost a race for the port with another process.
      grep -q 'Address already in use' "$S/sshd.log" 2>/dev/null && exit 3
      die "sshd exited: $(tail -5 "$S/sshd.log")"
    fi
    if [ -S "$NC/ncxserver.sock" ] && hello; then up=yes; break; fi
    sleep 0.1
  done
  [ $up = yes ] || die "no NETCONF <hello> on 127.0.0.1:$PORT: $(tail -5 "$S/sshd.log")"
  cat <<EOF
NETCONF_PEER_HOST=127.0.0.1
NETCONF_PEER_PORT=$PORT
NETCONF_PEER_USER=$USR
NETCONF_PEER_PASSWORD=$PW
NETCONF_PEER_KEY=$S/client_key
NETCONF_PEER_KNOWN_HOSTS=$S/known_hosts
READY
EOF
  # Blocks until the holder of our stdin goes away; `wait` lets the TERM/INT trap run at once.
  cat <&0 >/dev/null &
  wait $! || true
}

case "${1:-}" in
  install) cmd_install ;;
  run)     shift; cmd_run "$@" ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2 ;;
esac
