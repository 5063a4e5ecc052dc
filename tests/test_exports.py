"""Every name a module lists in ``__all__`` exists there, so ``from numpyvae.x import *`` works.

(A function moved to another module but left in the old ``__all__`` passes every other test and
breaks only a star import.)
"""
import importlib
import pkgutil

import pytest

import numpyvae

MODULES = [m.name for m in pkgutil.walk_packages(numpyvae.__path__, "numpyvae.") if not m.name.endswith("__main__")]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists {missing}, which {name} does not define"


def test_the_check_can_fail(monkeypatch):
    from numpyvae.run import config
    monkeypatch.setattr(config, "__all__", [*config.__all__, "no_such_name"], raising=True)
    with pytest.raises(AssertionError, match="no_such_name"):
        test_every_name_in_all_exists("numpyvae.run.config")
