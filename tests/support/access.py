"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

import pytest


@pytest.fixture
async def world(api):
    """A brand with two accounts, and a second brand with one."""
    brand = await api.brand()
    other = await api.brand()
    return {
        "brand": brand,
        "acc": await api.account(brand["id"]),
        "acc2": await api.account(brand["id"]),
        "other_brand": other,
        "other_acc": await api.account(other["id"]),
    }
