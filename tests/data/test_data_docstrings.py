"""Every public name of keras_trt.data has a docstring with an example (tests/test_docs.py runs
them)."""

import inspect

import pytest

import keras_trt.data as data

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("name", data.__all__)
def test_public_names_document_an_example(name):
    obj = getattr(data, name)
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return  # constants
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"keras_trt.data.{name} has no example in its docstring"
