"""Fetch the real, public data of the compression benchmark (benchmarks/realdata.py) with pip.

    python benchmarks/realdata_fetch.py [DIR]     # default /tmp/artstore-realdata

Two kinds of data, each a series of successive releases of a PyPI package, downloaded once
into DIR/<kind>/dl and unpacked, one folder per release, into DIR/<kind>/releases/<n>:

- text: sympy sdists (``--no-binary :all:``): Python source and docs, ~1,500 files each;
- binary: numpy manylinux wheels for CPython 3.11 on x86_64: shared libraries (~35 MB of
  .so per release) beside Python sources.

The data stays outside the repository; the benchmark logs each release as a new version of
one folder, the way a user logs a dataset that changes.
"""

import os
import subprocess
import sys
import tarfile
import zipfile

KINDS = {
    "text": {
        "package": "sympy",
        "versions": ["1.11", "1.11.1", "1.12", "1.12.1", "1.13.0"],
        "pip": ["--no-binary", ":all:"],
    },
    "binary": {
        "package": "numpy",
        "versions": ["1.26.1", "1.26.2", "1.26.3", "1.26.4"],
        "pip": ["--only-binary", ":all:", "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
                "--implementation", "cp", "--abi", "cp311"],
    },
}


def fetch(base, kind):
    spec = KINDS[kind]
    dl = os.path.join(base, kind, "dl")
    os.makedirs(dl, exist_ok=True)
    releases = []
    for n, version in enumerate(spec["versions"]):
        target = os.path.join(base, kind, "releases", f"{n:02d}")
        releases.append(target)
        if os.path.isdir(target):
            continue
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", dl, *spec["pip"],
                        f"{spec['package']}=={version}"], check=True)
        archive = next(os.path.join(dl, name) for name in sorted(os.listdir(dl))
                       if f"-{version}." in name or f"-{version}-" in name)
        _unpack(archive, target + ".tmp")
        os.replace(target + ".tmp", target)
    return releases


def _unpack(archive, dest):
    os.makedirs(dest)
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
    # An sdist holds one folder named after the release: strip it so that every release
    # has the same paths.
    (top,) = os.listdir(dest)
    inner = os.path.join(dest, top)
    for name in os.listdir(inner):
        os.rename(os.path.join(inner, name), os.path.join(dest, name))
    os.rmdir(inner)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "/tmp/artstore-realdata"
    for kind in KINDS:
        for path in fetch(base, kind):
            print(path)


if __name__ == "__main__":
    main()
