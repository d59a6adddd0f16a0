"""Knobs, statistics, fault rules and loaded-model bookkeeping (thread-safe)."""

import copy
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .models import ALL_MODEL_NAMES, canonical
from .wire import FOREVER_S

DEFAULT_KNOBS: dict[str, Any] = {
    "latency_s": 0.0,
    "embed_cost_s": 0.0,
    "cold_load_s": 0.0,
    "token_delay_s": 0.0,
    "faults": [],
    "models": list(ALL_MODEL_NAMES),
    "embed_ctx": 0,
    "chat_num_ctx_default": 4096,
    "chat_parallel": 1,
    "fake_citation": False,
    "chat_reply": None,
    "chat_tool_calls": None,
    "embed_unsupported_status": 501,
    "embed_unsupported_error": "this model does not support embeddings",
    "keep_alive_default_s": 300.0,
}
RECENT_INPUTS = 200


def _check_knob(name: str, value: Any) -> Any:
    if name not in DEFAULT_KNOBS:
        raise ValueError(f"unknown knob: {name}")
    default = DEFAULT_KNOBS[name]
    if name == "faults":
        return [normalize_fault(rule) for rule in value or []]
    if name == "models":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("knob models must be a list of model names")
        return list(value)
    if name == "chat_tool_calls":
        return _check_tool_calls(value)
    if name == "chat_reply":
        if value is not None and not isinstance(value, str):
            raise ValueError("knob chat_reply must be a string or null")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"knob {name} must be a boolean")
        return value
    if isinstance(default, int | float) and not isinstance(value, bool):
        value = 0 if value is None and isinstance(default, int) else value
        if isinstance(value, int | float):
            return type(default)(value)
    if isinstance(default, str) and isinstance(value, str):
        return value
    raise ValueError(f"knob {name} must be of type {type(default).__name__}")


def _check_tool_calls(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(c, dict)
        and isinstance(c.get("name"), str)
        and isinstance(c.get("arguments", {}), dict)
        for c in value
    )
    if not ok:
        raise ValueError("knob chat_tool_calls must be a list of {name, arguments} or null")
    return [dict(c) for c in value]


def normalize_fault(rule: Any) -> dict[str, Any]:
    """Validate one fault rule and fill in defaults (count 1, after 0, after_chunks 3)."""
    if not isinstance(rule, dict) or not isinstance(rule.get("path"), str):
        raise ValueError("a fault rule must be an object with a string 'path'")
    kinds = [k for k in ("status", "drop", "midstream_error") if rule.get(k) not in (None, False)]
    if len(kinds) != 1:
        raise ValueError("a fault rule needs exactly one of status, drop, midstream_error")
    out = dict(rule)
    out["kind"] = kinds[0]
    for key, default in (("count", 1), ("after", 0), ("after_chunks", 3)):
        value = out.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"fault rule field {key} must be an integer")
        out[key] = value
    return out


@dataclass
class Loaded:
    """A loaded model: when it expires and the context it was loaded with."""

    expires_ns: int
    context_length: int


def _fresh_stats() -> dict[str, Any]:
    return {
        "requests": {},
        "embed_requests": 0,
        "embed_inputs": 0,
        "max_batch": 0,
        "busy_s": 0.0,
        "chat_requests": 0,
        "last_chat": None,
        "recent_inputs": deque(maxlen=RECENT_INPUTS),
        "last_chat_truncated": False,
        "faults_fired": 0,
    }


class State:
    """Everything the handlers share; all methods are thread-safe."""

    def __init__(self, **knobs: Any) -> None:
        self._lock = threading.RLock()
        self.embed_lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._baseline = {**copy.deepcopy(DEFAULT_KNOBS), **self._validated(knobs)}
        self.knobs: dict[str, Any] = {}
        self._stats = _fresh_stats()
        self._loaded: dict[str, Loaded] = {}
        self.chat_slots = threading.BoundedSemaphore(1)
        self.reset()

    @staticmethod
    def _validated(knobs: dict[str, Any]) -> dict[str, Any]:
        return {name: _check_knob(name, value) for name, value in knobs.items()}

    def reset(self) -> None:
        """Restore the instance's baseline knobs, clear stats, faults and loaded models."""
        with self._lock:
            self.knobs = copy.deepcopy(self._baseline)
            self._stats = _fresh_stats()
            self._loaded.clear()
            self.chat_slots = threading.BoundedSemaphore(max(1, self.knobs["chat_parallel"]))

    def configure(self, **knobs: Any) -> None:
        """Merge knob values (validated; raises ValueError on unknown names or bad types)."""
        checked = self._validated(knobs)
        with self._lock:
            self.knobs.update(checked)
            if "chat_parallel" in checked:
                self.chat_slots = threading.BoundedSemaphore(max(1, checked["chat_parallel"]))
            if "models" in checked:
                pulled = {canonical(m) for m in checked["models"]}
                for name in [n for n in self._loaded if canonical(n) not in pulled]:
                    del self._loaded[name]

    def knobs_snapshot(self) -> dict[str, Any]:
        """A copy of all current knob values."""
        with self._lock:
            return copy.deepcopy(self.knobs)

    def knob(self, name: str) -> Any:
        """Current value of one knob."""
        with self._lock:
            return self.knobs[name]

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the statistics."""
        with self._lock:
            out = copy.deepcopy(self._stats)
            out["recent_inputs"] = list(out["recent_inputs"])
            out["busy_s"] = round(out["busy_s"], 6)
            out["loaded"] = [name for name, _, _ in self.loaded_models()]
            return out

    def count_request(self, path: str) -> None:
        """Count one request to path."""
        with self._lock:
            requests = self._stats["requests"]
            requests[path] = requests.get(path, 0) + 1

    def take_fault(self, path: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """Advance the rules matching path and kinds; return the one that fires, if any."""
        fired = None
        with self._lock:
            for rule in self.knobs["faults"]:
                if rule["path"] != path or rule["kind"] not in kinds or rule["count"] == 0:
                    continue
                if rule["after"] > 0:
                    rule["after"] -= 1
                elif fired is None:
                    fired = dict(rule)
                    rule["count"] -= 1  # negative counts never run out
            if fired is not None:
                self._stats["faults_fired"] += 1
        return fired

    def record_embed(self, inputs: list[str], busy_s: float) -> None:
        """Account one embedding batch."""
        with self._lock:
            stats = self._stats
            stats["embed_requests"] += 1
            stats["embed_inputs"] += len(inputs)
            stats["max_batch"] = max(stats["max_batch"], len(inputs))
            stats["busy_s"] += busy_s
            stats["recent_inputs"].extend(inputs)

    def record_chat(self, body: dict[str, Any], truncated: bool) -> None:
        """Account one generating chat request."""
        with self._lock:
            self._stats["chat_requests"] += 1
            self._stats["last_chat"] = copy.deepcopy(body)
            self._stats["last_chat_truncated"] = truncated

    def _load_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._load_locks.setdefault(name, threading.Lock())

    def ensure_loaded(self, name: str, context_length: int, keep_alive_s: float) -> int:
        """Load name if needed (sleeping cold_load_s); return the load duration in ns."""
        start = time.perf_counter_ns()
        with self._load_lock(name):
            with self._lock:
                entry = self._loaded.get(name)
                warm = (
                    entry is not None
                    and entry.expires_ns > time.time_ns()
                    and entry.context_length == context_length
                )
                cold_s = self.knobs["cold_load_s"]
            if not warm and cold_s > 0:
                time.sleep(cold_s)
            self.release(name, context_length, max(keep_alive_s, 1.0))
        return max(time.perf_counter_ns() - start, 1)

    def release(self, name: str, context_length: int, keep_alive_s: float) -> None:
        """Start the keep-alive timer of name (0 unloads it now)."""
        with self._lock:
            if keep_alive_s <= 0:
                self._loaded.pop(name, None)
                return
            expires = time.time_ns() + int(min(keep_alive_s, FOREVER_S) * 1e9)
            self._loaded[name] = Loaded(expires, context_length)

    def unload(self, name: str) -> None:
        """Unload name immediately."""
        with self._lock:
            self._loaded.pop(name, None)

    def loaded_models(self) -> list[tuple[str, int, int]]:
        """(name, expires_ns, context_length) of live models, longest remaining first."""
        now = time.time_ns()
        with self._lock:
            live = [(n, e.expires_ns, e.context_length) for n, e in self._loaded.items()]
        live = [item for item in live if item[1] > now]
        return sorted(live, key=lambda item: -item[1])
