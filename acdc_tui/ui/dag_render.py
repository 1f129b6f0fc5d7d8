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
    """

    lines: list[str]
    node_spans: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    edge_cells: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)
    rows: list[list[str]] = field(default_factory=list)

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
    n_real = len(labels)
    if n_real == 0:
        return DagText(lines=[])

    rank = _ranks(labels, edge_list, layer_of)
    n_rows = max(rank) + 1

    # Items: real nodes 0..n_real-1, then trunk pieces (one per sender and row it passes).
    item_row = list(rank)
    item_owner = list(range(n_real))  # the sender whose signal an item carries
    succ: list[list[int]] = [[] for _ in range(n_real)]
    pred: list[list[int]] = [[] for _ in range(n_real)]
    deepest: dict[int, int] = {}
    for s, r in edge_list:
        if rank[r] > deepest.get(s, -1):
            deepest[s] = rank[r]
    trunk: dict[tuple[int, int], int] = {}  # (sender, row) -> item

    def new_item(row: int, owner: int) -> int:
        item_row.append(row)
        item_owner.append(owner)
        succ.append([])
        pred.append([])
        return len(item_row) - 1

    def link(a: int, b: int) -> None:
        succ[a].append(b)
        pred[b].append(a)

    for s in range(n_real):  # senders in appearance order
        if s not in deepest:
            continue
        prev = s
        for k in range(rank[s] + 1, deepest[s]):
            d = trunk[s, k] = new_item(k, s)
            link(prev, d)
            prev = d
    for s, r in edge_list:
        link(s if rank[r] == rank[s] + 1 else trunk[s, rank[r] - 1], r)
    n_items = len(item_row)

    rows: list[list[int]] = [[] for _ in range(n_rows)]
    for i in range(n_items):
        rows[item_row[i]].append(i)
    _order(rows, succ, pred, sweeps)

    # Widths: a node needs one entry column per incoming line.
    width = [1] * n_items
    for i in range(n_real):
        w = max(len(labels[i]), len(pred[i]), 1)
        width[i] = w + (w - len(labels[i])) % 2  # padding symmetric about the label
    xs = _place(rows, width, succ, pred, sep)

    def out_port(i: int) -> int:
        return xs[i] + (width[i] - 1) // 2

    # Entry columns of each (source item -> real receiver) line, spread under the label.
    in_port: dict[tuple[int, int], int] = {}
    for i in range(n_items):
        if i < n_real:
            srcs = sorted(pred[i], key=lambda p: (out_port(p), p))
            k = len(srcs)
            if k:
                step = 2 if 2 * (k - 1) + 1 <= width[i] else 1
                start = xs[i] + (width[i] - (step * (k - 1) + 1)) // 2
                for j, p in enumerate(srcs):
                    in_port[p, i] = start + step * j
        else:
            (p,) = pred[i]
            in_port[p, i] = xs[i]

    total_w = max((xs[i] + width[i] for i in range(n_items)), default=0)
    charset = _ASCII if ascii_only else _UNICODE
    arrow = "v" if ascii_only else "▼"
    pad = "-" if ascii_only else "─"

    lines: list[str] = []
    node_spans: dict[str, tuple[int, int, int]] = {}
    # cells of each item-level line segment (source item, target item), in absolute coordinates
    seg_cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
    trunk_cell: dict[int, tuple[int, int]] = {}
    for row in range(n_rows):
        line_no = len(lines)
        buf = [" "] * total_w
        for i in rows[row]:
            if i < n_real:
                lab = labels[i]
                left = xs[i] + (width[i] - len(lab)) // 2
                for x in range(xs[i], xs[i] + width[i]):
                    buf[x] = pad
                buf[left : left + len(lab)] = lab
                node_spans[lab] = (line_no, left, left + len(lab))
            else:
                buf[xs[i]] = charset[UP | DOWN]
                trunk_cell[i] = (line_no, xs[i])
        lines.append("".join(buf))
        if row + 1 < n_rows:
            lines.extend(_route_gap(rows[row], succ, item_owner, out_port, in_port, n_real, total_w, charset, arrow, len(lines), seg_cells))

    edge_cells: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for s, r in edge_list:
        cells: list[tuple[int, int]] = []
        a = s
        for k in range(rank[s] + 1, rank[r]):
            d = trunk[s, k]
            cells += seg_cells[a, d]
            cells.append(trunk_cell[d])
            a = d
        cells += seg_cells[a, r]
        edge_cells[labels[s], labels[r]] = cells

    return DagText(lines=lines, node_spans=node_spans, edge_cells=edge_cells, rows=[[labels[i] for i in row if i < n_real] for row in rows])


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


def _route_gap(top, succ, owner, out_port, in_port, n_real, total_w, charset, arrow, line0, seg_cells) -> list[str]:
    """Draw the lines between one row and the next; records each segment's cells in `seg_cells`.

    Each source gets a track line; a source's exit column that is another source's entry column
    forces the first track above the second. When those constraints form a cycle, one source's exit
    jogs sideways, on a line of its own at the top, to a column nobody else uses.
    """
    srcs = {}  # item -> [exit x, column where it enters its track, [(tx, target)], lo, hi]
    for i in top:
        if succ[i]:
            x = out_port(i)
            tg = [(in_port[i, t], t) for t in succ[i]]
            txs = [tx for tx, _ in tg]
            srcs[i] = [x, x, tg, min(x, *txs), max(x, *txs)]
    used = set()
    for x, _, tg, _, _ in srcs.values():
        used.add(x)
        used.update(tx for tx, _ in tg)
    tracked = {i for i, s in srcs.items() if s[3] != s[4]}
    entry_of = {tx: i for i, s in srcs.items() for tx, _ in s[2]}
    below: dict[int, int] = {}  # a source whose exit is another's entry -> that other source
    n_above = {i: 0 for i in tracked}
    for i in tracked:
        other = entry_of.get(srcs[i][0])
        if other is not None and other != i and other in n_above:
            below[i] = other
            n_above[other] += 1
    line_of: dict[int, int] = {}
    jogs: list[int] = []  # sources jogging, by jog line
    remaining = set(tracked)
    n_lines = 0
    while remaining:
        ready = [i for i in remaining if n_above[i] == 0]
        if not ready:  # a cycle: jog the exit of a source that must stay above a blocked one
            blocked = min(remaining, key=lambda i: (srcs[i][3], i))
            q = next(i for i in remaining if below.get(i) == blocked)
            x = srcs[q][0]
            free = next((c for d in range(1, total_w) for c in (x - d, x + d) if 0 <= c < total_w and c not in used), None)
            if free is None:  # nowhere to jog: draw the merge rather than fail
                ready = [blocked]
            else:
                used.add(free)
                srcs[q][1] = free
                srcs[q][3], srcs[q][4] = min(srcs[q][3], free), max(srcs[q][4], free)
                jogs.append(q)
                del below[q]
                n_above[blocked] -= 1
                continue
        ready.sort(key=lambda i: (srcs[i][3], srcs[i][4], i))
        last_hi = None
        for i in ready:
            if last_hi is None or srcs[i][3] > last_hi:
                line_of[i] = n_lines
                last_hi = srcs[i][4]
                remaining.discard(i)
                if i in below:
                    n_above[below[i]] -= 1
        n_lines += 1
    n_jogs = len(jogs)
    h = n_jogs + n_lines + 1
    vm = [[0] * total_w for _ in range(h)]  # vertical arms
    vo = [[-1] * total_w for _ in range(h)]  # owner (sender) of the vertical
    hm = [[0] * total_w for _ in range(h)]
    ho = [[-1] * total_w for _ in range(h)]

    def vline(x: int, y0: int, y1: int, o: int) -> list[tuple[int, int]]:
        """Vertical from line y0 to y1 (y0 <= y1) in column x; open ends join the neighbours."""
        for y in range(y0, y1 + 1):
            vm[y][x] |= (UP if y > y0 else 0) | (DOWN if y < y1 else 0)
            vo[y][x] = o
        return [(line0 + y, x) for y in range(y0, y1 + 1)]

    def hline(y: int, x0: int, x1: int, o: int) -> list[tuple[int, int]]:
        """Horizontal on line y from x0 to x1 (either order); cells after x0, in order from x0."""
        lo, hi = min(x0, x1), max(x0, x1)
        for x in range(lo, hi + 1):
            hm[y][x] |= (LEFT if x > lo else 0) | (RIGHT if x < hi else 0)
            ho[y][x] = o
        step = 1 if x1 >= x0 else -1
        return [(line0 + y, x) for x in range(x0 + step, x1 + step, step)] if x1 != x0 else []

    arrows = []
    jog_line = {q: j for j, q in enumerate(jogs)}
    for i, (x, px, tg, lo, hi) in srcs.items():
        o = owner[i]
        if i not in tracked:  # straight down
            ((tx, t),) = tg
            seg_cells[i, t] = vline(x, 0, h - 1, o)
            vm[0][x] |= UP
            vm[h - 1][x] |= DOWN
            if t < n_real:
                arrows.append(x)
            continue
        y = n_jogs + line_of[i]
        if i in jog_line:
            j = jog_line[i]
            up = vline(x, 0, j, o) + hline(j, x, px, o) + vline(px, j, y, o)[1:]
        else:
            up = vline(x, 0, y, o)
        vm[0][x] |= UP
        hline(y, lo, hi, o)
        for tx, t in tg:
            drop = vline(tx, y, h - 1, o)
            vm[h - 1][tx] |= DOWN
            if t < n_real:
                arrows.append(tx)
            seg_cells[i, t] = up + hline(y, px, tx, o) + drop[1:]
    out = []
    for y in range(h):
        vmy, voy, hmy, hoy = vm[y], vo[y], hm[y], ho[y]
        buf = [charset[(vmy[x] | hmy[x]) if not vmy[x] or not hmy[x] or voy[x] == hoy[x] else UP | DOWN] for x in range(total_w)]
        if y == h - 1:
            for x in arrows:
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
