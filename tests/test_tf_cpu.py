"""keras_trt/_tf_cpu.py: TensorFlow's oneDNN kernels on, before TensorFlow loads, for this
process only; never over the user's own setting or switch; checked in fresh processes."""

import json
import os
import subprocess
import sys

import pytest

from keras_trt import _tf_cpu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wanted_only_before_tensorflow_loads_and_never_over_the_user(tmp_path):
    tf = {"KERAS_BACKEND": "tensorflow"}
    assert _tf_cpu.onednn_wanted(tf, modules={})
    assert not _tf_cpu.onednn_wanted(tf, modules={"tensorflow": object()})  # too late
    assert not _tf_cpu.onednn_wanted({**tf, "TF_ENABLE_ONEDNN_OPTS": "0"}, modules={})
    assert not _tf_cpu.onednn_wanted({**tf, "KERAS_TRT_TF_ONEDNN": "0"}, modules={})
    assert not _tf_cpu.onednn_wanted({**tf, "KERAS_TRT_FAST_PATHS": "0"}, modules={})
    # Without KERAS_BACKEND, Keras' own config decides, as it does for Keras.
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert not _tf_cpu.onednn_wanted({"KERAS_HOME": str(tmp_path)}, modules={})
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    assert _tf_cpu.onednn_wanted({"KERAS_HOME": str(tmp_path)}, modules={})
    assert _tf_cpu.onednn_wanted({"KERAS_HOME": str(tmp_path / "none")}, modules={})  # Keras' default


_CHILD = """
import os, subprocess, sys
if os.environ.get("KERAS_FIRST"):
    import keras
import keras_trt
from keras_trt import _tf_cpu
from tensorflow.python.util import _pywrap_util_port
grandchild = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
print("CONFIGURED", _tf_cpu.ONEDNN_CONFIGURED, "ONEDNN", _pywrap_util_port.IsMklEnabled(),
      "ENV", os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "GRANDCHILD", grandchild)
"""


def _child(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_TRT_", "TF_ENABLE_ONEDNN"))}
    env.update(KERAS_BACKEND="tensorflow", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.backend_independent
def test_import_turns_onednn_on_for_this_process_only():
    pytest.importorskip("tensorflow")
    assert _child() == "CONFIGURED True ONEDNN True ENV None GRANDCHILD None"


@pytest.mark.backend_independent
@pytest.mark.parametrize("setting", ["opt-out", "user-choice", "keras-first"])
def test_import_leaves_tensorflow_alone_when_refused_or_too_late(setting):
    pytest.importorskip("tensorflow")
    extra = {"opt-out": {"KERAS_TRT_TF_ONEDNN": "0"}, "user-choice": {"TF_ENABLE_ONEDNN_OPTS": "0"},
             "keras-first": {"KERAS_FIRST": "1"}}[setting]
    line = _child(**extra)
    assert line.startswith("CONFIGURED False"), line
    if setting == "user-choice":
        assert "ONEDNN False ENV 0 GRANDCHILD 0" in line  # the user's value, untouched
    else:
        assert line.endswith("ENV None GRANDCHILD None"), line
