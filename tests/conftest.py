"""Shared fixtures: the real engine over the real corpus, loaded once per test session."""

from __future__ import annotations

import pytest

from assistant.config import get_settings


@pytest.fixture(scope="session")
def engine():
    from assistant.qa.engine import QAEngine

    return QAEngine.load(get_settings())
