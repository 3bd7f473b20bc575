"""Manifests as content-addressed trees of nodes (prolly-tree style; docs/storage.rst).

A version's manifest is its asset entries sorted by logical path. They are cut into leaf
nodes at content-defined boundaries, the leaves are listed by internal nodes cut the same
way, up to one root; the root's digest is the version's ``manifest_digest``. Equal
entries give equal trees, so versions share every node whose entries did not change and
a new version costs the nodes on the paths to what changed.

- ``node``: the node format (canonical bytes, digest, decoding) and the boundary rule;
- ``build``: sorted entries -> nodes;
- ``nodestore``: nodes in the catalog (compressed, hash-checked on every read);
- ``walk``: reading a tree (all entries, a page, one path, its leaves) and diffing two.
"""

from .build import Builder, build
from .node import Entry, entry_text
from .nodestore import NewNodes, NodeStore
from .walk import Tree, diff, reachable

__all__ = ["Builder", "Entry", "NewNodes", "NodeStore", "Tree", "build", "diff", "entry_text", "reachable"]
