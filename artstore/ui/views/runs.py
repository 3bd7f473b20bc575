"""The runs page (each run with what it produced and consumed) and one run's page."""

from ...errors import NotFound
from .common import paged

SHOWN = 5  # versions named per run and kind on the runs page; the run's page has them all


def index(store, request):
    rows = store.runs()
    shown, pager = paged(rows, request)
    for r in shown:
        r["versions"] = store.run_versions(r["id"])
    return "runs.html", {"runs": shown, "pager": pager, "shown": SHOWN}


def run(store, request):
    run_id = request.path_params["run_id"]
    row = store.run(run_id)
    if row is None:
        raise NotFound(f"no run {run_id}")
    return "run.html", {"run": row, "versions": store.run_versions(run_id)}
