"""JSON Schema export of every message: `python -m shared.contract.schemas DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contract.envelope import CloudEvent
from shared.contract.registry import SPECS


def message_schemas() -> dict[str, dict[str, Any]]:
    """CloudEvents type -> JSON Schema of its `data`; plus the envelope itself."""
    schemas = {type_: s.model.model_json_schema() for type_, s in sorted(SPECS.items())}
    schemas["cloudevents.Envelope"] = CloudEvent.model_json_schema()
    return schemas


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for type_, schema in message_schemas().items():
        path = directory / f"{type_}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")
    print(f"wrote {len(export(target))} schemas to {target}")
