"""Shared bench helpers: free ports, load average, percentiles, RSS, child services."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RAG_SHARED_DIR") or ROOT.parent / "shared")
PY = sys.executable
EMBED_COST_S = 0.005  # a real embedder's cost per chunk, for the efficiency figures


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load() -> float:
    """The 1-minute load average, rounded."""
    return round(os.getloadavg()[0], 2)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean (same unit as the values) and the sample count."""
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=np.float64)
    out = {f"p{p}": round(float(np.percentile(arr, p)), 2) for p in (50, 95, 99)}
    return {**out, "mean": round(float(arr.mean()), 2), "n": len(values)}


def rss_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a live process, in MB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_mb"] = round(int(rest.split()[0]) / 1024)
    return out


def bench_settings(ollama_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a bench run: isolated data dir, the double, quick retries."""
    base: dict[str, Any] = {
        "ollama_host": ollama_url,
        "data_dir": data_dir,
        "ollama_retries": 2,
        "ollama_timeout": 60.0,
    }
    return Settings(**{**base, **overrides}).validated()


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Poll url until it answers 200; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal a child we started and wait for it (killed if it does not exit)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Child:
    """A child process serving HTTP on a loopback port; its output goes to a log file."""

    def __init__(self, args: list[str], port: int, ready: str, log: Path, **env: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env}
            )
        try:
            wait_http(self.url + ready, self.proc)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self.proc.pid)

    def rss(self) -> dict[str, float]:
        """The child's current and peak RSS in MB."""
        return rss_mb(self.pid)

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 30 s)."""
        stop(self.proc)


class DoubleProc(Child):
    """The Ollama test double in its own process, as a real Ollama would be."""

    def __init__(self, log: Path, module: str = "tests.ollama_double", **knobs: float) -> None:
        args = [PY, "-m", module, "--port", str(port := free_port())]
        for name, value in knobs.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        super().__init__(args, port, "/api/version", log)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def configure(self, **knobs: Any) -> None:
        """Change knobs at runtime."""
        self.http.post("/_double/config", json=knobs).raise_for_status()

    def reset(self) -> None:
        """Back to the start-up knobs; clears statistics."""
        self.http.post("/_double/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The double's request statistics (busy_s, embed_inputs, ...)."""
        data: dict[str, Any] = self.http.get("/_double/stats").json()
        return data

    def lock_gaps(self) -> dict[str, float]:
        """Idle gaps of the embed lock (bench.fast_double only; {} for the stock double)."""
        response = self.http.get("/_bench/lock")
        return dict(response.json()) if response.status_code == 200 else {}

    def stop(self) -> None:
        """Close the control client and stop the process."""
        if hasattr(self, "http"):
            self.http.close()
        super().stop()


class ChromaServer(Child):
    """`chroma run` from the venv on a free loopback port, serving path."""

    def __init__(self, path: Path, log: Path) -> None:
        chroma = str(Path(PY).with_name("chroma"))
        port = free_port()
        args = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
        super().__init__(args, port, "/api/v2/heartbeat", log)
