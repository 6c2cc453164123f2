#!/usr/bin/env bash
# A private Docker engine for the container tests, everything under one dir:
#
#   docker/engine.sh start DIR [INIT_PATH]   start it; prints the DOCKER_HOST
#   docker/engine.sh start-cri DIR SANDBOX   containerd alone, with its CRI
#                                            plugin; prints its socket path
#   docker/engine.sh stop  DIR               stop it (idempotent)
#
# start-cri is Kubernetes' runtime without the kubelet (tests/cri/): the CRI
# plugin on, SANDBOX (an image reference, imported by the caller with
# `ctr -n k8s.io images import`) as every pod's sandbox image, runc with
# cgroupfs (SystemdCgroup = false), the streaming server on loopback. No CNI
# configuration: the tests' pods use the host's network namespace.
#
# It never touches a system engine: its own containerd (own socket, root,
# state and config, so a /run/containerd/containerd.sock left by someone else
# is never picked up), its own dockerd (--data-root, --exec-root, unix socket,
# pidfile under DIR), no bridge, no iptables, no network. With INIT_PATH,
# `docker run --init` runs that binary as the container's PID 1.
#
# stop kills only what this script started, by the pids in DIR's pidfiles,
# plus the containerd shims whose command line names DIR's containerd socket
# (they are daemons, so no pidfile lists them).
set -euo pipefail

usage() {
    echo "usage: $0 start DIR [INIT_PATH] | start-cri DIR SANDBOX_IMAGE | stop DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
if [ "$cmd" = stop ] && ! [ -d "$2" ]; then
    exit 0 # nothing was ever started there
fi
mkdir -p "$2"
dir=$(cd "$2" && pwd)
sock="$dir/docker.sock"
ctrd_sock="$dir/containerd.sock"
start_limit=${TINI_RS_ENGINE_START_SECS:-60}
stop_limit=${TINI_RS_ENGINE_STOP_SECS:-30}
# The docker CLI shipped with the engine: another client on PATH (a newer
# one) may warn or behave differently; tests use the same rule.
docker_cli=${TINI_RS_DOCKER_CLI:-$(command -v /usr/bin/docker || command -v docker || true)}

# Running, not a zombie: what this script starts is re-parented to the
# machine's init, which may take its time to reap it.
alive() {
    local stat
    [ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

pid_from() { [ -s "$1" ] && tr -dc 0-9 <"$1" || true; }

# The shims of our containerd: one of their arguments is our socket path
# (so is one of dockerd's: call this once dockerd is gone).
our_shims() {
    grep -lzxF -- "$ctrd_sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
}

children_of() {
    # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
    awk -v parent="$1" '{ sub(/^.*\) /, ""); if ($2 == parent) { split(FILENAME, f, "/"); print f[3] } }' \
        /proc/[0-9]*/stat 2>/dev/null || true
}

# Sends TERM to one pid, waits up to $2 seconds, then KILLs it (at once
# when $2 is 0).
stop_pid() {
    local pid=$1 limit=$2 name=$3 i
    alive "$pid" || return 0
    if [ "$limit" -gt 0 ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < limit * 10; i++)); do
            alive "$pid" || return 0
            sleep 0.1
        done
        echo "engine.sh: $name (pid $pid) ignored SIGTERM for ${limit}s: SIGKILL" >&2
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    echo "engine.sh: $name (pid $pid) survived SIGKILL" >&2
}

log_tail() {
    local f
    for f in "$dir/containerd.log" "$dir/dockerd.log"; do
        [ -f "$f" ] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 40 "$f" >&2
    done
}

stop() {
    stop_pid "$(pid_from "$dir/dockerd.pid")" "$stop_limit" dockerd
    # dockerd stops its containers when it exits; a shim still there after
    # that (dockerd was killed) holds a container: SIGKILL the container's
    # first process, which takes its whole PID namespace down, then the shim
    # (it waits for an order from containerd that will not come).
    local shim child
    for shim in $(our_shims); do
        for child in $(children_of "$shim"); do
            kill -KILL "$child" 2>/dev/null || true
        done
        stop_pid "$shim" 0 containerd-shim
    done
    stop_pid "$(pid_from "$dir/containerd.pid")" 10 containerd
    rm -f "$dir/dockerd.pid" "$dir/containerd.pid"
    # Mounts left under DIR (a killed dockerd leaves its overlays and the
    # shm/netns bind mounts): deepest first, lazily if busy.
    local m
    if [ -r /proc/self/mounts ]; then
        awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
            while read -r m; do
                m=$(printf '%b' "$m") # /proc/mounts escapes spaces as \040
                umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
            done
    fi
}

# Starts containerd with everything under DIR, and waits for its socket.
# With a sandbox image ($1), the CRI plugin is on (start-cri); without,
# it is off (it wants CNI, and dockerd does not use it).
start_containerd() {
    local sandbox_image=${1:-} i
    for tool in containerd runc; do
        command -v "$tool" >/dev/null || {
            echo "engine.sh: $tool not found (apt-get install containerd runc)" >&2
            exit 1
        }
    done
    # A unix socket path must fit in 108 bytes.
    if [ ${#ctrd_sock} -gt 100 ]; then
        echo "engine.sh: $dir is too long for a unix socket path; use a shorter dir" >&2
        exit 1
    fi
    mkdir -p "$dir/containerd-root" "$dir/containerd-state"
    # containerd's own config, everything under DIR instead of
    # /var/lib/containerd and /run/containerd.
    cat >"$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd-root"
state = "$dir/containerd-state"
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd-root/opt"
TOML
    if [ -z "$sandbox_image" ]; then
        echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' >>"$dir/containerd.toml"
    else
        # The CNI directories exist and are empty: containerd logs that it
        # found no network configuration, which host-network pods never need.
        mkdir -p "$dir/cni/bin" "$dir/cni/conf"
        # The CRI plugin gives sandboxes an OOM score adjustment of -998
        # and containers their pod's; lowering one takes CAP_SYS_RESOURCE,
        # which some machines (containers, some CI sandboxes) do not give
        # root: runc then fails at start ("can't get final child's PID from
        # pipe"). There, keep every adjustment at or above containerd's own.
        local restrict_oom=false
        (echo -998 >/proc/self/oom_score_adj) 2>/dev/null || restrict_oom=true
        cat >>"$dir/containerd.toml" <<TOML
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  restrict_oom_score_adj = $restrict_oom
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$dir/cni/bin"
    conf_dir = "$dir/cni/conf"
TOML
    fi
    setsid containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 </dev/null &
    echo $! >"$dir/containerd.pid"

    for ((i = 0; i < start_limit * 10; i++)); do
        [ -S "$ctrd_sock" ] && break
        alive "$(pid_from "$dir/containerd.pid")" || break
        sleep 0.1
    done
    if ! [ -S "$ctrd_sock" ]; then
        echo "engine.sh: containerd did not come up" >&2
        log_tail
        stop
        exit 1
    fi
}

start_cri() {
    local sandbox_image=$1
    if alive "$(pid_from "$dir/containerd.pid")"; then
        echo "engine.sh: a containerd already runs for $dir (pid $(pid_from "$dir/containerd.pid"))" >&2
        exit 1
    fi
    stop # leftovers of an earlier run in the same dir
    start_containerd "$sandbox_image"
    echo "$ctrd_sock"
}

start() {
    local init_path=${1:-}
    if alive "$(pid_from "$dir/dockerd.pid")"; then
        echo "engine.sh: an engine already runs for $dir (pid $(pid_from "$dir/dockerd.pid"))" >&2
        exit 1
    fi
    stop # leftovers of an earlier run in the same dir
    command -v dockerd >/dev/null || {
        echo "engine.sh: dockerd not found (apt-get install docker.io)" >&2
        exit 1
    }
    [ -n "$docker_cli" ] || {
        echo "engine.sh: no docker CLI found (apt-get install docker.io)" >&2
        exit 1
    }
    if [ -n "$init_path" ]; then
        [ -x "$init_path" ] || {
            echo "engine.sh: init $init_path is not an executable file" >&2
            exit 1
        }
        init_path=$(cd "$(dirname "$init_path")" && pwd)/$(basename "$init_path")
    fi
    mkdir -p "$dir/data" "$dir/exec"
    start_containerd

    local i
    local args=(
        --containerd "$ctrd_sock"
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
        --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid"
        -H "unix://$sock"
        --storage-driver "${TINI_RS_STORAGE_DRIVER:-overlay2}"
        --userland-proxy=false
        --config-file "$dir/daemon.json"
    )
    echo '{}' >"$dir/daemon.json" # never read /etc/docker/daemon.json
    [ -n "$init_path" ] && args+=(--init-path "$init_path")
    # setsid: the engine must not get the caller's terminal signals (Ctrl-C
    # in a test run stops the tests, and the trap then stops the engine).
    setsid dockerd "${args[@]}" >"$dir/dockerd.log" 2>&1 </dev/null &
    local launcher=$!

    for ((i = 0; i < start_limit * 10; i++)); do
        if "$docker_cli" -H "unix://$sock" info >/dev/null 2>&1; then
            echo "unix://$sock"
            return 0
        fi
        if ! alive "$launcher"; then
            break
        fi
        sleep 0.1
    done
    echo "engine.sh: dockerd did not answer on unix://$sock within ${start_limit}s" >&2
    log_tail
    # dockerd may not have written its pidfile yet: stop it by the pid we have.
    [ -s "$dir/dockerd.pid" ] || echo "$launcher" >"$dir/dockerd.pid"
    stop
    exit 1
}

case $cmd in
start) start "${3:-}" ;;
start-cri)
    [ $# -eq 3 ] || usage
    start_cri "$3"
    ;;
stop) stop ;;
*) usage ;;
esac
