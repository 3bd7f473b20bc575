"""A store for the UI tests (route tests and the browser suite): a dataset with two
versions, a model, runs that produced and consumed them, a run with a large fan-out, a
hostile artifact whose every field carries markup and invisible characters, and files of
every preview kind."""

import struct
import zlib

from artstore import Store
from artstore.ingest import InMemory, RemoteRef

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RTL = "evil\u202etxt.exe\u200b"
# Names may hold neither '/' nor ':', so the name carries the img payload and quotes.
HOSTILE_NAME = "x\"'><img src=x onerror=alert(3)>" + "\u202e"
HOSTILE_PATH = f"dir {SCRIPT}/{IMG}.txt"
FAN_OUT = 12


def png_bytes(width=8, height=8):
    """A small valid PNG (a red square)."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def dataset_files(edit=False):
    labels = "".join(f"{i},{(i * 7) % 10}\n" for i in range(200))
    files = {
        "data/labels.csv": ("id,label\n" + labels).encode(),
        "data/images/cat.png": png_bytes(),
        "data/images/drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)">'
                                    b"<script>alert(5)</script></svg>"),
        "README.txt": b"The demo dataset.\nLine two.\n",
        "config.json": b'{"lr": 0.1, "layers": [1, 2]}',
        "weights.bin": bytes(range(256)) * 8,
    }
    if edit:
        files["README.txt"] = b"The demo dataset.\nLine two, edited.\nLine three.\n"
        files["data/new.txt"] = b"added in 2.0.0\n"
        del files["weights.bin"]
    return files


def sources(files, metadata_of=None):
    return [InMemory(data, path, metadata=(metadata_of or {}).get(path)) for path, data in files.items()]


def build(root, big_file=None):
    """Create the store under ``root`` and return {name: ref} of what the tests visit."""
    root.mkdir(parents=True, exist_ok=True)
    store = Store.init(root, workspace="demo")
    try:
        prepare = store.run_named("prepare", new=True)
        store.log("mnist", sources(dataset_files()), version="1.0.0", aliases=["baseline"], version_tags=["raw"],
                  metadata={"source": "demo", "rows": 200, "metrics": {"acc": 0.5}}, run_id=prepare)
        clean = store.run_named("clean", new=True)
        store.log("mnist", sources(dataset_files(edit=True)), version="2.0.0",
                  metadata={"source": "demo", "rows": 201, "metrics": {"acc": 0.9}}, run_id=clean)
        train = store.run_named("train", new=True)
        store.record_lineage(train, store.resolve("demo/mnist:1.0.0")[1]["id"], "consumed")
        store.log("model", [InMemory(b"weights" * 100, "model.pt")], version="1.0.0", artifact_type="model",
                  metadata={"framework": "torch"}, run_id=train)
        # One run that produced many versions: the lineage graph must fold them.
        sweep = store.run_named("sweep", new=True)
        store.record_lineage(sweep, store.resolve("demo/model:1.0.0")[1]["id"], "consumed")
        for i in range(FAN_OUT):
            store.log(f"shard-{i:02d}", [InMemory(f"shard {i}".encode(), "part.txt")], version="1.0.0",
                      artifact_type="shard", run_id=sweep)
        hostile = store.run_named("run " + IMG.replace(":", ""), new=True)
        store.record_lineage(hostile, store.resolve("demo/mnist:2.0.0")[1]["id"], "consumed")
        store.log(HOSTILE_NAME, [InMemory(SCRIPT.encode(), HOSTILE_PATH, metadata={SCRIPT: IMG}),
                                 InMemory(b"rtl", RTL)],
                  version="1.0.0", artifact_type=IMG.replace(":", ""), aliases=[IMG.replace(":", "")],
                  version_tags=[SCRIPT.replace("/", ""), RTL],
                  metadata={SCRIPT: IMG, "quote": "\"'`", "rtl": RTL, "nested": {IMG: [SCRIPT]}},
                  run_id=hostile)
        # A remote reference whose bytes were never fetched: no preview, no raw bytes.
        store.log("refs", [RemoteRef("s3://bucket/data/train.csv", "train.csv", 1234), InMemory(b"x", "local.txt")],
                  version="1.0.0")
        if big_file is not None:
            store.log("big", [InMemory(big_file, "big.txt")], version="1.0.0")
    finally:
        store.close()
    return root
