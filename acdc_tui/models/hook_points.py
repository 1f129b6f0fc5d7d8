"""Hook points: named identity modules that a forward pass runs its activations through, so that
hooks can read or replace them.

The part of TransformerLens's `HookPoint` / `HookedRootModule` API that acdc-tui, its tests and the
reference ACDC code use, with the same semantics: `add_hook` by name or by a filter on names, hooks
called as `fn(activation, hook=hook_point)` whose non-None return replaces the activation, `prepend`,
permanent hooks, the `hooks()` context manager (nested levels), `reset_hooks`, `run_with_hooks` and
`run_with_cache` (a plain dict). Forward hooks only: ACDC never runs a backward pass.

Why not TransformerLens's own classes: importing `transformer_lens.hook_points` imports the whole
package, which imports transformers and datasets: 2-3 s before every run, for two small classes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, Union

import torch
import torch.nn as nn
from torch.utils.hooks import RemovableHandle

HookFn = Callable[..., Union[torch.Tensor, None]]  # fn(activation, hook=HookPoint) -> replacement or None
NameOrFilter = Union[str, Callable[[str], bool]]
NamesFilter = Union[None, str, Sequence[str], Callable[[str], bool]]


@dataclass
class LensHandle:
    """A registered hook: its torch handle, whether it survives `reset_hooks`, the `hooks()` level that added it."""

    handle: RemovableHandle
    is_permanent: bool = False
    context_level: int | None = None


def _only_forward(direction: str) -> None:
    if direction not in ("fwd", "both"):
        raise ValueError(f"hook direction {direction!r}: acdc-tui's hook points run forward hooks only")


class HookPoint(nn.Module):
    """The identity, with hooks. `name` is set by the root module's `setup()`."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None
        self.fwd_hooks: list[LensHandle] = []
        self.ctx: dict = {}

    def __repr__(self) -> str:
        return f"HookPoint(name={self.name!r})" if self.name is not None else "HookPoint()"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def add_hook(self, hook: HookFn, dir: str = "fwd", is_permanent: bool = False, level: int | None = None, prepend: bool = False) -> LensHandle:
        if dir != "fwd":
            _only_forward("bwd")

        def call(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
            return hook(output, hook=self)

        lens_handle = LensHandle(self.register_forward_hook(call, prepend=prepend), is_permanent, level)
        self.fwd_hooks.append(lens_handle)
        return lens_handle

    def add_perma_hook(self, hook: HookFn, dir: str = "fwd") -> LensHandle:
        return self.add_hook(hook, dir=dir, is_permanent=True)

    def remove_hooks(self, dir: str = "fwd", including_permanent: bool = False, level: int | None = None) -> None:
        _only_forward(dir)
        kept = []
        for lens_handle in self.fwd_hooks:
            if (including_permanent or not lens_handle.is_permanent) and (level is None or lens_handle.context_level == level):
                lens_handle.handle.remove()
            else:
                kept.append(lens_handle)
        self.fwd_hooks = kept

    def clear_context(self) -> None:
        self.ctx = {}

    def layer(self) -> int:
        """The block index in a name such as `blocks.3.attn.hook_result`."""
        if self.name is None:
            raise ValueError("this hook point has no name: call the root module's setup()")
        return int(self.name.split(".")[1])


class HookedRoot(nn.Module):
    """A module whose hook points are addressed by name. Subclasses call `setup()` after building every layer."""

    def __init__(self) -> None:
        super().__init__()
        self.context_level = 0
        self.mod_dict: dict[str, nn.Module] = {}
        self.hook_dict: dict[str, HookPoint] = {}

    def setup(self) -> None:
        """Name every submodule and index the hook points (in registration order)."""
        self.mod_dict, self.hook_dict = {}, {}
        for name, module in self.named_modules():
            if name == "":
                continue
            module.name = name
            self.mod_dict[name] = module
            if isinstance(module, HookPoint):
                self.hook_dict[name] = module

    def hook_points(self):
        return self.hook_dict.values()

    def _points(self, name: NameOrFilter) -> list[HookPoint]:
        if isinstance(name, str):
            point = self.mod_dict.get(name)
            if not isinstance(point, HookPoint):
                raise KeyError(f"{name!r} is not a hook point of this model")
            return [point]
        return [point for point_name, point in self.hook_dict.items() if name(point_name)]

    def add_hook(self, name: NameOrFilter, hook: HookFn, dir: str = "fwd", is_permanent: bool = False, level: int | None = None, prepend: bool = False) -> None:
        """Add `hook` at the hook point `name`, or at every hook point whose name passes the filter `name`."""
        for point in self._points(name):
            point.add_hook(hook, dir=dir, is_permanent=is_permanent, level=level, prepend=prepend)

    def add_perma_hook(self, name: NameOrFilter, hook: HookFn, dir: str = "fwd") -> None:
        self.add_hook(name, hook, dir=dir, is_permanent=True)

    def reset_hooks(self, clear_contexts: bool = True, direction: str = "both", including_permanent: bool = False, level: int | None = None) -> None:
        for point in self.hook_points():
            if clear_contexts:
                point.clear_context()
            point.remove_hooks(direction, including_permanent=including_permanent, level=level)

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (), bwd_hooks: Sequence = (), reset_hooks_end: bool = True, clear_contexts: bool = False) -> Iterator["HookedRoot"]:
        """Temporary hooks: those added here are removed on exit (with `reset_hooks_end`)."""
        if bwd_hooks:
            _only_forward("bwd")
        self.context_level += 1
        try:
            for name, hook in fwd_hooks:
                self.add_hook(name, hook, level=self.context_level)
            yield self
        finally:
            if reset_hooks_end:
                self.reset_hooks(clear_contexts, including_permanent=False, level=self.context_level)
            self.context_level -= 1

    def run_with_hooks(self, *model_args: Any, fwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (), bwd_hooks: Sequence = (), reset_hooks_end: bool = True, clear_contexts: bool = False, **model_kwargs: Any):
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end, clear_contexts):
            return self(*model_args, **model_kwargs)

    def run_with_cache(self, *model_args: Any, names_filter: NamesFilter = None, **model_kwargs: Any) -> tuple[Any, dict[str, torch.Tensor]]:
        """The model's output and every selected hook point's activation (detached), by name."""
        if names_filter is None:
            selected: Callable[[str], bool] = lambda name: True
        elif isinstance(names_filter, str):
            selected = names_filter.__eq__
        elif callable(names_filter):
            selected = names_filter
        else:
            selected = set(names_filter).__contains__
        cache: dict[str, torch.Tensor] = {}

        def save(activation: torch.Tensor, hook: HookPoint) -> None:
            cache[hook.name] = activation.detach()

        output = self.run_with_hooks(*model_args, fwd_hooks=[(selected, save)], **model_kwargs)
        return output, cache
