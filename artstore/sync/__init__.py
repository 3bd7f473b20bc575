"""Sharing a store through a remote: a prefix on object storage (s3://, gs://) or a
directory (file://), holding immutable content-addressed objects and a few mutable refs
changed only by compare-and-swap (docs/storage.rst, "Remote format").

- ``transport``: one class per backend over fsspec: read, list, create-only writes, CAS;
- ``layout``: where objects live on a remote and how records are encoded;
- ``state``: what a remote holds (read through a local cache of its immutable objects),
  and which objects a remote gc has marked;
- ``transfer``: packs up and ranged reads down, a bounded pool of requests at a time;
- ``push`` / ``pull``: moving versions, their nodes, files and chunks, then refs;
- ``lazy``: versions whose data stays on a remote until read (clone --lazy);
- ``remote_gc``: two-phase gc of a remote with a grace period; ``check``: verify a remote;
- ``commands``: the store-level entry points (what the Store facade calls).
"""
