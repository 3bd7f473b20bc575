"""Reading trees: every entry in order, a page, one path, the leaves; diff; reachability.

Walks go level by level and load each level's nodes in one batch, so a tree of
100,000 entries costs a few catalog queries, not one per node. Every walk tells the
NodeStore the level it expects each child at (its parent's level - 1), so a node named at
the wrong level is reported as damage, never read as something it is not; and a child read
through its parent must start at the path and hold the count the parent's item says
(``_check_child``): pages are cut by those counts and lookups steered by those paths, so a
parent that lied would page wrongly or miss a path that is there."""

import bisect

from ..errors import IntegrityError

_LEAF_BATCH = 256  # leaves decoded at once while streaming entries


class Tree:
    """The manifest tree under ``root`` (a node digest), read through a NodeStore."""

    def __init__(self, nodes, root):
        self.nodes = nodes
        self.root = root

    def _root(self):
        return self.nodes.load([self.root])[self.root]

    def count(self):
        level, items = self._root()
        return len(items) if level == 0 else sum(n for _, _, n in items)

    def leaves(self):
        """Digests of the leaves, in path order (internal nodes are read, leaves are not)."""
        return [d for d, _, _ in self.leaf_items()]

    def leaf_items(self):
        """(digest, first path, count) of each leaf as its parent names it, in path order
        (None, None for a root leaf); internal nodes are read and checked, leaves are not."""
        level, items = self._root()
        if level == 0:
            return [(self.root, None, None)]
        frontier = items
        while level > 1:
            level -= 1
            loaded = self.nodes.load([d for _, d, _ in frontier], level)
            for p, d, n in frontier:
                _check_child(d, loaded[d], p, n)
            frontier = [item for _, d, _ in frontier for item in loaded[d][1]]
        return [(d, p, n) for p, d, n in frontier]

    def entries(self):
        """Every entry, in path order, a batch of leaves at a time; each leaf checked
        against its parent's item and against the leaf before it (the paths of the whole
        version increase, not only those of each leaf)."""
        leaves = self.leaf_items()
        last = None
        for start in range(0, len(leaves), _LEAF_BATCH):
            batch = leaves[start:start + _LEAF_BATCH]
            loaded = self.nodes.load([d for d, _, _ in batch], 0)
            for digest, first, count in batch:
                node = loaded[digest]
                if first is not None:
                    _check_child(digest, node, first, count)
                    if last is not None and not last < first:
                        raise IntegrityError(f"manifest node {digest.hex()} starts at {first!r}, not after the "
                                             f"{last!r} the leaf before it ends at; run 'artstore verify'")
                    last = node[1][-1].path
                yield from node[1]

    def page(self, offset, limit):
        """Entries ``offset`` to ``offset + limit`` in path order, reading only the nodes
        on the way there (internal nodes carry the count of entries under each child)."""
        out = []
        self._page(self.root, offset, limit, out)
        return out

    def _page(self, digest, offset, limit, out, expect=None, item=None):
        level, items = self._child(digest, expect, item)
        if level == 0:
            out.extend(items[offset:offset + limit - len(out)])
            return
        for child_item in items:
            count = child_item[2]
            if len(out) >= limit:
                return
            if offset >= count:
                offset -= count
                continue
            self._page(child_item[1], offset, limit, out, level - 1, child_item)
            offset = 0

    def iter_from(self, path):
        """Entries in path order from the first whose path is >= ``path``: one node per
        level to get there, then leaf after leaf as the caller asks for more (a folder
        listing of a 100,000-entry tree reads a few nodes, not the whole tree)."""
        stack = []  # (items of an internal node, its level, index of the child being walked)
        digest, expect, item = self.root, None, None
        while True:
            level, items = self._child(digest, expect, item)
            if level == 0:
                break
            i = max(bisect.bisect_right(items, path, key=_path) - 1, 0)
            stack.append((items, level, i))
            digest, expect, item = items[i][1], level - 1, items[i]
        yield from items[bisect.bisect_left(items, path, key=_path):]
        while stack:
            items, level, i = stack.pop()
            if i + 1 >= len(items):
                continue
            stack.append((items, level, i + 1))
            digest = items[i + 1][1]
            level, children = self._child(digest, level - 1, items[i + 1])
            while level:
                stack.append((children, level, 0))
                level, children = self._child(children[0][1], level - 1, children[0])
            yield from children

    def find(self, path):
        """The entry at ``path``, or None: one node per level."""
        digest, expect, item = self.root, None, None
        while True:
            level, items = self._child(digest, expect, item)
            if level == 0:
                i = bisect.bisect_left(items, path, key=_path)
                return items[i] if i < len(items) and items[i].path == path else None
            i = bisect.bisect_right(items, path, key=_path) - 1
            if i < 0:
                return None
            digest, expect, item = items[i][1], level - 1, items[i]

    def _child(self, digest, level, item):
        """The node ``digest``, named by ``item`` of a parent at ``level`` + 1 (None, None
        for the root), checked against that item."""
        node = self.nodes.load([digest], level)[digest]
        if item is not None:
            _check_child(digest, node, item[0], item[2])
        return node


def _path(item):
    return item[0]


def _check_child(digest, node, first, count):
    """IntegrityError unless ``node`` starts at ``first`` and holds ``count`` entries, as
    its parent's item says."""
    level, items = node
    held = len(items) if level == 0 else sum(n for _, _, n in items)
    if not items or items[0][0] != first or held != count:
        raise IntegrityError(f"manifest node {digest.hex()} does not hold what its parent says "
                             f"(first path {first!r}, {count} entries); run 'artstore verify'")


def _expand(nodes, frontier, level):
    """Children (in order) of the nodes of ``frontier`` (all at ``level``), or their entries."""
    loaded = nodes.load(frontier, level)
    children, entries = [], []
    for digest in frontier:
        level, items = loaded[digest]
        if level == 0:
            entries.extend(items)
        else:
            children.extend(d for _, d, _ in items)
    return children, entries


def diff(nodes, root_a, root_b):
    """(entries only in A's differing leaves, entries only in B's, digests of subtrees
    both share). Subtrees with equal digests are skipped, never read: two versions of
    100,000 entries that differ in one read a few nodes. Entries in the two lists may
    still be equal (a leaf that changed elsewhere); the caller compares them by path."""
    a, b = [root_a], [root_b]
    level_a = nodes.load(a)[root_a][0]
    level_b = nodes.load(b)[root_b][0]
    a_entries, b_entries, shared = [], [], []
    # Equal digests are equal subtrees of equal height: bring both frontiers to the same
    # level before comparing them.
    while level_a > level_b:
        a, found = _expand(nodes, a, level_a)
        a_entries += found
        level_a -= 1
    while level_b > level_a:
        b, found = _expand(nodes, b, level_b)
        b_entries += found
        level_b -= 1
    level = level_a
    while a or b:
        common = set(a) & set(b)
        shared += [d for d in a if d in common]
        a, found_a = _expand(nodes, [d for d in a if d not in common], level)
        b, found_b = _expand(nodes, [d for d in b if d not in common], level)
        a_entries += found_a
        b_entries += found_b
        level -= 1
    return a_entries, b_entries, shared


def reachable(nodes, roots):
    """(internal node digests, leaf digests) reachable from ``roots``. Internal nodes are
    read once each; leaves are named by their parents and not read."""
    internal, leaves = set(), set()
    current = nodes.load(list(dict.fromkeys(roots)))
    while current:
        nxt = {}  # expected level -> children to read at it
        for digest, (level, items) in current.items():
            if level == 0:
                leaves.add(digest)
                continue
            internal.add(digest)
            for _, child, _ in items:
                if level == 1:
                    leaves.add(child)
                elif child not in internal:
                    nxt.setdefault(level - 1, []).append(child)
        current = {}
        for level, children in nxt.items():
            current.update(nodes.load(list(dict.fromkeys(children)), level))
    return internal, leaves
