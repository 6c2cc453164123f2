#!/usr/bin/env bash
# tini-rs under Kubernetes' container runtime, without the kubelet: Debian's
# containerd with its CRI plugin and runc, driven over its gRPC socket the
# way the kubelet drives it (tests/cri/cri_test.py has the scenarios).
#
#   DOCKER_HOST=unix://... TINI_RS_APPS_IMAGE=tini-rs-apps:test \
#     tests/cri/run.sh STATIC_TINI_RS
#
# 1. The CRI v1 API definition (api.proto) comes from Debian's containerd
#    source package, which vendors k8s.io/cri-api: fetched at test time
#    through private deb-src lists derived from the machine's apt sources
#    (tests/apt_source.sh), as tests/tini_suite.sh fetches tini's source.
#    Its gogoproto options (Go code generation only) are dropped, and
#    Debian's python3-grpc-tools generates the Python client into a
#    temporary directory. Nothing of the API is kept in this repository.
# 2. The images, built by the Docker engine of DOCKER_HOST and handed over
#    with `docker save` and `ctr -n k8s.io images import`: the pause image
#    of docker/pause/Dockerfile, a busybox image (the control sandbox:
#    busybox `sleep`, and the member containers' shell), and the apps image
#    of tests/apps/image.sh (redis, postgres).
# 3. Two passes, each with its own containerd (docker/engine.sh start-cri):
#    one whose sandbox_image is the tini-rs pause image, one whose
#    sandbox_image is busybox `sleep` (the controls). containerd's sandbox
#    image is one setting for every pod, hence one daemon per pass; both use
#    the same root, so the images are imported once.
#
# When something it needs is missing, it fails if CI is set, and outside CI
# prints "SKIPPED ..." and exits 0. Exit status 1 when a scenario fails.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DOCKER_HOST=unix://SOCKET TINI_RS_APPS_IMAGE=IMAGE $0 STATIC_TINI_RS" >&2
  exit 2
fi
tini_rs=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
docker_cli=${TINI_RS_DOCKER_CLI:-$(command -v /usr/bin/docker || command -v docker || true)}
# Debian's python3-grpcio and python3-grpc-tools are modules of Debian's
# own python3; another python3 first on PATH (pyenv) would not see them.
python=/usr/bin/python3
started=$SECONDS

unavailable() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL tests/cri/run.sh: $1 (CI is set: refusing to skip)" >&2
    exit 1
  fi
  echo "SKIPPED CRI tests: $1" >&2
  exit 0
}

[ "$(id -u)" = 0 ] || unavailable "needs root (containerd, runc)"
[ -x "$tini_rs" ] || unavailable "$tini_rs is not an executable file"
[ -n "${DOCKER_HOST:-}" ] || unavailable "DOCKER_HOST is unset (docker/engine.sh start DIR prints it)"
[ -n "${TINI_RS_APPS_IMAGE:-}" ] || unavailable "TINI_RS_APPS_IMAGE is unset (tests/apps/image.sh prints it)"
[ -n "$docker_cli" ] || unavailable "no docker CLI (apt-get install docker.io)"
for tool in containerd ctr runc apt-get strace; do
  command -v "$tool" >/dev/null || unavailable "$tool not found (apt-get install containerd runc strace)"
done
"$python" -c 'import grpc, grpc_tools.protoc' 2>/dev/null ||
  unavailable "$python cannot import grpc and grpc_tools (apt-get install python3-grpcio python3-grpc-tools)"
[ -x /bin/busybox ] || unavailable "/bin/busybox not found (apt-get install busybox-static)"

# Short: containerd's socket path lives under it (108 bytes at most).
work=$(mktemp -d /tmp/tini-rs-cri.XXXXXX)
engine="$work/e"
cleanup() {
  "$repo/docker/engine.sh" stop "$engine" || true
  rm -rf "$work"
  echo "== CRI tests: $((SECONDS - started)) s in all" >&2
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. The CRI API and its Python client.

mkdir -p "$work/src"
# apt downloads as the user _apt, which must reach the directory.
chmod 755 "$work"
echo "== CRI tests: the CRI API from Debian's containerd source package" >&2
rc=0
"$repo/tests/apt_source.sh" containerd "$work/src" || rc=$?
case $rc in
0) ;;
3) unavailable "no 'deb' entries in the machine's apt sources to derive deb-src from" ;;
*) unavailable "tests/apt_source.sh containerd failed (exit status $rc)" ;;
esac
orig=$(echo "$work"/src/containerd_*.orig.tar.*)
[ -f "$orig" ] || unavailable "no containerd orig tarball in $(ls "$work/src")"
proto=$(tar -tf "$orig" | grep -m1 '/vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto$' || true)
[ -n "$proto" ] || unavailable "$(basename "$orig") has no vendor/k8s.io/cri-api/.../runtime/v1/api.proto"
mkdir -p "$work/stubs"
tar -xOf "$orig" "$proto" | sed -e '/gogoproto\/gogo\.proto/d' -e '/^option (gogoproto\./d' >"$work/stubs/api.proto"
(cd "$work/stubs" && "$python" -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. api.proto) ||
  unavailable "grpc_tools.protoc could not compile the CRI api.proto"

# ---------------------------------------------------------------------------
# 2. The images.

dk() { "$docker_cli" -H "$DOCKER_HOST" "$@"; }
dk info >/dev/null 2>&1 || unavailable "no Docker engine answers at $DOCKER_HOST"
pause_image=tini-rs-pause:cri
busybox_image=tini-rs-cri-busybox:cri
mkdir -p "$work/pause" "$work/busybox/rootfs/bin"
cp "$repo/docker/pause/Dockerfile" "$work/pause/Dockerfile"
cp "$tini_rs" "$work/pause/tini-rs"
cp /bin/busybox "$work/busybox/rootfs/bin/busybox"
cp "$tini_rs" "$work/busybox/rootfs/tini-rs"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/busybox/rootfs/bin/$applet"
done
# busybox `sleep` as the sandbox process: PID 1 that never waits, the
# control for the pause image (its Entrypoint; member containers set their
# own command).
cat >"$work/busybox/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
ENTRYPOINT ["/bin/sleep", "1000000"]
EOF
echo "== CRI tests: images $pause_image, $busybox_image, $TINI_RS_APPS_IMAGE" >&2
t=$SECONDS
DOCKER_BUILDKIT=0 dk build -q -t "$pause_image" "$work/pause" >/dev/null
DOCKER_BUILDKIT=0 dk build -q -t "$busybox_image" "$work/busybox" >/dev/null
dk save -o "$work/images.tar" "$pause_image" "$busybox_image" "$TINI_RS_APPS_IMAGE"
echo "== CRI tests: images built and saved in $((SECONDS - t)) s" >&2

# ---------------------------------------------------------------------------
# 3. The two passes. A bare image name means docker.io/library/NAME to
#    containerd, as in the archive `docker save` wrote.

ref() { case $1 in */*) echo "docker.io/$1" ;; *) echo "docker.io/library/$1" ;; esac }
export TINI_RS_CRI_STUBS="$work/stubs"
export TINI_RS_CRI_PAUSE_IMAGE TINI_RS_CRI_BUSYBOX_IMAGE TINI_RS_CRI_APPS_IMAGE
TINI_RS_CRI_PAUSE_IMAGE=$(ref "$pause_image")
TINI_RS_CRI_BUSYBOX_IMAGE=$(ref "$busybox_image")
TINI_RS_CRI_APPS_IMAGE=$(ref "$TINI_RS_APPS_IMAGE")
failed=0
for pass in tini-rs control; do
  case $pass in
  tini-rs) sandbox=$TINI_RS_CRI_PAUSE_IMAGE ;;
  control) sandbox=$TINI_RS_CRI_BUSYBOX_IMAGE ;;
  esac
  sock=$("$repo/docker/engine.sh" start-cri "$engine" "$sandbox") ||
    unavailable "containerd with the CRI plugin did not start"
  if [ "$pass" = tini-rs ]; then
    echo "== CRI tests: $(containerd --version); $(runc --version | head -n 1)" >&2
    t=$SECONDS
    ctr --address "$sock" -n k8s.io images import "$work/images.tar" >/dev/null
    echo "== CRI tests: images imported in $((SECONDS - t)) s" >&2
  fi
  echo "== CRI tests: pass '$pass' (sandbox_image $sandbox)" >&2
  TINI_RS_CRI_SOCKET=$sock TINI_RS_CRI_SANDBOX=$pass timeout 900 "$python" "$here/cri_test.py" || failed=1
  "$repo/docker/engine.sh" stop "$engine"
done

exit "$failed"
