#!/usr/bin/env bash
# Runs tini's own inner test suite (tini 0.19.0, test/run_inner_tests.py),
# unchanged, against a tini-rs binary, then the smoke checks of tini's
# ci/run_build.sh that apply to tini-rs.
#
#   tests/tini_suite.sh BINARY
#
# tini-rs claims to be a drop-in replacement for tini, so tini's own tests
# are the fairest outside judge. Nothing of tini's is kept in this
# repository: the source is fetched at test time from Debian's `tini` source
# package into a temporary directory, which is removed on exit.
#
# Exit status: 0 when the suite and every smoke check pass, 1 otherwise
# (2: wrong arguments).
# When something the suite needs is missing (network, apt, a compiler...),
# it fails if CI is set, and outside CI prints "SKIPPED ..." and exits 0.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BINARY" >&2
  exit 2
fi
if [ ! -f "$1" ] || [ ! -x "$1" ]; then
  echo "tini_suite.sh: $1 is not an executable file" >&2
  exit 1
fi
# Absolute, because BUILD_DIR/tini becomes a symlink to it.
BINARY=$(readlink -f "$1")
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)

# The upstream version the suite is written for (tests/README.md names it).
TINI_VERSION=0.19.0

# Something the suite needs is missing: CI must notice, a developer's machine
# without network or apt may go on with a visible note.
unavailable() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL tini suite: $1 (CI is set: refusing to skip)" >&2
    exit 1
  fi
  echo "SKIPPED tini suite: $1" >&2
  exit 0
}

work=$(mktemp -d /tmp/tini-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------
# 1. tini's source, from Debian's source package, downloaded through a
#    private apt configuration derived from the machine's own apt sources
#    (tests/apt_source.sh): the machine's apt set-up is left as it was.

command -v apt-get >/dev/null || unavailable "apt-get not found (needs Debian)"

src_dl="$work/download"
mkdir -p "$src_dl"
# apt downloads as the user _apt, which must reach the directory.
chmod 755 "$work"
echo "== tini suite: fetching tini's source (Debian source package)"
rc=0
"$REPO_DIR/tests/apt_source.sh" tini "$src_dl" || rc=$?
case $rc in
0) ;;
3) unavailable "no 'deb' entries in the machine's apt sources to derive deb-src from" ;;
*) unavailable "tests/apt_source.sh tini failed (exit status $rc)" ;;
esac

orig="$src_dl/tini_${TINI_VERSION}.orig.tar.gz"
if [ ! -f "$orig" ]; then
  unavailable "expected tini ${TINI_VERSION}, got: $(cd "$src_dl" && echo tini_*.orig.*)"
fi
# The upstream tarball is all we need (tests and ci/ are in it): plain tar,
# no dpkg-source and no Debian patches.
SOURCE_DIR="$work/tini"
mkdir -p "$SOURCE_DIR"
tar -xzf "$orig" -C "$SOURCE_DIR" --strip-components=1
[ -f "$SOURCE_DIR/test/run_inner_tests.py" ] ||
  unavailable "test/run_inner_tests.py is not in $(basename "$orig")"
# The tests run their helper scripts directly (#!/usr/bin/env python).
chmod +x "$SOURCE_DIR"/test/*.py "$SOURCE_DIR"/test/*/*.py

# ---------------------------------------------------------------------------
# 2. The suite's Python modules, in a private virtualenv (as tini's CI does):
#    psutil, python-prctl (built here: gcc, libcap-dev and Python's headers)
#    and bitmap. Pinned to the versions the suite was checked with, so that a
#    new release on PyPI cannot change the result. The venv's bin goes first
#    on PATH because the scripts call `python` and `python3` through env.

command -v python3 >/dev/null || unavailable "python3 not found"
echo "== tini suite: Python virtualenv from $(python3 -c 'import sys; print(sys.executable, sys.version.split()[0])')"
venv="$work/venv"
python3 -m venv "$venv" ||
  unavailable "python3 -m venv failed (Debian: python3-venv)"
"$venv/bin/python3" -m pip install -q --use-pep517 psutil==7.2.2 python-prctl==1.8.1 bitmap==0.0.7 ||
  unavailable "pip install psutil python-prctl bitmap failed (python-prctl needs gcc, libcap-dev, python3-dev)"
export PATH="$venv/bin:$PATH"

# ---------------------------------------------------------------------------
# 3. The signal-configuration helper the suite runs tini under.

BUILD_DIR="$work/build"
mkdir -p "$BUILD_DIR"
command -v gcc >/dev/null || unavailable "gcc not found"
gcc -o "$BUILD_DIR/sigconf-test" "$SOURCE_DIR/test/sigconf/sigconf-test.c" ||
  unavailable "gcc could not compile test/sigconf/sigconf-test.c"

# ---------------------------------------------------------------------------
# 4. The inner suite itself, with the environment tini's ci/run_build.sh
#    gives it. BUILD_DIR/tini is where the suite looks for tini.
#    FORCE_SUBREAPER=1 turns on its subreaper tests (-s, TINI_SUBREAPER, and
#    the warning when tini-rs is neither PID 1 nor a subreaper). The whole
#    suite takes about two minutes; 900 s means something hangs.

ln -s "$BINARY" "$BUILD_DIR/tini"
export SOURCE_DIR BUILD_DIR FORCE_SUBREAPER=1 PYTHONUNBUFFERED=1

failed=0
echo "== tini suite: test/run_inner_tests.py against $BINARY"
if timeout 900 python3 "$SOURCE_DIR/test/run_inner_tests.py"; then
  echo "PASS tini inner test suite"
else
  echo "FAIL tini inner test suite (exit status $?)"
  failed=1
fi

# ---------------------------------------------------------------------------
# 5. The smoke checks of tini's ci/run_build.sh (non-MINIMAL build) that
#    apply to tini-rs. tests/README.md lists the ones left out and why. Each one is
#    bounded, so a hang is a failure and not a stuck CI job.

check() { # DESCRIPTION COMMAND...: passes when COMMAND exits 0
  local what=$1
  shift
  if "$@"; then
    echo "PASS smoke: $what"
  else
    echo "FAIL smoke: $what"
    failed=1
  fi
}
# Runs the binary with a time bound; its output goes where the caller says.
tini() { timeout 30 "$BINARY" "$@"; }
status_is() { # EXPECTED ARGS...: the binary's exit status is EXPECTED
  local want=$1 rc=0
  shift
  tini "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" = "$want" ] || echo "  exit status was $rc, expected $want"
  [ "$rc" = "$want" ]
}
fails() { ! tini "$@" >/dev/null 2>&1; }
quiet() { tini "$@" >/dev/null 2>&1; }
license_matches() { tini -l | diff - "$REPO_DIR/LICENSE"; }
no_args_usage() {
  local out rc=0
  out=$(tini 2>&1) || rc=$?
  [ "$rc" != 0 ] || echo "  exited 0"
  grep -q "more verbose" <<<"$out" || echo "  usage does not mention 'more verbose'"
  [ "$rc" != 0 ] && grep -q "more verbose" <<<"$out"
}
stdin_passed() { echo 'exit 0' | tini sh; }

echo "== tini suite: smoke checks from tini's ci/run_build.sh"
check "-h exits 0" quiet -h
check "-l prints this repository's LICENSE" license_matches
check "-vvv true exits 0" quiet -vvv true
check "-vvv false exits non-zero" fails -vvv false
check "no arguments: non-zero, usage mentions 'more verbose'" no_args_usage
check "-vvv -- true exits 0" quiet -vvv -- true
check "-vvv -- -- true exits non-zero" fails -vvv -- -- true
check "foobar123 (not found) exits 127" status_is 127 foobar123
check "/etc (a directory) exits 126" status_is 126 /etc
check "stdin reaches the child: echo 'exit 0' | tini sh" stdin_passed

if [ "$failed" != 0 ]; then
  echo "tini suite: FAILED against $BINARY"
  exit 1
fi
echo "tini suite: all passed against $BINARY"
