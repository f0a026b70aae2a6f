#!/usr/bin/env bash
# Run the test layers in order and stop at the first failure.
# With arguments, run only the named layers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
layers=("$@")
[ "${#layers[@]}" -gt 0 ] || layers=(sanity lint unit integration molecule)

banner() { printf '\n=== %s ===\n' "$*"; }

has_tests() {
    find "$1" -name 'test_*.py' -print -quit 2>/dev/null | grep -q .
}

pytest_layer() {
    local name="$1" dir="$2"; shift 2
    banner "$name tests ($dir)"
    if ! has_tests "$dir"; then
        echo "$name: no tests in $dir yet"
        return 0
    fi
    "$bin/python" -m pytest "$dir" "$@"
}

sanity() {
    banner "ansible-test sanity"
    scripts/seed-get-pip.sh
    # ansible-test needs the checkout under ansible_collections/<ns>/<name>:
    # copy the files git would track into such a tree.
    mkdir -p "$root/.cache"
    local tree
    tree="$(mktemp -d "$root/.cache/sanity.XXXXXX")"
    trap 'rm -rf "$tree"' RETURN
    local dest="$tree/ansible_collections/nodelatency/monitor"
    local extra_args=()
    read -r -a extra_args <<< "${SANITY_ARGS:-}"
    mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
        | tar --null -T - -cf - | tar -xf - -C "$dest"
    (cd "$dest" && git init -q && git add -A >/dev/null \
        && "$bin/ansible-test" sanity --venv --python 3.11 --color no "${extra_args[@]}")
}

lint() {
    banner "ansible-lint (production profile)"
    "$bin/ansible-lint" --profile production
}

molecule() {
    banner "molecule"
    if ! find extensions/molecule -name molecule.yml -print -quit | grep -q .; then
        echo "molecule: no scenarios in extensions/molecule yet"
        return 0
    fi
    # one pytest test per scenario, each running `molecule test -s <scenario>`
    "$bin/python" -m pytest tests/molecule
}

previous=""
for layer in "${layers[@]}"; do
    # reported here rather than at the end, so that make test closes on pytest's summary
    [ -z "$previous" ] || printf '\n(%s took %ss)\n' "$previous" "$((SECONDS - started))"
    started=$SECONDS
    previous=$layer
    case "$layer" in
        sanity) sanity ;;
        lint) lint ;;
        unit) pytest_layer unit tests/unit ;;
        # the slowest tests named, so that a layer that grows shows where
        integration) pytest_layer integration tests/integration --durations=25 ;;
        molecule) molecule ;;
        *) echo "unknown test layer: $layer (sanity, lint, unit, integration, molecule)" >&2; exit 2 ;;
    esac
done
