"""Start the real app (``streamlit run app.py``) on a free port of 127.0.0.1, offline, for the
browser tests and benchmarks. One place, so that tests and benchmarks start it alike."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def page_failures(log_text: str) -> list[str]:
    """The lines of a server log that say a page, the sidebar or a fragment failed: app.py's
    two (the student saw the polite error) and Streamlit's own (a fragment's bug: the student
    saw a traceback)."""
    return [line for line in log_text.splitlines()
            if (line.startswith("page ") and line.endswith(" failed"))
            or line == "the sidebar failed" or "Uncaught app execution" in line]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app's URL once its health check answers; its log goes to ``log_path``. A page
    that failed while it ran (see ``page_failures``) fails the ``with`` block at its end."""
    port = free_port()
    # the app as students get it (the polite error), unless a caller asks otherwise
    inherited = {k: v for k, v in os.environ.items() if k != "CNN_EXPLAINER_RAISE"}
    env = {**inherited, "CNN_EXPLAINER_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if failures := page_failures(log_path.read_text(errors="replace")):
        raise AssertionError(f"the app logged a page failure ({log_path}): {failures}")


def server_rss_bytes(url: str) -> int:
    """The resident memory of the app server serving ``url`` (found by its port);
    ``LookupError`` when no such process runs."""
    port = url.rsplit(":", 1)[1].encode()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"streamlit" in cmdline and b"\0" + port + b"\0" in cmdline:
                status = (proc / "status").read_text()
                return int(status.split("VmRSS:")[1].split()[0]) * 1024
        except (OSError, IndexError):
            continue
    raise LookupError(f"no app server at {url}")
