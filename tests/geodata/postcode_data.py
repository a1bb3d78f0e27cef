"""`needs_postcodes`: skip a test, saying why and how to fix it, when the postcode data is missing."""

from __future__ import annotations

import pytest

from geodata.postcodes import MISSING, available

needs_postcodes = pytest.mark.skipif(not available(), reason=f"postcode data missing: {MISSING}")
