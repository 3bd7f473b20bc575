#!/usr/bin/env bash
# `make demo`: the main job end to end on a throwaway store.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/artstore-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
say() { printf '\n== %s\n' "$*"; }
py() { python - "$@"; }

say "1. A project with a dataset of several files (about 24 MiB)"
mkdir -p data/images
py <<'PY'
import os, random
rng = random.Random(42)
for i in range(6):
    with open(f"data/images/batch-{i}.bin", "wb") as f:
        f.write(rng.randbytes(4 << 20))
with open("data/labels.csv", "w") as f:
    f.writelines(f"{i},{rng.randrange(10)}\n" for i in range(20000))
PY
artstore init --workspace demo
cp -r data original-1.0.0

say "2. Log it as version 1.0.0 (run 'prepare')"
artstore add mnist data --version 1.0.0 --alias baseline --meta source=demo --run prepare

say "3. Change one file (1 KiB overwritten in the middle of batch-3) and log 2.0.0"
py <<'PY'
import os
with open("data/images/batch-3.bin", "r+b") as f:
    f.seek(2 << 20)
    f.write(os.urandom(1024))
PY
artstore add mnist data --version 2.0.0 --run clean
artstore versions mnist

say "4. Only the changed chunks were stored"
artstore du

say "5. What changed between the versions"
artstore diff mnist:1.0.0 mnist:2.0.0

say "6. Download 1.0.0 elsewhere and compare it with the original bytes"
artstore download mnist:1.0.0 restored --run train
diff -r original-1.0.0 restored && echo "restored copy of 1.0.0 is byte-identical"

say "7. Verify every stored chunk"
artstore verify --read-data

say "8. Lineage of mnist:1.0.0"
artstore lineage mnist:1.0.0

say "Dedup ratio"
artstore du --json > du.json
python - <<'PY'
import json
d = json.load(open("du.json"))
print(f"{d['logical_bytes']:,} logical bytes, {d['distinct_bytes']:,} after dedup "
      f"(dedup ratio {d['dedup_ratio']}x), {d['stored_bytes']:,} stored after compression "
      f"({d['compression_saving_bytes']:,} bytes saved)")
PY

say "Lineage graph (Mermaid)"
artstore lineage mnist:1.0.0 --format mermaid
