"""The Circuit tab's lines in a browser (`acdc-tui serve`, headless Chromium): no gaps between cells.

xterm.js draws box-drawing characters itself (custom glyphs), so a vertical line is continuous
across rows; a font's glyphs would leave a gap at every row boundary. The check reads the
screenshot's pixels: the longest vertical run of line-coloured pixels in the graph must span
several rows. At a fractional device pixel ratio (1.25) as well, where gaps show first.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path

import pytest

from tests.browser import Browser, chromium
from tests.test_serve import serving


def png_pixels(data: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and RGBA rows of an 8-bit RGBA or RGB, non-interlaced PNG (what Chromium writes)."""
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, "only 8-bit RGB(A), non-interlaced"
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            line[x] = (line[x] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        rows.append(line)
        prev = line
    return width, height, [_rgba(r, channels) for r in rows]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _rgba(row: bytearray, channels: int) -> bytearray:
    return row if channels == 4 else bytearray(b for i in range(0, len(row), 3) for b in (*row[i : i + 3], 255))


def longest_vertical_line(path: Path, left: float, right: float, top: float, bottom: float) -> int:
    """Longest run of light grey pixels down one column, in the given fractions of the screenshot."""
    width, height, rows = png_pixels(path.read_bytes())
    best = 0
    for x in range(int(width * left), int(width * right)):
        run = 0
        for y in range(int(height * top), int(height * bottom)):
            r, g, b = rows[y][4 * x : 4 * x + 3]
            run = run + 1 if min(r, g, b) > 150 and max(r, g, b) - min(r, g, b) < 30 else 0
            best = max(best, run)
    return best


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium): the browser check is skipped")
@pytest.mark.parametrize("scale", [1.0, 1.25])
def test_circuit_lines_have_no_gaps_in_the_browser(tmp_path, scale):
    shot = tmp_path / "graph.png"

    async def browse(url: str) -> None:
        profile = tmp_path / "profile"
        profile.mkdir()
        async with Browser(profile) as browser:
            await browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=scale, mobile=False)
            await browser.open(url)
            await browser.wait_for_text("Overview", timeout=120)
            await browser.press(" ", "Space", 32)
            await browser.wait_for_text("FINISHED", timeout=120)
            for key, code, key_code in (("1", "Digit1", 49), ("v", "KeyV", 86), ("v", "KeyV", 86)):  # the Circuit tab's graph
                await browser.press(key, code, key_code)
                await asyncio.sleep(0.5)
            await browser.wait_for_text("whole circuit", timeout=60)
            await asyncio.sleep(1)
            await browser.screenshot(shot)

    with serving("--task", "tracr-reverse") as (url, _):
        asyncio.run(browse(url.replace("127.0.0.1", "localhost")))
    row = 18 * scale  # a terminal row at 1400x900, in device pixels
    # embed's line to a3.0 passes m1 and m2: 6 rows of `│` in one column
    assert longest_vertical_line(shot, 0.24, 0.6, 0.14, 0.5) > 4 * row
