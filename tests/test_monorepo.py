"""The design card's rules about package boundaries, checked on the source tree."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "image", "audio", "report"]


def project(name):
    return tomllib.loads((ROOT / "packages" / f"mpq-{name}" / "pyproject.toml").read_text())


def requirement_names(requirements):
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_stands_alone(name):
    base = ROOT / "packages" / f"mpq-{name}"
    assert (base / "README.md").is_file()
    assert any((base / "tests").glob("test_*.py"))
    assert (base / "src" / "mpq" / name / "__init__.py").is_file()
    assert project(name)["project"]["name"] == f"mpq-{name}"
    assert f"mpq.{name}.cli:main" in project(name)["project"]["scripts"].values()


def test_mpq_is_an_implicit_namespace_package():
    assert list(ROOT.glob("packages/*/src/mpq/__init__.py")) == []


@pytest.mark.parametrize("name", ["core", "audio", "report"])
def test_no_tensorflow_outside_the_image_hific_extra(name):
    data = project(name)["project"]
    every = data["dependencies"] + [
        r for rs in data.get("optional-dependencies", {}).values() for r in rs
    ]
    assert not requirement_names(every) & {"tensorflow", "tensorflow-compression"}


def test_image_keeps_tensorflow_behind_the_hific_extra():
    data = project("image")["project"]
    assert not requirement_names(data["dependencies"]) & {"tensorflow", "tensorflow-compression"}


def test_audio_never_pulls_compressai():
    assert "compressai" not in requirement_names(project("audio")["project"]["dependencies"])


def test_report_and_core_import_no_modality_package():
    for name in ("report", "core"):
        deps = requirement_names(project(name)["project"]["dependencies"])
        assert not deps & {"mpq-image", "mpq-audio"}
        for source in (ROOT / "packages" / f"mpq-{name}" / "src").rglob("*.py"):
            text = source.read_text()
            assert not re.search(r"^\s*(from|import) mpq\.(image|audio)\b", text, re.M), source


def test_core_imports_no_package_above_it():
    for source in (ROOT / "packages" / "mpq-core" / "src").rglob("*.py"):
        text = source.read_text()
        found = re.search(r"^\s*(from|import) mpq\.(image|audio|report)\b", text, re.M)
        assert found is None, f"{source}: {found.group(0) if found else ''}"


def test_constraints_pin_the_local_torch_pair():
    pins = (ROOT / "constraints.txt").read_text().split()
    assert "torch==2.14.1" in pins and "torchvision==0.29.1" in pins
