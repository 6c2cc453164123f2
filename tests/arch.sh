#!/usr/bin/env bash
# Tests tini-rs built for the other Linux architectures (scripts/targets.sh),
# as root, from tests/run.sh. Prints the time each part takes.
#
#   tests/arch.sh
#
# 1. scripts/cross.sh installs the toolchain pieces and qemu 10 (skipping
#    what is there) and builds every foreign target, dynamic and static.
# 2. Every binary is checked to be of its architecture (ELF header) and run,
#    static and dynamic: --version, and a child's exit status passed on.
# 3. i686 runs natively: the whole test suite, compiled for i686, except the
#    container and real-application tests, which test the x86_64 images.
# 4. aarch64: the whole suite (but the image tests), with TINI_RS_BINARY set
#    to the aarch64 static binary, so every test drives it (through qemu)
#    from the x86_64 test programs; less the tests qemu-user cannot run
#    (QEMU_LIMITS below, each with its cause).
# 5. Every other foreign target: the PID-1, reaping, signal, exit-status and
#    shutdown tests the same way.
# Foreign binaries run under qemu registered in a private binfmt_misc
# (scripts/cross.sh run): nothing is registered machine-wide.
#
# Exit status: 0 when every part passed, non-zero otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/targets.sh
. scripts/targets.sh

timed() {
  local what=$1 start=$SECONDS
  shift
  "$@"
  echo "tests/arch.sh: $what took $((SECONDS - start)) s"
}

mapfile -t foreign < <(all_targets | grep -v '^x86_64-')
timed "installing the cross toolchains and qemu" scripts/cross.sh install
timed "building ${#foreign[@]} targets, dynamic and static" scripts/cross.sh build "${foreign[@]}"

# --- 2. each binary is of its architecture and runs ------------------------
check_binaries() {
  local t kind bin machine out rc prefix
  for t in "${foreign[@]}"; do
    for kind in static dynamic; do
      bin=$(scripts/cross.sh path "$t" "$kind")
      machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
      [ "$machine" = "$(elf_machine "$t")" ] || {
        echo "tests/arch.sh: $bin is for '$machine', not $t" >&2
        return 1
      }
      if [ "$kind" = static ] && readelf -d "$bin" 2>/dev/null | grep -q NEEDED; then
        echo "tests/arch.sh: $bin needs shared libraries" >&2
        return 1
      fi
      # A dynamic binary finds its foreign glibc where libstd-rust-web-dev
      # pulled in libc6:ARCH; elsewhere only the cross libc in /usr/TRIPLE is
      # there, which qemu is told about (QEMU_LD_PREFIX). Never both: two
      # glibc builds mixed make the program spin.
      prefix=
      if [ "$kind" = dynamic ] && [ "$(target_field "$t" 6)" = src ]; then
        prefix=/usr/$(target_field "$t" 5)
      fi
      out=$(QEMU_LD_PREFIX=$prefix scripts/cross.sh run "$t" -- "$bin" --version)
      case "$out" in "tini-rs "*) ;; *)
        echo "tests/arch.sh: $t $kind --version said '$out'" >&2
        return 1
        ;;
      esac
      rc=0
      QEMU_LD_PREFIX=$prefix scripts/cross.sh run "$t" -- "$bin" -s -- sh -c 'exit 7' || rc=$?
      [ "$rc" = 7 ] || {
        echo "tests/arch.sh: $t $kind: a child's exit 7 came back as $rc" >&2
        return 1
      }
      echo "tests/arch.sh: $t $kind: $machine, runs"
    done
  done
}
timed "checking every binary's architecture and running it" check_binaries

# suite_args [emulated]: the test crates that drive the binary directly. The container,
# container_user_needs and applications crates test the images, which hold
# the x86_64 binary (the multi-architecture images are tested apart).
suite_args() {
  local f name
  for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    case "$name" in container | container_user_needs | applications) continue ;; esac
    # Under qemu, two crates test what qemu itself does: a seccomp filter
    # the test installs applies to qemu's x86_64 system calls, not to the
    # emulated program's; RLIMIT_AS, RLIMIT_NPROC and memory cgroup limits
    # meet qemu's own address-space reservation and threads first.
    case "${1:-}:$name" in emulated:seccomp_profiles | emulated:limits) continue ;; esac
    printf -- '--test\n%s\n' "$name"
  done
}

# --- 3. i686, natively -----------------------------------------------------
i686_tests() {
  local args
  mapfile -t args < <(suite_args)
  [ ${#args[@]} -gt 10 ] || { echo "tests/arch.sh: no test crates found" >&2; return 1; }
  # Debian's cargo and rustc (the i686 std is Debian's package). Two tests
  # of tests/seccomp_profiles.rs are skipped, for causes outside tini-rs:
  # - subreaper_prctl_refused: its control, Debian's tini-static, is an
  #   x86_64 program, and the filter the i686 test installs matches i386
  #   system calls only, so the control is not refused anything;
  # - statx_refused_a_script_without_a_shebang_still_runs: i686 glibc's
  #   dynamic loader needs statx to load libgcc_s, so the dynamic binary
  #   cannot start at all under that profile (the static one can).
  scripts/cross.sh cargo i686-unknown-linux-gnu test --locked --no-fail-fast --bins "${args[@]}" -- \
    --skip subreaper_prctl_refused --skip statx_refused_a_script_without_a_shebang_still_runs
}
timed "the test suite built for i686, run natively" i686_tests

# --- 4 and 5: foreign binaries driven by the x86_64 tests ------------------
# Tests that qemu-user cannot run, by cause (each fails under qemu on at
# least one architecture, and passes natively: x86_64 and i686 above).
# Names are cargo test filters (substrings).
QEMU_LIMITS=(
  # qemu-user runs posix_spawn's CLONE_VM|CLONE_VFORK child as a plain fork,
  # so an exec error the child stores never reaches tini-rs: the exit code
  # is right (127, 126) but the message, and the /bin/sh fallback for a
  # script without #! (ENOEXEC), are lost.
  program_not_found program_not_executable_or_a_directory_is_126
  any_other_exec_failure_is_1 a_path_through_a_file_is_1_naming_the_cause
  an_executable_script_without_hash_bang_runs_under_sh
  dash_e_does_not_hide_a_program_that_could_not_start
  a_directory_found_on_path_is_named_as_such_and_only_then
  program_is_a_directory program_without_exec_bit
  a_program_name_or_warning_with_a_line_break_is_still_one_line
  random_argv_and_environment_never_panic
  # qemu-user keeps host real-time signals for itself and maps the guest's
  # onto others: signals 32 to 35 sent from outside arrive renumbered or
  # kill qemu, and the masks the child inherits differ there; real-time
  # signals are not queued (88 of 100 arrived, out of order).
  child_gets_the_blocked_and_ignored_signals_tini_rs_was_given
  child_started_with_defaults_gets_defaults_sigpipe_included
  closed_stderr_with_vvv_changes_nothing stderr_pipe_without_reader
  realtime_signal_rewritten glibc_reserved_signals_32_and_33_do_not_kill_tini_rs
  hundred_back_to_back_realtime_signals_arrive_all_in_order
  mixed_signal_storm_while_reaping_loses_nothing
  # A SIGABRT sent from outside kills qemu-user even while the emulated
  # program blocks it (checked with a 10-line C program that blocks every
  # signal and waits in sigwaitinfo).
  a_child_killed_by_signal_s_makes_tini_rs_exit_128_plus_s
  every_catchable_kind_of_signal_reaches_the_main_child
  every_catchable_signal_neither_kills_tini_rs_nor_orphans_the_child
  # pids.max counts qemu's own threads: qemu fails first
  # ("qemu_thread_create: Resource temporarily unavailable", SIGSEGV).
  spawn_failing_with_eagain
  # Not investigated (fail under qemu only): job control on a terminal;
  # -p SIGKILL/SIGSTOP on 32-bit ARM.
  the_child_owns_the_terminal_reads_it_and_ctrl_c_interrupts_it
  ctrl_c_kills_a_child_with_default_sigint_exit_130
  dash_p_sigkill_kills_the_main_child_not_tini_rs
  dash_p_sigstop_stops_the_main_child_and_tini_rs_waits
  # The test passes -p 12, x86's SIGUSR2, which is SIGSYS on MIPS.
  dash_p_usr2_by_number
  # -p SIGKILL (and the other never-forwarded signals) sets signal 64,
  # SIGRTMAX, as the stand-in parent-death signal; qemu-user keeps the
  # host's SIGRTMAX for itself and answers EINVAL.
  command_lines_mean_what_they_mean_to_tini dash_p_takes_every_signal_tini_takes
  exec_failure_is_exit_2 # the vfork exec error again (dumb-init mode)
  # pids.max and RLIMIT_NPROC count qemu's own threads.
  a_thread_or_child_that_cannot_start_leaves_nothing_running
  with_room_for_the_child_but_no_thread_tini_rs_runs_single_threaded
  single_threaded_with_a_grace_period_stops_the_successor_on_sigterm
  single_threaded_stays_and_passes_a_signal_to_the_successor
  # Idleness and CPU use of the process, which under qemu include qemu's
  # own threads and timers (failed in some runs only).
  stopped_and_continued_main_child_neither_ends_nor_spins_tini_rs
  as_pid1_orphans_are_adopted_and_reaped_and_sigterm_exits_0
  a_sigterm_dropped_by_rewrite_does_not_start_the_grace_period
  # qemu-user rebuilds the environment it hands the program (the order
  # of the entries changes).
  posix_spawn_passes_the_environment_whole socket_activation_changes_only_listen_pid
  the_fork_path_with_sigchld_ignored_passes_the_environment_whole
  # Not investigated: job control in dumb-init mode.
  job_control_signal_forwarded_then_stops_itself_with_or_without_threads
)

emulated_tests() {
  local t=$1 s skips=()
  shift
  for s in "${QEMU_LIMITS[@]}"; do skips+=(--skip "$s"); done
  TINI_RS_BINARY=$(scripts/cross.sh path "$t" static) \
    scripts/cross.sh run "$t" -- cargo test --locked --no-fail-fast "$@" -- "${skips[@]}"
}

aarch64_all() {
  local args
  mapfile -t args < <(suite_args emulated)
  [ ${#args[@]} -gt 10 ] || { echo "tests/arch.sh: no test crates found" >&2; return 1; }
  emulated_tests aarch64-unknown-linux-gnu "${args[@]}"
}
timed "the test suite against the aarch64 binary under qemu" aarch64_all

core_tests=(--test pid1 --test subreaper --test signals --test exit_codes --test shutdown)
for t in "${foreign[@]}"; do
  case "$t" in aarch64-* | i686-*) continue ;; esac
  timed "PID-1, reaping, signal, exit-status and shutdown tests against $t under qemu" \
    emulated_tests "$t" "${core_tests[@]}"
done
echo "tests/arch.sh: every architecture passed"
