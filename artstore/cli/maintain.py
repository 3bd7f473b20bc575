"""Commands that keep a store healthy: du, verify, gc, rm, prune."""


import click

from ..completion import complete_name, complete_ref
from .app import main
from .output import emit_json, human_bytes, table


@main.command()
@click.option("--by-artifact", is_flag=True, help="Per artifact: logical bytes and the stored bytes only it uses.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def du(obj, by_artifact, as_json):
    """Show logical bytes, what dedup and compression save, and stored bytes.

    With --by-artifact, "unique" is what removing every version of an artifact would free
    (stored bytes no other artifact uses); "shared" bytes are used by several.

    \b
    Example:
      artstore du --json
      artstore du --by-artifact
    """
    if by_artifact:
        d = obj.store.du_by_artifact()
        if as_json:
            emit_json(d)
            return
        rows = [{"artifact": f"{a['workspace']}/{a['name']}", "type": a["type"], "versions": a["versions"],
                 "logical": human_bytes(a["logical_bytes"]), "unique": human_bytes(a["unique_bytes"])}
                for a in sorted(d["artifacts"], key=lambda a: -a["unique_bytes"])]
        click.echo(table(rows, ["artifact", "type", "versions", "logical", "unique"]))
        click.echo(f"shared by several artifacts: {human_bytes(d['shared_bytes'])}")
        return
    d = obj.store.du()
    if as_json:
        emit_json(d)
    else:
        click.echo(
            f"{d['versions']} version(s), {d['files']} distinct file(s), {d['chunks']} chunk(s)\n"
            f"logical {human_bytes(d['logical_bytes'])}, distinct {human_bytes(d['distinct_bytes'])} "
            f"(dedup ratio {d['dedup_ratio']:.2f}x)\n"
            f"compression saved {human_bytes(d['compression_saving_bytes'])} "
            f"(ratio {d['compression_ratio']:.2f}x), stored {human_bytes(d['stored_bytes'])}"
        )


@main.command()
@click.argument("ref", required=False, shell_complete=complete_ref)
@click.option("--read-data", is_flag=True, help="Read and re-hash every stored chunk.")
@click.option("--remote", "check_remote", is_flag=True,
              help="Also re-list every synced remote asset and report objects that changed or vanished.")
@click.option("--remote-store", "remote_store", metavar="REMOTE",
              help="Check this remote (name or URL) instead of the local store.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify(obj, ref, read_data, check_remote, remote_store, as_json):
    """Check the store (or only what version REF needs); exit 6 on damage.

    \b
    Example:
      artstore verify --read-data
      artstore verify --remote-store origin --read-data
    """
    store = obj.store
    if remote_store is not None:
        with obj.progress(0, "verifying remote", as_json) as progress:
            result = store.verify_remote(remote_store, read_data, progress)
        _report_verify(obj, result, as_json)
        return
    total = (lambda: store.du()["stored_bytes"]) if read_data else 0
    with obj.progress(total, "verifying", as_json) as progress, \
            obj.progress(store.remote_asset_count if check_remote else 0, "checking remote objects", as_json,
                         unit="obj") as remote_progress:
        result = store.verify(read_data=read_data, progress=progress, ref=ref, remote=check_remote,
                              remote_progress=remote_progress)
    _report_verify(obj, result, as_json)


def _report_verify(obj, result, as_json):
    if as_json:
        emit_json(result)
    else:
        for p in result["problems"]:
            affected = ", ".join(p["versions"]) or "no logged version"
            click.echo(f"{p['kind']}: {p['detail']} (affects {affected})")
        for note in result["notes"]:
            obj.info(f"note: {note}")
        click.echo("ok" if result["ok"] else f"{len(result['problems'])} problem(s) found")
    if not result["ok"]:
        raise click.exceptions.Exit(6)


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--repack-threshold", type=click.FloatRange(0, 1), metavar="F",
              help="Rewrite packs whose dead share is above F (default: the store config's "
              "gc_repack_threshold, 0.3); 0 frees every dead byte.")
@click.option("--remote", "remote_name", metavar="REMOTE",
              help="Collect REMOTE (name or URL) instead: delete objects marked unreferenced by an earlier run "
              "more than the grace period ago (config remote_gc_grace, 1 hour), then mark what is unreferenced now.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def gc(obj, dry_run, repack_threshold, remote_name, as_json):
    """Remove data no version references and compact packs.

    A pack with only a few dead bytes is kept as it is (rewriting it would cost more than
    it frees); the summary says how many bytes stay dead that way.

    With --remote, gc works on a remote in two phases so that a concurrent push is never
    broken: a run marks what no version there references, a later run (after the grace
    period) deletes what is marked and still unreferenced.

    \b
    Example:
      artstore rm mnist:1.0.0 && artstore gc
      artstore gc --repack-threshold 0
      artstore gc --remote origin --dry-run
    """
    if remote_name is not None:
        r = obj.store.gc_remote(remote_name, dry_run=dry_run)
        if as_json:
            emit_json(r)
            return
        verb = ("would delete", "would mark") if dry_run else ("deleted", "marked")
        click.echo(f"{verb[0]} {r['deleted']} object(s) ({human_bytes(r['bytes_freed'])}) from {r['remote']}; "
                   f"{verb[1]} {r['marked']} unreferenced object(s) ({human_bytes(r['bytes_marked'])}) for deletion "
                   f"after {r['grace_seconds']:g} s; {r['pending']} marked earlier wait; "
                   f"{r['resurrected']} referenced again kept")
        return
    s = obj.store.gc(dry_run=dry_run, repack_threshold=repack_threshold)
    if as_json:
        emit_json(s)
        return
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {human_bytes(s['bytes_freed'])}: {s['packs_removed']} pack(s) removed, "
        f"{s['packs_rewritten']} rewritten, {s['chunks_removed']} chunk(s), {s['files_removed']} file(s), "
        f"{s['orphans_removed'] + s['temp_removed']} leftover(s)"
    )
    if s["dead_bytes_kept"]:
        click.echo(
            f"{human_bytes(s['dead_bytes_kept'])} of unreferenced data stay in {s['packs_with_dead_bytes_kept']} "
            f"pack(s) whose dead share is at most the repack threshold ({s['repack_threshold']:g}); "
            "'artstore gc --repack-threshold 0' frees them"
        )


@main.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True, shell_complete=complete_ref)
@click.option("--force", is_flag=True, help="Also remove versions that an alias (other than latest) names.")
@click.pass_obj
def rm(obj, refs, force):
    """Delete versions (all or none); space returns at the next gc.

    A version that an alias such as 'production' names is kept unless --force (the alias
    then goes with it).

    \b
    Example:
      artstore rm mnist:1.0.0 mnist:1.1.0
      artstore rm mnist:production --force
    """
    for removed in obj.store.delete_versions(refs, force=force):
        click.echo(f"removed {removed}")
    obj.info("run 'artstore gc' to free their space")


@main.command()
@click.argument("names_", metavar="[NAME]...", nargs=-1, shell_complete=complete_name)
@click.option("--keep-last", type=int, help="Keep the N highest versions of each artifact.")
@click.option("--keep-within", metavar="AGE", help="Keep versions created within AGE (30d, 12h, 2w) or since a date.")
@click.option("--keep-aliased/--no-keep-aliased", default=True, show_default=True,
              help="Keep versions an alias points to (latest included).")
@click.option("--keep-tagged", "keep_tagged", multiple=True, metavar="TAG", help="Keep versions with this tag.")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def prune(obj, names_, keep_last, keep_within, keep_aliased, keep_tagged, dry_run, as_json):
    """Remove the versions of NAMEs (default: every artifact) that no --keep rule keeps.

    Versions an alias points to are kept unless --no-keep-aliased. The space returns at the
    next 'artstore gc'.

    \b
    Example:
      artstore prune --keep-last 5 --keep-within 30d --dry-run
      artstore prune mnist --keep-last 3 --keep-tagged release
    """
    result = obj.store.prune(names_, keep_last, keep_within, keep_aliased, keep_tagged, dry_run)
    if as_json:
        emit_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    for ref in result["removed"]:
        click.echo(f"{verb} {ref}")
    click.echo(f"{verb} {len(result['removed'])} version(s), kept {len(result['kept'])}; "
               f"'artstore gc' would then free {human_bytes(result['reclaimable_bytes'])}")
