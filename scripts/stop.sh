#!/usr/bin/env bash
# Stop the `make run` of THIS checkout (`make stop`): SIGTERM to the run.sh whose PID is in var/run/run.pid,
# which then stops its servers. Never matches processes by name: other copies of the project on the same
# machine are left alone. The PID is used only if that process is this checkout's scripts/run.sh (a stale
# file after a crash may name a PID the system has since given to something else).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PID_FILE="${RUN_DIR:-$ROOT/var/run}/run.pid"
[ -f "$PID_FILE" ] || { echo "make stop: nothing to stop (no $PID_FILE)"; exit 0; }
pid="$(cat "$PID_FILE")"
cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
if [[ "$cmdline" != *scripts/run.sh* ]] || [ "$cwd" != "$ROOT" ]; then
    echo "make stop: PID $pid is not this checkout's scripts/run.sh (stale $PID_FILE): removing it"
    rm -f "$PID_FILE"
    exit 0
fi
# alive PID: running, not a zombie waiting for its parent to reap it
alive() { local state; state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1; [[ "$state" != Z* ]]; }
kill -TERM "$pid"
for _ in $(seq 1 150); do alive "$pid" || { echo "make stop: stopped (PID $pid)"; exit 0; }; sleep 0.2; done
echo "make stop: PID $pid still running after 30 s" >&2
exit 1
