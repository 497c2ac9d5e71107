#!/usr/bin/env bash
# A second Docker engine for the multi-engine tests (test/engines/), on this machine and loopback
# only, sharing no data root, exec root or mounts with the first:
#
#   - dockerd with its own --data-root, --exec-root, --pidfile and a unix socket under $DIR, no
#     bridge, no iptables, no ip forwarding, started inside a private mount namespace (unshare -m)
#     held by a tiny holder process, so a restarted dockerd lands in the SAME namespace as the
#     containerd and shims it left behind;
#   - sshd (Debian's openssh-server) on 127.0.0.1:$PORT, key auth only, with a generated key whose
#     authorized_keys entry forces `docker system dial-stdio` against the SECOND engine's socket
#     (docker-modem's ssh transport runs exactly that command), so ssh://root@127.0.0.1:$PORT
#     reaches engine two;
#   - the same dockerd also on tcp://127.0.0.1:$TLS_PORT (loopback only) with --tlsverify: a CA, a
#     server certificate (SAN IP:127.0.0.1) and a client certificate made with openssl under
#     $DIR/tls/ once per `up` ($DIR/tls/client is a DOCKER_CERT_PATH-style ca.pem/cert.pem/key.pem);
#     without openssl (and no apt-get to install it) only the TLS part is left out, with a reason;
#   - berth-busybox:1 and berth-debian:bookworm-1 copied in with `docker save | docker -H ... load`
#     (never rebuilt, never pulled).
#
# Usage: second-engine.sh up | down | kill-engine | start-engine | env
#   up            start everything (idempotent); prints the env lines (also in $DIR/env)
#   kill-engine   SIGKILL dockerd, its containerd, shims and containers (an engine whose host died); sshd stays
#   start-engine  start dockerd again in the same namespace
#   down          stop everything and remove $DIR
# Environment: BERTH_ENGINE2_DIR, BERTH_ENGINE2_SSH_PORT (22622), BERTH_ENGINE2_TLS_PORT (22376).
# Exit codes: 0 ok, 2 cannot run here (the reason is printed as "skip: ..."), 1 failed.
set -euo pipefail

DIR="${BERTH_ENGINE2_DIR:-${TMPDIR:-/tmp}/berth-engine2}"
PORT="${BERTH_ENGINE2_SSH_PORT:-22622}"
TLS_PORT="${BERTH_ENGINE2_TLS_PORT:-22376}"
TLS="$DIR/tls"
# busybox for sessions; debian for remote workspaces' git helper (docker/workspace-volume.ts).
IMAGES="${BERTH_ENGINE2_IMAGES:-berth-busybox:1 berth-debian:bookworm-1}"
SOCK="$DIR/docker.sock"
log() { printf 'second-engine: %s\n' "$*" >&2; }
skip() {
  printf 'skip: %s\n' "$*"
  exit 2
}
d2() { docker -H "unix://$SOCK" "$@"; }
answers() { [ -S "$SOCK" ] && d2 version --format '{{.Server.Version}}' >/dev/null 2>&1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

preflight() {
  [ "$(id -u)" = 0 ] || skip "a second dockerd needs root (this is uid $(id -u))"
  command -v dockerd >/dev/null || skip "dockerd is not installed"
  command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
  command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
  docker version >/dev/null 2>&1 || skip "the first engine does not answer (run scripts/ensure-docker.sh)"
}

holder() {
  # The mount namespace lives as long as this process: dockerd is (re)started inside it.
  if alive "$DIR/ns.pid"; then return; fi
  setsid unshare -m --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  echo $! >"$DIR/ns.pid"
  sleep 0.2
  alive "$DIR/ns.pid" || {
    log "unshare -m failed"
    exit 1
  }
}

start_engine() {
  if answers; then return; fi
  holder
  rm -f "$SOCK"
  echo '{}' >"$DIR/daemon.json"
  local tcp=()
  # A taken port would stop dockerd from starting at all: leave only the TLS endpoint out.
  if [ -f "$TLS/server/cert.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
    log "no TLS endpoint: 127.0.0.1:$TLS_PORT is already in use (set BERTH_ENGINE2_TLS_PORT)"
  elif [ -f "$TLS/server/cert.pem" ]; then
    tcp=(-H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$TLS/ca.pem"
      --tlscert "$TLS/server/cert.pem" --tlskey "$TLS/server/key.pem")
  fi
  # A distinct cgroup parent keeps engine two's containers apart from engine one's in the tree.
  nsenter -t "$(cat "$DIR/ns.pid")" -m -- setsid dockerd \
    --config-file "$DIR/daemon.json" --data-root "$DIR/data" --exec-root "$DIR/exec" \
    --pidfile "$DIR/dockerd.pid" -H "unix://$SOCK" "${tcp[@]}" --cgroup-parent berth-engine2 \
    --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    >>"$DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 240); do
    if answers; then return; fi
    sleep 0.25
  done
  log "dockerd did not answer within 60s; last lines of $DIR/dockerd.log:"
  tail -n 20 "$DIR/dockerd.log" >&2 || true
  exit 1
}

kill_engine() {
  # The engine dies with everything it ran, as when its host goes down: dockerd, its containerd,
  # the shims and every container process (SIGKILL to a container's init ends its whole pid
  # namespace). Only this engine's: its shims are the ones talking to its containerd socket.
  local pid cpid shims p
  pid="$(cat "$DIR/dockerd.pid" 2>/dev/null || true)"
  cpid="$(cat "$DIR/exec/containerd/containerd.pid" 2>/dev/null || true)"
  shims="$(pgrep -f -- "-address $DIR/exec/containerd/containerd.sock" || true)"
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null || true
  for p in $shims; do
    pkill -9 -P "$p" 2>/dev/null || true
    kill -9 "$p" 2>/dev/null || true
  done
  for _ in $(seq 1 40); do
    if ! { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }; then break; fi
    sleep 0.25
  done
  rm -f "$DIR/dockerd.pid"
}

ensure_openssl() {
  command -v openssl >/dev/null && return 0
  command -v apt-get >/dev/null || {
    log "no TLS endpoint: openssl is not installed and apt-get is not available"
    return 1
  }
  log "installing openssl (Debian package) ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >&2 || {
    log "no TLS endpoint: openssl could not be installed"
    return 1
  }
}

# One leaf certificate signed by the CA: $1 directory, $2 subject CN, $3 extensions file.
leaf_cert() {
  mkdir -p "$1"
  (umask 077 && openssl genrsa -out "$1/key.pem" 2048 2>/dev/null)
  openssl req -new -key "$1/key.pem" -subj "/CN=$2" -out "$1/req.csr" 2>/dev/null
  openssl x509 -req -in "$1/req.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial \
    -days 30 -sha256 -extfile "$3" -out "$1/cert.pem" 2>/dev/null
  rm -f "$1/req.csr"
  cp "$TLS/ca.pem" "$1/ca.pem"
  chmod 600 "$1/key.pem"
}

# The CA, engine two's server certificate and a client certificate, made once per `up` (kept while
# $DIR lives, so a restarted dockerd serves the same ones). Fails soft: no openssl, no TLS.
make_tls() {
  [ -f "$TLS/client/cert.pem" ] && return 0
  ensure_openssl || return 1
  rm -rf "$TLS"
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  (umask 077 && openssl genrsa -out "$TLS/ca-key.pem" 2048 2>/dev/null)
  openssl req -new -x509 -days 30 -sha256 -key "$TLS/ca-key.pem" -subj "/CN=berth engine2 test CA" -out "$TLS/ca.pem" 2>/dev/null
  printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >"$TLS/server.ext"
  printf 'extendedKeyUsage = clientAuth\n' >"$TLS/client.ext"
  leaf_cert "$TLS/server" "127.0.0.1" "$TLS/server.ext"
  leaf_cert "$TLS/client" "berth-engine2-client" "$TLS/client.ext"
}

tls_answers() {
  docker -H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$TLS/client/ca.pem" \
    --tlscert "$TLS/client/cert.pem" --tlskey "$TLS/client/key.pem" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

load_images() {
  local img
  for img in $IMAGES; do
    if d2 image inspect "$img" >/dev/null 2>&1; then continue; fi
    docker image inspect "$img" >/dev/null 2>&1 || skip "image $img is missing on the first engine (berth images build)"
    docker save "$img" | d2 load -q >/dev/null
  done
}

start_sshd() {
  if alive "$DIR/ssh/sshd.pid"; then return; fi
  if [ ! -x /usr/sbin/sshd ]; then
    command -v apt-get >/dev/null || skip "openssh-server is not installed and apt-get is not available"
    log "installing openssh-server (Debian package) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >&2 ||
      skip "openssh-server could not be installed"
  fi
  local s="$DIR/ssh"
  mkdir -p "$s" /run/sshd
  chmod 700 "$s"
  [ -f "$s/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$s/host_ed25519" >/dev/null
  [ -f "$s/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$s/client_ed25519" >/dev/null
  # The key can do one thing: speak the Docker API of engine two (what docker-modem's ssh runs).
  printf 'restrict,command="DOCKER_HOST=unix://%s exec docker system dial-stdio" %s\n' "$SOCK" "$(cat "$s/client_ed25519.pub")" >"$s/authorized_keys"
  chmod 600 "$s/authorized_keys"
  cat >"$s/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $s/host_ed25519
PidFile $s/sshd.pid
AuthorizedKeysFile $s/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers root
UsePAM no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PermitUserEnvironment no
StrictModes no
MaxStartups 100:30:200
LogLevel ERROR
EOF
  /usr/sbin/sshd -t -f "$s/sshd_config" || {
    log "sshd rejected its config"
    exit 1
  }
  /usr/sbin/sshd -f "$s/sshd_config" -E "$s/sshd.log"
  for _ in $(seq 1 40); do
    if alive "$s/sshd.pid"; then break; fi
    sleep 0.25
  done
  alive "$s/sshd.pid" || {
    log "sshd did not start (port $PORT taken?); $s/sshd.log:"
    tail -n 5 "$s/sshd.log" >&2 || true
    exit 1
  }
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1-2 "$s/host_ed25519.pub")" >"$s/known_hosts"
}

write_env() {
  cat >"$DIR/env" <<EOF
BERTH_ENGINE2_SOCK=$SOCK
BERTH_ENGINE2_SSH=ssh://root@127.0.0.1:$PORT
BERTH_ENGINE2_SSH_KEY=$DIR/ssh/client_ed25519
BERTH_ENGINE2_KNOWN_HOSTS=$DIR/ssh/known_hosts
BERTH_ENGINE2_DIR=$DIR
EOF
  if [ -f "$TLS/client/cert.pem" ] && tls_answers; then
    printf 'BERTH_ENGINE2_TCP=tcp://127.0.0.1:%s\nBERTH_ENGINE2_TLS_CERTS=%s\n' "$TLS_PORT" "$TLS/client" >>"$DIR/env"
  fi
  cat "$DIR/env"
}

down() {
  if alive "$DIR/ssh/sshd.pid"; then kill "$(cat "$DIR/ssh/sshd.pid")" 2>/dev/null || true; fi
  if answers; then
    # Stop what tests left (only this engine's), then the engine itself.
    ids="$(d2 ps -aq)"
    [ -z "$ids" ] || d2 rm -f $ids >/dev/null 2>&1 || true
    kill "$(cat "$DIR/dockerd.pid")" 2>/dev/null || true
    for _ in $(seq 1 80); do
      alive "$DIR/dockerd.pid" || break
      sleep 0.25
    done
  fi
  kill_engine
  if alive "$DIR/ns.pid"; then kill "$(cat "$DIR/ns.pid")" 2>/dev/null || true; fi
  sleep 0.3
  # Mounts were made in the private namespace only, which is gone with its last process.
  rm -rf "$DIR"
}

case "${1:-up}" in
  up)
    preflight
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    make_tls || true
    start_engine
    load_images
    start_sshd
    write_env
    ;;
  kill-engine) kill_engine ;;
  start-engine)
    preflight
    start_engine
    ;;
  env) cat "$DIR/env" ;;
  down) down ;;
  *)
    log "usage: $0 up | down | kill-engine | start-engine | env"
    exit 1
    ;;
esac
