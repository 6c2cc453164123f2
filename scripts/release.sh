#!/usr/bin/env bash
# Builds the release files of tini-rs into OUTDIR (default: dist/), for the
# nine Linux targets of scripts/targets.sh:
#
#   tini-rs-VERSION-UNAME-linux-KIND       by `uname -m` (x86_64, aarch64,
#                                          armv7l, armv5tel, i686, ppc64le,
#                                          s390x, mips64, riscv64)
#   tini-rs-VERSION-linux-PLATFORM-KIND    the same file, by Docker's
#                                          TARGETARCH[-TARGETVARIANT] (amd64,
#                                          arm64, arm-v7, arm-v5, 386, ppc64le,
#                                          s390x, mips64le, riscv64)
#   tini-rs_DEBVERSION_DEBARCH.deb         both kinds, the man page, copyright,
#                                          changelogs; one per Debian
#                                          architecture (not riscv64, which
#                                          Debian 12 does not release)
#   tini-rs-VERSION-tini-rs.oci.tar        the FROM-scratch image (/tini-rs,
#                                          ENTRYPOINT ["/tini-rs", "--"]) and
#   tini-rs-VERSION-pause.oci.tar          the pause image (ENTRYPOINT
#                                          ["/tini-rs", "-P"]): OCI image
#                                          layouts whose index has every
#                                          platform (scripts/oci_image.py)
#   SHA256SUMS                             `sha256sum -c SHA256SUMS` checks all
#
# KIND is `static` (runs in any image) or `dynamic` (linked against glibc).
#
#   scripts/release.sh [--allow-dirty] [OUTDIR]
#
# x86_64 is built with the Rust toolchain on PATH, the others with Debian's
# (scripts/cross.sh; run `scripts/cross.sh install` first, as root).
# A release is built from a clean tree, so that the commit in `--version`
# names exactly the source of the files; --allow-dirty builds anyway (for
# tests). The Debian packages are put together with Debian's own tools
# (dpkg-shlibdeps, dpkg-gencontrol, dpkg-deb) from packaging/debian/.
#
# Exit status: 0 on success; 1 when the tree is dirty, a version does not
# agree, the machine is not amd64, or a build step fails; 2 on bad
# arguments.
set -euo pipefail

usage() { echo "usage: scripts/release.sh [--allow-dirty] [OUTDIR]"; }
fail() { echo "release.sh: $1" >&2; exit 1; }

allow_dirty=0
outdir=
for arg in "$@"; do
  case "$arg" in
    --allow-dirty) allow_dirty=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "release.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$outdir" ] || { echo "release.sh: more than one OUTDIR ('$outdir', '$arg')" >&2; exit 2; }
      outdir=$arg
      ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
# OUTDIR is relative to where the script was called from, like any path
# argument; made absolute before the script moves to the repository.
outdir=${outdir:-$repo/dist}
case "$outdir" in /*) ;; *) outdir="$PWD/$outdir" ;; esac
cd "$repo"

for tool in cargo git dpkg-deb dpkg-shlibdeps dpkg-gencontrol dpkg-parsechangelog sha256sum gzip; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian packages: dpkg-dev, git; and a Rust toolchain)"
done

if [ "$allow_dirty" = 0 ]; then
  git rev-parse --git-dir >/dev/null 2>&1 || fail "not a git checkout; pass --allow-dirty to build anyway"
  [ -z "$(git status --porcelain)" ] || fail "the working tree has uncommitted changes; commit them or pass --allow-dirty"
fi

[ "$(uname -m)" = x86_64 ] && [ "$(dpkg --print-architecture)" = amd64 ] ||
  fail "releases are built on x86_64 (Debian amd64), which Debian's cross compilers run on"

# The crate's version (`cargo pkgid` ends in #NAME@VERSION or #VERSION),
# which the Debian changelog's newest entry must carry as its upstream part.
version=$(cargo pkgid --quiet | sed -E 's/.*[#@]//')
debversion=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
[ "${debversion%-*}" = "$version" ] ||
  fail "packaging/debian/changelog is at $debversion, Cargo.toml at $version"

# Reproducible timestamps (gzip -n, dpkg-deb clamps to SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

mkdir -p "$outdir"
work=$(mktemp -d /tmp/tini-rs-release.XXXXXX)
trap 'rm -rf "$work"' EXIT

# shellcheck source=scripts/targets.sh
. scripts/targets.sh

# --- the binaries ----------------------------------------------------------
# The static one as README.md builds it: a plain static executable, not a
# static PIE (see BENCHMARKS.md for the start-up time this saves); on
# mips64el a static executable of PIC code (scripts/cross.sh says why).
echo "== x86_64 static build"
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
  cargo build --release --locked --target x86_64-unknown-linux-gnu
echo "== x86_64 dynamic build"
cargo build --release --locked
mapfile -t foreign < <(all_targets | grep -v '^x86_64-')
echo "== ${foreign[*]}"
scripts/cross.sh build "${foreign[@]}" ||
  fail "a cross build failed (is the toolchain there? scripts/cross.sh install)"

# binary TARGET KIND: where that build is.
binary() {
  if [ "$1" = x86_64-unknown-linux-gnu ]; then
    if [ "$2" = static ]; then echo target/x86_64-unknown-linux-gnu/release/tini-rs; else echo target/release/tini-rs; fi
  else
    scripts/cross.sh path "$1" "$2"
  fi
}

files=()
for t in $(all_targets); do
  for kind in static dynamic; do
    for name in "tini-rs-$version-$(target_field "$t" 4)-linux-$kind" \
      "tini-rs-$version-linux-$(target_field "$t" 3)-$kind"; do
      install -m 0755 "$(binary "$t" "$kind")" "$outdir/$name"
      files+=("$name")
    done
  done
done

# --- the Debian packages ---------------------------------------------------
umask 022
cp packaging/debian/control packaging/debian/changelog "$work/"
# deb TARGET: the .deb of that target's Debian architecture.
deb() {
  local t=$1 arch triple
  arch=$(target_field "$t" 2)
  triple=$(target_field "$t" 5)
  echo "== Debian package $debversion for $arch"
  local pkg="$work/$arch"
  # debian/PACKAGE is where Debian's tools expect the package's files.
  local root="$pkg/debian/tini-rs"
  local doc="$root/usr/share/doc/tini-rs"
  local man="$root/usr/share/man/man1"
  install -d "$root/DEBIAN" "$root/usr/bin" "$doc" "$man" "$root/usr/share/lintian/overrides"
  install -m 0755 "$(binary "$t" dynamic)" "$root/usr/bin/tini-rs"
  install -m 0755 "$(binary "$t" static)" "$root/usr/bin/tini-rs-static"
  gzip -9n <docs/tini-rs.1 >"$man/tini-rs.1.gz"
  # One page describes both binaries.
  ln -s tini-rs.1.gz "$man/tini-rs-static.1.gz"
  gzip -9n <packaging/debian/changelog >"$doc/changelog.Debian.gz"
  gzip -9n <CHANGELOG.md >"$doc/changelog.gz"
  # copyright: the DEP-5 header from packaging/debian/, then the license
  # text of LICENSE (from its first paragraph on), indented, empty lines as
  # " .".
  {
    cat packaging/debian/copyright
    sed -n '/^Permission/,$p' LICENSE | sed -e 's/^$/./' -e 's/^/ /'
  } >"$doc/copyright"
  install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/tini-rs"

  # dpkg-shlibdeps and dpkg-gencontrol read debian/control and
  # debian/changelog below the current directory, and take the package's
  # architecture from DEB_HOST_ARCH. Depends comes from the libraries the
  # dynamic binary really links (dpkg-shlibdeps); the static one needs
  # none. Where the target's own libc6:ARCH is not installed, only Debian's
  # cross libraries (/usr/TRIPLE, libc6-ARCH-cross), dpkg-shlibdeps finds
  # them with -l and names those
  # packages ("libc6:s390x", "libgcc-s1-s390x-cross"): the names on the
  # target machine are the same without the architecture or -ARCH-cross.
  install -d "$pkg/debian"
  cp "$work/control" "$work/changelog" "$pkg/debian/"
  (
    cd "$pkg"
    export DEB_HOST_ARCH="$arch"
    dpkg-shlibdeps -Tdebian/substvars debian/tini-rs/usr/bin/tini-rs 2>/dev/null ||
      dpkg-shlibdeps -l"/usr/$triple/lib" -Tdebian/substvars debian/tini-rs/usr/bin/tini-rs
    sed -i -E -e "s/:$arch//g" -e "s/-$arch-cross//g" debian/substvars
    dpkg-gencontrol -ptini-rs -Pdebian/tini-rs -Tdebian/substvars
  )
  (cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  chmod 0644 "$root/DEBIAN/md5sums"
  local name="tini-rs_${debversion}_$arch.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$outdir/$name" >/dev/null
  files+=("$name")
}
for t in $(all_targets); do
  # riscv64: no Debian 12 architecture to install a package on.
  [ "$t" = riscv64gc-unknown-linux-gnu ] && continue
  deb "$t"
done

# --- the multi-architecture images ----------------------------------------
# OCI image layouts as tar archives, each an image index with one manifest
# per platform (scripts/oci_image.py): the FROM-scratch image and the pause
# image, from the static files above.
for image in tini-rs pause; do
  name="tini-rs-$version-$image.oci.tar"
  echo "== $image image, every platform: $name"
  python3 scripts/oci_image.py "$image" "$outdir" "$outdir/$name"
  files+=("$name")
done

# --- checksums -------------------------------------------------------------
(cd "$outdir" && sha256sum "${files[@]}" >SHA256SUMS)
echo "== release files in $outdir"
(cd "$outdir" && ls -l "${files[@]}" SHA256SUMS)
