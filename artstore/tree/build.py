"""Sorted manifest entries -> the nodes of their tree, streamed: each node is handed out
as soon as it is cut, so a version of millions of entries never holds more than one open
node per level."""

from ..errors import InvalidInput
from .node import MAX_BYTES, MAX_ENTRY_CHARS, MAX_ITEMS, MIN_ITEMS, child_text, encode, is_boundary, is_leaf_boundary


class Builder:
    """Takes (logical path, entry text) pairs in path order; calls ``on_node(digest,
    level, bytes)`` for every node of the tree; ``finish()`` returns the root digest.

    A level's items are cut greedily, left to right, at content-defined boundaries
    (node.is_boundary) or at the size caps; each node cut at a level becomes an item of
    the level above. The tree depends only on the entries."""

    def __init__(self, on_node, max_entry=MAX_ENTRY_CHARS):
        self.on_node = on_node
        # None: no writer's limit (the schema-2 migration, which checks what it keeps itself)
        self.max_entry = max_entry
        self._open = []  # per level: [items, text bytes] of the node being filled
        self._cut = []  # per level: how many nodes were cut
        self._last = []  # per level: the digest of the last node cut

    def add(self, path, text):
        """One entry (the leaf level's item), in path order."""
        if self.max_entry is not None and len(text) > self.max_entry:
            raise InvalidInput(f"{path}: the asset's metadata takes {len(text):,} characters of JSON; an asset's "
                               f"metadata may take at most {self.max_entry:,} (put large data in a file)")
        if not self._open:
            self._push(0, path, text, 1)
            return
        node = self._open[0]
        items = node[0]
        items.append((path, text, 1))
        node[1] += len(text)
        if (len(items) >= MIN_ITEMS and is_leaf_boundary(path)) or len(items) >= MAX_ITEMS or node[1] >= MAX_BYTES:
            self._close(0)

    def _push(self, level, key, text, count):
        if level == len(self._open):
            self._open.append([[], 0])
            self._cut.append(0)
            self._last.append(None)
        node = self._open[level]
        node[0].append((key, text, count))
        node[1] += len(text)
        items = node[0]
        if (len(items) >= MIN_ITEMS and is_boundary(key, level)) or len(items) >= MAX_ITEMS or node[1] >= MAX_BYTES:
            self._close(level)

    def _encode(self, level, items):
        digest, data = encode(level, [text for _, text, _ in items])
        self.on_node(digest, level, data)
        return digest

    def _close(self, level):
        items = self._open[level][0]
        self._open[level] = [[], 0]
        digest = self._encode(level, items)
        self._cut[level] += 1
        self._last[level] = digest
        count = sum(n for _, _, n in items)
        self._push(level + 1, items[0][0], child_text(items[0][0], digest, count), count)

    def finish(self):
        """The root digest, once every item was added (the builder is spent)."""
        if not self._open:
            return self._encode(0, [])
        level = 0
        while True:
            items = self._open[level][0]
            if self._cut[level] == 0:  # the open node is the level's only node: the root
                return self._encode(level, items)
            if items:
                self._close(level)
            if self._cut[level] == 1:  # one node at this level: the root (its parent entry is dropped)
                return self._last[level]
            level += 1


def build(items, max_entry=MAX_ENTRY_CHARS):
    """Build the tree of ``items``: (logical path, entry text) pairs sorted by path.

    Returns (root digest, {digest: (level, bytes)}) with every node of the tree; the
    caller stores those the catalog lacks."""
    nodes = {}
    builder = Builder(lambda digest, level, data: nodes.__setitem__(digest, (level, data)), max_entry)
    for path, text in items:
        builder.add(path, text)
    return builder.finish(), nodes
