#!/usr/bin/env bash
# with-dockerd.sh COMMAND...: runs COMMAND against a private Docker engine
# that it starts and stops itself, so that the end-to-end tests never touch
# the engine (or the ports) of the machine's own Docker.
#
# The engine is Debian's dockerd (apt-get install docker.io), run as root
# with its data root, exec root, pid file and socket in a temporary folder,
# the vfs storage driver (works on any file system, even inside a
# container) and no iptables rules; the default bridge stays, because a
# build's RUN steps need it. COMMAND gets DOCKER_HOST pointing at it. The
# engine is stopped, and its folder removed, when COMMAND ends or the script
# is interrupted.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "with-dockerd.sh: the end-to-end tests start their own Docker engine and need root: run make test as root (CI does)" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  echo "with-dockerd.sh: no dockerd: install it with apt-get install docker.io (.ci/run does)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/phoenix-dockerd.XXXXXX)
sock="$dir/docker.sock"
log="$dir/dockerd.log"
pid=

# shellcheck disable=SC2317 # called by the EXIT trap
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Anything still mounted under the data root keeps rm from working.
  grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dockerd --storage-driver=vfs --iptables=false \
  --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
  -H "unix://$sock" >"$log" 2>&1 &
pid=$!

export DOCKER_HOST="unix://$sock"
for i in $(seq 1 300); do
  if docker info >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null || [ "$i" = 300 ]; then
    echo "with-dockerd.sh: dockerd did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "with-dockerd.sh: dockerd $(docker version --format '{{.Server.Version}}') answers at $DOCKER_HOST (started in ${SECONDS}s)"

status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
  echo "with-dockerd.sh: the command failed (exit $status); the last lines of dockerd's log:" >&2
  tail -n 30 "$log" >&2
fi
exit "$status"
