#!/usr/bin/env bash
# Checks what a user installs: the release files of scripts/release.sh, the
# Debian package, and the crate as `cargo publish` would upload it.
#
#   tests/package.sh
#
# 1. release.sh refuses a dirty tree (in a throw-away clone, nothing built);
# 2. release.sh --allow-dirty builds into a temporary directory, and
#    `sha256sum -c SHA256SUMS` verifies every file there: both binaries of
#    every target under both names, a .deb per Debian architecture, and
#    the two multi-architecture images (each platform's binary is of its
#    architecture and runs, under qemu where it is foreign);
# 3. lintian finds no error in the .deb (warnings are shown);
# 4. the .deb carries the Debian changelog's version, Depends on libc6, and
#    its files: `dpkg -x` into a temporary root, both binaries run a program
#    and report the crate's version; the static one links nothing; the man
#    page formats without a warning;
# 5. `cargo publish --dry-run` packages and builds the crate with no warning
#    but its own "aborting upload due to dry run";
# 6. the packaged crate, unpacked outside any git checkout, installs with
#    `cargo install` and its tini-rs runs and names the packaged commit.
#
# --allow-dirty: this runs on developers' trees with uncommitted work too;
# what a release from a clean tree adds is only the refusal of step 1.
# Exit status: 0 when every check passes, 1 otherwise. Something the checks
# need but cannot get (a tool, the crate registry) fails when CI is set and
# prints "SKIPPED ..." otherwise, as tests/tini_suite.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

fail() { echo "FAIL package: $1" >&2; exit 1; }
unavailable() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL package: $1 (CI is set: refusing to skip)" >&2
    exit 1
  fi
  echo "SKIPPED package checks: $1" >&2
  exit 0
}

for tool in git cargo dpkg-deb dpkg-shlibdeps dpkg-parsechangelog lintian man sha256sum; do
  command -v "$tool" >/dev/null || unavailable "$tool not found (tests/run.sh installs it)"
done
# release.sh builds every architecture with Debian's toolchain.
[ -x /usr/bin/cargo ] || unavailable "no cross toolchain (tests/arch.sh, scripts/cross.sh install, installs it)"

work=$(mktemp -d /tmp/tini-rs-package.XXXXXX)
trap 'rm -rf "$work"' EXIT

version=$(cargo pkgid --quiet | sed -E 's/.*[#@]//')
want_version="tini-rs version $version"
debversion=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)

echo "== 1. release.sh refuses a dirty tree"
git clone --quiet --no-hardlinks "$repo" "$work/clone"
touch "$work/clone/uncommitted"
set +e
"$work/clone/scripts/release.sh" "$work/refused" 2>"$work/refused.err" >/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || fail "release.sh on a dirty tree exited $rc, not 1"
[ "$(wc -l <"$work/refused.err")" = 1 ] && grep -q "uncommitted changes" "$work/refused.err" ||
  fail "release.sh on a dirty tree said: $(cat "$work/refused.err")"
[ ! -e "$work/refused" ] || fail "release.sh on a dirty tree created its OUTDIR"

echo "== 2. release files and SHA256SUMS"
dist="$work/dist"
scripts/release.sh --allow-dirty "$dist"
(cd "$dist" && sha256sum -c SHA256SUMS)
static="$dist/tini-rs-$version-x86_64-linux-static"
dynamic="$dist/tini-rs-$version-x86_64-linux-dynamic"
deb="$dist/tini-rs_${debversion}_amd64.deb"
for f in "$static" "$dynamic" "$deb"; do
  grep -q " $(basename "$f")\$" "$dist/SHA256SUMS" || fail "SHA256SUMS does not cover $(basename "$f")"
done
# Every target: one binary of each kind under both names (uname -m and
# Docker's platform), the same file; a .deb for each Debian architecture
# whose binaries are those files. (tests/arch.sh checks that each binary
# is of its architecture and runs.)
. scripts/targets.sh
for t in $(all_targets); do
  for kind in static dynamic; do
    by_uname="tini-rs-$version-$(target_field "$t" 4)-linux-$kind"
    by_platform="tini-rs-$version-linux-$(target_field "$t" 3)-$kind"
    for f in "$by_uname" "$by_platform"; do
      grep -q " $f\$" "$dist/SHA256SUMS" || fail "SHA256SUMS does not cover $f"
    done
    cmp -s "$dist/$by_uname" "$dist/$by_platform" || fail "$by_uname and $by_platform differ"
  done
  arch=$(target_field "$t" 2)
  [ "$arch" != riscv64 ] || continue
  d="$dist/tini-rs_${debversion}_$arch.deb"
  [ "$(dpkg-deb -f "$d" Architecture)" = "$arch" ] || fail "$(basename "$d") is not Architecture: $arch"
  dpkg-deb -f "$d" Depends | grep -q '\blibc6 (>= ' || fail "$(basename "$d")'s Depends lacks libc6"
  static_file="tini-rs-$version-$(target_field "$t" 4)-linux-static"
  dpkg-deb --fsys-tarfile "$d" | tar -xO ./usr/bin/tini-rs-static | cmp -s - "$dist/$static_file" ||
    fail "$(basename "$d"): /usr/bin/tini-rs-static is not $static_file"
done
[ ! -e "$dist/tini-rs_${debversion}_riscv64.deb" ] || fail "a riscv64 .deb, for an architecture Debian 12 does not release"

echo "== 2b. the multi-architecture images"
# Each platform's manifest holds a /tini-rs of that architecture, which runs
# (natively or under qemu, scripts/cross.sh run).
for image in tini-rs pause; do
  case "$image" in tini-rs) entry='["/tini-rs", "--"]' ;; pause) entry='["/tini-rs", "-P"]' ;; esac
  archive="$dist/tini-rs-$version-$image.oci.tar"
  grep -q " $(basename "$archive")\$" "$dist/SHA256SUMS" || fail "SHA256SUMS does not cover $(basename "$archive")"
  python3 tests/oci_check.py "$archive" "$entry" "$work/oci-$image" >"$work/oci-$image.list" ||
    fail "$(basename "$archive") is not a sound image index"
  [ "$(wc -l <"$work/oci-$image.list")" = "$(all_targets | wc -l)" ] ||
    fail "$(basename "$archive") has $(wc -l <"$work/oci-$image.list") platforms, not $(all_targets | wc -l)"
  while read -r platform bin; do
    t=$(target_for_platform "$platform") || fail "$image: unknown platform $platform"
    machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
    [ "$machine" = "$(elf_machine "$t")" ] || fail "$image, $platform: the binary is for $machine"
    got=$(scripts/cross.sh run "$t" -- "$bin" --version </dev/null) || fail "$image, $platform: --version failed"
    case "$got" in "$want_version"*) ;; *) fail "$image, $platform: --version said '$got'" ;; esac
  done <"$work/oci-$image.list"
  echo "$image image: $(awk '{ printf "%s ", $1 }' "$work/oci-$image.list")each of its architecture, and runs"
done

echo "== 3. lintian"
lintian --fail-on error --info "$deb" || fail "lintian reports errors in $(basename "$deb")"

echo "== 4. the package's contents"
[ "$(dpkg-deb -f "$deb" Version)" = "$debversion" ] || fail "the .deb is not at version $debversion"
dpkg-deb -f "$deb" Depends | grep -q '\blibc6 (>= ' || fail "the .deb's Depends lacks libc6: $(dpkg-deb -f "$deb" Depends)"
root="$work/root"
dpkg -x "$deb" "$root"
want="tini-rs version $version"
for bin in tini-rs tini-rs-static; do
  exe="$root/usr/bin/$bin"
  got=$("$exe" --version)
  case "$got" in "$want" | "$want - git."???????) ;; *) fail "$bin --version: '$got', expected '$want[ - git.HASH]'" ;; esac
  "$exe" -s -- true || fail "$bin -s -- true exited $?"
  set +e
  "$exe" -s -- sh -c 'exit 7'
  rc=$?
  set -e
  [ "$rc" = 7 ] || fail "$bin -s -- sh -c 'exit 7' exited $rc"
done
cmp -s "$root/usr/bin/tini-rs" "$dynamic" || fail "/usr/bin/tini-rs is not the dynamic release file"
cmp -s "$root/usr/bin/tini-rs-static" "$static" || fail "/usr/bin/tini-rs-static is not the static release file"
# ldd fails on an executable that loads no library at all.
if ldd "$root/usr/bin/tini-rs-static" >/dev/null 2>&1; then
  fail "tini-rs-static is dynamically linked"
fi
page="$root/usr/share/man/man1/tini-rs.1.gz"
[ -f "$page" ] || fail "no man page in the package"
[ "$(readlink "$root/usr/share/man/man1/tini-rs-static.1.gz")" = tini-rs.1.gz ] ||
  fail "tini-rs-static.1.gz is not a link to tini-rs.1.gz"
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "the man page formats with warnings: $warnings"
grep -q '^License: Expat' "$root/usr/share/doc/tini-rs/copyright" || fail "copyright has no Expat license paragraph"

echo "== 5. cargo publish --dry-run"
set +e
cargo publish --dry-run --allow-dirty >"$work/publish.log" 2>&1
rc=$?
set -e
if [ "$rc" != 0 ]; then
  cat "$work/publish.log" >&2
  if grep -qiE 'failed to (download|query|update|get|fetch)|network|could not resolve|timed out' "$work/publish.log"; then
    unavailable "cargo publish --dry-run cannot reach the crate registry"
  fi
  fail "cargo publish --dry-run exited $rc"
fi
# The dry run's own notice is the only warning allowed.
others=$(grep '^warning:' "$work/publish.log" |
  grep -v '^warning: aborting upload due to dry run$' || true)
[ -z "$others" ] || { cat "$work/publish.log" >&2; fail "cargo publish --dry-run warns: $others"; }

echo "== 6. the packaged crate, outside git, with cargo install"
# Packed again into a directory of our own: where the dry run leaves its
# .crate is cargo's business and has moved between cargo versions.
cargo package --allow-dirty --no-verify --target-dir "$work/package-target" >"$work/package.log" 2>&1 ||
  { cat "$work/package.log" >&2; fail "cargo package failed"; }
crate="$work/package-target/package/tini-rs-$version.crate"
[ -f "$crate" ] || fail "cargo package left no $crate"
mkdir "$work/crate"
tar -xzf "$crate" -C "$work/crate"
# --offline: the dry run above fetched every dependency already.
CARGO_TARGET_DIR="$work/crate-target" cargo install --quiet --offline --locked \
  --path "$work/crate/tini-rs-$version" --root "$work/installed"
got=$("$work/installed/bin/tini-rs" --version)
want_commit=$(git rev-parse --short=7 HEAD)
[ "$got" = "tini-rs version $version - git.$want_commit" ] ||
  fail "the installed crate says '$got', expected 'tini-rs version $version - git.$want_commit'"
"$work/installed/bin/tini-rs" -s -- true || fail "the installed tini-rs -s -- true exited $?"

echo "package: every check passed"
