# -*- coding: utf-8 -*-
# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of nlm_probe, shared by the module (on the node) and its action plugin
(on the controller, which validates them before it resolves the peers)."""

from __future__ import annotations


def argument_spec():
    return dict(
        targets=dict(type="list", elements="raw"),
        name=dict(type="str"),
        count=dict(type="int", default=3),
        interval=dict(type="float", default=0.2),
        timeout=dict(type="float", default=1.0),
        payload_size=dict(type="int", default=56),
        privileged=dict(type="raw", default="auto"),
        interface=dict(type="str"),
        source=dict(type="list", elements="str", default=[]),
        keep_rtts=dict(type="bool", default=False),
        # Resolved by the action plugin on the controller; listed so that the
        # documentation and the argument spec describe the same options.
        peers=dict(type="raw"),
        target=dict(type="str", default="auto", choices=["auto", "gateway", "transport"]),
        ip_versions=dict(type="list", elements="str", default=["ipv4", "ipv6"], choices=["ipv4", "ipv6"]),
        max_peers=dict(type="int", default=0),
        rotation=dict(type="int"),
        skip_unresolved=dict(type="bool", default=False),
    )


# Explicit targets leave nothing for the peer selection to do.
MUTUALLY_EXCLUSIVE = [["targets", "peers"], ["targets", "max_peers"], ["targets", "rotation"]]
