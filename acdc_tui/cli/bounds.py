"""Integer options with bounds: a value out of range is one argparse line, before any work."""

from __future__ import annotations

import argparse


def bounded_int(flag: str, low: int, high: int, example: int):
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text[:40]!r} is not a whole number, e.g. {flag} {example}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} {value} is out of range: give {low} to {high:,}, e.g. {flag} {example}")
        return value

    return parse
