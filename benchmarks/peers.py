"""The peer tools the issue compares against: restic, borg and dvc, each in its own repository.

Each peer is driven through its command line exactly as a user would, with the settings the
issue names (restic ``--compression off``, borg ``-C none``, dvc's default copy into its
cache), or with ``defaults=True`` at the settings a user gets without options (restic's
``auto`` compression, borg's lz4; benchmarks/realdata.py). A peer that is not installed is
simply absent (``available_peers`` leaves it out).
dvc is looked for on PATH and in ``$ARTSTORE_BENCH_DVC`` (a dvc executable in its own venv,
since dvc's dependencies would clash with ours).
"""

import functools
import os
import shutil

from harness import timed


def dir_size(path):
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class Restic:
    name = "restic"

    def __init__(self, base, exe, defaults=False):
        self.exe = exe
        self.options = [] if defaults else ["--compression", "off"]
        self.repo = os.path.join(base, "restic-repo")
        self.env = {"RESTIC_PASSWORD": "bench", "RESTIC_CACHE_DIR": os.path.join(base, "restic-cache")}
        timed([exe, "-r", self.repo, "init"], env=self.env)

    def add(self, path):
        # Backing up the same absolute path again makes restic pick the previous snapshot as
        # its parent, which is how it skips unchanged files (by mtime, ctime, size, inode).
        return timed([self.exe, "-r", self.repo, "backup", *self.options, "-q", path], env=self.env)

    def stored(self):
        return dir_size(self.repo)


class Borg:
    name = "borg"

    def __init__(self, base, exe, defaults=False):
        self.exe = exe
        self.options = [] if defaults else ["-C", "none"]
        self.repo = os.path.join(base, "borg-repo")
        self.count = 0
        self.env = {
            "BORG_BASE_DIR": os.path.join(base, "borg-home"),
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }
        timed([exe, "init", "-e", "none", self.repo], env=self.env)

    def add(self, path):
        self.count += 1
        parent, name = os.path.split(os.path.abspath(path))
        return timed([self.exe, "create", *self.options, f"{self.repo}::a{self.count}", name],
                     cwd=parent, env=self.env)

    def stored(self):
        return dir_size(self.repo)


class Dvc:
    name = "dvc"

    def __init__(self, base, exe):
        self.exe = exe
        self.env = {"DVC_NO_ANALYTICS": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        self.repos = {}
        self.base = base

    def _repo_for(self, path):
        # dvc tracks data inside its repository: the repository is the data's parent folder
        # (with the git repository dvc needs).
        parent = os.path.dirname(os.path.abspath(path))
        if parent not in self.repos:
            timed(["git", "init", "-q", parent])
            timed([self.exe, "init", "-q"], cwd=parent, env=self.env)
            self.repos[parent] = os.path.join(parent, ".dvc", "cache")
        return parent

    def add(self, path):
        repo = self._repo_for(path)
        return timed([self.exe, "add", "-q", os.path.basename(path)], cwd=repo, env=self.env)

    def stored(self):
        return sum(dir_size(cache) for cache in self.repos.values())

    def forget(self):
        """Drop dvc's files beside the data (so the next peer sees the data alone)."""
        for repo in self.repos:
            for name in (".dvc", ".git", ".dvcignore", ".gitignore"):
                full = os.path.join(repo, name)
                if os.path.isdir(full):
                    shutil.rmtree(full)
                elif os.path.exists(full):
                    os.unlink(full)
            for entry in os.listdir(repo):
                if entry.endswith(".dvc"):
                    os.unlink(os.path.join(repo, entry))
        self.repos = {}


def _dvc_exe():
    exe = os.environ.get("ARTSTORE_BENCH_DVC") or shutil.which("dvc")
    return exe if exe and os.access(exe, os.X_OK) else None


def available_peers():
    """{name: factory(base_dir)} for the peers installed here."""
    found = {}
    for name, cls, exe in (("restic", Restic, shutil.which("restic")), ("borg", Borg, shutil.which("borg")),
                           ("dvc", Dvc, _dvc_exe())):
        if exe:
            found[name] = functools.partial(_make, cls, exe)
    return found


def _make(cls, exe, base, **options):
    return cls(base, exe, **options)


def peer_versions():
    import subprocess

    versions = {}
    for name, cmd in (("restic", ["restic", "version"]), ("borg", ["borg", "--version"]),
                      ("dvc", [_dvc_exe() or "dvc", "--version"]), ("git", ["git", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out:
            versions[name] = out.splitlines()[0]
    return versions
