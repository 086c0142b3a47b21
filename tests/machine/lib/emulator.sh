# shellcheck shell=bash
# The Azure emulator (tools/azure-emulator) as the cloud of a container: it runs on the
# host but in the container's network namespace, so it is on the container's loopback;
# --root is the container's tree, so HIMDS challenge keys and the CA land where aio-prep
# inside the container reads them.

# emulator_start NETNS DIR ROOT RELEASE_DIR [FLAGS...]: starts it with --demo (one cluster,
# one service principal) and waits for DIR/env. Stopped at exit.
emulator_start() {
  local ns=$1 dir=$2 root=$3 release=$4 job
  shift 4
  mkdir -p "$dir"
  # nsenter, not the in_netns function: a backgrounded function is a subshell whose pid
  # is not the emulator's.
  nsenter --net="/run/netns/$ns" "$release/azure-emulator" serve --dir "$dir" --root "$root" --demo "$@" \
    >"$dir/emulator.log" 2>&1 &
  job=$!
  on_exit emulator_stop "$dir" "$job"
  wait_until 15 "the Azure emulator's $dir/env" test -s "$dir/pid" || {
    cat "$dir/emulator.log" >&2
    return 1
  }
}

# emulator_stop DIR JOB: SIGTERM to the emulator (its own pid file) and the background job,
# bounded wait, then SIGKILL.
emulator_stop() {
  local dir=$1 job=$2 pid deadline
  pid=$(cat "$dir/pid" 2>/dev/null || echo "$job")
  kill -TERM "$pid" "$job" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" "$job" 2>/dev/null || true
  wait "$job" 2>/dev/null || true
}

# emulator_var DIR NAME: one value from the emulator's env file (never exported here).
emulator_var() {
  (
    set +u
    # shellcheck disable=SC1091 # written by the emulator at run time
    . "$1/env"
    printf '%s' "${!2}"
  )
}
