"""Label removals and moves across a remote. Push and pull merge labels (the union of
both sides, an alias moved by compare-and-swap); on their own they could not tell
"removed here" from "never seen here", so an alias or tag removed on one side came back
with the next sync.

Each sync is a three-way comparison with a *label base* kept per remote URL and ref
(``.artstore/label-base/``, see ``next_base`` below for why it is not simply the ref last
seen): a label the base had, that one side no longer has and the other side still has as
the base had it, was removed on the first side since the last sync, and is removed on the
other too (as a server-held alias of Comet or W&B is gone for everyone). A label changed
on the other side since the base (an alias moved, a tag added again) is a newer decision
there and stays. ``latest`` is never a label of this kind: each store moves it itself.
"""

import hashlib
import json
import os

from . import known_refs


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
               if a != "latest" and chosen(v) and v in side["versions"] and a not in side["aliases"]
               and other["aliases"].get(a) == v}  # a version not here has no aliases here to compare
    tags = {}
    for version, names in base.get("tags", {}).items():
        if not chosen(version) or version not in side["versions"]:
            continue  # a version not here yet has no tags here to compare
        gone = (set(names) - set(side["tags"].get(version, ()))) & set(other["tags"].get(version, ()))
        if gone:
            tags[version] = gone
    artifact_tags = set()
    if side["versions"]:  # an artifact with no versions here (removed, not pulled yet) has no tags to compare
        artifact_tags = (set(base.get("artifact_tags", ())) - set(side["artifact_tags"])) & set(other["artifact_tags"])
    return aliases, tags, artifact_tags


# The base of the comparison is not the ref as last seen: after a push that ref holds the
# labels others pushed which this store never had (it would take them for labels removed
# here and delete them), and after a pull that keeps a removal made here the ref still
# holds the label. The base is kept per label: where the two sides agree after a sync,
# what they agree on; where they differ (a change one side has not sent or taken yet), the
# base before that sync, so the change is still told apart from "never seen" next time.

def _base_path(store, url, key):
    # Kept by the remote's URL, not its name: a push or pull naming the remote by its URL
    # is a sync with the same remote (with a base of its own it started from none, took
    # no removal and sent removed labels back).
    return os.path.join(store.dir, "label-base", hashlib.sha256(url.encode()).hexdigest()[:32],
                        *key.split("/"))


def load_base(store, key, url, remote_id):
    """The label base saved for this remote's ``key``, None before the first sync with
    the remote at ``url`` (a name pointed at another remote starts again: its labels
    were never seen there) whose format record has ``remote_id``: a remote made again
    at the same URL (its prefix wiped and pushed to afresh, perhaps by a teammate who
    never had some labels) is another remote, and the labels it lacks were not removed
    there. (A base saved before ids, or for a remote made before them, has none.)"""
    try:
        with open(_base_path(store, url, key), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("url") != url or doc.get("remote_id") != remote_id \
            or not _well_formed(doc):
        return None  # damaged: as no base, nothing is removed and the next sync writes it again
    return doc


def _well_formed(doc):
    aliases, tags, artifact_tags = doc.get("aliases", {}), doc.get("tags", {}), doc.get("artifact_tags", [])
    return (isinstance(aliases, dict) and all(isinstance(v, str) for v in aliases.values())
            and isinstance(tags, dict)
            and all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in tags.values())
            and isinstance(artifact_tags, list) and all(isinstance(t, str) for t in artifact_tags))


def save_base(store, key, doc, url, remote_id):
    known_refs.write_doc(_base_path(store, url, key), {**doc, "url": url, "remote_id": remote_id})


def next_base(old, local, remote):
    """The base after a sync that left ``local`` here and ``remote`` there (``old`` the
    base before it, None when there was none)."""
    old = old or {}

    def pick(here, there, before):
        return here if here == there else before

    aliases = {}
    old_aliases = old.get("aliases", {})
    for a in set(local["aliases"]) | set(remote["aliases"]) | set(old_aliases):
        v = pick(local["aliases"].get(a), remote["aliases"].get(a), old_aliases.get(a))
        if v is not None and a != "latest":
            aliases[a] = v

    def pairs(doc):
        return {(v, t) for v, names in doc.get("tags", {}).items() for t in names}

    here, there, before = pairs(local), pairs(remote), pairs(old)
    tags = {}
    for v, t in here | there | before:
        if pick((v, t) in here, (v, t) in there, (v, t) in before):
            tags.setdefault(v, []).append(t)
    here, there = set(local["artifact_tags"]), set(remote["artifact_tags"])
    before = set(old.get("artifact_tags", ()))
    artifact_tags = sorted(t for t in here | there | before if pick(t in here, t in there, t in before))
    return {"aliases": aliases, "tags": {v: sorted(ts) for v, ts in tags.items()},
            "artifact_tags": artifact_tags}
