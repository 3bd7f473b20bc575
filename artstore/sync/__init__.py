"""Sharing a store through a remote: a prefix on object storage (s3://, gs://) or a
directory (file://), holding immutable content-addressed objects and a few mutable refs
changed only by compare-and-swap (docs/storage.rst, "Remote format").

- ``transport``: one class per backend over fsspec: read, list, create-only writes, CAS;
- ``layout``: where objects live on a remote and how records are encoded;
- ``remote``: what a remote holds (read through a local cache of its immutable objects);
- ``push`` / ``pull``: moving versions, their nodes, files and chunks, then refs.
"""
