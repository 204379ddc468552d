"""The backend legs' selection (tests/conftest.py): marked tests run in one leg only.

The hooks are called directly on stand-in items and files (a pytest run in a subprocess would
cost a full import of keras_trt for each case).
"""

import importlib.util
import types
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

_spec = importlib.util.spec_from_file_location("suite_conftest", Path(__file__).with_name("conftest.py"))
legs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(legs)


class _Config:
    def __init__(self, skip=False, only=False):
        self.options = {"--skip-backend-independent": skip, "--backend-independent-only": only}
        self.deselected = []
        self.hook = types.SimpleNamespace(pytest_deselected=lambda items: self.deselected.extend(items))
        self.ini_lines = []

    def getoption(self, name):
        return self.options[name]

    def addinivalue_line(self, name, line):
        self.ini_lines.append((name, line))


class _Item:
    def __init__(self, name, marked):
        self.name, self.marked = name, marked

    def get_closest_marker(self, name):
        return object() if self.marked and name == "backend_independent" else None


def _items():
    return [_Item("a", True), _Item("b", False), _Item("c", True), _Item("d", False)]


@pytest.mark.parametrize(
    "skip, only, kept, dropped",
    [(False, False, "abcd", ""), (True, False, "bd", "ac"), (False, True, "ac", "bd")],
    ids=["all", "skip", "only"],
)
def test_selection_splits_the_suite_and_reports_deselected(skip, only, kept, dropped):
    config, items = _Config(skip, only), _items()
    legs.pytest_collection_modifyitems(config, items)
    assert "".join(i.name for i in items) == kept
    assert "".join(i.name for i in config.deselected) == dropped


def test_the_two_options_exclude_each_other():
    legs.pytest_configure(_Config())
    with pytest.raises(pytest.UsageError, match="exclude each other"):
        legs.pytest_configure(_Config(skip=True, only=True))


def test_later_legs_do_not_import_whole_marked_modules(tmp_path):
    whole = tmp_path / "test_whole.py"
    whole.write_text("import pytest\n\npytestmark = pytest.mark.backend_independent\n")
    mixed = tmp_path / "test_mixed.py"
    mixed.write_text("import pytest\n\n@pytest.mark.backend_independent\ndef test_one():\n    pass\n")
    helper = tmp_path / "helper.py"
    helper.write_text("pytestmark = pytest.mark.backend_independent\n")
    skip = _Config(skip=True)
    assert legs.pytest_ignore_collect(whole, skip) is True
    assert legs.pytest_ignore_collect(mixed, skip) is None
    assert legs.pytest_ignore_collect(helper, skip) is None
    assert legs.pytest_ignore_collect(whole, _Config()) is None
    assert legs.pytest_ignore_collect(whole, _Config(only=True)) is None
