"""The lineage graph as SVG, laid out on the server (no JavaScript, no library).

Layered left to right: the focus version sits in the middle column, producers to its
left, consumers to its right (every edge points from producer to consumer, so a node's
column is its neighbour's plus or minus one). Versions are rectangles, runs ellipses,
the focus is drawn heavier. A node with more new neighbours than ``fold`` shows the
first ``fold - 1`` and one "+K more" node that links to the graph with that node expanded:
a run that produced 500 versions stays one readable column.
"""

from html import escape

from . import urls
from .text import shorten, visible

NODE_W, NODE_H = 168, 36
COL_GAP, ROW_GAP = 48, 16
MARGIN = 12
LABEL_CHARS = 22
FOLD = 8


def layout(graph, fold=FOLD, expanded=()):
    """Plain data for drawing: {"nodes": [{id, kind, label, col, row, x, y, focus,
    hidden}], "edges": [(from id, to id, kind)], "width", "height"}. ``expanded``: ids of
    nodes whose neighbours are all shown."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    out_edges, in_edges = {}, {}
    for e in graph["edges"]:
        out_edges.setdefault(e["from"], []).append((e["to"], e["kind"]))
        in_edges.setdefault(e["to"], []).append((e["from"], e["kind"]))
    root = graph["root"]
    col = {root: 0}
    order = [root]
    edges = []
    queue = [root]
    while queue:
        current = queue.pop(0)
        found = [(other, kind, +1) for other, kind in out_edges.get(current, ())] + \
                [(other, kind, -1) for other, kind in in_edges.get(current, ())]
        # A neighbour met both ways (a run that consumed and produced the same version)
        # is placed once, on its first side.
        unique = {}
        for f in found:
            if f[0] not in col and f[0] in nodes:
                unique.setdefault(f[0], f)
        new = sorted(unique.values(), key=lambda f: (f[2], nodes[f[0]]["kind"], nodes[f[0]]["label"]))
        shown, hidden = new, []
        if len(new) > fold and current not in expanded:
            shown, hidden = new[:fold - 1], new[fold - 1:]
        for other, _kind, side in shown:
            col[other] = col[current] + side
            order.append(other)
            queue.append(other)
        if hidden:  # one node for the rest, below the shown ones
            more = "more:" + current
            side = hidden[0][2]
            nodes[more] = {"id": more, "kind": "more", "label": f"+{len(hidden)} more", "of": current,
                           "hidden": len(hidden)}
            col[more] = col[current] + side
            order.append(more)
            edges.append((current, more, "more") if side > 0 else (more, current, "more"))
    for e in graph["edges"]:
        if e["from"] in col and e["to"] in col:
            edges.append((e["from"], e["to"], e["kind"]))
    # Rows: each column in discovery order, then once by the mean row of neighbours in
    # the column nearer the focus, which untangles most crossings of small graphs.
    columns = {}
    for node_id in order:
        columns.setdefault(col[node_id], []).append(node_id)
    row = {}
    neighbours = {}
    for a, b, _k in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    for c in sorted(columns, key=abs):
        members = columns[c]
        inner = c - 1 if c > 0 else c + 1

        def weight(node_id, members=members, inner=inner):
            near = [row[n] for n in neighbours.get(node_id, ()) if n in row and col[n] == inner]
            return sum(near) / len(near) if near else members.index(node_id)

        if c != 0:
            members.sort(key=weight)
        for i, node_id in enumerate(members):
            row[node_id] = i
    tallest = max(len(m) for m in columns.values())
    first = min(columns)
    height = 2 * MARGIN + tallest * NODE_H + (tallest - 1) * ROW_GAP
    placed = []
    for node_id in order:
        c = col[node_id]
        members = len(columns[c])
        offset = (tallest - members) * (NODE_H + ROW_GAP) / 2
        n = nodes[node_id]
        placed.append(n | {"col": c, "row": row[node_id], "focus": node_id == root,
                           "x": MARGIN + (c - first) * (NODE_W + COL_GAP),
                           "y": MARGIN + offset + row[node_id] * (NODE_H + ROW_GAP)})
    width = 2 * MARGIN + len(columns) * NODE_W + (len(columns) - 1) * COL_GAP
    return {"nodes": placed, "edges": edges, "width": width, "height": height}


def node_href(node, expand_href):
    """The link of a node: a version's page, a run's page, or the expanded graph."""
    if node["kind"] == "run":
        return urls.run(node["id"].split(":", 1)[1])
    if node["kind"] == "more":
        return expand_href(node["of"])
    workspace, sep, rest = node["label"].partition("/")
    name, colon, version = rest.rpartition(":")
    if not (sep and colon):  # a damaged row named by its id: nowhere to link
        return None
    return urls.version(workspace, name, version)


def render(graph, expand_href, fold=FOLD, expanded=()):
    """The SVG text of the graph. ``expand_href(node_id)`` is the link that shows every
    neighbour of a folded node. Every label is escaped; hidden characters are shown."""
    laid = layout(graph, fold, expanded)
    where = {n["id"]: n for n in laid["nodes"]}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{laid["width"]}" '
        f'height="{laid["height"]:.0f}" viewBox="0 0 {laid["width"]} {laid["height"]:.0f}" '
        'role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/>'
        '</marker></defs>',
    ]
    for a, b, kind in laid["edges"]:
        s, t = where[a], where[b]
        if s["col"] < t["col"]:
            x1, x2 = s["x"] + NODE_W, t["x"]
        elif s["col"] > t["col"]:
            x1, x2 = s["x"], t["x"] + NODE_W
        else:  # same column (a cycle or a sibling): loop out on the right
            x1 = x2 = s["x"] + NODE_W
        y1, y2 = s["y"] + NODE_H / 2, t["y"] + NODE_H / 2
        bend = max(abs(x2 - x1) / 2, 40) * (1 if x2 >= x1 else -1)
        if x1 == x2:
            bend = 40
        parts.append(f'<path class="edge {kind}" d="M {x1:.0f} {y1:.0f} C {x1 + bend:.0f} {y1:.0f} '
                     f'{x2 - bend if x1 != x2 else x2 + bend:.0f} {y2:.0f} {x2:.0f} {y2:.0f}" '
                     'marker-end="url(#arrow)"><title>' + escape(kind) + '</title></path>')
    for n in laid["nodes"]:
        label = visible(n["label"])
        classes = "node " + n["kind"] + (" focus" if n["focus"] else "")
        x, y = n["x"], n["y"]
        if n["kind"] == "run":
            shape = (f'<ellipse cx="{x + NODE_W / 2:.0f}" cy="{y + NODE_H / 2:.0f}" '
                     f'rx="{NODE_W / 2:.0f}" ry="{NODE_H / 2:.0f}"/>')
        else:
            shape = f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
        kind_text = {"run": "run", "version": "version", "more": "folded"}[n["kind"]]
        body = (f'<g class="{classes}" data-node="{escape(n["id"])}"><title>{escape(kind_text)}: '
                f'{escape(label)}</title>{shape}<text x="{x + NODE_W / 2:.0f}" y="{y + NODE_H / 2 + 4:.0f}" '
                f'text-anchor="middle">{escape(shorten(label, LABEL_CHARS))}</text></g>')
        href = node_href(n, expand_href)
        parts.append(f'<a href="{escape(href)}">{body}</a>' if href else body)
    parts.append("</svg>")
    return "".join(parts), laid
