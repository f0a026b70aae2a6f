#!/usr/bin/env bash
# ansible-test sanity --venv downloads a get-pip script from a host this
# machine cannot reach. Seed its cache with a script that bootstraps pip
# from the interpreter's own ensurepip and installs the requested packages
# with the system CA bundle.
# Usage: scripts/seed-get-pip.sh [PYTHON_OF_ANSIBLE_TEST [PYTHON_VERSION]]
# (default: this checkout's .venv and 3.11; the compat releases pass theirs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$root/.venv/bin/python}"
target="${2:-3.11}"
version="$(TARGET="$target" "$python" - <<'PY'
import os

from ansible_test._internal.python_requirements import get_venv_packages


class Python:
    version = os.environ["TARGET"]


print(get_venv_packages(Python())["pip"])
PY
)"
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
versions=("$version")
cat > "$cache/get_pip_bootstrap.py" <<'PY'
"""Stand-in for get-pip.py: bootstrap pip with ensurepip, then install."""
import os
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
cmd = [sys.executable, "-m", "pip", "install", "--cert", cert] + args
sys.exit(subprocess.call(cmd))
PY
for v in "${versions[@]}"; do
    [ -n "$v" ] || continue
    cp "$cache/get_pip_bootstrap.py" "$cache/get_pip_${v//./_}.py"
done
