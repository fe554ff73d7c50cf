"""The committed contracts (openapi/openapi.json, openapi/schema.graphql) match the app."""
from __future__ import annotations

import difflib
import json

import pytest

from app import contract

FIX = "run `make openapi` (python -m app.contract) and commit the result"


@pytest.mark.parametrize("path", [contract.OPENAPI_JSON, contract.SCHEMA_GRAPHQL], ids=lambda p: p.name)
def test_committed_contract_matches_the_app(path):
    generated = contract.render()[path]
    assert path.exists(), f"{path.name} is missing: {FIX}"
    committed = path.read_text(encoding="utf-8")
    if committed != generated:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                                 f"committed/{path.name}", f"generated/{path.name}"))[:60])
        pytest.fail(f"{path.name} differs from what the app generates: {FIX}\n{diff}")


def test_openapi_is_3_1_and_carries_the_v1_surface():
    doc = json.loads(contract.OPENAPI_JSON.read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/audit", "/v1/audit/verify", "/v1/audit/export", "/v1/me"):
        assert path in doc["paths"], path


def test_check_reports_drift_and_writes_nothing(tmp_path, monkeypatch, capsys):
    stale, fresh = tmp_path / "openapi.json", tmp_path / "schema.graphql"
    stale.write_text("{}\n")
    fresh.write_text("type Query\n")
    monkeypatch.setattr(contract, "OPENAPI_DIR", tmp_path)
    monkeypatch.setattr(contract, "render", lambda: {stale: '{"new": 1}\n', fresh: "type Query\n"})

    assert contract.main(["--check"]) == 1
    assert "openapi.json is out of date: run `make openapi`" in capsys.readouterr().err
    assert stale.read_text() == "{}\n"

    assert contract.main([]) == 0
    assert stale.read_text() == '{"new": 1}\n'
    assert contract.main(["--check"]) == 0
