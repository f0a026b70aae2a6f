# Copyright: nodelatency.monitor contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nlm agent's entry point: the collection's module_utils and plugin_utils must be
on the Python path (docs/agent.md)."""

import sys

from ansible_collections.nodelatency.monitor.plugins.module_utils._agent_service import main
from ansible_collections.nodelatency.monitor.plugins.plugin_utils._report_stats import node_latency_document_json

if __name__ == "__main__":
    sys.exit(main(document=node_latency_document_json))
