"""Fixtures for the keras_trt.zoo tests.

Nothing here touches the network beyond 127.0.0.1 or the real Hugging Face cache: every test gets
its own HF_HOME, the Hub endpoint points at a local fake server (or a closed local port), and the
zoo registry only sees the cards a test creates.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from zoo_fake_hub import FakeHub  # noqa: E402
from zoo_helpers import make_model  # noqa: E402

from keras_trt.zoo import registry  # noqa: E402


@pytest.fixture
def tiny_model():
    return make_model()


@pytest.fixture
def x_batch():
    return np.random.default_rng(0).normal(size=(4, 8)).astype("float32")


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch, tmp_path_factory):
    """Only cards created by the test are visible; runtime registrations are undone."""
    cards = tmp_path_factory.mktemp("builtin-zoo")
    monkeypatch.setattr(registry, "builtin_cards_dir", lambda: cards)
    monkeypatch.delenv(registry.ENV_PATH, raising=False)
    monkeypatch.setattr(registry, "_RUNTIME", {})
    return cards


class HFEnv:
    """Point huggingface_hub at a private cache and a given endpoint (env vars + its constants)."""

    def __init__(self, monkeypatch, home: Path):
        self.monkeypatch = monkeypatch
        self.home = home
        self.cache = home / "hub"
        import huggingface_hub.constants as c

        self.c = c
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.setenv("HF_HUB_CACHE", str(self.cache))
        monkeypatch.setattr(c, "HF_HOME", str(home))
        monkeypatch.setattr(c, "HF_HUB_CACHE", str(self.cache))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")
        # Until a test picks an endpoint, use a closed local port: nothing can leave the machine.
        self.set_endpoint("http://127.0.0.1:9")
        self.set_offline(False)

    def set_endpoint(self, url: str) -> None:
        assert url.startswith("http://127.0.0.1:"), url
        self.monkeypatch.setenv("HF_ENDPOINT", url)
        self.monkeypatch.setattr(self.c, "ENDPOINT", url)
        self.monkeypatch.setattr(self.c, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")

    def set_offline(self, offline: bool) -> None:
        if offline:
            self.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        else:
            self.monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        self.monkeypatch.setattr(self.c, "HF_HUB_OFFLINE", offline)

    def repo_cache(self, repo_id: str) -> Path:
        return self.cache / ("models--" + repo_id.replace("/", "--"))


@pytest.fixture
def hf_env(monkeypatch, tmp_path_factory):
    return HFEnv(monkeypatch, tmp_path_factory.mktemp("hf-home"))


@pytest.fixture
def fake_hub(hf_env):
    hub = FakeHub().start()
    hf_env.set_endpoint(hub.url)
    yield hub
    hub.stop()
