"""Deferred imports: a stand-in in sys.modules until the module is used, each in a new interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ansible_collections.nodelatency.monitor.plugins.module_utils import _deferred_import

COLLECTIONS_ROOT = _deferred_import.__file__.rsplit("%sansible_collections%s" % (os.sep, os.sep), 1)[0]
DEFER = ("from ansible_collections.nodelatency.monitor.plugins.module_utils._deferred_import import defer_import\n"
         "import sys\n"
         "defer_import('asyncio')\n")


def output_of(code, *argv):
    """What code prints, run by a new Python that finds this collection."""
    process = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60,
                             check=False, env=dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT))
    assert process.returncode == 0, process.stderr
    return process.stdout


def fresh_interpreter(code):
    """What code prints, one word per item."""
    return output_of(code).split()


def test_import_statement_binds_the_stand_in_without_loading():
    code = DEFER + "import asyncio\nprint(type(asyncio).__name__, 'asyncio.base_events' in sys.modules)"
    assert fresh_interpreter(code) == ["DeferredModule", "False"]


def test_first_use_loads_the_module_and_it_replaces_the_stand_in():
    code = DEFER + "\n".join([
        "import asyncio",
        "stand_in = asyncio",
        "print(asyncio.run(asyncio.sleep(0, result='ran')))",
        "print(sys.modules['asyncio'] is not stand_in, stand_in.TimeoutError is sys.modules['asyncio'].TimeoutError)",
    ])
    assert fresh_interpreter(code) == ["ran", "True", "True"]


def test_submodule_import_and_find_spec_work_before_first_use():
    code = DEFER + "\n".join([
        "import importlib.util",
        "print(importlib.util.find_spec('asyncio').name)",
        "import asyncio.subprocess",
        "print(asyncio.subprocess.PIPE == -1)",
    ])
    assert fresh_interpreter(code) == ["asyncio", "True"]


def test_probes_for_special_names_neither_load_nor_change_sys_modules():
    # as warnings.catch_warnings users and the sanity importer do, over sys.modules
    code = DEFER + "\n".join([
        "names = list(sys.modules)",
        "for module in list(sys.modules.values()):",
        "    getattr(module, '__warningregistry__', None)",
        "print(list(sys.modules) == names, 'asyncio.base_events' in sys.modules)",
    ])
    assert fresh_interpreter(code) == ["True", "False"]


def test_module_already_imported_is_left_as_it_is():
    code = "import asyncio\n" + DEFER + "print(sys.modules['asyncio'] is asyncio)"
    assert fresh_interpreter(code) == ["True"]


def test_unknown_module_is_left_to_fail_as_usual():
    code = DEFER.replace("'asyncio'", "'nlm_no_such_module'") + "\n".join([
        "try:",
        "    import nlm_no_such_module",
        "except ImportError:",
        "    print('ImportError')",
    ])
    assert fresh_interpreter(code) == ["ImportError"]


def test_nlm_probe_run_as_a_module_does_not_load_asyncio(tmp_path):
    """As AnsiballZ runs it: as __main__, arguments from a file. No targets, so nothing is sent."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"targets": [], "name": "n1"}}))
    code = "\n".join([
        "import json, runpy, sys",
        "try:",
        "    runpy.run_module('ansible_collections.nodelatency.monitor.plugins.modules.nlm_probe', run_name='__main__')",
        "except SystemExit:",
        "    pass",
        "sys.stdout.write(' %s' % ('asyncio.base_events' in sys.modules))",
    ])
    output = output_of(code, str(args)).lstrip()
    result, end = json.JSONDecoder().raw_decode(output)
    assert result["ansible_facts"]["nlm_latency"]["source"] == "n1"
    assert output[end:].split() == ["False"]


def test_importing_nlm_probe_leaves_sys_modules_alone():
    """Imported, not run (ansible-doc, the sanity tests): no stand-in."""
    code = "import sys\nfrom ansible_collections.nodelatency.monitor.plugins.modules import nlm_probe\n" \
           "print(type(sys.modules.get('asyncio')).__name__)"
    assert fresh_interpreter(code) == ["module"]


def test_the_action_plugin_imports_neither_the_module_nor_its_libraries():
    code = "import sys\nfrom ansible_collections.nodelatency.monitor.plugins.action import nlm_probe\n" \
           "print(sorted(name for name in ('icmplib', 'pyroute2', " \
           "'ansible_collections.nodelatency.monitor.plugins.modules.nlm_probe') if name in sys.modules))"
    assert fresh_interpreter(code) == ["[]"]
