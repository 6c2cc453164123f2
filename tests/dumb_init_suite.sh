#!/usr/bin/env bash
# Runs dumb-init's own test suite (dumb-init 1.2.5: its pytest suite and
# tests/test-zombies), unchanged, against a tini-rs binary in dumb-init mode.
#
#   tests/dumb_init_suite.sh BINARY
#
# tini-rs claims to be a drop-in for dumb-init when it runs as `dumb-init`,
# so dumb-init's own tests are the fairest outside judge. Nothing of
# dumb-init's is kept in this repository: the source is fetched at test time
# from Debian's `dumb-init` source package into a temporary directory, which
# is removed on exit.
#
# Four tests compare dumb-init's own prose byte for byte (its help text, its
# version line, its usage line, its -r error text); tini-rs writes its own
# words, so those are deselected (tests/README.md lists them; src/dumb_init.rs's
# unit tests and tests/dumb_init.rs cover the same inputs). Every other test
# must pass, and every collected test must report.
#
# Exit status: 0 when everything passed, 1 otherwise (2: wrong arguments).
# When something the suite needs is missing (network, apt, python3-venv...),
# it fails if CI is set, and outside CI prints "SKIPPED ..." and exits 0.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BINARY" >&2
  exit 2
fi
if [ ! -f "$1" ] || [ ! -x "$1" ]; then
  echo "dumb_init_suite.sh: $1 is not an executable file" >&2
  exit 1
fi
BINARY=$(readlink -f "$1")
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
started=$(date +%s)

# The upstream version the suite is written for (tests/README.md names it).
DUMB_INIT_VERSION=1.2.5
# The prose comparisons tini-rs does not copy (see above), as pytest ids.
DESELECTED=(
  "tests/cli_test.py::test_help_message["
  "tests/cli_test.py::test_version_message["
  "tests/cli_test.py::test_no_arguments_prints_usage["
  "tests/cli_test.py::test_rewrite_errors["
)

unavailable() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL dumb-init suite: $1 (CI is set: refusing to skip)" >&2
    exit 1
  fi
  echo "SKIPPED dumb-init suite: $1" >&2
  exit 0
}

work=$(mktemp -d /tmp/dumb-init-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------
# 1. dumb-init's source, from Debian's source package, through a private apt
#    configuration derived from the machine's own "deb" entries
#    (tests/apt_sources.sh), as tests/tini_suite.sh does. Only the upstream
#    tarball is used; its SHA-256 is checked against the signed .dsc.

command -v apt-get >/dev/null || unavailable "apt-get not found (needs Debian)"
src_dl="$work/download"
mkdir -p "$src_dl"
# apt downloads as the user _apt, which must reach the directory.
chmod 755 "$work"
echo "== dumb-init suite: fetching dumb-init's source (Debian source package)"
rc=0
"$REPO_DIR/tests/apt_source.sh" dumb-init "$src_dl" || rc=$?
case $rc in
0) ;;
3) unavailable "no 'deb' entries in the machine's apt sources to derive deb-src from" ;;
# The Debian part (debian.tar.xz) is not needed; a mirror that lacks it
# must not stop the run, so only the two files used are checked below.
4) echo "   (apt-get source reported a failure; checking the files it needed)" ;;
*) unavailable "tests/apt_source.sh dumb-init failed (exit status $rc)" ;;
esac
orig="$src_dl/dumb-init_${DUMB_INIT_VERSION}.orig.tar.gz"
dsc=$(ls "$src_dl"/dumb-init_"${DUMB_INIT_VERSION}"-*.dsc 2>/dev/null | head -n 1 || true)
[ -f "$orig" ] && [ -n "$dsc" ] ||
  unavailable "expected dumb-init ${DUMB_INIT_VERSION}, got: $(cd "$src_dl" && echo *)"
want=$(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
  on && $3 == name { print $1 }' name="$(basename "$orig")" "$dsc")
got=$(sha256sum "$orig" | cut -d' ' -f1)
if [ -z "$want" ] || [ "$want" != "$got" ]; then
  echo "FAIL dumb-init suite: $(basename "$orig") has SHA-256 $got, the .dsc says '${want}'" >&2
  exit 1
fi
echo "   $(basename "$orig"): SHA-256 matches $(basename "$dsc")"
SOURCE_DIR="$work/dumb-init"
mkdir -p "$SOURCE_DIR"
tar -xzf "$orig" -C "$SOURCE_DIR" --strip-components=1
[ -f "$SOURCE_DIR/tests/cli_test.py" ] && [ -f "$SOURCE_DIR/tests/test-zombies" ] ||
  unavailable "tests/ is not in $(basename "$orig")"

# ---------------------------------------------------------------------------
# 2. pytest, pytest-timeout and py (its tests import py._path) in a private
#    virtualenv, pinned to the versions the suite was checked with.

command -v python3 >/dev/null || unavailable "python3 not found"
venv="$work/venv"
python3 -m venv "$venv" || unavailable "python3 -m venv failed (Debian: python3-venv)"
"$venv/bin/python3" -m pip install -q pytest==9.2.0 pytest-timeout==2.4.0 py==1.11.0 ||
  unavailable "pip install pytest pytest-timeout py failed"

# ---------------------------------------------------------------------------
# 3. The binary first on PATH as `dumb-init`: a copy, not a symlink, since
#    cwd_test runs realpath(which('dumb-init')) and tini-rs picks its mode by
#    its name.

bin="$work/bin"
mkdir -p "$bin"
cp "$BINARY" "$bin/dumb-init"
export PATH="$bin:$venv/bin:$PATH" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$REPO_DIR/tests/scripts"
export DUMB_INIT_SUITE_COLLECTED="$work/collected" DUMB_INIT_SUITE_REPORTED="$work/reported"
: >"$DUMB_INIT_SUITE_COLLECTED"
: >"$DUMB_INIT_SUITE_REPORTED"

failed=0
# ---------------------------------------------------------------------------
# 4. The pytest suite, in a fresh PID namespace whose PID 1 is tini-rs in
#    tini mode (it reaps what the tests orphan). The plugin kills what each
#    test leaves behind. The suite's own 5 s per-test timeout is raised for
#    a loaded CI machine; the whole run takes about 15 s, 900 s means a hang.

deselect=()
for d in "${DESELECTED[@]}"; do deselect+=(--deselect "$d"); done
echo "== dumb-init suite: pytest against $BINARY as dumb-init"
rc=0
(cd "$SOURCE_DIR" && timeout 900 unshare --pid --fork --mount-proc --kill-child \
  "$BINARY" -- python3 -m pytest -q -p no:cacheprovider -p dumb_init_suite_plugin \
  --timeout 60 "${deselect[@]}" tests) || rc=$?
[ "$rc" = 0 ] || { echo "FAIL pytest exited with status $rc"; failed=1; }

# Every collected test must have reported, and passed in every phase.
collected=$(sort -u "$DUMB_INIT_SUITE_COLLECTED" | wc -l)
passed=$(awk '$1 == "call" && $2 == "passed" { print $3 }' "$DUMB_INIT_SUITE_REPORTED" | sort -u)
bad=$(awk '$2 != "passed" { print $3 }' "$DUMB_INIT_SUITE_REPORTED" | sort -u)
missing=$(sort -u "$DUMB_INIT_SUITE_COLLECTED" | comm -23 - <(echo "$passed"))
# And the deselection took exactly the prose tests: every test of the
# whole suite is either collected here or one of them.
total=$(cd "$SOURCE_DIR" && python3 -m pytest -q --collect-only -p no:cacheprovider tests 2>/dev/null |
  grep '::' | sort -u)
prose=$(grep -c -F -f <(printf '%s\n' "${DESELECTED[@]}") <<<"$total" || true)
echo "   of $(grep -c . <<<"$total") tests, $prose are the ${#DESELECTED[@]} prose comparisons;" \
  "$collected collected, $(grep -c . <<<"$passed" || true) passed"
if [ "$(($(grep -c . <<<"$total") - prose))" != "$collected" ]; then
  echo "FAIL dumb-init suite: the deselection took more than the prose comparisons"
  failed=1
fi
if [ "$collected" = 0 ] || [ -n "$missing" ] || [ -n "$bad" ]; then
  echo "FAIL dumb-init pytest suite: not passed or never reported:"
  { echo "$missing"; echo "$bad"; } | grep . | sort -u | sed 's/^/     /'
  failed=1
else
  echo "PASS dumb-init pytest suite ($collected tests)"
fi

# ---------------------------------------------------------------------------
# 5. tests/test-zombies, as dumb-init's CI runs it: `dumb-init` as PID 1 of
#    an empty PID namespace, bash below it making a zombie that must be reaped.

echo "== dumb-init suite: tests/test-zombies with dumb-init as PID 1"
if (cd "$SOURCE_DIR" && timeout 60 unshare --pid --fork --mount-proc --kill-child \
  dumb-init bash tests/test-zombies >"$work/zombies.log" 2>&1); then
  echo "PASS test-zombies"
else
  echo "FAIL test-zombies:"
  sed 's/^/     /' "$work/zombies.log"
  failed=1
fi

echo "dumb-init suite: $(($(date +%s) - started)) s"
if [ "$failed" != 0 ]; then
  echo "dumb-init suite: FAILED against $BINARY"
  exit 1
fi
echo "dumb-init suite: all passed against $BINARY (but the ${#DESELECTED[@]} prose comparisons)"
