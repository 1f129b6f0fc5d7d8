"""What an absent edge's sender is replaced by: one value, named by the run recipe, computed by the
engines (engines/patching.py). Pure: no torch."""

from __future__ import annotations

from enum import Enum

from acdc_tui.core.errors import UserError


class Ablation(str, Enum):
    """What an absent edge's sender is replaced by."""

    CORRUPTED = "corrupted"  # its output on the patch data
    ZERO = "zero"  # its output with every residual writer zeroed
    MEAN = "mean"  # its output on the patch data, averaged over the batch at each position

    @classmethod
    def of(cls, zero_ablation: bool, mean_ablation: bool) -> "Ablation":
        if zero_ablation and mean_ablation:
            raise UserError("--zero-ablation and --mean-ablation exclude each other: choose one ablation")
        return cls.ZERO if zero_ablation else cls.MEAN if mean_ablation else cls.CORRUPTED

    @classmethod
    def of_flags(cls, settings: dict) -> "Ablation":
        """The ablation a file's settings record (its zero_ablation and mean_ablation flags)."""
        return cls.of(bool(settings.get("zero_ablation")), bool(settings.get("mean_ablation")))

    def flags(self) -> dict[str, bool]:
        """As the circuit, scores and sweep files record it: two flags (their schema, and EAP-IG's)."""
        return {"zero_ablation": self is Ablation.ZERO, "mean_ablation": self is Ablation.MEAN}
