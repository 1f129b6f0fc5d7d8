"""Attribution score files: one score per tested edge, keyed by our edge keys, for the explorer,
`attribute --compare` and anyone's notebook.

Schema `acdc-tui.scores` version 1 (documented in docs/attribution.md):

    {
      "schema": "acdc-tui.scores", "schema_version": 1, "acdc_tui_version": str, "created": ISO-8601,
      "task": {"name", "source", "metric", "description"},
      "model": {"config": {...}, "fingerprint": "sha256:..."},
      "settings": {"method": "eap"|"eap-ig", "steps": int, "zero_ablation", "mean_ablation",
                   "device", "dtype", "use_pos_embed"},
      "summary": {"edges": int, "vanishing": bool, "gradient_ratio": float|null, "elapsed_s": float},
      "scores": [{"sender": {"hook", "head"}, "receiver": {"hook", "head"},
                  "score": float,      # estimated Δ = metric(edge removed) - metric(clean)
                  "rank": int}]        # 1 = largest |score|; ties share the graph's order
    }

Edges come in the graph's order (ACDC's visiting order), every tested edge once.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import Node
from acdc_tui.io.atomic import write_atomic
from acdc_tui.io.circuit import _node, _node_json
from acdc_tui.io.versioned import read_versioned

SCHEMA = "acdc-tui.scores"
SCHEMA_VERSION = 1

EdgeKey = tuple[Node, Node]  # (sender, receiver): an Edge's `key`


@dataclass
class ScoresFile:
    task: dict[str, Any]
    model: dict[str, Any]
    settings: dict[str, Any]
    summary: dict[str, Any]
    scores: dict[EdgeKey, float]  # in graph order
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    acdc_tui_version: str = ""

    @property
    def method(self) -> str:
        return self.settings["method"]

    def ranks(self) -> dict[EdgeKey, int]:
        """1 for the largest |score|, ties in the file's (graph) order."""
        order = sorted(enumerate(self.scores.items()), key=lambda item: (-abs(item[1][1]), item[0]))
        return {key: rank for rank, (_, (key, _)) in enumerate(order, 1)}


def scores_to_json(f: ScoresFile) -> dict:
    ranks = f.ranks()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "acdc_tui_version": f.acdc_tui_version,
        "created": f.created,
        "task": f.task,
        "model": f.model,
        "settings": f.settings,
        "summary": f.summary,
        "scores": [{"sender": _node_json(s), "receiver": _node_json(r), "score": v, "rank": ranks[(s, r)]} for (s, r), v in f.scores.items()],
    }


def write_scores(f: ScoresFile, path: str | Path) -> Path:
    return write_atomic(Path(path), orjson.dumps(scores_to_json(f), option=orjson.OPT_INDENT_2))


def read_scores(path: str | Path) -> ScoresFile:
    """A scores file; its `scores` are keyed like `Edge.key` ((sender Node, receiver Node)), so the
    explorer looks an edge up with `scores.scores.get(edge.key)`."""
    path = Path(path)
    data = read_versioned(path, SCHEMA, (SCHEMA_VERSION,), "scores file", "write one with acdc-tui attribute --out")
    try:
        scores = {(_node(e["sender"], f"score {i} sender"), _node(e["receiver"], f"score {i} receiver")): float(e["score"]) for i, e in enumerate(data["scores"])}
        return ScoresFile(data["task"], data["model"], data["settings"], data["summary"], scores, data.get("created", ""), data.get("acdc_tui_version", ""))
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path} is a malformed scores file ({type(e).__name__}: {e}): write it again with acdc-tui attribute --out") from None
