"""Reading acdc-tui's versioned JSON files (circuits, sweeps, scores): one line for each way a file can be wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection

import orjson

from acdc_tui.core.errors import UserError


def read_versioned(path: str | Path, schema: str, versions: Collection[int], kind: str, fix: str) -> dict[str, Any]:
    """The file's JSON object, once its `schema` is `schema` and its `schema_version` one of `versions`;
    `kind` names the file ("sweep file") and `fix` says how to get a good one."""
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as e:
        raise UserError(f"cannot read {kind} {str(path)!r}: {e.strerror}") from None
    except orjson.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}): {fix}") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise UserError(f"{path} is not an acdc-tui {kind} (no \"schema\": \"{schema}\"): {fix}")
    if data.get("schema_version") not in versions:
        readable = ", ".join(map(str, versions))
        raise UserError(f"{path} has {kind} schema version {data.get('schema_version')!r}, this acdc-tui reads version{'s' if len(versions) > 1 else ''} {readable}")
    return data
