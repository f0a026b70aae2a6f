#!/usr/bin/env bash
# make run: the feature on and off on a lab, with the latency and the rules shown
# at each step. KIND=machines runs it on booted Debian machines over SSH with
# sudo (and reboots one of them); KEEP=1 leaves the lab up afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
export ANSIBLE_CONFIG="$root/ansible.cfg" ANSIBLE_NOCOLOR=1
out="$root/.lab/run"
inventory="$root/.lab/inventory.yml"
kind="${KIND:-netns}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

take_down() {
    if [ -n "${KEEP:-}" ]; then
        printf '\nThe lab stays up (KEEP=1): ansible all -m nodelatency.monitor.nlm_probe, then make lab-down.\n'
    else
        step "Taking the lab down (make run KEEP=1 keeps it)"
        "$bin/python" lab/nlmlab.py down
    fi
}

playbook() {
    local log="$1"; shift
    if ! "$bin/ansible-playbook" -i "$inventory" "$@" > "$log" 2>&1; then
        cat "$log"
        echo "make run: ansible-playbook $* failed; the full output is above and in $log" >&2
        exit 1
    fi
    sed -n '/^PLAY RECAP/,$p' "$log" | sed '/^$/d'
}

owned_rules() {
    local node="$1"
    for save in iptables-save ip6tables-save; do
        ip netns exec "nlm-$node" "$save" | grep -E '^(:NLM-|-A NLM-|.*nodelatency\.monitor)' || true
    done
}

trap take_down EXIT
rm -rf "$out"
mkdir -p "$out"

if [ "$kind" = machines ]; then
    steps=6
    step "1/$steps A 3-node lab: Debian machines n1..n3 booted with systemd, a VXLAN overlay on antrea-gw0, sshd and an operator with sudo, and netfilter-persistent loading a firewall that drops ICMP echo in and out"
else
    steps=5
    step "1/$steps A 3-node lab: network namespaces n1..n3, a VXLAN overlay on antrea-gw0, and a firewall that drops ICMP echo in and out"
fi
"$bin/python" lab/nlmlab.py up --nodes 3 --firewall iptables-nft --mode encap --kind "$kind"

step "2/$steps Probing before anything changes: ansible-playbook nodelatency.monitor.probe"
playbook "$out/probe-before.log" nodelatency.monitor.probe -e nlm_report_dir="$out/before"
cat "$out/before/latency.txt"
echo "No pair gets through: the firewall refuses to send the probes or drops them, as it would Antrea's."

step "3/$steps Switching monitoring on: ansible-playbook site.yml -e nlm_enabled=true"
playbook "$out/site-on.log" site.yml -e nlm_enabled=true -e nlm_report_dir="$out/on"
cat "$out/on/latency.txt"
echo
echo "The rules on n1 (the same on n2 and n3): ICMP echo on antrea-gw0 only, IPv4 and IPv6"
owned_rules n1
echo "Reports: $out/on/latency.html (heatmap), $out/on/nodelatencystats-*.json"

if [ "$kind" = machines ]; then
    step "4/$steps Rebooting n2: its own boot (netfilter-persistent) loads the rules again"
    "$bin/python" lab/nlmlab.py reboot n2
    owned_rules n2
    playbook "$out/probe-reboot.log" nodelatency.monitor.probe -e nlm_report_dir="$out/reboot" -e nlm_report_table=false
    sed -n '3,7p' "$out/reboot/latency.txt"
fi

step "$((steps - 1))/$steps Switching monitoring off: ansible-playbook site.yml -e nlm_enabled=false"
playbook "$out/site-off.log" site.yml -e nlm_enabled=false
left="$(owned_rules n1; owned_rules n2; owned_rules n3)"
if [ -n "$left" ]; then
    printf 'Rules left behind:\n%s\n' "$left" >&2
    exit 1
fi
echo "No rule of the collection is left on n1, n2 or n3."

step "$steps/$steps Probing again: the firewall drops ICMP echo once more"
playbook "$out/probe-after.log" nodelatency.monitor.probe -e nlm_report_dir="$out/after" -e nlm_report_table=false
sed -n '1,6p' "$out/after/latency.txt"
