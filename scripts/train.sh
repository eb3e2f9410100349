#!/usr/bin/env bash
# Train the Rasa model into models/nova.tar.gz, or reuse it when nothing it is trained from changed.
#
#   scripts/train.sh          (what `make train` runs)
#   FORCE=1 scripts/train.sh  retrain even if the inputs are unchanged
#
# Rasa 3.6 has no "nothing changed" short cut of its own: `rasa train` always rebuilds the graph and writes
# a new archive, restoring unchanged components from its training cache (~/.rasa/cache) when it can. That
# still costs a TensorFlow start-up and a re-packaging, so we keep a sha256 of the inputs (config.yml,
# domain, data/, custom components in bot/, the Rasa lock and nodeps file) beside the model and skip
# `rasa train` when it matches.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL_DIR="${MODEL_DIR:-models}"
MODEL_NAME="nova"
MODEL="$MODEL_DIR/$MODEL_NAME.tar.gz"
STAMP="$MODEL_DIR/$MODEL_NAME.inputs.sha256"
RASA="$ROOT/.venv-rasa/bin/rasa"

export RASA_TELEMETRY_ENABLED="${RASA_TELEMETRY_ENABLED:-false}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1

[ -x "$RASA" ] || { echo "ERROR: $RASA not found: run \`make setup\` first" >&2; exit 1; }
[ -f config.yml ] || { echo "ERROR: config.yml is missing: nothing to train" >&2; exit 1; }

inputs_digest() {
    local paths=(config.yml)
    [ -e domain.yml ] && paths+=(domain.yml)
    [ -d domain ] && paths+=(domain)
    [ -d data ] && paths+=(data)
    [ -d bot ] && paths+=(bot)
    paths+=(requirements/rasa.lock)
    [ -f requirements/rasa.nodeps.txt ] && paths+=(requirements/rasa.nodeps.txt)  # the sentence-encoder model
    # Everything in data/ and domain/; only Python files (custom components) from bot/.
    find "${paths[@]}" -type f ! -path '*/__pycache__/*' \
        \( ! -path 'bot/*' -o -name '*.py' \) -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

digest="$(inputs_digest)"
if [ "${FORCE:-0}" != "1" ] && [ -f "$MODEL" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ]; then
    echo "==> $MODEL is up to date: config, domain and data unchanged since it was trained (FORCE=1 to retrain)"
    exit 0
fi

echo "==> training $MODEL ($(nproc) cores; progress below)"
rm -f "$STAMP"
t0=$SECONDS
"$RASA" train --fixed-model-name "$MODEL_NAME" --out "$MODEL_DIR"
[ -f "$MODEL" ] || { echo "ERROR: rasa train finished but $MODEL is missing" >&2; exit 1; }
echo "$digest" > "$STAMP"
echo "==> trained $MODEL in $((SECONDS - t0)) s"
