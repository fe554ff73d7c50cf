"""Write the committed API contracts: openapi/openapi.json and openapi/schema.graphql.

``python -m app.contract`` (``make openapi``) regenerates both from the app;
``python -m app.contract --check`` writes nothing and exits 1 when either has drifted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
OPENAPI_JSON = OPENAPI_DIR / "openapi.json"
SCHEMA_GRAPHQL = OPENAPI_DIR / "schema.graphql"


def openapi_text() -> str:
    from app.config import Settings
    from app.main import create_app

    # No database is touched: the schema comes from the routes alone.
    app = create_app(Settings(database_url="postgresql://unused"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def graphql_text() -> str:
    from app.graphql.schema import schema

    return schema.as_str() + "\n"


def render() -> dict[Path, str]:
    """Each contract file and the text the app generates for it now."""
    return {OPENAPI_JSON: openapi_text(), SCHEMA_GRAPHQL: graphql_text()}


def drifted(files: dict[Path, str] | None = None) -> list[Path]:
    """The contract files whose committed text differs from what the app generates."""
    files = render() if files is None else files
    return [path for path, content in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != content]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.contract", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file differs; write nothing")
    args = parser.parse_args(argv)
    files = render()
    stale = drifted(files)
    if args.check:
        for path in stale:
            print(f"{path.relative_to(OPENAPI_DIR.parent)} is out of date: run `make openapi`", file=sys.stderr)
        return 1 if stale else 0
    OPENAPI_DIR.mkdir(exist_ok=True)
    for path in stale:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write(files[path])
        print(f"wrote {path.relative_to(OPENAPI_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
