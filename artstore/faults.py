"""Fault-injection seam for crash and fault tests (the way restic swaps its temp-file hook).

Code calls ``checkpoint("step-name")`` at each file-system step that matters for
durability. Normally that is a dictionary lookup and nothing else. A test sets
``ARTSTORE_FAULT=step-name:action[,step:action...]`` in a subprocess's environment:

- ``kill``   the process SIGKILLs itself at that step (a crash / power cut);
- ``eio``    an OSError(EIO) is raised there;
- ``enospc`` an OSError(ENOSPC) is raised there;
- ``sigint`` the process sends itself SIGINT there (Ctrl-C at that moment).
"""

import errno
import os
import signal

_ACTIONS = None


def _load():
    actions = {}
    for item in os.environ.get("ARTSTORE_FAULT", "").split(","):
        if ":" in item:
            step, action = item.split(":", 1)
            actions[step.strip()] = action.strip()
    return actions


def checkpoint(step):
    """Act on an injected fault for ``step``, if the environment names one."""
    global _ACTIONS
    if _ACTIONS is None:
        _ACTIONS = _load()
    action = _ACTIONS.get(step)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "sigint":
        # raise(), not kill(getpid()): kill sends to the process, which Linux may hand to
        # another thread; the main thread could then finish the command before that thread
        # ran (a CI run exited 0). raise() signals this thread, as Ctrl-C would interrupt it.
        signal.raise_signal(signal.SIGINT)
        signal.getsignal(signal.SIGINT)  # the handler runs at the next bytecode boundary
    codes = {"eio": errno.EIO, "enospc": errno.ENOSPC}
    if action in codes:
        code = codes[action]
        raise OSError(code, f"{os.strerror(code)} (injected at {step})")
