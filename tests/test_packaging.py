"""pyproject.toml lists its packages by hand (see the comment there): every subpackage must be in it."""

import pathlib
import tomllib

import pytest

pytestmark = pytest.mark.backend_independent


ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "keras_trt").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "keras_trt._zoo_cards" in listed
