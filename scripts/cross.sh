#!/usr/bin/env bash
# Builds tini-rs for the other Linux architectures (scripts/targets.sh lists
# them) with Debian 12's own packages, and runs foreign binaries under qemu.
#
#   scripts/cross.sh install [TARGET...]   install what building and running need
#   scripts/cross.sh build TARGET...       dynamic and static release binaries
#   scripts/cross.sh path TARGET static|dynamic
#                                          where `build` put that binary
#   scripts/cross.sh run TARGET... -- CMD  CMD with qemu registered for TARGETs
#   scripts/cross.sh cargo TARGET ARGS...  Debian's cargo for TARGET (target/cross/other)
#
# TARGET is a Rust target from scripts/targets.sh; none means all nine.
#
# The toolchain is Debian's rustc-web/cargo-web (1.96) at /usr/bin, not
# rustup's: its standard library for arm64, armhf, i386 and ppc64el comes as
# libstd-rust-web-dev:ARCH (so `install` adds those dpkg architectures),
# and for armel, s390x, mips64el and riscv64, which Debian ships no such
# package for, the standard library is compiled from rust-web-src with
# -Zbuild-std. -Zbuild-std is an unstable cargo option: this script sets
# RUSTC_BOOTSTRAP=1 for those builds only, which lets the stable compiler
# accept it. Linkers are Debian's gcc-TRIPLE cross compilers.
#
# qemu: Debian 12's qemu-user 7.2 answers PR_SET_CHILD_SUBREAPER with
# EINVAL, so `install` downloads qemu-user 10 from bookworm-backports (with
# a private apt set-up derived from the machine's own sources, see
# tests/apt_sources.sh) and unpacks it under $TINI_RS_CROSS_CACHE; nothing
# is registered machine-wide. `run` starts CMD in a new user and mount
# namespace (Linux 6.7 or later) with its own binfmt_misc, in which each
# foreign target's qemu is registered, so CMD can exec foreign binaries by
# path; the registrations vanish with the namespace.
#
# Every step skips what is already there, so a machine that keeps its
# packages and $TINI_RS_CROSS_CACHE (default /var/cache/tini-rs-cross)
# installs nothing the second time.
#
# Exit status: 0 on success, 1 when a step fails, 2 on bad arguments.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/targets.sh
. "$repo/scripts/targets.sh"

cache=${TINI_RS_CROSS_CACHE:-/var/cache/tini-rs-cross}
cross_target_dir=${TINI_RS_CROSS_TARGET_DIR:-$repo/target/cross}
apt_opts=(-o DPkg::Lock::Timeout=600 -q)

usage() {
  sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'
}
fail() { echo "cross.sh: $1" >&2; exit 1; }

targets_or_all() {
  if [ $# -eq 0 ]; then all_targets; return; fi
  for t in "$@"; do
    target_field "$t" 1 >/dev/null || { echo "cross.sh: unknown target '$t'" >&2; exit 2; }
    echo "$t"
  done
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# --- install ---------------------------------------------------------------
install_qemu() {
  local dir="$cache/qemu"
  if [ -x "$dir/usr/bin/qemu-aarch64" ]; then return; fi
  echo "cross.sh: qemu-user from bookworm-backports into $dir"
  local work
  work=$(mktemp -d /tmp/tini-rs-qemu.XXXXXX)
  # The machine's own archive entries, with the release's backports suite
  # in place of its suites (the archive that serves "bookworm" serves
  # "bookworm-backports").
  "$repo/tests/apt_sources.sh" deb "$work/src" >/dev/null
  local codename
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  {
    shopt -s nullglob
    for f in "$work"/src/sources.list.d/*.sources; do
      awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" }
        $0 ~ ("\nSuites:.*[ \t]" c "([ \t\n]|$)") {
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^Suites:/) $i = "Suites: " c "-backports"
            if ($i !~ /^#/) print $i
          }
          print ""
        }' "$f"
    done
  } >"$work/backports.sources"
  sed -n -E "s/^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)$codename[[:space:]]/\1$codename-backports /p" \
    "$work/src/sources.list" >"$work/backports.list"
  [ -s "$work/backports.sources" ] || [ -s "$work/backports.list" ] ||
    fail "no entry for $codename in the machine's apt sources to derive $codename-backports from"
  mkdir -p "$work/lists/partial" "$work/parts" "$work/archives/partial"
  cp "$work/backports.sources" "$work/parts/" 2>/dev/null || true
  local private=(-o Dir::Etc::SourceList="$work/backports.list" -o Dir::Etc::SourceParts="$work/parts"
    -o Dir::State::Lists="$work/lists" -o Dir::Cache::Archives="$work/archives"
    -o Dir::State::Status=/dev/null -o APT::Sandbox::User=root)
  apt-get "${private[@]}" -qq update
  (cd "$work" && apt-get "${private[@]}" -qq download qemu-user qemu-user-binfmt)
  mkdir -p "$dir.new"
  for deb in "$work"/qemu-user*.deb; do dpkg-deb -x "$deb" "$dir.new"; done
  rm -rf "$dir" && mv "$dir.new" "$dir"
  rm -rf "$work"
  "$dir/usr/bin/qemu-aarch64" --version | head -1
}

cmd_install() {
  local targets=("$@") want=() arches=() t arch triple std
  want+=(rustc-web cargo-web)
  for t in "${targets[@]}"; do
    arch=$(target_field "$t" 2)
    triple=$(target_field "$t" 5)
    std=$(target_field "$t" 6)
    [ "$t" = x86_64-unknown-linux-gnu ] && continue
    want+=("gcc-$triple" "libc6-dev-$arch-cross")
    if [ "$std" = deb ]; then
      arches+=("$arch")
      want+=("libstd-rust-web-dev:$arch")
    else
      want+=(rust-web-src)
    fi
  done
  local added=0
  for arch in "${arches[@]}"; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      dpkg --add-architecture "$arch"
      added=1
    fi
  done
  local missing=()
  for p in "${want[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cross.sh: installing ${missing[*]}"
    if [ "$added" = 1 ] || ! apt-get "${apt_opts[@]}" install -s "${missing[@]}" >/dev/null 2>&1; then
      apt-get "${apt_opts[@]}" -qq update
    fi
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -qq install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local foreign=0
  for t in "${targets[@]}"; do [ "$(target_field "$t" 7)" = - ] || foreign=1; done
  [ "$foreign" = 0 ] || install_qemu
}

# --- build -----------------------------------------------------------------
# The static binary is a plain static executable where that works, as
# README.md builds it for x86_64 (no start-up relocation, see BENCHMARKS.md).
# On mips64el it does not: LLVM's non-PIC code for MIPS64 builds
# addresses with 32-bit absolute relocations (%hi/%lo pairs, as if every
# symbol lay in the low 2 GiB), while GNU ld places an n64 executable at
# 0x1_2000_0000; the addresses lose their top bits and the binary dies with
# SIGSEGV at start-up (qemu shows si_addr 0x20153248 for 0x120153248).
# +crt-static alone keeps the default PIC code (every address through
# $gp and the GOT, 64 bits wide) in a static executable, which works.
static_rustflags() {
  case "$1" in
    mips64el-*) echo "-C target-feature=+crt-static" ;;
    *) echo "-C target-feature=+crt-static -C relocation-model=static" ;;
  esac
}

# cargo_for TARGET ARGS...: Debian's cargo for TARGET, with its linker and,
# where Debian ships no std for it, -Zbuild-std.
cargo_for() {
  local t=$1; shift
  local triple std upper
  triple=$(target_field "$t" 5)
  std=$(target_field "$t" 6)
  upper=$(echo "$t" | tr 'a-z-' 'A-Z_')
  local env=(PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
    CARGO_TARGET_DIR="$cross_target_dir"
    "CARGO_TARGET_${upper}_LINKER=$triple-gcc")
  local extra=()
  if [ "$std" = src ]; then
    # RUSTC_BOOTSTRAP=1: -Zbuild-std is unstable (see the top comment).
    env+=(RUSTC_BOOTSTRAP=1)
    extra=(-Zbuild-std=std,panic_abort)
  fi
  # The target options right after the subcommand: ARGS may end in `--`
  # and the test program's own arguments.
  local sub=$1
  shift
  env "${env[@]}" /usr/bin/cargo "$sub" "${extra[@]}" --target "$t" "$@"
}

cmd_path() {
  local t=$1 kind=$2
  case "$kind" in static | dynamic) ;; *) echo "cross.sh: path TARGET static|dynamic" >&2; exit 2 ;; esac
  echo "$cross_target_dir/$kind/$t/release/tini-rs"
}

cmd_build() {
  local t start
  for t in "$@"; do
    start=$(date +%s)
    # Two target directories: RUSTFLAGS differ, and with -Zbuild-std the
    # standard library is compiled with them too.
    RUSTFLAGS="$(static_rustflags "$t")" cross_target_dir="$cross_target_dir/static" \
      cargo_for "$t" build --release --locked --quiet
    cross_target_dir="$cross_target_dir/dynamic" cargo_for "$t" build --release --locked --quiet
    echo "cross.sh: built $t in $(($(date +%s) - start)) s"
  done
}

# --- run -------------------------------------------------------------------
# The binfmt_misc registration line for qemu-NAME: magic and mask from the
# rule qemu-user ships (usr/share/qemu/binfmt.d), our name, qemu itself as
# the interpreter, and flags P (qemu gets the program's own argv[0]; qemu
# reads the kernel's AT_FLAGS to know) and F (the kernel opens qemu at
# registration, so it is found from any mount namespace or root).
binfmt_line() {
  local name=$1 file="$cache/qemu/usr/share/qemu/binfmt.d/qemu-$1.conf"
  [ -f "$file" ] || fail "no binfmt rule for qemu-$name in $cache/qemu (run: scripts/cross.sh install)"
  awk -F: -v name="tini-rs-qemu-$name" -v qemu="$cache/qemu/usr/bin/qemu-$name" \
    'NR == 1 { printf ":%s:%s:%s:%s:%s:%s:PF", name, $3, $4, $5, $6, qemu }' "$file"
}

cmd_run() {
  local targets=() lines=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
  [ "${1:-}" = -- ] || { echo "cross.sh: run TARGET... -- CMD" >&2; exit 2; }
  shift
  [ $# -gt 0 ] || { echo "cross.sh: run: no command" >&2; exit 2; }
  local t q seen=" "
  for t in $(targets_or_all "${targets[@]}"); do
    q=$(target_field "$t" 7)
    [ "$q" = - ] && continue
    case "$seen" in *" $q "*) continue ;; esac
    seen+="$q "
    lines+=("$(binfmt_line "$q")")
  done
  # In a new user and mount namespace: mount a private binfmt_misc,
  # register, then become CMD. Every uid and gid maps to itself (written
  # from outside, as root may: unshare's own --map-users needs newuidmap),
  # so CMD is root there and can still switch to any user; the root user
  # namespace's binfmt_misc stays untouched. The child waits on a FIFO
  # until its maps are written.
  local dir pid rc=0
  dir=$(mktemp -d /tmp/tini-rs-cross-run.XXXXXX)
  mkfifo -m 600 "$dir/go"
  # shellcheck disable=SC2016
  unshare --user --mount --propagation private -- bash -c '
    set -e
    read -r _ <"$0"
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    n=$1; shift
    for _ in $(seq "$n"); do printf "%s" "$1" >/proc/sys/fs/binfmt_misc/register; shift; done
    exec "$@"' "$dir/go" "${#lines[@]}" "${lines[@]}" "$@" &
  pid=$!
  local mine tries=0
  mine=$(readlink /proc/self/ns/user)
  # unshare(2) happens at once; bounded all the same (10 s).
  while [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null || echo "$mine")" = "$mine" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 1000 ] || { kill "$pid" 2>/dev/null; rm -rf "$dir"; fail "the namespace of run never appeared"; }
    sleep 0.01
  done
  echo "0 0 4294967295" >"/proc/$pid/uid_map"
  echo "0 0 4294967295" >"/proc/$pid/gid_map"
  echo go >"$dir/go"
  wait "$pid" || rc=$?
  rm -rf "$dir"
  return "$rc"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  install) mapfile -t ts < <(targets_or_all "$@"); cmd_install "${ts[@]}" ;;
  build) mapfile -t ts < <(targets_or_all "$@"); cmd_build "${ts[@]}" ;;
  path) [ $# = 2 ] || { usage >&2; exit 2; }; target_field "$1" 1 >/dev/null || exit 2; cmd_path "$1" "$2" ;;
  run) cmd_run "$@" ;;
  cargo)
    [ $# -ge 1 ] && target_field "$1" 1 >/dev/null || { usage >&2; exit 2; }
    cross_target_dir="$cross_target_dir/other" cargo_for "$@"
    ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
