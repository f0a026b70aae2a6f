#!/usr/bin/env bash
# The virtual environment of ansible-core RELEASE on Python VERSION, under
# .cache/compat/RELEASE: made, or made again when its requirements changed, and its
# path printed. The compat layer and the installed-collection test use it.
# Usage: scripts/compat-venv.sh RELEASE VERSION   (e.g. 2.21 3.13)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ "$#" -eq 2 ] || { echo "usage: $0 RELEASE PYTHON_VERSION (e.g. 2.21 3.13)" >&2; exit 2; }
release="$1" version="$2" venv="$root/.cache/compat/$1"

# A Python X.Y that runs: on PATH, else one pyenv installed (its shims run only the
# versions pyenv is told to use)
find_python() {
    local candidate
    for candidate in "$(command -v "python$1" 2>/dev/null)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

mkdir -p "$root/.cache/compat"
# one maker per release at a time: the compat layer and a test may ask together
exec 9> "$root/.cache/compat/$release.lock"
flock 9
if [ ! -e "$venv/.installed" ] || [ "$root/requirements-compat.txt" -nt "$venv/.installed" ] \
        || [ "$root/roles/nlm/files/requirements-node.txt" -nt "$venv/.installed" ]; then
    if ! python="$(find_python "$version")"; then
        echo "compat: no Python $version found: install it (pyenv install $version) to test ansible-core $release" >&2
        exit 1
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core~=$release.0" \
        -r "$root/requirements-compat.txt" > "$venv/pip.log" 2>&1 || { cat "$venv/pip.log" >&2; exit 1; }
    touch "$venv/.installed"
fi
echo "$venv"
