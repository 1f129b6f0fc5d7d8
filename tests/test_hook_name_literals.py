"""Hook names are spoken by the architecture alone: no string in the package outside
acdc_tui/core/architecture and the hooked model spells one (read with ast, nothing is run)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from acdc_tui.core.architecture import HOOK_PREFIX, NodeKind, hook_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "acdc_tui"
ALLOWED = ("acdc_tui/core/architecture/", "acdc_tui/models/hooked.py", "acdc_tui/models/hook_points.py")
# The one known exception, until the fast engine is split into named parts (issue 18, item 3).
KNOWN_EXCEPTIONS = ("acdc_tui/engines/fast.py",)
# A hook name's last part, whole or as an f-string piece (`.hook_`), and TransformerLens's hook vocabulary
# (also inside config keys such as `use_hook_mlp_in`).
SPELLED_HOOK = re.compile(rf"(?<![A-Za-z0-9_]){HOOK_PREFIX}|{HOOK_PREFIX}(q|k|v|result|resid|mlp|embed|pos_embed|attn|tokens)")


def _suffixes() -> set[str]:
    """Every graph hook's last name part, from the architecture itself (a new node kind is covered at once)."""
    return {hook_name(kind, 0, 1).rsplit(".", 1)[-1] for kind in NodeKind}


def spells_hook(text: str) -> bool:
    return bool(SPELLED_HOOK.search(text)) or any(suffix in text for suffix in _suffixes())


def hook_literals(path: Path, root: Path = ROOT) -> list[tuple[str, int, str]]:
    """(file, line, string) for each string constant (f-string pieces and docstrings too) spelling a hook name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(root).as_posix()
    return [
        (rel, node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and spells_hook(node.value)
    ]


def test_the_scan_finds_hook_names_however_they_are_spelled(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        'A = "blocks.0.hook_resid_pre"\nB = f"blocks.{1}.hook_{\'q\'}_input"\nC = "use_hook_mlp_in"\n'
        'def f():\n    """Reads `blocks.0.attn.hook_result`."""\nD = "a hook, hooks, hooked: blocks.0.attn.W_Q"\n'
    )
    assert sorted({line for _, line, _ in hook_literals(source, tmp_path)}) == [1, 2, 3, 5]


def test_no_hook_name_literal_outside_the_architecture_and_the_hooked_model():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    found = [
        hit
        for path in files
        if not path.relative_to(ROOT).as_posix().startswith(ALLOWED + KNOWN_EXCEPTIONS)
        for hit in hook_literals(path)
    ]
    listing = "\n".join(f"{rel}:{line}: {text!r}" for rel, line, text in found)
    assert found == [], f"hook names belong to acdc_tui/core/architecture (NodeKind, hook_name):\n{listing}"


def test_the_architecture_does_spell_them():
    """The scan is not vacuous: the allowed module holds the names it looks for."""
    layout = PACKAGE / "core" / "architecture" / "layout.py"
    assert len(hook_literals(layout)) >= len(NodeKind) - 1


def test_each_known_exception_still_needs_its_place():
    """When the fast engine no longer spells hook names, drop it from KNOWN_EXCEPTIONS so the rule covers it."""
    for rel in KNOWN_EXCEPTIONS:
        assert hook_literals(ROOT / rel), f"{rel} spells no hook name any more: remove it from KNOWN_EXCEPTIONS"
