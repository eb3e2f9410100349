#!/usr/bin/env bash
# `rasa data validate` with warnings treated as errors, less one false alarm (what `make validate` runs).
#
# Rasa 3.6's validator only looks at stories and rules, so it warns "The utterance 'utter_x' is not used in
# any story or rule" for responses that are used elsewhere:
#   - sent by a custom action (dispatcher.utter_message(response="utter_x"), or an f-string "utter_x_{...}"
#     in actions/);
#   - a form's question for a slot (utter_ask_<slot> or utter_ask_<form>_<slot>), which Rasa asks by name.
# and "The intent 'x' is not used in any story or rule" for an intent that only answers a form's questions
# (handled by the active form, so no story or rule names it) when a custom action names it ('x' or "x");
# and "The intent 'EXTERNAL_x' is listed in the domain file, but is not found in the NLU training data": external
# intents (proactive push, api/push.py -> trigger_intent) are never typed by a user, so they have no examples.
# Those warnings are accepted; every other warning fails, as `--fail-on-warnings` would.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RASA_TELEMETRY_ENABLED="${RASA_TELEMETRY_ENABLED:-false}"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
.venv-rasa/bin/rasa data validate "$@" >"$out" 2>&1 || rc=$?
grep -v -E 'DeprecationWarning|declare_namespace|pkg_resources|^\s*$' "$out" || true
[ $rc -eq 0 ] || { echo "ERROR: rasa data validate failed (exit $rc)" >&2; exit $rc; }

# Response names, and prefixes of f-string names ("utter_product_{product}" -> utter_product_), in actions/.
action_names="$(grep -rhoE --include='*.py' 'utter_[A-Za-z0-9_]*' actions/ 2>/dev/null | sort -u || true)"
action_prefixes="$(grep -rhoE --include='*.py' 'utter_[A-Za-z0-9_]*\{' actions/ 2>/dev/null | tr -d '{' | sort -u || true)"
slots="$(.venv-rasa/bin/python -c 'import yaml; print("\n".join((yaml.safe_load(open("domain.yml")) or {}).get("slots", {})))' 2>/dev/null || true)"

used_elsewhere() {  # used_elsewhere RESPONSE: true when a custom action or a form sends it
    local name="$1" prefix slot
    grep -qxF "$name" <<<"$action_names" && return 0
    while IFS= read -r prefix; do
        [ -n "$prefix" ] && [[ $name == "$prefix"* ]] && return 0
    done <<<"$action_prefixes"
    if [[ $name == utter_ask_* ]]; then
        while IFS= read -r slot; do
            [ -n "$slot" ] && [[ $name == "utter_ask_$slot" || $name == utter_ask_*_"$slot" ]] && return 0
        done <<<"$slots"
    fi
    return 1
}

accepted=0
problems=()
while IFS= read -r warning; do
    if [[ $warning =~ ^The\ utterance\ \'([A-Za-z0-9_/]+)\'\ is\ not\ used\ in\ any\ story\ or\ rule\.$ ]] \
        && used_elsewhere "${BASH_REMATCH[1]}"; then
        accepted=$((accepted + 1))
        continue
    fi
    if [[ $warning =~ ^The\ intent\ \'([A-Za-z0-9_]+)\'\ is\ not\ used\ in\ any\ story\ or\ rule\.$ ]] \
        && grep -rqE --include='*.py' "[\"']${BASH_REMATCH[1]}[\"']" actions/; then
        accepted=$((accepted + 1))
        continue
    fi
    if [[ $warning =~ ^The\ intent\ \'EXTERNAL_[A-Za-z0-9_]+\'\ is\ listed\ in\ the\ domain\ file,\ but\ is\ not\ found\ in\ the\ NLU\ training\ data\.$ ]]; then
        accepted=$((accepted + 1))
        continue
    fi
    problems+=("$warning")
done < <(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -oE 'UserWarning: .*' | sed 's/^UserWarning: //')

echo "==> rasa data validate: ${#problems[@]} warning(s); $accepted 'unused' warning(s) accepted (responses sent by custom actions or forms, intents handled by forms)"
if [ ${#problems[@]} -gt 0 ]; then
    printf '  - %s\n' "${problems[@]}" >&2
    echo "ERROR: fix the warnings above (make validate treats them as errors)" >&2
    exit 1
fi
