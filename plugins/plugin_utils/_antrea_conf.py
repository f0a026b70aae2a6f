# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""antrea-agent.conf read as the Antrea agent reads it (cmd/antrea-agent/options.go).

- The feature gate follows Kubernetes' feature-gate rules (k8s.io/component-base), which
  Antrea's gates use: a gate named in ``featureGates`` has that value; an unnamed one
  takes the value of ``AllAlpha`` (or ``AllBeta``) when its stage is alpha (beta), else its
  default. NodeLatencyMonitor is alpha with default false (pkg/features/antrea_features.go).
  Gate values are YAML booleans; the agent refuses to start on anything else (a quoted
  ``"true"`` is a string), so this refuses it too.
- ``trafficEncapMode`` is matched ignoring case (strings.EqualFold) and defaults to encap.
- ``hostGateway`` names the gateway interface and defaults to antrea-gw0.
- ``transportInterface`` and ``transportInterfaceCIDRs`` name the transport interface.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

GATE = "NodeLatencyMonitor"
GATE_STAGE = "AllAlpha"
GATE_DEFAULT = False
DEFAULT_GATEWAY = "antrea-gw0"
TRAFFIC_MODES = ("encap", "noEncap", "hybrid", "networkPolicyOnly")


class AntreaConfError(ValueError):
    """The configuration is one the Antrea agent would refuse; the message says what to fix."""


def parse(conf) -> Mapping:
    """The configuration as a mapping: ``conf`` is the file's text or already parsed."""
    if isinstance(conf, (str, bytes)):
        try:
            conf = yaml.safe_load(conf)
        except yaml.YAMLError as error:
            raise AntreaConfError("antrea-agent.conf is not valid YAML: %s" % error) from error
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise AntreaConfError("antrea-agent.conf must be a YAML mapping of settings (as the agent's ConfigMap "
                              "holds it), got %s" % type(conf).__name__)
    return conf


def _bool_gate(gates: Mapping, name: str) -> bool:
    value = gates[name]
    if not isinstance(value, bool):
        raise AntreaConfError("antrea-agent.conf: featureGates.%s is %r, which the Antrea agent refuses (it reads "
                              "only true or false there, unquoted); fix the agent's configuration" % (name, value))
    return value


def feature_gate(conf: Mapping) -> tuple[bool, str]:
    """(whether NodeLatencyMonitor is on, the setting that decides it)."""
    gates = conf.get("featureGates")
    if gates is None:
        gates = {}
    if not isinstance(gates, Mapping):
        raise AntreaConfError("antrea-agent.conf: featureGates must be a mapping of gate names to true or false, got %r"
                              % (gates,))
    for name in (GATE, GATE_STAGE):
        if name in gates:
            return _bool_gate(gates, name), "featureGates.%s" % name
    return GATE_DEFAULT, "the default of the alpha gate %s" % GATE


def _text(conf: Mapping, key: str) -> str:
    value = conf.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AntreaConfError("antrea-agent.conf: %s must be a string, got %r" % (key, value))
    return value


def traffic_mode(conf: Mapping) -> str:
    value = _text(conf, "trafficEncapMode")
    if not value:
        return "encap"
    for mode in TRAFFIC_MODES:
        if mode.lower() == value.lower():
            return mode
    raise AntreaConfError("antrea-agent.conf: trafficEncapMode %r is not one of %s, and the Antrea agent refuses it "
                          "too" % (value, ", ".join(TRAFFIC_MODES)))


def agent_settings(conf) -> dict:
    """What the agent's configuration decides for this collection."""
    conf = parse(conf)
    enabled, decided_by = feature_gate(conf)
    cidrs = conf.get("transportInterfaceCIDRs")
    if cidrs is None:
        cidrs = []
    if not isinstance(cidrs, list) or not all(isinstance(cidr, str) for cidr in cidrs):
        raise AntreaConfError("antrea-agent.conf: transportInterfaceCIDRs must be a list of CIDRs, got %r" % (cidrs,))
    return {
        "node_latency_monitor": enabled,
        "node_latency_monitor_from": decided_by,
        "traffic_encap_mode": traffic_mode(conf),
        "host_gateway": _text(conf, "hostGateway") or DEFAULT_GATEWAY,
        "transport_interface": _text(conf, "transportInterface"),
        "transport_interface_cidrs": list(cidrs),
    }
