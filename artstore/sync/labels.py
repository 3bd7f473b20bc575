"""Label removals across a remote. Push and pull merge labels (the union of both sides,
an alias moved by compare-and-swap); on their own they could not tell "removed here" from
"never seen here", so an alias or tag removed on one side came back with the next sync.

The ref as this store last saw it (known_refs, saved after every push and pull) is the
common base of a three-way comparison: a label the base had, one side no longer has, and
the other side still has as the base had it was removed on the first side since the last
sync, and is removed on the other too (as a server-held alias of Comet or W&B is gone for
everyone). A label changed on the other side since the base (an alias moved, a tag added
again) is a newer decision there and stays. ``latest`` is never a label of this kind: each
store moves it itself.
"""


def local_labels(cat, artifact_id):
    """This store's labels of an artifact in a ref document's shape: {"versions": {version:
    id}, "aliases": {alias: version}, "tags": {version: [tag]}, "artifact_tags": [tag]}."""
    numbers = dict(cat.version_numbers(artifact_id))
    aliases, tags, _runs = cat.version_labels(artifact_id)
    return {"versions": {number: vid for vid, number in numbers.items()},
            "aliases": {a: numbers[vid] for vid, names in aliases.items() for a in names},
            "tags": {numbers[vid]: names for vid, names in tags.items()},
            "artifact_tags": cat.tags_of_artifact(artifact_id)}


def removed(base, side, other, versions=None):
    """What ``side`` removed since ``base`` that ``other`` still holds unchanged (each a ref
    document's labels, ``base`` None when there was no sync yet): ({alias: version},
    {version: {tag}}, {artifact tag}). ``versions`` limits it to those version numbers
    (a push of some versions decides only their labels)."""
    if not base:
        return {}, {}, set()

    def chosen(version):
        return versions is None or version in versions

    aliases = {a: v for a, v in base.get("aliases", {}).items()
               if a != "latest" and chosen(v) and a not in side["aliases"] and other["aliases"].get(a) == v}
    tags = {}
    for version, names in base.get("tags", {}).items():
        if not chosen(version) or version not in side["versions"]:
            continue  # a version not here yet has no tags here to compare
        gone = (set(names) - set(side["tags"].get(version, ()))) & set(other["tags"].get(version, ()))
        if gone:
            tags[version] = gone
    artifact_tags = (set(base.get("artifact_tags", ())) - set(side["artifact_tags"])) & set(other["artifact_tags"])
    return aliases, tags, artifact_tags
