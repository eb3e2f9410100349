#!/usr/bin/env bash
# Stop the `make run` of THIS checkout (`make stop`): SIGTERM to the run.sh whose PID is in var/run/run.pid,
# which then stops supervisord and so its five servers. Never matches processes by name: other copies of the
# project on the same machine are left alone. A PID is used only if that process is this checkout's
# scripts/run.sh (or, below, its supervisord): a stale file after a crash may name a PID the system has since
# given to something else. If run.sh itself was killed (SIGKILL), its supervisord is stopped by
# var/run/supervisord.pid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${RUN_DIR:-$ROOT/var/run}"
PID_FILE="$RUN_DIR/run.pid"
SUPERVISORD_PID_FILE="$RUN_DIR/supervisord.pid"
# alive PID: running, not a zombie waiting for its parent to reap it
alive() { local state; state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1; [[ "$state" != Z* ]]; }
cmdline_of() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null || true; }
# stop_pid PID LABEL: SIGTERM, then wait up to 90 s (run.sh gives supervisord up to 70 s to stop all five).
stop_pid() {
    kill -TERM "$1"
    for _ in $(seq 1 450); do alive "$1" || { echo "make stop: stopped $2 (PID $1)"; return 0; }; sleep 0.2; done
    echo "make stop: $2 (PID $1) still running after 90 s" >&2
    return 1
}
stopped=0
if [ -f "$PID_FILE" ]; then
    pid="$(cat "$PID_FILE")"
    cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
    if [[ "$(cmdline_of "$pid")" == *scripts/run.sh* ]] && [ "$cwd" = "$ROOT" ]; then
        stop_pid "$pid" "run.sh"
        stopped=1
    else
        echo "make stop: PID $pid is not this checkout's scripts/run.sh (stale $PID_FILE): removing it"
        rm -f "$PID_FILE"
    fi
fi
if [ -f "$SUPERVISORD_PID_FILE" ]; then
    pid="$(cat "$SUPERVISORD_PID_FILE")"
    # this checkout's supervisord runs with -c <RUN_DIR>/supervisord.conf
    if [[ "$(cmdline_of "$pid")" == *"supervisord -c $RUN_DIR/supervisord.conf"* ]] && alive "$pid"; then
        stop_pid "$pid" "supervisord (run.sh was gone)"
        stopped=1
    elif [ $stopped = 0 ]; then
        echo "make stop: PID $pid is not this checkout's supervisord (stale $SUPERVISORD_PID_FILE): removing it"
    fi
    rm -f "$SUPERVISORD_PID_FILE"
fi
[ $stopped = 1 ] || [ -f "$PID_FILE" ] || echo "make stop: nothing to stop (no running $PID_FILE)"
exit 0
