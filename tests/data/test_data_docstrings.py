"""Every public name of keras_trt.data has a docstring with an example, and the runnable
examples (those not marked +SKIP because they need a downloaded data set) pass."""

import doctest
import importlib
import inspect

import pytest

import keras_trt.data as data

MODULES = ["_common", "embedded", "images", "events", "event_datasets", "pointclouds"]


@pytest.mark.parametrize("name", data.__all__)
def test_public_names_document_an_example(name):
    obj = getattr(data, name)
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return  # constants
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"keras_trt.data.{name} has no example in its docstring"


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"keras_trt.data.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in keras_trt.data.{module}"
