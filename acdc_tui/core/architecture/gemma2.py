"""Gemma-2: refused. Its attention output passes through a norm after the heads are summed
(post-attention RMSNorm, `ln1_post`) before it joins the residual stream, so a single head's
result is not an additive contribution to any reader: ACDC's "ablated input + Σ present senders"
would be a wrong circuit. Modelling it needs a node after that norm (fed by the heads, writing the
residual stream) and patching semantics for it, checked against a plain path; until then, one line."""

from __future__ import annotations

from typing import Any, Mapping

NAME = "gemma2"
MODEL_TYPES = ("gemma2", "gemma3", "gemma3_text")
SUPPORTED = False


def unsupported(hf: Mapping[str, Any]) -> str | None:
    return (
        "its post-attention norm sits between the sum of the heads and the residual stream, so single heads "
        "are not additive senders; a node after that norm is missing from the graph"
    )


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:  # pragma: no cover - never reached
    raise AssertionError("Gemma-2 is refused before its config is converted")
