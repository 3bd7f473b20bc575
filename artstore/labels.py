"""Labels on versions: aliases (movable, unique within an artifact; ``latest`` is
computed, never stored) and version and artifact tags (sets)."""

from . import names
from .errors import InvalidInput, NotFound
from .faults import checkpoint


def set_aliases(store, ref, aliases):
    """Make ``aliases`` exactly the aliases of this version (moving them from others)."""
    wanted = {names.check_alias(a, allow_latest=True) for a in aliases} - {"latest"}
    with store.catalog.transaction() as cat:
        art, vrow = store.resolve(ref)
        for alias in set(cat.aliases_of_version(vrow["id"])) - wanted:
            cat.remove_alias(art["id"], alias, vrow["id"])
        for alias in sorted(wanted):
            checkpoint("alias-update")
            cat.set_alias(art["id"], alias, vrow["id"])


def add_aliases(store, ref, aliases):
    aliases = [names.check_alias(a) for a in aliases]
    with store.catalog.transaction() as cat:
        art, vrow = store.resolve(ref)
        for alias in aliases:
            cat.set_alias(art["id"], alias, vrow["id"])
            checkpoint("alias-update")


def remove_aliases(store, ref, aliases):
    with store.catalog.transaction() as cat:
        art, vrow = store.resolve(ref)
        for alias in aliases:
            if alias == "latest":
                raise InvalidInput("the alias 'latest' is set automatically and cannot be removed")
            if not cat.remove_alias(art["id"], names.check_alias(alias), vrow["id"]):
                raise NotFound(f"{art['name']}:{vrow['version']} has no alias {alias!r}")


def set_version_tags(store, ref, tags):
    tags = names.check_tags(tags)
    with store.catalog.transaction() as cat:
        _art, vrow = store.resolve(ref)
        cat.set_version_tags(vrow["id"], tags)


def add_version_tags(store, ref, tags):
    tags = names.check_tags(tags)
    with store.catalog.transaction() as cat:
        _art, vrow = store.resolve(ref)
        cat.add_version_tags(vrow["id"], tags)


def remove_version_tags(store, ref, tags):
    with store.catalog.transaction() as cat:
        art, vrow = store.resolve(ref)
        present = set(cat.tags_of_version(vrow["id"]))
        for tag in tags:
            if tag not in present:
                raise NotFound(f"{art['name']}:{vrow['version']} has no tag {tag!r}")
        cat.remove_version_tags(vrow["id"], tags)


def set_artifact_tags(store, ref, tags):
    tags = names.check_tags(tags)
    with store.catalog.transaction() as cat:
        art, _vrow = store.resolve(ref)
        cat.set_artifact_tags(art["id"], tags)
