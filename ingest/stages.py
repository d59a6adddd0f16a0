"""Running the pipeline's stage threads: a shared stop, the first fatal error, bounded hand-offs."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ingest.report import Progress


class Stages:
    """What every stage thread of a run shares; the pipeline adds the stages themselves."""

    on_progress: Callable[[Progress], None] | None
    progress: Progress

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._fatal: BaseException | None = None

    def _wait(self, threads: list[threading.Thread]) -> None:
        while any(t.is_alive() for t in threads):
            self._tick(0.1, threads)

    def _tick(self, wait: float, threads: list[threading.Thread]) -> None:
        # Join a thread that is still alive: joining a finished one returns at once, and the
        # loop would spin holding the GIL while the writer works (it made ingest 6x slower).
        alive = [t for t in threads if t.is_alive()]
        if alive:
            alive[0].join(wait)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _guard(self, stage: Callable[..., None], *args: object) -> None:
        try:
            stage(*args)
        except BaseException as exc:  # any stage failing stops the whole run cleanly
            if self._fatal is None:
                self._fatal = exc
            self._stop.set()

    def _put(self, target: queue.Queue[Any], item: object) -> bool:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
