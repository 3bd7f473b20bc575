"""Text renderings of a lineage graph: plain text, Graphviz dot and Mermaid."""


def _short(node_id):
    kind, ident = node_id.split(":", 1)
    return ("v_" if kind == "version" else "r_") + ident.replace("-", "")[:16]


def _quote(label):
    return label.replace("\\", "\\\\").replace('"', '\\"')


def lineage_text(graph):
    labels = {n["id"]: n for n in graph["nodes"]}
    lines = [f"{labels[graph['root']]['label']}"]
    if not graph["edges"]:
        lines.append("  (no runs recorded)")
    for e in graph["edges"]:  # oldest first
        src, dst = labels[e["from"]], labels[e["to"]]
        verb = "produced" if e["kind"] == "produced" else "was consumed by"
        lines.append(f"  {_named(src)} {verb} {_named(dst)}")
    return "\n".join(lines)


def _named(node):
    """'run train-3', 'version ws/ds:1.0.0'; an unnamed run's label already says 'run'."""
    label = node["label"]
    return label if label.startswith(node["kind"] + " ") else f"{node['kind']} {label}"


def lineage_dot(graph):
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for n in graph["nodes"]:
        shape = "box" if n["kind"] == "version" else "ellipse"
        style = ', style="bold"' if n["id"] == graph["root"] else ""
        lines.append(f'  {_short(n["id"])} [label="{_quote(n["label"])}", shape={shape}{style}];')
    for e in graph["edges"]:
        lines.append(f'  {_short(e["from"])} -> {_short(e["to"])} [label="{e["kind"]}"];')
    lines.append("}")
    return "\n".join(lines)


def lineage_mermaid(graph):
    lines = ["graph LR"]
    for n in graph["nodes"]:
        label = _quote(n["label"]).replace('"', "#quot;")
        if n["kind"] == "version":
            lines.append(f'  {_short(n["id"])}["{label}"]')
        else:
            lines.append(f'  {_short(n["id"])}(("{label}"))')
    for e in graph["edges"]:
        lines.append(f'  {_short(e["from"])} -->|{e["kind"]}| {_short(e["to"])}')
    return "\n".join(lines)
