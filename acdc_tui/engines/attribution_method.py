"""The attribution methods and their options, without torch (the command line lists them at start-up)."""

from __future__ import annotations

from enum import Enum

from acdc_tui.core.errors import UserError

DEFAULT_STEPS = 5  # EAP-IG interpolation steps (MIB's default)


class Method(str, Enum):
    EAP = "eap"
    EAP_IG = "eap-ig"


def parse_method(text: str) -> Method:
    try:
        return Method(text)
    except ValueError:
        raise UserError(f"unknown attribution method {text!r}: choose {' or '.join(m.value for m in Method)}") from None
