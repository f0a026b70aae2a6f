#!/usr/bin/env bash
# Run the test layers in order and stop at the first failure.
# With arguments, run only the named layers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
layers=("$@")
[ "${#layers[@]}" -gt 0 ] || layers=(sanity lint unit compat integration compat-sanity molecule)

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

# ansible-test sanity of this checkout with the ansible-test of the virtual environment
# whose bin directory is $1, on Python $2 (found there first)
sanity_with() {
    local venv_bin="$1" python="$2"
    scripts/seed-get-pip.sh "$venv_bin/python" "$python"
    # ansible-test needs the checkout under ansible_collections/<ns>/<name>:
    # copy the files git would track into such a tree.
    mkdir -p "$root/.cache"
    local tree
    tree="$(mktemp -d "$root/.cache/sanity.XXXXXX")"
    # removed when sanity returns, and the trap with it (it would fire again on the
    # caller's return, with tree gone)
    trap 'rm -rf "$tree"; trap - RETURN' RETURN
    local dest="$tree/ansible_collections/nodelatency/monitor"
    local extra_args=()
    read -r -a extra_args <<< "${SANITY_ARGS:-}"
    mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
        | tar --null -T - -cf - | tar -xf - -C "$dest"
    (cd "$dest" && git init -q && git add -A >/dev/null \
        && PATH="$venv_bin:$PATH" "$venv_bin/ansible-test" sanity --venv --python "$python" --color no "${extra_args[@]}")
}

sanity() {
    banner "ansible-test sanity"
    sanity_with "$bin" 3.11
}

lint() {
    banner "ansible-lint (production profile)"
    "$bin/ansible-lint" --profile production
}

# ansible-core releases supported today besides the one of .venv (which runs every
# layer), each with a Python it supports: their unit tests, side by side
COMPAT_RELEASES=("2.20:3.12" "2.21:3.13")

compat_release() {
    local venv
    venv="$(scripts/compat-venv.sh "$1" "$2")" || return 1
    echo "--- $("$venv/bin/ansible" --version | head -1) on $("$venv/bin/python" --version)"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
}

# ansible-test sanity on the newest release too: with .venv's, the oldest, it brackets
# what the sanity tests of each release check; the release between them gets the unit tests
COMPAT_SANITY_RELEASES=("${COMPAT_RELEASES[-1]}")

compat_sanity() {
    local spec venv
    for spec in "${COMPAT_SANITY_RELEASES[@]}"; do
        banner "ansible-test sanity on ansible-core ${spec%%:*} (Python ${spec##*:})"
        venv="$(scripts/compat-venv.sh "${spec%%:*}" "${spec##*:}")"
        sanity_with "$venv/bin" "${spec##*:}"
    done
}

compat() {
    banner "unit tests on ansible-core ${COMPAT_RELEASES[*]%%:*}"
    mkdir -p "$root/.cache/compat"
    local spec pids=() logs=() status=0 index
    for spec in "${COMPAT_RELEASES[@]}"; do
        logs+=("$root/.cache/compat/${spec%%:*}.log")
        compat_release "${spec%%:*}" "${spec##*:}" > "${logs[-1]}" 2>&1 &
        pids+=($!)
    done
    for index in "${!pids[@]}"; do
        wait "${pids[$index]}" || status=1
        grep -m1 '^--- ' "${logs[$index]}" || true
        tail -n 1 "${logs[$index]}"
    done
    if [ "$status" -ne 0 ]; then
        for index in "${!logs[@]}"; do cat "${logs[$index]}"; done
    fi
    return "$status"
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

run_layer() {
    case "$1" in
        sanity) sanity ;;
        lint) lint ;;
        unit) pytest_layer unit tests/unit ;;
        compat) compat ;;
        compat-sanity) compat_sanity ;;
        # the slowest tests named, so that a layer that grows shows where
        integration) pytest_layer integration tests/integration --durations=25 ;;
        molecule) molecule ;;
        *) echo "unknown test layer: $1 (sanity, lint, unit, compat, compat-sanity, integration, molecule)" >&2; exit 2 ;;
    esac
}

# ansible-test sanity keeps about one core busy for a minute and a half: the layers that
# need no lab (lint, unit, compat) run beside it, each into its own log, shown after it in order
BESIDE_SANITY=(lint unit compat)
beside=()
if [[ " ${layers[*]} " == *" sanity "* ]]; then
    for layer in "${BESIDE_SANITY[@]}"; do
        [[ " ${layers[*]} " == *" $layer "* ]] && beside+=("$layer")
    done
fi

# The machines' images (a minute of mmdebstrap each, from a fresh clone) and the node
# libraries' wheels are made in the background from the first layer that boots
# machines on: the integration layer runs its namespace tests first, which leave a core
# mostly idle, and a machine test that comes before they are ready waits for them.
prepare_pid=""
start_machines() {
    [ -z "$prepare_pid" ] || return 0
    mkdir -p "$root/.cache/layers"
    "$bin/python" lab/nlmmachines.py prepare > "$root/.cache/layers/machines.log" 2>&1 &
    prepare_pid=$!
}

wait_for_machines() {
    [ -n "$prepare_pid" ] || return 0
    if wait "$prepare_pid"; then
        printf '(machine images and wheels, made in the background: ready)\n'
    else
        # the tests that need them try again and fail with what to do
        printf '(machine images and wheels, made in the background: FAILED)\n'
        cat "$root/.cache/layers/machines.log"
    fi
    prepare_pid=""
}
# a layer that fails ends the run: the images are finished, not left half made
trap '[ -z "$prepare_pid" ] || wait "$prepare_pid" || true' EXIT

previous=""
declare -A done_beside=()
for layer in "${layers[@]}"; do
    [ -z "${done_beside[$layer]:-}" ] || continue
    case "$layer" in
        integration) start_machines ;;
        molecule) start_machines; wait_for_machines ;;
    esac
    # reported here rather than at the end, so that make test closes on pytest's summary
    [ -z "$previous" ] || printf '\n(%s took %ss)\n' "$previous" "$((SECONDS - started))"
    started=$SECONDS
    previous=$layer
    if [ "$layer" = sanity ] && [ "${#beside[@]}" -gt 0 ]; then
        mkdir -p "$root/.cache/layers"
        pids=()
        for other in "${beside[@]}"; do
            ( run_layer "$other" ) > "$root/.cache/layers/$other.log" 2>&1 &
            pids+=($!)
        done
        sanity_status=0
        run_layer sanity || sanity_status=$?
        failed=""
        for index in "${!beside[@]}"; do
            other="${beside[$index]}"
            other_status=0
            wait "${pids[$index]}" || other_status=$?
            cat "$root/.cache/layers/$other.log"
            printf '\n(%s, beside sanity: %s)\n' "$other" "$([ "$other_status" -eq 0 ] && echo passed || echo FAILED)"
            [ "$other_status" -eq 0 ] || failed="$failed $other"
            done_beside[$other]=1
        done
        [ "$sanity_status" -eq 0 ] || exit "$sanity_status"
        [ -z "$failed" ] || { echo "failed beside sanity:$failed" >&2; exit 1; }
        continue
    fi
    # ansible-test sanity on the other releases needs no lab: it runs beside the
    # integration layer, whose namespace tests leave a core mostly idle
    if [ "$layer" = integration ] && [[ " ${layers[*]} " == *" compat-sanity "* ]]; then
        mkdir -p "$root/.cache/layers"
        ( run_layer compat-sanity ) > "$root/.cache/layers/compat-sanity.log" 2>&1 &
        compat_sanity_pid=$!
        integration_status=0
        run_layer integration || integration_status=$?
        compat_sanity_status=0
        wait "$compat_sanity_pid" || compat_sanity_status=$?
        if [ "$compat_sanity_status" -eq 0 ]; then
            grep -E '^(=== |Running sanity test "pylint")' "$root/.cache/layers/compat-sanity.log" || true
        else
            cat "$root/.cache/layers/compat-sanity.log"
        fi
        printf '\n(compat-sanity, beside integration: %s)\n' "$([ "$compat_sanity_status" -eq 0 ] && echo passed || echo FAILED)"
        done_beside[compat-sanity]=1
        [ "$integration_status" -eq 0 ] || exit "$integration_status"
        [ "$compat_sanity_status" -eq 0 ] || exit "$compat_sanity_status"
        continue
    fi
    run_layer "$layer"
done
