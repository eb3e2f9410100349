#!/usr/bin/env bash
# Start the feed consumer, the action server, the Rasa server and the API; wait until each is up; print how
# to chat. Ctrl-C (or SIGTERM) stops all five (feed, action server, Rasa, API, campaign worker). `make run` calls this after setup, train, seed and recommender.
#
# Embedded mode (nothing set): CRM in the SQLite file var/crm.db, Rasa's in-memory tracker and lock store and
# its SQL event broker (var/events.db), all in bot/endpoints.yml. Production mode: DATABASE_URL (PostgreSQL)
# for the CRM; REDIS_URL (redis://[:password@]host:port/db) switches Rasa to bot/endpoints.redis.yml (Redis
# tracker and lock store, RabbitMQ event broker), which also needs RABBITMQ_URL
# (amqp://user:password@host:port/%2F). The feed consumer (python -m profiles.feed) reads the same broker.
#
# Environment: RASA_TOKEN (Rasa HTTP API token; a development default, refused unless ENVIRONMENT is
# development), ACTION_SERVER_TOKEN (the secret Rasa sends the action server: actions/server.py; same rule),
# ACTION_PORT (5055), RASA_PORT (5005), API_PORT (8000), HOST (the address all three servers
# listen on: 127.0.0.1, so only this machine can reach them; HOST=0.0.0.0 exposes them on every interface,
# e.g. behind a reverse proxy or in a container), STARTUP_TIMEOUT (seconds per service, 300), LOG_DIR
# (var/log; the previous run's logs are kept as *.log.1).
# REDIS_URL: redis:// (plain) or rediss:// (TLS, certificate checked against the system CA store).
# Messenger channels (bot/channels.py reads its variables from this environment; a channel without its token
# is off): TELEGRAM_TOKEN, TELEGRAM_BOT_NAME, TELEGRAM_SECRET_TOKEN, TELEGRAM_WEBHOOK_URL; FACEBOOK_SECRET,
# FACEBOOK_PAGE_ACCESS_TOKEN, FACEBOOK_VERIFY. See docs/MESSENGERS.md.
# RABBITMQ_URL: amqp:// on the default virtual host / (what Rasa 3.6's pika broker supports); EVENT_QUEUE
# (default rasa_events) names the queue.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY="$ROOT/.venv/bin/python"
RASA="$ROOT/.venv-rasa/bin/rasa"
ACTION_PORT="${ACTION_PORT:-5055}"
RASA_PORT="${RASA_PORT:-5005}"
API_PORT="${API_PORT:-8000}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-300}"
HOST="${HOST:-127.0.0.1}"
# Where this script (health checks) and Rasa (action endpoint) reach the servers.
case "$HOST" in 0.0.0.0|::|"[::]") LOCAL_HOST=127.0.0.1 ;; *) LOCAL_HOST="$HOST" ;; esac
export ENVIRONMENT="${ENVIRONMENT:-development}"  # Rasa too: its socket.io channel refuses no-Origin clients outside development
DEV_RASA_TOKEN="dev-rasa-token-change-me"
DEV_ACTION_SERVER_TOKEN="dev-action-server-token-change-me"  # = profiles/settings.py DEV_ACTION_SERVER_TOKEN
LOG_DIR="${LOG_DIR:-$ROOT/var/log}"
RUN_DIR="${RUN_DIR:-$ROOT/var/run}"  # PID file and generated endpoints; tests use their own
export RASA_TOKEN="${RASA_TOKEN:-$DEV_RASA_TOKEN}"
# The secret Rasa sends the action server (bot/endpoints*.yml); actions/server.py refuses calls without it.
export ACTION_SERVER_TOKEN="${ACTION_SERVER_TOKEN:-$DEV_ACTION_SERVER_TOKEN}"
# The API reaches Rasa's HTTP API here (erasure of tracker-store conversations, proactive push, web chat):
# it must follow RASA_PORT/HOST, or the API would talk to another Rasa on the default port.
export RASA_URL="http://$LOCAL_HOST:$RASA_PORT"
# Origins the socket.io channel accepts (bot/socketio_channel.py): the web chat page served by our API.
export WEB_CHAT_ORIGINS="${WEB_CHAT_ORIGINS:-http://localhost:$API_PORT,http://127.0.0.1:$API_PORT}"
export RASA_TELEMETRY_ENABLED="${RASA_TELEMETRY_ENABLED:-false}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1
# Sanic's access log (Rasa, action server) would write URLs with Rasa's ?token= (LOG_LEVEL_LIBRARIES=INFO): off.
export SANIC_ACCESS_LOG=false
# Files and directories this run creates (var/, logs, SQLite databases and their -wal/-shm): owner only.
umask 077

die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
# A write to a closed stdout (`make run | tee log` after Ctrl-C killed tee) must fail like any other command,
# so the EXIT trap still stops the servers, rather than kill this script silently with SIGPIPE.
trap '' PIPE

[ -x "$PY" ] && [ -x "$RASA" ] || die "environments missing: run \`make setup\` (or simply \`make run\`)"
ls models/*.tar.gz >/dev/null 2>&1 || die "no trained model in models/: run \`make train\` (or simply \`make run\`)"
command -v curl >/dev/null || die "curl is needed for the health checks"
if [ "$ENVIRONMENT" != development ] && [ "$RASA_TOKEN" = "$DEV_RASA_TOKEN" ]; then
    die "ENVIRONMENT=$ENVIRONMENT but RASA_TOKEN is the development default: anyone could use Rasa's HTTP API; set RASA_TOKEN to a random secret (e.g. \`openssl rand -hex 32\`)"
fi
[ -n "$RASA_TOKEN" ] || die "RASA_TOKEN is empty: set it to a random secret"
if [ "$ENVIRONMENT" != development ] && [ "$ACTION_SERVER_TOKEN" = "$DEV_ACTION_SERVER_TOKEN" ]; then
    die "ENVIRONMENT=$ENVIRONMENT but ACTION_SERVER_TOKEN is the development default: anyone who reaches the action server could run actions as any customer; set ACTION_SERVER_TOKEN to a random secret (e.g. \`openssl rand -hex 32\`)"
fi
[ -n "$ACTION_SERVER_TOKEN" ] || die "ACTION_SERVER_TOKEN is empty: set it to a random secret"
if [ "$ENVIRONMENT" != development ] && [ -n "${TELEGRAM_TOKEN:-}" ] && [ -z "${TELEGRAM_SECRET_TOKEN:-}" ]; then
    die "ENVIRONMENT=$ENVIRONMENT and TELEGRAM_TOKEN is set but TELEGRAM_SECRET_TOKEN is not: anyone could post fake Telegram updates to the webhook; set TELEGRAM_SECRET_TOKEN (1-256 of A-Za-z0-9_-, e.g. \`openssl rand -hex 32\`)"
fi
mkdir -p "$LOG_DIR" "$RUN_DIR"
# `make stop` (scripts/stop.sh) stops this copy by this PID file, never by a process-name pattern.
echo $$ > "$RUN_DIR/run.pid"
# Keep the previous run's logs (e.g. to see why it stopped): rasa.log -> rasa.log.1, ...
for log in "$LOG_DIR"/*.log; do
    [ -f "$log" ] && mv -f "$log" "$log.1"
done

port_in_use() { (exec 3<>"/dev/tcp/$LOCAL_HOST/$1") 2>/dev/null; }
for port in "$ACTION_PORT" "$RASA_PORT" "$API_PORT"; do
    if port_in_use "$port"; then
        die "port $port is already in use (another \`make run\`?): stop that process or set ACTION_PORT/RASA_PORT/API_PORT"
    fi
done

# DATABASE_URL without its credentials, for messages.
db_label() { sed -E 's#//[^@/]*@#//#' <<<"${DATABASE_URL:-sqlite:///var/crm.db}"; }

# --- Rasa endpoints: which tracker/lock store, and where the action server listens -----------------------
ENDPOINTS_TEMPLATE="bot/endpoints.yml"
MODE="embedded (SQLite CRM, in-memory tracker, SQL event broker var/events.db)"
if [ -z "${REDIS_URL:-}" ] && [ -n "${RABBITMQ_URL:-}" ]; then
    # RabbitMQ is the event broker of production mode (bot/endpoints.redis.yml, chosen by REDIS_URL); without
    # REDIS_URL Rasa uses the SQL broker, so the feed consumer must read that one too.
    echo "==> note: RABBITMQ_URL is ignored without REDIS_URL (embedded mode: Rasa's SQL event broker, var/events.db)"
    unset RABBITMQ_URL
fi
if [ -z "${REDIS_URL:-}" ]; then
    # Rasa writes var/events.db relative to the repository root (bot/endpoints.yml); the consumer reads it here.
    export EVENTS_DB_URL="sqlite:///$ROOT/var/events.db"
fi
if [ -n "${REDIS_URL:-}" ]; then
    [ -n "${RABBITMQ_URL:-}" ] || die "REDIS_URL is set but RABBITMQ_URL is not: production mode publishes conversation events to RabbitMQ (bot/endpoints.redis.yml); set RABBITMQ_URL=amqp://user:password@host:5672/%2F"
    # RABBITMQ_URL -> the RABBITMQ_HOST/PORT/USERNAME/PASSWORD/QUEUE variables endpoints.redis.yml interpolates
    # (one parser for run.sh and the e2e tests: profiles.feed.consumer.rasa_broker_env).
    rabbit_vars="$("$PY" -c '
import shlex, sys
from profiles.feed.consumer import rasa_broker_env
from profiles.settings import get_settings
s = get_settings()
try:
    values = rasa_broker_env(s.rabbitmq_url or "", s.event_queue)
except ValueError as exc:
    sys.exit(f"ERROR: {exc}")
print("; ".join(f"export {k}={shlex.quote(v)}" for k, v in values.items()))
')"
    eval "$rabbit_vars"
    ENDPOINTS_TEMPLATE="bot/endpoints.redis.yml"
    # REDIS_URL -> the REDIS_HOST/PORT/DB/PASSWORD/USE_SSL variables that endpoints.redis.yml interpolates
    # (rediss:// is TLS: Rasa 3.6's Redis tracker and lock stores pass use_ssl on to redis-py).
    redis_vars="$("$PY" - <<'EOF'
import os, shlex, sys
from urllib.parse import unquote, urlsplit
u = urlsplit(os.environ["REDIS_URL"])
if u.scheme not in ("redis", "rediss") or not u.hostname:
    sys.exit("ERROR: REDIS_URL must look like redis://[:password@]host:port/db (or rediss:// for TLS)")
db = (u.path or "/0").lstrip("/") or "0"
if not db.isdigit():
    sys.exit(f"ERROR: REDIS_URL's database must be a number, not {db!r}")
if u.username:
    sys.exit("ERROR: REDIS_URL has a user name; Rasa's Redis stores take a password only: redis://:password@host:port/db")
values = {"REDIS_HOST": u.hostname, "REDIS_PORT": str(u.port or 6379), "REDIS_DB": db,
          "REDIS_PASSWORD": unquote(u.password or ""),
          "REDIS_USE_SSL": "true" if u.scheme == "rediss" else ""}  # empty = off (see endpoints.redis.yml)
print("; ".join(f"export {k}={shlex.quote(v)}" for k, v in values.items()))
EOF
)"
    eval "$redis_vars"
    MODE="production (Redis tracker+lock store at $REDIS_HOST:$REDIS_PORT/$REDIS_DB"
    if [ "$REDIS_USE_SSL" = true ]; then MODE+=" over TLS"; fi
    MODE+=", RabbitMQ event broker at $RABBITMQ_HOST:$RABBITMQ_PORT queue $RABBITMQ_QUEUE, CRM at $(db_label))"
elif [ -n "${DATABASE_URL:-}" ]; then
    MODE="CRM at $(db_label), in-memory tracker, SQL event broker var/events.db"
fi
ENDPOINTS="$ENDPOINTS_TEMPLATE"
if [ "$ACTION_PORT" != 5055 ] || [ "$LOCAL_HOST" != 127.0.0.1 ]; then
    ENDPOINTS="$RUN_DIR/endpoints.yml"
    sed "s#http://127.0.0.1:5055/webhook#http://$LOCAL_HOST:$ACTION_PORT/webhook#" "$ENDPOINTS_TEMPLATE" > "$ENDPOINTS"
fi

# --- processes -------------------------------------------------------------------------------------------
PIDS=()
NAMES=()
stopping=0
stop_all() {
    [ $stopping = 1 ] && return
    stopping=1
    trap - INT TERM
    # Kill first, talk later: with `make run | tee log`, Ctrl-C kills tee too, and an echo to the closed pipe
    # would end this script (SIGPIPE, or EPIPE under set -e) before the servers (own sessions) are stopped.
    trap '' PIPE
    set +e
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
    say ""
    say "==> stopping ${NAMES[*]:-nothing}"
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; done
    rm -f "$RUN_DIR/run.pid"
    say "==> stopped"
}
# say: echo that never fails (stdout may be a pipe whose reader is gone).
say() { printf '%s\n' "$*" 2>/dev/null || true; }
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# start NAME LOGFILE CMD...: each process in its own session, so stopping it stops its children too.
start() {
    local name="$1" log="$2"
    shift 2
    echo "==> starting $name (log: ${log#"$ROOT"/})"
    setsid "$@" >"$log" 2>&1 < /dev/null &
    PIDS+=($!)
    NAMES+=("$name")
}

# wait_healthy NAME LOGFILE PID URL [GREP]: poll URL until it answers 2xx (and its body matches GREP).
wait_healthy() {
    local name="$1" log="$2" pid="$3" url="$4" pattern="${5:-}" t0=$SECONDS body
    while true; do
        # the URL goes to curl on stdin (-K -): with Rasa's ?token= it must not appear in a command line
        if body="$(printf 'url = "%s"\n' "$url" | curl -sf --max-time 5 -K - 2>/dev/null)" \
            && { [ -z "$pattern" ] || grep -q "$pattern" <<<"$body"; }; then
            echo "==> $name healthy after $((SECONDS - t0)) s"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "ERROR: $name exited during start-up; last lines of ${log#"$ROOT"/}:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        if [ $((SECONDS - t0)) -ge "$STARTUP_TIMEOUT" ]; then
            echo "ERROR: $name not healthy after ${STARTUP_TIMEOUT} s ($url); see ${log#"$ROOT"/}, last lines:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        sleep 1
    done
}

echo "==> mode: $MODE"
# The feed consumer first: it creates the SQL broker table (WAL) or declares the RabbitMQ queue, so no event
# Rasa publishes is missed; Rasa never waits on it.
start "feed consumer" "$LOG_DIR/feed.log" "$PY" -m profiles.feed
FEED_PID=${PIDS[-1]}
# rasa_sdk's server behind the ACTION_SERVER_TOKEN check (actions/server.py). It has no host option: it
# listens on $SANIC_HOST (default 0.0.0.0).
start "action server" "$LOG_DIR/actions.log" env SANIC_HOST="$HOST" "$PY" -m actions.server --actions actions --port "$ACTION_PORT"
ACTION_PID=${PIDS[-1]}
# CORS only for the web chat origins (not '*': sanic-cors echoes any Origin with credentials allowed).
read -r -a RASA_CORS <<< "${WEB_CHAT_ORIGINS//,/ }"
# bot/serve.py adds --auth-token from RASA_TOKEN inside the process: never on a command line others can read.
start "Rasa server" "$LOG_DIR/rasa.log" "$ROOT/.venv-rasa/bin/python" -m bot.serve run --enable-api --cors "${RASA_CORS[@]}" \
    -m models --endpoints "$ENDPOINTS" --credentials bot/credentials.yml -i "$HOST" -p "$RASA_PORT"
RASA_PID=${PIDS[-1]}
# api/logging.json: the access log has method, path and status only (no query string: e-mails, tokens).
start "API" "$LOG_DIR/api.log" "$ROOT/.venv/bin/uvicorn" api.main:app --host "$HOST" --port "$API_PORT" \
    --log-config api/logging.json
API_PID=${PIDS[-1]}
# Campaign deliveries (huey: SQLite queue file embedded, Redis with REDIS_URL; docs/CAMPAIGNS.md).
start "campaign worker" "$LOG_DIR/campaigns.log" "$PY" -m api.campaign_worker

# The consumer has no HTTP port: it is up once its log says it started (and it is still running).
t0=$SECONDS
until grep -q "feed: started" "$LOG_DIR/feed.log" 2>/dev/null; do
    if ! kill -0 "$FEED_PID" 2>/dev/null; then
        echo "ERROR: feed consumer exited during start-up; last lines of ${LOG_DIR#"$ROOT"/}/feed.log:" >&2
        tail -n 30 "$LOG_DIR/feed.log" >&2
        exit 1
    fi
    [ $((SECONDS - t0)) -lt "$STARTUP_TIMEOUT" ] || die "feed consumer did not start in ${STARTUP_TIMEOUT} s; see ${LOG_DIR#"$ROOT"/}/feed.log"
    sleep 0.5
done
echo "==> feed consumer running after $((SECONDS - t0)) s"
wait_healthy "action server" "$LOG_DIR/actions.log" "$ACTION_PID" "http://$LOCAL_HOST:$ACTION_PORT/health" '"ok"'
wait_healthy "API" "$LOG_DIR/api.log" "$API_PID" "http://$LOCAL_HOST:$API_PORT/health" '"database":"ok"'
echo "==> waiting for the Rasa server to load its model (typically 10-60 s)"
wait_healthy "Rasa server" "$LOG_DIR/rasa.log" "$RASA_PID" \
    "http://$LOCAL_HOST:$RASA_PORT/status?token=$RASA_TOKEN" '"model_file":"[^"]'

# --- how to chat -----------------------------------------------------------------------------------------
# Messenger channels: on when their credentials are set (bot/channels.py reads them from this environment).
MESSENGERS=""
if [ -n "${TELEGRAM_TOKEN:-}" ]; then
    MESSENGERS+="Telegram on (webhook /webhooks/telegram/webhook"
    [ -n "${TELEGRAM_SECRET_TOKEN:-}" ] || MESSENGERS+=", WARNING: no TELEGRAM_SECRET_TOKEN, anyone can post updates"
    MESSENGERS+="); "
fi
if [ -n "${FACEBOOK_SECRET:-}" ] && [ -n "${FACEBOOK_PAGE_ACCESS_TOKEN:-}" ]; then
    MESSENGERS+="Messenger on (webhook /webhooks/facebook/webhook); "
fi
MESSENGERS="${MESSENGERS:-off (set TELEGRAM_TOKEN, or FACEBOOK_SECRET and FACEBOOK_PAGE_ACCESS_TOKEN: docs/MESSENGERS.md)}"
# The demo customers' and a staff token in development only; elsewhere no credential is printed
# (profiles/demo.py, tested in tests/profiles/test_demo.py).
CHAT_HELP="$("$PY" -m profiles.demo --api-port "$API_PORT" --rasa-port "$RASA_PORT" 2>/dev/null \
    || echo ' (could not list the demo customers: see `.venv/bin/python -m profiles.demo`)')"
# The Rasa token is printed only in development (its default value); elsewhere it is a secret.
SHOWN_RASA_TOKEN='$RASA_TOKEN'
[ "$ENVIRONMENT" = development ] && SHOWN_RASA_TOKEN="$RASA_TOKEN"
cat <<EOF

================================================================================================
 Nova is running: Rasa http://localhost:$RASA_PORT · actions http://localhost:$ACTION_PORT · API http://localhost:$API_PORT
 Mode: $MODE
 Messengers: $MESSENGERS
 Logs: ${LOG_DIR#"$ROOT"/}/{rasa,actions,api,feed}.log

$CHAT_HELP
 Rasa HTTP API token: $SHOWN_RASA_TOKEN
   (e.g. curl -s "http://localhost:$RASA_PORT/conversations/demo-1/tracker?token=$SHOWN_RASA_TOKEN")
 Ctrl-C stops all five.
================================================================================================
EOF

# Run until Ctrl-C, or until one of the five dies (then stop the others and say which).
while true; do
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "ERROR: ${NAMES[$i]} stopped unexpectedly; see its log in ${LOG_DIR#"$ROOT"/}" >&2
            exit 1
        fi
    done
    sleep 2
done
