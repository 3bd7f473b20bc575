"""Keep the tree-manifest benchmark (issue 11's numbers) working: a --quick run of every
scenario without peers (timings not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_trees_benchmark_produces_every_scenario(tmp_path):
    out = tmp_path / "trees.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "trees.py"), "--quick", "--peers", "",
           "--base", str(tmp_path), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    names = [r["scenario"] for r in rows]
    for prefix in ("A. catalog growth, 1 file changed of 300 (nested)",
                   "A. catalog growth, 1 file changed of 300 (flat)",
                   "B. re-add, 1 file changed of 300 (nested)",
                   "B. re-add, 1 file changed of 300 (flat)",
                   "C. re-add 300 unchanged (nested)",
                   "D. add 300 new files (nested)",
                   "F. catalog after 20 versions",
                   "F. artstore versions hist",
                   "F. artstore show hist:10.0.0",
                   "F. artstore diff hist:9.0.0 hist:10.0.0"):
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    assert not any(n.startswith("E.") for n in names)  # only with --million
    for r in rows:
        assert r["artstore"] is not None and r["artstore"] >= 0, r
        assert r["target"] is not None or r["baseline"] is not None, r
    growth = [r for r in rows if r["scenario"].startswith("A.")]
    assert all(r["unit"] == "bytes" and "wal_checkpoint" in r["note"] or r["baseline"] == "git" for r in growth)
    assert list(tmp_path.glob("artstore-trees-*")) == []  # the data is cleaned up
