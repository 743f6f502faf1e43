"""Starts bot processes fast: imports fieldbot once, then forks one child per request (one JSON line on stdin:
the environment and a log path), answering each with the child's pid. A child is a real process running
`fieldbot run`, so SIGKILL ends it as abruptly as in production; the import cost (seconds) is paid once."""

from __future__ import annotations

import json
import os
import signal
import sys

import app.cli  # noqa: F401 - the import the children share

if __name__ == "__main__":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            try:
                app.cli.app(["run"], standalone_mode=False)
            finally:
                os._exit(0)
        print(pid, flush=True)
