#!/usr/bin/env bash
# Start the feed consumer, the action server, the Rasa server and the API; wait until each is up; print how
# to chat. Ctrl-C (or SIGTERM) stops all five (feed, action server, Rasa, API, campaign worker). `make run` calls this after setup, train, seed and recommender.
# The five run under supervisord: one that exits, or whose health URL stops answering (HEALTH_TIMEOUT, 5 s),
# is restarted alone; the others keep running (docs/DEPLOY.md).
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
# RASA_WORKERS (1): Rasa server processes (Sanic workers) sharing RASA_PORT, production mode only: they share
# the Redis tracker and lock store, and the web chat goes through python-socketio's Redis client manager
# (WEB_CHAT_REDIS_URL, set here to REDIS_URL; websocket transport only: bot/web_chat_scale.py). Embedded mode
# keeps one: its in-memory tracker and lock store are per process. ACTION_WORKERS (1): action server
# processes sharing ACTION_PORT (rasa-sdk's ACTION_SERVER_SANIC_WORKERS); any mode. docs/DEPLOY.md "Scale-out".
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
RASA_WORKERS="${RASA_WORKERS:-1}"
ACTION_WORKERS="${ACTION_WORKERS:-1}"
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
for setting in RASA_WORKERS ACTION_WORKERS; do
    [[ "${!setting}" =~ ^[1-9][0-9]?$ ]] || die "$setting=${!setting}: give a number of processes from 1 to 99"
done
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
    # RABBITMQ_URL -> the RABBITMQ_HOST/PORT/USERNAME/PASSWORD/QUEUE/EXCHANGE variables endpoints.redis.yml interpolates
    # (one parser for run.sh and the e2e tests: profiles.feed.consumer.rasa_broker_env).
    rabbit_vars="$("$PY" -c '
import shlex, sys
from profiles.feed.consumer import rasa_broker_env
from profiles.settings import get_settings
s = get_settings()
try:
    values = rasa_broker_env(s.rabbitmq_url or "", s.event_queue, s.event_exchange)
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
if [ -z "${REDIS_URL:-}" ] && [ "$RASA_WORKERS" != 1 ]; then
    # Each worker would have its own in-memory tracker and lock store: a conversation's turns would see
    # different histories and could run at once (Rasa itself silently falls back to one worker).
    echo "==> note: RASA_WORKERS=$RASA_WORKERS ignored in embedded mode (in-memory tracker and lock store are per process): one Rasa worker; set REDIS_URL for several"
    RASA_WORKERS=1
fi
if [ "$RASA_WORKERS" != 1 ]; then
    # socket.io across workers: rooms and emits through Redis, no long-polling (bot/web_chat_scale.py).
    export WEB_CHAT_REDIS_URL="${WEB_CHAT_REDIS_URL:-$REDIS_URL}"
    export WEB_CHAT_TRANSPORTS="${WEB_CHAT_TRANSPORTS:-websocket}"
fi
MODE+="; $RASA_WORKERS Rasa worker(s), $ACTION_WORKERS action server worker(s)"
ENDPOINTS="$ENDPOINTS_TEMPLATE"
if [ "$ACTION_PORT" != 5055 ] || [ "$LOCAL_HOST" != 127.0.0.1 ]; then
    ENDPOINTS="$RUN_DIR/endpoints.yml"
    sed "s#http://127.0.0.1:5055/webhook#http://$LOCAL_HOST:$ACTION_PORT/webhook#" "$ENDPOINTS_TEMPLATE" > "$ENDPOINTS"
fi

# --- processes -------------------------------------------------------------------------------------------
# The five servers run under supervisord (the `supervisor` package in .venv; docs/DEPLOY.md says why): it
# restarts one that exits without touching the others, and superlance's httpok (one event listener per HTTP
# server, every 5 s, HEALTH_TIMEOUT s per request) restarts one whose health URL stops answering, e.g. a hung
# worker whose port is still open. This script writes its configuration into RUN_DIR, starts it in its own
# session, waits until each server is healthy and stops it (and so all five) on Ctrl-C, SIGTERM or `make stop`.
SUPERVISORD="$ROOT/.venv/bin/supervisord"
SUPERVISORCTL="$ROOT/.venv/bin/supervisorctl"
HTTPOK="$ROOT/.venv/bin/httpok"
[ -x "$SUPERVISORD" ] && [ -x "$HTTPOK" ] || die "supervisor/superlance missing from .venv: run \`make setup\`"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-5}"
# Seconds after a (re)start before the health check may restart the action server or the API (supervisord's
# startsecs): they open their port in 5-15 s, but took 112 s at a load average of 22 on the 2-core machine; a
# shorter grace would restart a slow starter again and again.
START_GRACE="${START_GRACE:-120}"
SUPERVISOR_CONF="$RUN_DIR/supervisord.conf"
SUPERVISOR_SOCK="$RUN_DIR/supervisor.sock"
SUPERVISORD_PID=""
stopping=0
stop_all() {
    [ $stopping = 1 ] && return
    stopping=1
    trap - INT TERM
    # Kill first, talk later: with `make run | tee log`, Ctrl-C kills tee too, and an echo to the closed pipe
    # would end this script (SIGPIPE, or EPIPE under set -e) before the servers (own sessions) are stopped.
    trap '' PIPE
    set +e
    # supervisord stops its programs (each a process group: SIGTERM, SIGKILL after stopwaitsecs), then exits.
    [ -n "$SUPERVISORD_PID" ] && kill -TERM "$SUPERVISORD_PID" 2>/dev/null
    say ""
    say "==> stopping feed consumer, action server, Rasa server, API, campaign worker"
    if [ -n "$SUPERVISORD_PID" ]; then
        # up to 70 s: supervisord stops the five one after another, each SIGKILLed after stopwaitsecs (10 s)
        for _ in $(seq 1 350); do kill -0 "$SUPERVISORD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SUPERVISORD_PID" 2>/dev/null
    fi
    rm -f "$RUN_DIR/run.pid" "$RUN_DIR/supervisord.pid"
    say "==> stopped"
}
# say: echo that never fails (stdout may be a pipe whose reader is gone).
say() { printf '%s\n' "$*" 2>/dev/null || true; }
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# supervisord reads %(...)s in its files: a literal % must be written %%.
sv() { printf '%s' "${*//%/%%}"; }
# CORS only for the web chat origins (not '*': sanic-cors echoes any Origin with credentials allowed).
read -r -a RASA_CORS <<< "${WEB_CHAT_ORIGINS//,/ }"
# program NAME PRIORITY STARTSECS LOG CMD...: one [program:] block; the environment is this script's (secrets
# such as RASA_TOKEN stay out of the file and of every command line).
program() {
    local name="$1" priority="$2" startsecs="$3" log="$4"
    shift 4
    cat <<EOF

[program:$name]
command=$(sv "$*")
directory=$(sv "$ROOT")
priority=$priority
autorestart=true
startsecs=$startsecs
startretries=3
stopasgroup=true
killasgroup=true
stopwaitsecs=10
redirect_stderr=true
stdout_logfile=$(sv "$log")
stdout_logfile_maxbytes=0
EOF
}
# health NAME URL: httpok restarts NAME when URL does not answer 200 within HEALTH_TIMEOUT s (checked every 5 s,
# only while NAME is RUNNING, i.e. after its startsecs: a server still loading is left alone).
health() {
    cat <<EOF

[eventlistener:health-$1]
command=$(sv "$HTTPOK") -p $1 -t $HEALTH_TIMEOUT -n $1 $(sv "$2")
events=TICK_5
directory=$(sv "$ROOT")
stdout_logfile=NONE
stderr_logfile=$(sv "$LOG_DIR/health.log")
stderr_logfile_maxbytes=0
EOF
}
{
    cat <<EOF
; written by scripts/run.sh for this run; not to be edited
[supervisord]
nodaemon=true
silent=true
logfile=$(sv "$LOG_DIR/supervisord.log")
logfile_maxbytes=0
pidfile=$(sv "$RUN_DIR/supervisord.pid")
directory=$(sv "$ROOT")
umask=077

[unix_http_server]
file=$(sv "$SUPERVISOR_SOCK")
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$(sv "$SUPERVISOR_SOCK")
EOF
    # The feed consumer first: it creates the SQL broker table (WAL) or declares the RabbitMQ queue, so no
    # event Rasa publishes is missed; Rasa never waits on it.
    program feed 100 5 "$LOG_DIR/feed.log" "$PY" -m profiles.feed
    # rasa_sdk's server behind the ACTION_SERVER_TOKEN check (actions/server.py). It has no host option: it
    # listens on $SANIC_HOST (default 0.0.0.0).
    # ACTION_WORKERS processes on one port (rasa-sdk's ACTION_SERVER_SANIC_WORKERS: Sanic's worker manager).
    program actions 200 "$START_GRACE" "$LOG_DIR/actions.log" env SANIC_HOST="$HOST" \
        ACTION_SERVER_SANIC_WORKERS="$ACTION_WORKERS" "$PY" -m actions.server --actions actions --port "$ACTION_PORT"
    # bot/serve.py adds --auth-token from RASA_TOKEN inside the process: never on a command line others can
    # read. Loading the model takes 10-60 s (more under load): httpok leaves it alone for STARTUP_TIMEOUT s.
    # RASA_WORKERS Sanic workers (forked after the channels are set up, each loads the model) on one socket.
    program rasa 300 "$STARTUP_TIMEOUT" "$LOG_DIR/rasa.log" env SANIC_WORKERS="$RASA_WORKERS" \
        "$ROOT/.venv-rasa/bin/python" -m bot.serve run --enable-api --cors "${RASA_CORS[@]}" \
        -m models --endpoints "$ENDPOINTS" --credentials bot/credentials.yml -i "$HOST" -p "$RASA_PORT"
    # api/logging.json: the access log has method, path and status only (no query string: e-mails, tokens).
    program api 400 "$START_GRACE" "$LOG_DIR/api.log" "$ROOT/.venv/bin/uvicorn" api.main:app --host "$HOST" --port "$API_PORT" \
        --log-config api/logging.json
    # Campaign deliveries (huey: SQLite queue file embedded, Redis with REDIS_URL; docs/CAMPAIGNS.md).
    program campaigns 500 5 "$LOG_DIR/campaigns.log" "$PY" -m api.campaign_worker
    # Health URLs without a token: Rasa's / answers "Hello from Rasa" once the server is up.
    health actions "http://$LOCAL_HOST:$ACTION_PORT/health"
    health rasa "http://$LOCAL_HOST:$RASA_PORT/"
    health api "http://$LOCAL_HOST:$API_PORT/health"
} > "$SUPERVISOR_CONF"

echo "==> mode: $MODE"
echo "==> starting feed consumer, action server, Rasa server, API, campaign worker under supervisord (log: ${LOG_DIR#"$ROOT"/}/supervisord.log)"
setsid "$SUPERVISORD" -c "$SUPERVISOR_CONF" >>"$LOG_DIR/supervisord.log" 2>&1 < /dev/null &
SUPERVISORD_PID=$!

# state NAME: supervisord's state of program NAME (RUNNING, STARTING, BACKOFF, FATAL, ...), empty if unknown.
# (supervisorctl exits non-zero for any state but RUNNING, and before supervisord listens.)
state() { { "$SUPERVISORCTL" -c "$SUPERVISOR_CONF" status "$1" 2>/dev/null || true; } | awk '{print $2}'; }
# check_started NAME LABEL LOG: fail when NAME exited during start-up (supervisord would retry it; a first start that
# fails is a configuration error to show now).
check_started() {
    local name="$1" label="$2" log="$3" s
    kill -0 "$SUPERVISORD_PID" 2>/dev/null || { echo "ERROR: supervisord exited; see ${LOG_DIR#"$ROOT"/}/supervisord.log:" >&2; tail -n 30 "$LOG_DIR/supervisord.log" >&2; exit 1; }
    s="$(state "$name")"
    case "$s" in
        BACKOFF|FATAL|EXITED)
            echo "ERROR: $label exited during start-up; last lines of ${log#"$ROOT"/}:" >&2
            tail -n 30 "$log" >&2
            exit 1 ;;
    esac
}

# wait_healthy NAME LABEL LOGFILE URL [GREP]: poll URL until it answers 2xx (and its body matches GREP).
wait_healthy() {
    local name="$1" label="$2" log="$3" url="$4" pattern="${5:-}" t0=$SECONDS body
    while true; do
        # the URL goes to curl on stdin (-K -): with Rasa's ?token= it must not appear in a command line
        if body="$(printf 'url = "%s"\n' "$url" | curl -sf --max-time 5 -K - 2>/dev/null)" \
            && { [ -z "$pattern" ] || grep -q "$pattern" <<<"$body"; }; then
            echo "==> $label healthy after $((SECONDS - t0)) s"
            return 0
        fi
        check_started "$name" "$label" "$log"
        if [ $((SECONDS - t0)) -ge "$STARTUP_TIMEOUT" ]; then
            echo "ERROR: $label not healthy after ${STARTUP_TIMEOUT} s ($url); see ${log#"$ROOT"/}, last lines:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        sleep 1
    done
}

# The consumer has no HTTP port: it is up once its log says it started (and it is still running).
t0=$SECONDS
until grep -q "feed: started" "$LOG_DIR/feed.log" 2>/dev/null; do
    check_started feed "feed consumer" "$LOG_DIR/feed.log"
    [ $((SECONDS - t0)) -lt "$STARTUP_TIMEOUT" ] || die "feed consumer did not start in ${STARTUP_TIMEOUT} s; see ${LOG_DIR#"$ROOT"/}/feed.log"
    sleep 0.5
done
echo "==> feed consumer running after $((SECONDS - t0)) s"
wait_healthy actions "action server" "$LOG_DIR/actions.log" "http://$LOCAL_HOST:$ACTION_PORT/health" '"ok"'
wait_healthy api "API" "$LOG_DIR/api.log" "http://$LOCAL_HOST:$API_PORT/health" '"database":"ok"'
echo "==> waiting for the Rasa server to load its model (typically 10-60 s)"
wait_healthy rasa "Rasa server" "$LOG_DIR/rasa.log" \
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
 Logs: ${LOG_DIR#"$ROOT"/}/{rasa,actions,api,feed,campaigns}.log; restarts: health.log, supervisord.log

$CHAT_HELP
 Rasa HTTP API token: $SHOWN_RASA_TOKEN
   (e.g. curl -s "http://localhost:$RASA_PORT/conversations/demo-1/tracker?token=$SHOWN_RASA_TOKEN")
 Ctrl-C stops all five.
================================================================================================
EOF

# Run until Ctrl-C. supervisord restarts a server that exits or stops answering its health check; this loop
# only ends the run when supervisord itself is gone or has given up on a server (FATAL: it failed to start
# startretries times in a row).
while true; do
    if ! kill -0 "$SUPERVISORD_PID" 2>/dev/null; then
        echo "ERROR: supervisord stopped unexpectedly; see ${LOG_DIR#"$ROOT"/}/supervisord.log" >&2
        exit 1
    fi
    if fatal="$("$SUPERVISORCTL" -c "$SUPERVISOR_CONF" status 2>/dev/null | awk '$2 == "FATAL" {print $1}')" && [ -n "$fatal" ]; then
        echo "ERROR: $fatal could not be restarted; see its log in ${LOG_DIR#"$ROOT"/}" >&2
        exit 1
    fi
    sleep 5
done
