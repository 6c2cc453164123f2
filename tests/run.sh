#!/usr/bin/env bash
# Runs every test of tini-rs on a fresh Debian machine, as root:
#   installs what the tests need, builds the static binary, starts a private
#   Docker engine, builds the real-application image (tests/apps/image.sh),
#   runs `cargo test` (unit, integration, container and application tests),
#   the tests on the other architectures (tests/arch.sh: i686 natively, the
#   rest under qemu),
#   the release and package checks (tests/package.sh), tini's own test suite
#   (tests/tini_suite.sh), dumb-init's own test suite in dumb-init mode
#   (tests/dumb_init_suite.sh), the benchmark's quick smoke mode and one pass of
#   tests/apps/stop_loses.py, the CRI tests (tests/cri/run.sh: containerd's
#   CRI plugin, as Kubernetes runs pods), and stops the engine, even on
#   failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "tests/run.sh: must run as root (PID namespaces, cgroups, a Docker engine)" >&2
  exit 1
fi

# The tree guard first (tests/tree_guard.rs; `cargo test` below runs it
# again): merge-conflict markers, or a log line or option the documents
# quote that src/ no longer has, fail in seconds, before any install.
guard_start=$SECONDS
cargo test --test tree_guard
echo "tests/run.sh: tree guard passed in $((SECONDS - guard_start)) s"

# Debian packages the tests use: unshare/script (util-linux, bsdutils),
# python3 for the classic zombie demos, strace for idle-syscall checks, the
# container engines and a static busybox for FROM-scratch images, and the
# peers the benchmark compares against (Debian's tini package holds both
# tini and tini-static), with gcc for the benchmark's C helper.
# tests/tini_suite.sh compiles tini's C test helper (gcc, libc6-dev) and
# builds a virtualenv (python3-venv) in which it compiles the python-prctl
# module (python3-dev, libcap-dev); tests/dumb_init_suite.sh uses the same
# virtualenv tools, bash, procps's ps and coreutils.
# The release checks (tests/package.sh, scripts/release.sh) build the Debian
# package with dpkg-dev's tools and check it with lintian; the man page is
# formatted by groff (tests/man_page.rs) and man-db's man.
# tests/apps/image.sh builds a Debian root filesystem for the
# real-application tests (mmdebstrap, which checks signatures with gpg and
# mounts /proc and /dev in the new root; both only recommended by it).
# tests/cri/run.sh runs Debian's containerd with its CRI plugin (containerd
# also comes with docker.io) and talks to it with Debian's gRPC for Python
# (python3-grpcio; python3-grpc-tools compiles the CRI API).
packages=(util-linux bsdutils procps python3 strace busybox-static docker.io
  podman runc tini dumb-init catatonit gcc libc6-dev python3-venv python3-dev
  libcap-dev git dpkg-dev lintian groff-base man-db mmdebstrap gpg mount
  containerd python3-grpcio python3-grpc-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The static binary goes into the container images.
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' cargo build --release --target x86_64-unknown-linux-gnu
export TINI_RS_STATIC="$PWD/target/x86_64-unknown-linux-gnu/release/tini-rs"

engine_dir=$(mktemp -d /tmp/tini-rs-engine.XXXXXX)
cleanup() { docker/engine.sh stop "$engine_dir" || true; rm -rf "$engine_dir"; }
trap cleanup EXIT
docker/engine.sh start "$engine_dir" "$TINI_RS_STATIC"
export TINI_RS_DOCKER_HOST="unix://$engine_dir/docker.sock"
# redis, postgres, nginx and Python from Debian's packages, with the static
# tini-rs on top (the root filesystem is cached between runs). Empty when it
# was skipped (outside CI only): tests/applications.rs then says SKIPPED.
TINI_RS_APPS_IMAGE=$(DOCKER_HOST="$TINI_RS_DOCKER_HOST" tests/apps/image.sh "$TINI_RS_STATIC")
[ -z "$TINI_RS_APPS_IMAGE" ] || export TINI_RS_APPS_IMAGE

cargo test
# Every other architecture (tests/arch.sh, which prints the time of each
# part): Debian's cross toolchains and qemu 10 installed (skipped where
# present), all eight foreign targets built dynamic and static, the suite
# natively for i686, under qemu for aarch64, the core tests for the rest.
# Before the release checks, which package every architecture.
arch_start=$SECONDS
tests/arch.sh
echo "tests/run.sh: other architectures took $((SECONDS - arch_start)) s"
# The release files, the Debian packages and the crate as users get them.
tests/package.sh
# tini's own inner test suite and smoke checks, against the static binary.
tests/tini_suite.sh "$TINI_RS_STATIC"
# dumb-init's own pytest suite and test-zombies, with the binary as dumb-init.
tests/dumb_init_suite.sh "$TINI_RS_STATIC"
python3 tests/bench/bench.py --quick
# BENCHMARKS.md's "What a stop loses" table, one run per cell: the script keeps
# working, and the log shows the table as this run measured it.
if [ -n "${TINI_RS_APPS_IMAGE:-}" ]; then
  python3 tests/apps/stop_loses.py --runs 1
fi
# tini-rs under Kubernetes' container runtime (containerd's CRI plugin, its
# own containerd): the pod sandbox, a container's init with and without
# --grace-period, a member of a pod's shared PID namespace (1 to 2.5 minutes).
DOCKER_HOST="$TINI_RS_DOCKER_HOST" TINI_RS_APPS_IMAGE="${TINI_RS_APPS_IMAGE:-}" \
  tests/cri/run.sh "$TINI_RS_STATIC"
