"""Production serving for real: gunicorn with dispatcher/gunicorn.conf.py and the WSGI entry point."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .test_wsgi import GUNICORN_CONF

pytestmark = pytest.mark.slow  # starts gunicorn with its workers

GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "rfconsole.dispatcher.wsgi:app"]


def test_gunicorn_serves_the_dispatcher(db_path: Path) -> None:
    env = {**os.environ, "RFCONSOLE_DB": str(db_path), "RFCONSOLE_BIND": "127.0.0.1:0",
           "RFCONSOLE_WORKERS": "1"}
    process = subprocess.Popen(GUNICORN, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=db_path.parent)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url is not None, "gunicorn did not report its address"
        for _ in range(100):  # the worker may still be importing the app
            try:
                with urllib.request.urlopen(f"{url}/dispatcher/health-check", timeout=5) as answer:
                    assert json.loads(answer.read()) == "Dispatcher is up and running"
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn never answered")
        with urllib.request.urlopen(f"{url}/dispatcher/get-all-runs", timeout=5) as answer:
            assert json.loads(answer.read()) == []
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert process.returncode == 0
