# shellcheck shell=bash
# Shared by scripts/test and scripts/run (sourced, not run): find Python 3.11+,
# create .venv if missing (or broken, or too old), and pip-install the project
# into it, again only when pyproject.toml (or the Python version) has changed.
#
#   SCRIPT_NAME=scripts/x; source scripts/_venv.sh; ensure_venv '.[test]'
#
# Afterwards $VENV and $PY name the virtualenv and its Python. Installs no
# system packages. FOSTERBOT_REINSTALL=1 forces the pip install.

VENV=.venv
PY="$VENV/bin/python"

say() { printf '%s: %s\n' "${SCRIPT_NAME:-scripts}" "$*" >&2; }

is_new_enough() {  # is_new_enough PYTHON -> 0 if it is Python >= 3.11
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.14 python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && is_new_enough "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

_stamp_for() {  # the file recording that TARGET was installed
    case "$1" in
        '.[test]') printf '%s\n' "$VENV/.fosterbot-test-installed" ;;
        *) printf '%s\n' "$VENV/.fosterbot-installed" ;;
    esac
}

ensure_venv() {  # ensure_venv PIP_TARGET   e.g. '.' or '.[test]'
    local target="$1" base_py want stamp
    if [ -e "$PY" ] && ! is_new_enough "$PY"; then
        say "$VENV exists but its Python is missing, broken or older than 3.11: recreating it"
        rm -rf "$VENV"
    fi

    if [ ! -x "$PY" ]; then
        if ! base_py="$(find_python)"; then
            say "Python 3.11 or newer is needed and none was found on PATH (tried python3.14 ... python3.11, python3)"
            exit 1
        fi
        say "creating $VENV with $base_py ($("$base_py" --version 2>&1))"
        if ! "$base_py" -m venv "$VENV"; then
            rm -rf "$VENV"
            say "could not create a virtualenv; on Debian/Ubuntu install the venv module first:"
            say "    apt-get install python3-venv   (or python3.X-venv for your version)"
            exit 1
        fi
    fi

    # Reinstall only when what we installed from has changed. The test extras
    # include the plain install, so '.' is satisfied by a current '.[test]'.
    want="$("$PY" -c 'import hashlib, sys; print(sys.version.split()[0], hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
    stamp="$(_stamp_for "$target")"
    if [ "${FOSTERBOT_REINSTALL:-}" != 1 ]; then
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
            return 0
        fi
        local test_stamp
        test_stamp="$(_stamp_for '.[test]')"
        if [ "$target" = . ] && [ -f "$test_stamp" ] && [ "$(cat "$test_stamp")" = "$want" ]; then
            return 0
        fi
    fi
    say "installing the project into $VENV (pip install -e '$target'; the first time takes a minute)"
    rm -f "$stamp"
    if ! "$PY" -m pip install --quiet --quiet --disable-pip-version-check -e "$target"; then
        say "pip install failed (see above)"
        exit 1
    fi
    printf '%s\n' "$want" > "$stamp"
}
