"""Shared fixtures: the spec's own example pair, fresh for every test."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
_EXAMPLE_PROBLEM = json.loads((FIXTURES / "example-problem.json").read_text(encoding="utf-8"))
_EXAMPLE_SOLUTION = json.loads((FIXTURES / "example-solution.json").read_text(encoding="utf-8"))


@pytest.fixture
def example_problem() -> dict[str, Any]:
    """The spec's example problem (a Monday in Ilkley) as a mutable dict."""
    return copy.deepcopy(_EXAMPLE_PROBLEM)


@pytest.fixture
def example_solution() -> dict[str, Any]:
    """The spec's example solution, valid for `example_problem`."""
    return copy.deepcopy(_EXAMPLE_SOLUTION)
