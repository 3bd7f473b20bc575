"""Progress bars: drawn on stderr under a terminal, never off one, with -q or with --json."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from conftest import write_tree


def run_with_tty_stderr(args, cwd, env=None):
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    # A fresh pseudo-terminal is 0 x 0; give it the size of a real one.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    full_env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "artstore", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=slave, env=full_env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    proc.stdout.close()
    code = proc.wait()
    os.close(master)
    return code, out.decode(), b"".join(chunks).decode(errors="replace")


def test_progress_bar_under_a_terminal(project):
    write_tree(project, {"data/big.bin": os.urandom(64 << 20)})
    code, out, tty = run_with_tty_stderr(["add", "ds", "data"], project)
    assert code == 0 and "logged" in out
    assert "adding ds" in tty and "%" in tty and "B/s" in tty
    code, out, tty = run_with_tty_stderr(["download", "ds", "out"], project)
    assert code == 0 and "downloading ds" in tty and "%" in tty
    code, out, tty = run_with_tty_stderr(["verify", "--read-data"], project)
    assert code == 0 and "verifying" in tty


def test_no_progress_with_quiet_json_or_off_a_terminal(project):
    write_tree(project, {"data/big.bin": os.urandom(8 << 20)})
    code, out, tty = run_with_tty_stderr(["-q", "add", "ds", "data"], project)
    assert code == 0 and tty == ""
    code, out, tty = run_with_tty_stderr(["add", "ds", "data", "--json"], project)
    assert code == 0 and tty == "" and out.lstrip().startswith("{")
    proc = subprocess.run([sys.executable, "-m", "artstore", "download", "ds", "out"], cwd=project,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""


def test_verify_remote_progress_counts_objects(project, tmp_path):
    objects = tmp_path / "objects"
    for i in range(3):
        (objects / f"f{i}").parent.mkdir(parents=True, exist_ok=True)
        (objects / f"f{i}").write_bytes(b"x" * i)
    code, out, _tty = run_with_tty_stderr(["add", "ds", f"file://{objects}"], project)
    assert code == 0, out
    code, out, tty = run_with_tty_stderr(["verify", "--remote"], project)
    assert code == 0 and "checking remote objects" in tty and "obj" in tty


def test_no_colour_with_no_color_set(project):
    write_tree(project, {"data/big.bin": os.urandom(32 << 20)})
    code, _out, tty = run_with_tty_stderr(["add", "ds", "data"], project, env={"NO_COLOR": "1"})
    assert code == 0 and "adding ds" in tty and "\x1b[3" not in tty  # no SGR colour codes
    code, _out, tty = run_with_tty_stderr(["add", "ds2", "data"], project)
    assert code == 0 and "\x1b[32m" in tty  # green bar on a terminal otherwise


def test_push_and_pull_bars_know_their_length(project, tmp_path):
    """Remote transfers draw byte bars whose total is known (a percentage, not a counter)."""
    write_tree(project, {"data/big.bin": os.urandom(48 << 20)})
    remote = f"file://{tmp_path / 'remote'}"
    assert run_with_tty_stderr(["-q", "add", "ds", "data"], project)[0] == 0
    assert run_with_tty_stderr(["remote", "add", "origin", remote], project)[0] == 0
    code, out, tty = run_with_tty_stderr(["push"], project)
    assert code == 0 and "pushed 1 version" in out
    assert "pushing" in tty and "/48.0M" in tty, tty[-500:]  # the bar's total: the pack's bytes
    other = tmp_path / "other"
    other.mkdir()
    assert run_with_tty_stderr(["init"], other)[0] == 0
    assert run_with_tty_stderr(["remote", "add", "origin", remote], other)[0] == 0
    code, out, tty = run_with_tty_stderr(["pull"], other)
    assert code == 0 and "pulled 1 version" in out
    assert "pulling" in tty and "/48.0M" in tty, tty[-500:]
    code, out, tty = run_with_tty_stderr(["clone", "--lazy", remote, str(tmp_path / "lazy")], tmp_path)
    assert code == 0 and "lazy" in out
    code, out, tty = run_with_tty_stderr(["download", "ds", "out"], tmp_path / "lazy")
    assert code == 0 and "fetching" in tty and "from origin" in tty and "/48.0M" in tty, tty[-500:]
    code, out, tty = run_with_tty_stderr(["-q", "download", "ds", "out2"], tmp_path / "lazy")
    assert code == 0 and tty == ""  # local now, and -q silences everything
