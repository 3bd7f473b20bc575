"""``artstore ui``: a local, offline, read-only web view of a store (issue 16).

Datasette's shape: ``app`` holds the one route table and the security rules, ``views/``
build plain data from Store methods and render one template each, ``urls`` makes every
link, ``folders`` lists one folder level of a manifest tree, ``preview`` reads the capped
head of a file, ``lineage_svg`` lays out and draws the lineage graph, ``server`` runs
uvicorn for the CLI. Starlette, uvicorn and Jinja2 are the optional ``ui`` extra and are
imported only here, so no other command pays for them at start-up.

The UI never writes: every page reads through the catalog's read-only connection, and
only GET and HEAD are answered.
"""

MISSING_EXTRA = "artstore ui needs the 'ui' extra: pip install 'artstore[ui]'"
