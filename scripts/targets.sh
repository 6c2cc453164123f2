# The nine Linux targets tini-rs is built for, one line each, sourced by
# scripts/cross.sh, scripts/release.sh and tests/arch.sh (not run by itself).
#
# Columns: Rust target, Debian architecture (riscv64: not one Debian 12
# released, so no .deb is made for it),
# Docker TARGETARCH with TARGETVARIANT after a dash, `uname -m` on such a
# machine, the GNU triple of Debian's cross gcc, where the Rust standard
# library comes from (deb: libstd-rust-web-dev:ARCH; src: built from
# rust-web-src with -Zbuild-std), and qemu's name for the CPU (- where the
# host runs it natively).
#
# armel is ARMv5TE: the ARMv6 target (arm-unknown-linux-gnueabi) dies with
# SIGILL on an ARMv5 CPU.
TINI_RS_TARGETS="\
x86_64-unknown-linux-gnu        amd64    amd64    x86_64  x86_64-linux-gnu         deb -
aarch64-unknown-linux-gnu       arm64    arm64    aarch64 aarch64-linux-gnu        deb aarch64
armv7-unknown-linux-gnueabihf   armhf    arm-v7   armv7l  arm-linux-gnueabihf      deb arm
armv5te-unknown-linux-gnueabi   armel    arm-v5   armv5tel arm-linux-gnueabi       src arm
i686-unknown-linux-gnu          i386     386      i686    i686-linux-gnu           deb -
powerpc64le-unknown-linux-gnu   ppc64el  ppc64le  ppc64le powerpc64le-linux-gnu    deb ppc64le
s390x-unknown-linux-gnu         s390x    s390x    s390x   s390x-linux-gnu          src s390x
mips64el-unknown-linux-gnuabi64 mips64el mips64le mips64  mips64el-linux-gnuabi64  src mips64el
riscv64gc-unknown-linux-gnu     riscv64  riscv64  riscv64 riscv64-linux-gnu        src riscv64
"

# target_field RUST_TARGET N: column N (1-based) of that target's line.
target_field() {
  awk -v t="$1" -v n="$2" '$1 == t { print $n; found = 1 } END { exit !found }' <<<"$TINI_RS_TARGETS"
}

# all_targets: the Rust targets, one a line.
all_targets() {
  awk 'NF { print $1 }' <<<"$TINI_RS_TARGETS"
}

# elf_machine TARGET: the Machine line `readelf -h` prints for its binaries.
elf_machine() {
  case "$1" in
    x86_64-*) echo "Advanced Micro Devices X86-64" ;;
    aarch64-*) echo "AArch64" ;;
    armv*) echo "ARM" ;;
    i686-*) echo "Intel 80386" ;;
    powerpc64le-*) echo "PowerPC64" ;;
    s390x-*) echo "IBM S/390" ;;
    mips64el-*) echo "MIPS R3000" ;;
    riscv64gc-*) echo "RISC-V" ;;
  esac
}

# target_for_platform PLATFORM: the Rust target of a Docker platform name.
target_for_platform() {
  awk -v p="$1" '$3 == p { print $1; found = 1 } END { exit !found }' <<<"$TINI_RS_TARGETS"
}
