"""The fast engine, as named parts: the layout of senders, stages and receivers (layout.py), the
tensor shapes (shape.py), the ablated values (ablated.py), the reference state (reference.py), what
a pass reads besides it (parts.py), one incremental forward pass (forward_pass.py) and the engine
that ties them together (engine.py)."""

from acdc_tui.engines.fast.engine import MAX_WIDTH, FastEngine

__all__ = ["MAX_WIDTH", "FastEngine"]
