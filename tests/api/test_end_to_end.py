"""A real `carerota serve` (uvicorn) on loopback: upload, solve, stop, restart, data still there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api import examples

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def carerota(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@contextmanager
def serving(database: str, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            carerota("serve", "--port", str(port), "--database", database, "--workers", "1"),
            cwd=ROOT, env=environment(), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_upload_solve_restart(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'carerota.db'}"
    made = subprocess.run(
        carerota("apikey", "create", "--role", "provider", "--provider", "wharfe-care",
                 "--database", database),
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120, check=True)
    key = made.stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    problem = examples.problem() | {"time_limit_seconds": 2}
    log = tmp_path / "serve.log"

    with serving(database, log) as base:
        put = httpx.put(f"{base}/v1/providers/wharfe-care", json=examples.provider(),
                        headers=auth, timeout=30)
        assert put.status_code == 201, put.text
        uploaded = httpx.get(f"{base}/v1/providers/wharfe-care", headers=auth).json()
        job_id = httpx.post(f"{base}/v1/solve", json=problem, headers=auth,
                            timeout=30).json()["job_id"]
        deadline = time.monotonic() + 60
        while (job := httpx.get(f"{base}/v1/jobs/{job_id}", headers=auth).json())[
                "status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "done", job

    with serving(database, log) as base:
        assert httpx.get(f"{base}/v1/providers/wharfe-care", headers=auth).json() == uploaded
        again = httpx.get(f"{base}/v1/jobs/{job_id}", headers=auth).json()
        assert again["status"] == "done"
        assert again["solution"] == job["solution"]
        assert httpx.get(f"{base}/v1/providers", headers={}).status_code == 401
