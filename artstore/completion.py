"""Shell completion of artifact names and references for the CLI's arguments.

click calls these with the command line parsed so far; they open the store the command
would use (``--store``, ARTSTORE_DIR, or found from the current directory upward; the
per-user store with ``--user-store``) and never fail: with no store, nothing is offered.
"""


def _store(ctx):
    from .store import Store

    root = ctx.find_root()
    if root.params.get("user_store"):
        from .userstore import open_user_store

        return open_user_store(Store, announce=False)
    return Store.open(root.params.get("store_path"), fallback=False)


def _items(values, incomplete):
    from click.shell_completion import CompletionItem

    return [CompletionItem(v) for v in sorted(set(values)) if v.startswith(incomplete)]


def _artifact_names(store, incomplete):
    rows = store.list_artifacts()
    if "/" in incomplete:
        return [f"{r['workspace']}/{r['name']}" for r in rows]
    return [r["name"] if r["workspace"] == store.workspace else f"{r['workspace']}/{r['name']}" for r in rows]


def complete_name(ctx, param, incomplete):
    """Artifact names (``workspace/name`` outside the store's default workspace)."""
    try:
        with _store(ctx) as store:
            return _items(_artifact_names(store, incomplete), incomplete)
    except Exception:  # completion must never print a traceback into the shell
        return []


def complete_ref(ctx, param, incomplete):
    """``name`` and, after a colon, ``name:VERSION`` or ``name:ALIAS``."""
    try:
        with _store(ctx) as store:
            if ":" not in incomplete:
                names = _artifact_names(store, incomplete)
                return _items([n + ":" for n in names] + names, incomplete)
            name = incomplete.split(":", 1)[0]
            art = store.resolve(name)[0]
            values = ["latest"]
            for row in store.version_rows(art["id"]):
                values.append(row["version"])
                values += store.catalog.aliases_of_version(row["id"])
            return _items([f"{name}:{v}" for v in values], incomplete)
    except Exception:
        return []
