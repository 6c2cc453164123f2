#!/usr/bin/env bash
# Builds the release files of tini-rs into OUTDIR (default: dist/):
#
#   tini-rs-VERSION-x86_64-linux-static    static executable, runs in any image
#   tini-rs-VERSION-x86_64-linux-dynamic   linked against glibc
#   tini-rs_DEBVERSION_amd64.deb           both, the man page, copyright, changelogs
#   SHA256SUMS                             `sha256sum -c SHA256SUMS` checks the three
#
#   scripts/release.sh [--allow-dirty] [OUTDIR]
#
# A release is built from a clean tree, so that the commit in `--version`
# names exactly the source of the files; --allow-dirty builds anyway (for
# tests). The Debian package is put together with Debian's own tools
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
  fail "only x86_64 (Debian amd64) is built here; see docs/DESIGN.md, \"Other architectures\""

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

# --- the two binaries ------------------------------------------------------
# The static one as README.md builds it: a plain static executable, not a
# static PIE (see BENCHMARKS.md for the start-up time this saves).
echo "== static build"
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
  cargo build --release --locked --target x86_64-unknown-linux-gnu
echo "== dynamic build"
cargo build --release --locked

static="$outdir/tini-rs-$version-x86_64-linux-static"
dynamic="$outdir/tini-rs-$version-x86_64-linux-dynamic"
install -m 0755 target/x86_64-unknown-linux-gnu/release/tini-rs "$static"
install -m 0755 target/release/tini-rs "$dynamic"

# --- the Debian package ----------------------------------------------------
echo "== Debian package $debversion"
umask 022
# debian/PACKAGE is where Debian's tools expect the package's files.
root="$work/debian/tini-rs"
doc="$root/usr/share/doc/tini-rs"
man="$root/usr/share/man/man1"
install -d "$root/DEBIAN" "$root/usr/bin" "$doc" "$man" "$root/usr/share/lintian/overrides"
install -m 0755 "$dynamic" "$root/usr/bin/tini-rs"
install -m 0755 "$static" "$root/usr/bin/tini-rs-static"
gzip -9n <docs/tini-rs.1 >"$man/tini-rs.1.gz"
# One page describes both binaries.
ln -s tini-rs.1.gz "$man/tini-rs-static.1.gz"
gzip -9n <packaging/debian/changelog >"$doc/changelog.Debian.gz"
gzip -9n <CHANGELOG.md >"$doc/changelog.gz"
# copyright: the DEP-5 header from packaging/debian/, then the license text
# of LICENSE (from its first paragraph on), indented, empty lines as " .".
{
  cat packaging/debian/copyright
  sed -n '/^Permission/,$p' LICENSE | sed -e 's/^$/./' -e 's/^/ /'
} >"$doc/copyright"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/tini-rs"

# dpkg-shlibdeps and dpkg-gencontrol read debian/control and
# debian/changelog below the current directory. Depends comes from the
# libraries the dynamic binary really links (dpkg-shlibdeps); the static
# one needs none.
cp packaging/debian/control packaging/debian/changelog "$work/debian/"
(
  cd "$work"
  dpkg-shlibdeps -Tdebian/substvars debian/tini-rs/usr/bin/tini-rs
  dpkg-gencontrol -ptini-rs -Pdebian/tini-rs -Tdebian/substvars
)
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
deb="$outdir/tini-rs_${debversion}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null

# --- checksums -------------------------------------------------------------
(cd "$outdir" && sha256sum "$(basename "$static")" "$(basename "$dynamic")" "$(basename "$deb")" >SHA256SUMS)
echo "== release files in $outdir"
(cd "$outdir" && ls -l "$(basename "$static")" "$(basename "$dynamic")" "$(basename "$deb")" SHA256SUMS)
