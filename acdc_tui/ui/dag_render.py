"""Render a DAG (a circuit) as plain text: rows of node labels, edges drawn with box-drawing characters.

Pure (no textual, no torch): the UI calls it on every change and styles the result itself, using the
returned positions of node labels and edge cells.

Layout (a small Sugiyama-style pipeline):

1. Rows: nodes are put in rows by `layer_of` (distinct values, ascending, so the smallest value is
   the top row) or, without it, by longest path from the sources. Edges must point downwards.
2. Long edges: an edge spanning several rows runs down a vertical *trunk* owned by its sender; one
   trunk per sender (all of a sender's long edges share it, which is unambiguous: a trunk only ever
   carries one sender's signal), drawn as `│` through the rows it passes.
3. Order: barycenter sweeps (down and up) reduce crossings; the best order seen is kept.
4. Columns: each row is placed to sit close to its neighbours (a least-squares placement of each row
   with a minimum gap between items); a node with k incoming lines from the gap above gets k distinct
   entry columns (its label is padded with `─` when it is narrower than k).
5. Routing: in the gap between two rows every source (a node or trunk with edges into the next row)
   gets a horizontal track of its own; tracks share a line only when they do not overlap. A source
   straight above its only target needs no track. Entry columns are distinct per edge and exit
   columns distinct per source, so lines from different senders never run on top of each other.
   Where a track of one sender crosses a vertical of another, the vertical is drawn unbroken and the
   horizontal is interrupted (`──│──`); the junction glyphs (`┬ ┴ ┼ ├ ┤ ┌ ┐ └ ┘`) only ever join
   lines of the same sender. Arrows `▼` mark where an edge enters its receiver.

`render_circuit` adapts an ACDC `ComputationalGraph`: inputs at the top, output at the bottom, so
signals flow downwards, the opposite of the ACDC paper's figures (Graphviz `rankdir=BT`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from acdc_tui.core.architecture import DAG_ROWS  # rows per layer of the circuit DAG

if TYPE_CHECKING:  # pragma: no cover
    from acdc_tui.core.graph import ComputationalGraph, Edge, Node

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8

_UNICODE = {
    0: " ",
    UP: "│",
    DOWN: "│",
    UP | DOWN: "│",
    LEFT: "─",
    RIGHT: "─",
    LEFT | RIGHT: "─",
    DOWN | RIGHT: "┌",
    DOWN | LEFT: "┐",
    UP | RIGHT: "└",
    UP | LEFT: "┘",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
_ASCII = {m: (" " if m == 0 else "|" if m & (LEFT | RIGHT) == 0 else "-" if m & (UP | DOWN) == 0 else "+") for m in _UNICODE}


@dataclass
class DagText:
    """A rendered DAG.

    lines: the text, all lines the same width (padded with spaces).
    node_spans: label -> (line, start col, end col exclusive) of the node's label as printed.
    edge_cells: (sender, receiver) -> the (line, col) cells drawing that edge, from just below the
        sender's label to the arrow above the receiver (cells shared with the sender's other edges
        included), for highlighting a selected edge.
    rows: the labels of each row, left to right.
    occurrences: every (line, start col, end col, label) where a label is printed, for pages that
        print a label more than once (the Circuit tab's path list); empty for a DAG (see node_spans).
    """

    lines: list[str]
    node_spans: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    edge_cells: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)
    rows: list[list[str]] = field(default_factory=list)
    occurrences: list[tuple[int, int, int, str]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.lines[0]) if self.lines else 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text


def render_dag(
    edges: Iterable[tuple[str, str]],
    layer_of: Callable[[str], float] | None = None,
    *,
    nodes: Iterable[str] = (),
    ascii_only: bool = False,
    sep: int = 2,
    sweeps: int = 4,
) -> DagText:
    """Lay out and draw the DAG given by `edges` (sender, receiver), plus isolated `nodes`.

    A node is identified by its label. `layer_of` maps a label to its row key (smaller keys higher);
    without it rows are longest-path layers. Raises ValueError when an edge does not go downwards
    (or, without `layer_of`, on a cycle). `sep` is the minimum number of spaces between items in a
    row. Ties in ordering follow first appearance in `nodes`, then in `edges`.
    """
    labels, edge_list = _index(nodes, edges)
    if not labels:
        return DagText(lines=[])
    rank = _ranks(labels, edge_list, layer_of)
    items = _Items(labels, edge_list, rank)
    _order(items.rows, items.succ, items.pred, sweeps)
    items.place(sep)
    charset = _ASCII if ascii_only else _UNICODE
    picture = _Picture(items, charset, "v" if ascii_only else "▼", "-" if ascii_only else "─")
    picture.draw()
    return DagText(
        lines=picture.lines,
        node_spans=picture.node_spans,
        edge_cells=picture.edge_cells(edge_list, rank),
        rows=[[labels[i] for i in row if i < items.n_real] for row in items.rows],
    )


def _index(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[list[str], list[tuple[int, int]]]:
    """Labels in order of first appearance (`nodes` first), and the distinct edges by label index."""
    labels: list[str] = []
    index: dict[str, int] = {}

    def ident(label: str) -> int:
        i = index.get(label)
        if i is None:
            i = index[label] = len(labels)
            labels.append(label)
        return i

    for n in nodes:
        ident(n)
    edge_list: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for s, r in edges:
        e = (ident(s), ident(r))
        if e not in seen:
            seen.add(e)
            edge_list.append(e)
    return labels, edge_list


class _Items:
    """What is placed in rows: real nodes 0..n_real-1, then trunk pieces (one per sender and row it passes)."""

    def __init__(self, labels: list[str], edge_list: list[tuple[int, int]], rank: list[int]) -> None:
        self.labels, self.n_real = labels, len(labels)
        self.row = list(rank)
        self.owner = list(range(self.n_real))  # the sender whose signal an item carries
        self.succ: list[list[int]] = [[] for _ in labels]
        self.pred: list[list[int]] = [[] for _ in labels]
        self.trunk: dict[tuple[int, int], int] = {}  # (sender, row) -> item
        deepest: dict[int, int] = {}
        for s, r in edge_list:
            if rank[r] > deepest.get(s, -1):
                deepest[s] = rank[r]
        for s in range(self.n_real):  # senders in appearance order
            prev = s
            for k in range(rank[s] + 1, deepest.get(s, -1)):
                d = self.trunk[s, k] = self._new(k, s)
                self._link(prev, d)
                prev = d
        for s, r in edge_list:
            self._link(s if rank[r] == rank[s] + 1 else self.trunk[s, rank[r] - 1], r)
        self.rows: list[list[int]] = [[] for _ in range(max(rank) + 1)]
        for i, k in enumerate(self.row):
            self.rows[k].append(i)

    def _new(self, row: int, owner: int) -> int:
        self.row.append(row)
        self.owner.append(owner)
        self.succ.append([])
        self.pred.append([])
        return len(self.row) - 1

    def _link(self, a: int, b: int) -> None:
        self.succ[a].append(b)
        self.pred[b].append(a)

    def place(self, sep: int) -> None:
        """Widths (a node needs one entry column per incoming line), columns, and entry ports."""
        self.width = [1] * len(self.row)
        for i in range(self.n_real):
            w = max(len(self.labels[i]), len(self.pred[i]), 1)
            self.width[i] = w + (w - len(self.labels[i])) % 2  # padding symmetric about the label
        self.xs = _place(self.rows, self.width, self.succ, self.pred, sep)
        self.total_w = max((x + w for x, w in zip(self.xs, self.width)), default=0)
        self.in_port: dict[tuple[int, int], int] = {}  # (source item, target item) -> entry column
        for i in range(len(self.row)):
            if i >= self.n_real:
                (p,) = self.pred[i]
                self.in_port[p, i] = self.xs[i]
                continue
            srcs = sorted(self.pred[i], key=lambda p: (self.out_port(p), p))
            k = len(srcs)
            step = 2 if 2 * (k - 1) + 1 <= self.width[i] else 1
            start = self.xs[i] + (self.width[i] - (step * (k - 1) + 1)) // 2
            for j, p in enumerate(srcs):  # spread under the label
                self.in_port[p, i] = start + step * j

    def out_port(self, i: int) -> int:
        return self.xs[i] + (self.width[i] - 1) // 2


class _Picture:
    """The text of a placed DAG: rows of labels and trunks, with the gaps between them routed."""

    def __init__(self, items: _Items, charset: dict[int, str], arrow: str, pad: str) -> None:
        self.items, self.charset, self.arrow, self.pad = items, charset, arrow, pad
        self.lines: list[str] = []
        self.node_spans: dict[str, tuple[int, int, int]] = {}
        self.seg_cells: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (source item, target item) -> cells
        self.trunk_cell: dict[int, tuple[int, int]] = {}

    def draw(self) -> None:
        it = self.items
        for row in range(len(it.rows)):
            self.lines.append(self._row(row))
            if row + 1 < len(it.rows):
                gap = _Gap(it, it.rows[row], len(self.lines), self.seg_cells)
                self.lines.extend(gap.draw(self.charset, self.arrow))

    def _row(self, row: int) -> str:
        it, line_no = self.items, len(self.lines)
        buf = [" "] * it.total_w
        for i in it.rows[row]:
            if i >= it.n_real:
                buf[it.xs[i]] = self.charset[UP | DOWN]
                self.trunk_cell[i] = (line_no, it.xs[i])
                continue
            lab = it.labels[i]
            left = it.xs[i] + (it.width[i] - len(lab)) // 2
            buf[it.xs[i] : it.xs[i] + it.width[i]] = self.pad * it.width[i]
            buf[left : left + len(lab)] = lab
            self.node_spans[lab] = (line_no, left, left + len(lab))
        return "".join(buf)

    def edge_cells(self, edge_list: list[tuple[int, int]], rank: list[int]) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """The cells of each edge, from just below the sender through its trunk to the receiver's arrow."""
        it, out = self.items, {}
        for s, r in edge_list:
            cells: list[tuple[int, int]] = []
            a = s
            for k in range(rank[s] + 1, rank[r]):
                d = it.trunk[s, k]
                cells += self.seg_cells[a, d]
                cells.append(self.trunk_cell[d])
                a = d
            cells += self.seg_cells[a, r]
            out[it.labels[s], it.labels[r]] = cells
        return out

def _ranks(labels: list[str], edges: list[tuple[int, int]], layer_of: Callable[[str], float] | None) -> list[int]:
    n = len(labels)
    if layer_of is not None:
        keys = [layer_of(lab) for lab in labels]
        distinct = {k: j for j, k in enumerate(sorted(set(keys)))}
        rank = [distinct[k] for k in keys]
        for s, r in edges:
            if rank[s] >= rank[r]:
                raise ValueError(f"edge {labels[s]} -> {labels[r]} does not go down: layer {keys[s]!r} -> {keys[r]!r}")
        return rank
    indeg = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for s, r in edges:
        out[s].append(r)
        indeg[r] += 1
    rank = [0] * n
    stack = [i for i in range(n) if indeg[i] == 0]
    done = 0
    while stack:
        s = stack.pop()
        done += 1
        for r in out[s]:
            rank[r] = max(rank[r], rank[s] + 1)
            indeg[r] -= 1
            if indeg[r] == 0:
                stack.append(r)
    if done < n:
        raise ValueError("the graph has a cycle")
    return rank


def _crossings(rows: list[list[int]], succ: list[list[int]]) -> int:
    pos = {}
    for row in rows:
        for j, i in enumerate(row):
            pos[i] = j
    total = 0
    for row in rows[:-1]:
        pairs = sorted((pos[i], pos[t]) for i in row for t in succ[i])
        seen: list[int] = []
        for _, b in pairs:
            # earlier pairs (smaller top position) ending strictly to the right of b cross this one
            total += len(seen) - bisect.bisect_right(seen, b)
            bisect.insort(seen, b)
    return total


def _order(rows: list[list[int]], succ: list[list[int]], pred: list[list[int]], sweeps: int) -> None:
    """Barycenter sweeps, in place; keeps the order with the fewest crossings."""
    pos: dict[int, float] = {}
    for row in rows:
        for j, i in enumerate(row):
            pos[i] = j
    best = [list(r) for r in rows]
    best_c = _crossings(rows, succ)
    for sweep in range(sweeps):
        if best_c == 0:
            break
        down = sweep % 2 == 0
        seq = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for k in seq:
            row = rows[k]
            nbrs = pred if down else succ

            def bary(i: int, nbrs=nbrs) -> float:
                ns = nbrs[i]
                return sum(pos[n] for n in ns) / len(ns) if ns else pos[i]

            row.sort(key=lambda i: (bary(i), pos[i]))
            for j, i in enumerate(row):
                pos[i] = j
        c = _crossings(rows, succ)
        if c < best_c:
            best_c, best = c, [list(r) for r in rows]
    rows[:] = best


def _place_row(row: list[int], width: list[int], desired: list[float], sep: int) -> list[int]:
    """Left columns for a row's items, in order, at least `sep` apart, near `desired` centres (least squares)."""
    # Each block: [sum of (desired left - offset in block), count, width of block, items]
    blocks: list[list] = []
    for i, d in zip(row, desired):
        left_d = d - (width[i] - 1) / 2
        blk = [left_d, 1, width[i], [i]]
        while blocks:
            prev = blocks[-1]
            ppos = prev[0] / prev[1]
            cpos = blk[0] / blk[1]
            if ppos + prev[2] + sep <= cpos:
                break
            blocks.pop()
            shift = prev[2] + sep  # offset of blk's items inside the merged block
            blk = [prev[0] + blk[0] - shift * blk[1], prev[1] + blk[1], prev[2] + sep + blk[2], prev[3] + blk[3]]
        blocks.append(blk)
    out: list[int] = []
    last_end = None
    for blk in blocks:
        x = round(blk[0] / blk[1])
        if last_end is not None and x < last_end + sep:
            x = last_end + sep
        for i in blk[3]:
            out.append(x)
            x += width[i] + sep
        last_end = x - sep
    return out


def _place(rows: list[list[int]], width: list[int], succ: list[list[int]], pred: list[list[int]], sep: int) -> list[int]:
    n = sum(len(r) for r in rows)
    xs = [0] * n
    for row in rows:  # packed start
        x = 0
        for i in row:
            xs[i] = x
            x += width[i] + sep

    def centre(i: int) -> float:
        return xs[i] + (width[i] - 1) / 2

    passes = [(range(1, len(rows)), pred), (range(len(rows) - 2, -1, -1), succ)] * 2
    for seq, nbrs in passes:
        for k in seq:
            row = rows[k]
            desired = [sum(centre(p) for p in nbrs[i]) / len(nbrs[i]) if nbrs[i] else centre(i) for i in row]
            for i, x in zip(row, _place_row(row, width, desired, sep)):
                xs[i] = x
    lo = min(xs) if xs else 0
    return [x - lo for x in xs]


class _Source:
    """An item with lines into the next row: its exit column, targets (entry column, item) and span."""

    def __init__(self, x: int, targets: list[tuple[int, int]]) -> None:
        self.x = self.px = x  # exit column; column where it enters its track (moved by a jog)
        self.targets = targets
        self.lo, self.hi = min(x, *(tx for tx, _ in targets)), max(x, *(tx for tx, _ in targets))


class _Gap:
    """The lines between one row and the next; records each segment's cells in `seg_cells`.

    Each source gets a track line; a source's exit column that is another source's entry column
    forces the first track above the second. When those constraints form a cycle, one source's exit
    jogs sideways, on a line of its own at the top, to a column nobody else uses.
    """

    def __init__(self, items: _Items, top: list[int], line0: int, seg_cells: dict) -> None:
        self.items, self.line0, self.seg_cells = items, line0, seg_cells
        self.total_w = items.total_w
        self.srcs = {i: _Source(items.out_port(i), [(items.in_port[i, t], t) for t in items.succ[i]]) for i in top if items.succ[i]}
        self.used = {x for s in self.srcs.values() for x in (s.x, *(tx for tx, _ in s.targets))}
        self.tracked = {i for i, s in self.srcs.items() if s.lo != s.hi}
        self.line_of: dict[int, int] = {}
        self.jogs: list[int] = []  # sources jogging, by jog line
        self.n_lines = 0

    def _constraints(self) -> tuple[dict[int, int], dict[int, int]]:
        """below: a source whose exit is another's entry -> that other; n_above: how many must be above each."""
        entry_of = {tx: i for i, s in self.srcs.items() for tx, _ in s.targets}
        below: dict[int, int] = {}
        n_above = {i: 0 for i in self.tracked}
        for i in self.tracked:
            other = entry_of.get(self.srcs[i].x)
            if other is not None and other != i and other in n_above:
                below[i] = other
                n_above[other] += 1
        return below, n_above

    def assign_tracks(self) -> None:
        """A track line for each tracked source, sharing lines where tracks do not overlap."""
        below, n_above = self._constraints()
        remaining = set(self.tracked)
        while remaining:
            ready = [i for i in remaining if n_above[i] == 0]
            if not ready:
                blocked = min(remaining, key=lambda i: (self.srcs[i].lo, i))
                if self._jog(next(i for i in remaining if below.get(i) == blocked)):
                    del below[self.jogs[-1]]
                    n_above[blocked] -= 1
                    continue
                ready = [blocked]  # nowhere to jog: draw the merge rather than fail
            ready.sort(key=lambda i: (self.srcs[i].lo, self.srcs[i].hi, i))
            last_hi = None
            for i in ready:
                if last_hi is None or self.srcs[i].lo > last_hi:
                    self.line_of[i], last_hi = self.n_lines, self.srcs[i].hi
                    remaining.discard(i)
                    if i in below:
                        n_above[below[i]] -= 1
            self.n_lines += 1

    def _jog(self, q: int) -> bool:
        """Move source q's exit sideways to the nearest unused column; False if there is none."""
        s, w = self.srcs[q], self.total_w
        free = next((c for d in range(1, w) for c in (s.x - d, s.x + d) if 0 <= c < w and c not in self.used), None)
        if free is None:
            return False
        self.used.add(free)
        s.px, s.lo, s.hi = free, min(s.lo, free), max(s.hi, free)
        self.jogs.append(q)
        return True

    def draw(self, charset: dict[int, str], arrow: str) -> list[str]:
        self.assign_tracks()
        n_jogs = len(self.jogs)
        canvas = _Canvas(n_jogs + self.n_lines + 1, self.total_w, self.line0)
        jog_line = {q: j for j, q in enumerate(self.jogs)}
        for i, s in self.srcs.items():
            if i in self.tracked:
                self._tracked(canvas, i, s, n_jogs + self.line_of[i], jog_line.get(i))
            else:
                self._straight(canvas, i, s)
        return canvas.text(charset, arrow)

    def _straight(self, canvas: "_Canvas", i: int, s: _Source) -> None:
        ((_, t),) = s.targets
        h = canvas.height
        self.seg_cells[i, t] = canvas.vline(s.x, 0, h - 1, self.items.owner[i])
        canvas.open_ends(s.x, s.x)
        if t < self.items.n_real:
            canvas.arrows.append(s.x)

    def _tracked(self, canvas: "_Canvas", i: int, s: _Source, y: int, jog: int | None) -> None:
        o, h = self.items.owner[i], canvas.height
        if jog is not None:
            up = canvas.vline(s.x, 0, jog, o) + canvas.hline(jog, s.x, s.px, o) + canvas.vline(s.px, jog, y, o)[1:]
        else:
            up = canvas.vline(s.x, 0, y, o)
        canvas.vm[0][s.x] |= UP
        canvas.hline(y, s.lo, s.hi, o)
        for tx, t in s.targets:
            drop = canvas.vline(tx, y, h - 1, o)
            canvas.vm[h - 1][tx] |= DOWN
            if t < self.items.n_real:
                canvas.arrows.append(tx)
            self.seg_cells[i, t] = up + canvas.hline(y, s.px, tx, o) + drop[1:]


class _Canvas:
    """Arms of line cells, vertical and horizontal kept apart with the sender owning each."""

    def __init__(self, height: int, width: int, line0: int) -> None:
        self.height, self.width, self.line0 = height, width, line0
        self.vm = [[0] * width for _ in range(height)]  # vertical arms
        self.vo = [[-1] * width for _ in range(height)]  # owner (sender) of the vertical
        self.hm = [[0] * width for _ in range(height)]
        self.ho = [[-1] * width for _ in range(height)]
        self.arrows: list[int] = []

    def vline(self, x: int, y0: int, y1: int, o: int) -> list[tuple[int, int]]:
        """Vertical from line y0 to y1 (y0 <= y1) in column x; open ends join the neighbours."""
        for y in range(y0, y1 + 1):
            self.vm[y][x] |= (UP if y > y0 else 0) | (DOWN if y < y1 else 0)
            self.vo[y][x] = o
        return [(self.line0 + y, x) for y in range(y0, y1 + 1)]

    def hline(self, y: int, x0: int, x1: int, o: int) -> list[tuple[int, int]]:
        """Horizontal on line y from x0 to x1 (either order); cells after x0, in order from x0."""
        lo, hi = min(x0, x1), max(x0, x1)
        for x in range(lo, hi + 1):
            self.hm[y][x] |= (LEFT if x > lo else 0) | (RIGHT if x < hi else 0)
            self.ho[y][x] = o
        step = 1 if x1 >= x0 else -1
        return [(self.line0 + y, x) for x in range(x0 + step, x1 + step, step)] if x1 != x0 else []

    def open_ends(self, top_x: int, bottom_x: int) -> None:
        self.vm[0][top_x] |= UP
        self.vm[self.height - 1][bottom_x] |= DOWN

    def text(self, charset: dict[int, str], arrow: str) -> list[str]:
        """Where one sender's vertical crosses another's horizontal, the vertical is drawn unbroken."""
        out = []
        for y in range(self.height):
            vmy, voy, hmy, hoy = self.vm[y], self.vo[y], self.hm[y], self.ho[y]
            buf = [charset[(vmy[x] | hmy[x]) if not vmy[x] or not hmy[x] or voy[x] == hoy[x] else UP | DOWN] for x in range(self.width)]
            if y == self.height - 1:
                for x in self.arrows:
                    buf[x] = arrow
            out.append("".join(buf))
        return out


# --- ACDC circuits -------------------------------------------------------------------------------


def circuit_row_key(node: "Node", n_layers: int) -> float:
    """Row of a graph node: inputs first, then per layer q/k/v inputs, q/k/v, head results, MLP in, MLP out; output last."""
    k = node.kind
    if k in ("embed", "pos_embed", "resid_pre"):
        return -1
    if k == "output":
        return 5 * n_layers
    return 5 * (node.layer or 0) + DAG_ROWS.get(k, 2)


def _node_sort_key(node: "Node") -> tuple:
    qkv = {"q": 0, "k": 1, "v": 2}
    k = node.kind
    return (node.head if node.head is not None else -1, qkv.get(k.split("_")[0], 3) if k.startswith(("q", "k", "v")) else 3, node.name)


def render_circuit(graph: "ComputationalGraph", present_edges: "Iterable[Edge] | None" = None, **kw) -> DagText:
    """Render a circuit of `graph` (default: all its edges), inputs at the top and output at the bottom.

    Nodes are shown by `Node.label`; only nodes touched by a present edge appear. Keyword arguments go
    to `render_dag`.
    """
    edges = list(graph.edges if present_edges is None else present_edges)
    n_layers = graph.spec.n_layers
    used = {n for e in edges for n in (e.sender, e.receiver)}
    by_label = {n.label: n for n in used}
    order = sorted(used, key=lambda n: (circuit_row_key(n, n_layers), _node_sort_key(n)))
    return render_dag(
        ((e.sender.label, e.receiver.label) for e in edges),
        lambda lab: circuit_row_key(by_label[lab], n_layers),
        nodes=[n.label for n in order],
        **kw,
    )
