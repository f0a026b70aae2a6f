# -*- coding: utf-8 -*-
# Copyright: contributors to nodelatency.monitor
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Imports that succeed without running the module until it is used.

importlib.util.LazyLoader does not serve here: an import statement reads the
module's __spec__, and any attribute read makes a lazily loaded module load.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

# Reading these must load the module: submodule imports read __path__, star imports __all__.
LOADING_SPECIAL_NAMES = frozenset(("__path__", "__file__", "__all__"))


class DeferredModule(types.ModuleType):
    """Stands in sys.modules for a module until the first read of an attribute it lacks.

    That read imports the real module, which then takes its place in sys.modules;
    the stand-in passes every later read on to it.
    """

    def __getattr__(self, attribute):
        # Code that loops over sys.modules probes every module for optional special
        # names (__warningregistry__, for one); loading there would change sys.modules
        # under that loop.
        if attribute.startswith("__") and attribute.endswith("__") and attribute not in LOADING_SPECIAL_NAMES:
            raise AttributeError(attribute)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def defer_import(name):
    """Let `import name` bind a stand-in that imports the module on first use.

    Nothing happens when the module is already imported or cannot be found.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = DeferredModule(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in
