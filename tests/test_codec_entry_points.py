"""Every codec entry point names a class, in a file of its package, whose `name` is the entry's."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def codec_entries():
    for package in ("image", "audio"):
        project = tomllib.loads(
            (ROOT / "packages" / f"mpq-{package}" / "pyproject.toml").read_text()
        )
        for name, target in project["project"]["entry-points"]["mpq.codecs"].items():
            yield pytest.param(package, name, target, id=name)


def class_names(path: Path) -> dict[str, str | None]:
    """Class -> the string its `name = "..."` assigns in the class body (None if absent)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            found[node.name] = next(
                (
                    item.value.value
                    for item in node.body
                    if isinstance(item, ast.Assign)
                    and any(getattr(t, "id", None) == "name" for t in item.targets)
                    and isinstance(item.value, ast.Constant)
                ),
                None,
            )
    return found


@pytest.mark.parametrize(("package", "name", "target"), list(codec_entries()))
def test_entry_point_names_its_class(package, name, target):
    module, _, cls = target.partition(":")
    path = (
        ROOT / "packages" / f"mpq-{package}" / "src" / Path(*module.split(".")).with_suffix(".py")
    )
    assert path.is_file(), f"{name}: {path} does not exist"
    assert class_names(path).get(cls) == name
