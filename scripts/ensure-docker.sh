#!/usr/bin/env bash
# Bring up a Docker engine berth can talk to, or explain exactly why not.
#
#   1. An engine already answers (DOCKER_HOST or the default socket)  -> nothing to do.
#   2. Root on Debian/Ubuntu                                          -> install docker.io if
#      needed and start dockerd without a bridge or iptables (sandboxes without netfilter).
#   3. Anything else                                                  -> fail with the remedy.
#
# Idempotent and quiet when there is nothing to do. Exit codes: 0 ready, 1 not possible here.
set -euo pipefail

WAIT_S="${BERTH_DOCKER_WAIT_S:-60}"
STATE_DIR="${BERTH_DOCKERD_STATE:-${TMPDIR:-/tmp}/berth-dockerd}"
log() { printf 'berth: %s\n' "$*" >&2; }

engine_answers() {
  command -v docker >/dev/null 2>&1 && docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if engine_answers; then
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  log "DOCKER_HOST=${DOCKER_HOST} is set but no engine answers there."
  log "remedy: start that engine, or unset DOCKER_HOST to let berth start a local one (root on Debian)."
  exit 1
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no Docker engine answers and this script can only start one as root on Debian/Ubuntu."
  log "remedy: start Docker (e.g. 'sudo systemctl start docker') or set DOCKER_HOST to a running engine."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io (Debian package) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends docker.io >&2
fi

mkdir -p "$STATE_DIR"
if [ -S /var/run/docker.sock ] && ! engine_answers; then
  rm -f /var/run/docker.sock   # stale socket from a dead engine
fi
# Pid files left by a dockerd/containerd that died (killed, OOM, a crashed machine) make the next
# dockerd refuse to start ("pid file found"); a live but silent one is the user's to deal with.
for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  # A zombie (killed, not yet reaped) still answers kill -0: look at its state instead.
  state="$(awk '{ print $3 }' "/proc/${pid:-0}/stat" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]; then
    log "a Docker daemon (pid $pid, from $pidfile) is running but does not answer."
    log "remedy: stop it ('kill $pid', then wait for it to exit) and run this again, or set DOCKER_HOST to an engine that answers."
    exit 1
  fi
  rm -f "$pidfile"
done
log "starting dockerd (log: $STATE_DIR/dockerd.log) ..."
# --bridge=none/--iptables=false/--ip-forward=false: sandboxes here have no netfilter; berth's
# containers default to network mode 'none' anyway.
nohup dockerd --bridge=none --iptables=false --ip-forward=false \
  >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
echo $! >"$STATE_DIR/dockerd.pid"

for _ in $(seq 1 $((WAIT_S * 4))); do
  if engine_answers; then
    log "Docker engine $(docker version --format '{{.Server.Version}}') is up."
    exit 0
  fi
  if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
    log "dockerd exited during start-up; last lines of its log:"
    tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
    log "remedy: fix the error above, or start Docker yourself and set DOCKER_HOST."
    exit 1
  fi
  sleep 0.25
done
log "dockerd did not answer within ${WAIT_S}s; last lines of its log:"
tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
log "remedy: start Docker or set DOCKER_HOST."
exit 1
