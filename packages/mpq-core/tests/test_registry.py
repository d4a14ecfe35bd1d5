import importlib
import sys

import pytest

from mpq.core.errors import PluginConflictError, UnknownPluginError
from mpq.core.registry import Registry
from mpq.core.testing import SyntheticCodec


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution with an entry point, installed by putting its dist-info on sys.path."""
    (tmp_path / "myplugin.py").write_text("class Blur:\n    label = 'blur'\n")
    info = tmp_path / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mpq.test_codecs]\nblur = myplugin:Blur\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield Registry("mpq.test_codecs", "codec")
    sys.modules.pop("myplugin", None)


def test_entry_point_plugins_are_listed_and_loaded(installed_plugin):
    assert installed_plugin.names() == ["blur"]
    (info,) = installed_plugin.info()
    assert (info.name, info.distribution, info.target) == ("blur", "myplugin", "myplugin:Blur")
    assert installed_plugin.get("blur").label == "blur"


def test_unknown_name_suggests_close_matches(installed_plugin):
    with pytest.raises(UnknownPluginError) as error:
        installed_plugin.get("blurr")
    message = str(error.value)
    assert "unknown codec 'blurr'" in message
    assert "Did you mean 'blur'?" in message
    assert "python:module:attribute" in message


def test_python_path_and_run_time_registration():
    registry = Registry("mpq.none", "codec")
    assert registry.get("python:mpq.core.testing:SyntheticCodec") is SyntheticCodec
    registry.register("mine", SyntheticCodec)
    assert registry.get("mine") is SyntheticCodec
    assert "mine" in registry.names()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("python:no_such_module_xyz:Thing", "cannot import module"),
        ("python:mpq.core.testing:Nope", "has no attribute"),
        ("python:justamodule", "must look like"),
    ],
)
def test_bad_python_paths(path, message):
    with pytest.raises(UnknownPluginError, match=message):
        Registry("mpq.none", "codec").get(path)


def test_two_distributions_with_one_name_are_refused_naming_both(installed_plugin, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "otherplugin.py").write_text("class Blur:\n    label = 'other'\n")
    info = other / "otherplugin-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otherplugin\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text("[mpq.test_codecs]\nblur = otherplugin:Blur\n")
    sys.path.insert(0, str(other))
    importlib.invalidate_caches()
    try:
        with pytest.raises(PluginConflictError) as error:
            installed_plugin.get("blur")
    finally:
        sys.path.remove(str(other))
    assert "myplugin" in str(error.value) and "otherplugin" in str(error.value)


def test_run_time_registration_cannot_shadow_another_plugin(installed_plugin):
    with pytest.raises(PluginConflictError, match="installed package myplugin"):
        installed_plugin.register("blur", SyntheticCodec)
    installed_plugin.register("mine", SyntheticCodec)
    installed_plugin.register("mine", SyntheticCodec)  # the same plugin again is fine
    with pytest.raises(PluginConflictError, match="already registered"):
        installed_plugin.register("mine", object)
