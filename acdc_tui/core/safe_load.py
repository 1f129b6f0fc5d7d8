"""The one way acdc-tui reads a torch.save or pickle file: no code from a file ever runs.

* `torch.load(weights_only=True)` only: tensors, plain containers, strings, numbers, booleans.
* Before torch sees the bytes, the pickle's opcodes are scanned (without building anything) and
  a file nested deeper than `MAX_DEPTH` or larger than `MAX_BYTES` is refused: a deeply nested
  tuple would otherwise be hashed recursively in C while unpickling and crash the process
  (SIGSEGV) instead of ending in one line.
* `load_plain_pickle` reads a file written with `pickle.dump` (the reference's hub data cache has
  one) through an Unpickler that knows only the few names a pickled tensor needs, and reads the
  storage bytes inside it with `torch.load(weights_only=True)` again.

Every failure is a `UserError`: one line, naming the file and what it should hold.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

from acdc_tui.core.errors import UserError

MAX_DEPTH = 200  # nesting of containers; a state dict or a reference subgraph needs fewer than 10
MAX_BYTES = 64 << 30  # far above any model we run; ACDC_TUI_MAX_LOAD_BYTES overrides it
MAX_PICKLE_BYTES = 1 << 30  # the pickle part of a file (tensor data lives beside it)

_MARK_CONSUMERS = {"TUPLE", "LIST", "DICT", "APPENDS", "SETITEMS", "ADDITEMS", "FROZENSET", "OBJ", "INST", "POP_MARK"}


_ADD_TO_MARKED = ("APPENDS", "SETITEMS", "ADDITEMS")  # mark consumers that fill the object below the mark
_ADD_ITEMS = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}  # opcodes that pop this many items into the object below
_MEMO_PUT = ("PUT", "BINPUT", "LONG_BINPUT")
_MEMO_GET = ("GET", "BINGET", "LONG_BINGET")


class _Nesting:
    """The pickle machine's stack with each object's nesting depth instead of the object; a memoised
    object shares its one-element depth list with the memo, so filling it later deepens every reference."""

    def __init__(self) -> None:
        self.stack: list[list[int]] = []
        self.marks: list[int] = []
        self.memo: dict[Any, list[int]] = {}

    def step(self, op: Any, arg: Any) -> bool:
        """Apply one opcode (not STOP); True when it built or filled an object (then the depth is checked)."""
        name = op.name
        if name == "MARK":
            self.marks.append(len(self.stack))
        elif name in _MARK_CONSUMERS:
            self._close_mark(name)
        elif name in _ADD_ITEMS:
            self._fill(_ADD_ITEMS[name])
        elif name in _MEMO_PUT or name == "MEMOIZE":
            if self.stack:
                self.memo[arg if name != "MEMOIZE" else len(self.memo)] = self.stack[-1]
        elif name in _MEMO_GET:
            self.stack.append(self.memo.get(arg, [0]))
        else:
            self._other(op)
            return True
        return name in _MARK_CONSUMERS or name in _ADD_ITEMS

    def too_deep(self) -> bool:
        return bool(self.stack) and self.stack[-1][0] > MAX_DEPTH

    def _close_mark(self, name: str) -> None:
        at = self.marks.pop() if self.marks else 0
        items, self.stack[at:] = self.stack[at:], []
        depth = max((c[0] for c in items), default=0) + 1
        if name in _ADD_TO_MARKED:
            if self.stack:
                self.stack[-1][0] = max(self.stack[-1][0], depth)
        elif name != "POP_MARK":
            self.stack.append([depth])

    def _fill(self, n: int) -> None:
        items, self.stack[-n:] = self.stack[-n:], []
        if self.stack:
            self.stack[-1][0] = max(self.stack[-1][0], max((c[0] for c in items), default=0) + 1)

    def _other(self, op: Any) -> None:
        """Any other opcode, from its declared stack effect: one level above what it consumes."""
        before, after = len(op.stack_before), len(op.stack_after)
        if pickletools.markobject in op.stack_before:
            before -= 1
        items = self.stack[len(self.stack) - before :] if before else []
        if before:
            del self.stack[len(self.stack) - before :]
        depth = max((c[0] for c in items), default=0) + (1 if items else 0)
        for _ in range(after):
            self.stack.append([depth])


def _scan(data: bytes | memoryview, source: str, start: int = 0) -> int:
    """Refuse pickles nested deeper than MAX_DEPTH; return where the pickle (its STOP) ends."""
    nesting = _Nesting()
    stream = io.BytesIO(data)
    stream.seek(start)
    end = start
    try:
        for op, arg, _pos in pickletools.genops(stream):
            end = stream.tell()
            if op.name == "STOP":
                break
            if nesting.step(op, arg) and nesting.too_deep():
                raise UserError(f"{source} nests containers more than {MAX_DEPTH} deep: no file acdc-tui reads is shaped like that, so it is refused unread")
    except UserError:
        raise
    except Exception:  # a malformed opcode stream: torch refuses it as well, in its own words
        return len(data)
    return end


def _pickle_parts(raw: bytes, source: str) -> None:
    """Scan the pickle(s) of a torch.save file: data.pkl in a zip archive, or the legacy format's."""
    if raw.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                for info in z.infolist():
                    if info.filename.endswith(".pkl"):
                        if info.file_size > MAX_PICKLE_BYTES:
                            raise UserError(f"{source} holds a {info.file_size:,}-byte pickle, over the {MAX_PICKLE_BYTES:,}-byte limit")
                        _scan(z.read(info), source)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return  # torch.load says it is no torch.save file
        return
    at = 0
    for _ in range(5):  # legacy torch.save: magic number, protocol, sys info, the data, the storage keys
        if at >= len(raw) or raw[at : at + 1] != b"\x80":
            break
        nxt = _scan(raw, source, at)
        if nxt <= at:
            break
        at = nxt


def max_bytes() -> int:
    """The largest file read: ACDC_TUI_MAX_LOAD_BYTES (a number of bytes), else MAX_BYTES."""
    setting = os.environ.get("ACDC_TUI_MAX_LOAD_BYTES", "").strip()
    if not setting:
        return MAX_BYTES
    if not setting.isdigit() or len(setting) > 20:
        raise UserError(f"ACDC_TUI_MAX_LOAD_BYTES={setting[:24]!r} is not a number of bytes: set it to a whole number (e.g. 68719476736 for 64 GiB), or unset it")
    return int(setting)


def _read(path: str | Path, source: str) -> bytes:
    p = Path(path)
    try:
        if not p.is_file():
            raise UserError(f"{source} is not a regular file")
        size, limit = p.stat().st_size, max_bytes()
        if size > limit:
            raise UserError(f"{source} is {size:,} bytes, over the {limit:,}-byte limit (ACDC_TUI_MAX_LOAD_BYTES)")
        return p.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {source}: {e.strerror or type(e).__name__}") from None


def _why(e: Exception) -> str:
    """torch's refusal is many lines of advice: keep the one fact (which global, or what broke)."""
    text = str(e)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"global ([\w.]+) is not allowed", text)
    if m:
        return f"it names the code {m.group(1)}"
    first = (text.strip().splitlines() or [""])[0][:160]
    if "Weights only load failed" in first or not first:
        return type(e).__name__
    return f"{type(e).__name__}: {first}"


def torch_load(path_or_bytes: str | Path | bytes, source: str, what: str = "tensors") -> Any:
    """torch.load(weights_only=True) after the depth and size checks; failures are one line."""
    import torch

    raw = path_or_bytes if isinstance(path_or_bytes, bytes) else _read(path_or_bytes, source)
    _pickle_parts(raw, source)
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files, forbidden globals: torch's text is many lines
        raise UserError(f"{source} cannot be read safely as {what} ({_why(e)}); acdc-tui reads only tensors and plain containers and never runs pickled code") from None


def _load_storage_bytes(b: bytes) -> Any:
    """torch.storage._load_from_bytes without its torch.load(weights_only=False)."""
    import torch

    if not isinstance(b, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage bytes expected")
    _pickle_parts(bytes(b), "a pickled storage")
    return torch.load(io.BytesIO(bytes(b)), map_location="cpu", weights_only=True)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        import torch

        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
            ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
            ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
            ("torch", "Tensor"): torch.Tensor,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"the global {module}.{name} is not allowed")


def load_plain_pickle(path: str | Path, source: str, what: str = "tensors") -> Any:
    """A file written with pickle.dump: only tensors and plain containers, no code; one line on failure."""
    raw = _read(path, source)
    if len(raw) > MAX_PICKLE_BYTES:
        raise UserError(f"{source} is over the {MAX_PICKLE_BYTES:,}-byte limit for a pickle")
    _scan(raw, source)
    try:
        return _PlainUnpickler(io.BytesIO(raw)).load()
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{source} cannot be read safely as {what} ({_why(e)}); acdc-tui never runs pickled code") from None
