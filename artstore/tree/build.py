"""Sorted manifest entries -> the nodes of their tree, level by level."""

from .node import MAX_BYTES, MAX_ITEMS, MIN_ITEMS, child_text, encode, is_boundary


def build(items):
    """Build the tree of ``items``: (logical path, entry text) pairs sorted by path.

    Returns (root digest, {digest: (level, bytes)}) with every node of the tree; the
    caller stores those the catalog lacks. The tree depends only on the entries."""
    if not items:
        digest, data = encode(0, [])
        return digest, {digest: (0, data)}
    nodes = {}
    level = 0
    # (key, text, entries under it) per item of the current level
    current = [(path, text, 1) for path, text in items]
    while True:
        children = []
        for group in _split(current, level):
            digest, data = encode(level, [text for _, text, _ in group])
            nodes[digest] = (level, data)
            count = sum(n for _, _, n in group)
            children.append((group[0][0], child_text(group[0][0], digest, count), count))
        if len(children) == 1:
            return digest, nodes
        current = children
        level += 1


def _split(items, level):
    """Runs of ``items`` ending at content-defined boundaries (node.is_boundary)."""
    groups, group, size = [], [], 0
    for item in items:
        group.append(item)
        size += len(item[1])
        if (len(group) >= MIN_ITEMS and is_boundary(item[0], level)) or len(group) >= MAX_ITEMS or size >= MAX_BYTES:
            groups.append(group)
            group, size = [], 0
    if group:
        groups.append(group)
    return groups
