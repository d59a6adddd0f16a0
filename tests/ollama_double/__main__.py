"""CLI: `python -m tests.ollama_double --port PORT [--host HOST] [--knob-name VALUE ...]`."""

import argparse
import contextlib
import json
import signal
import sys
from typing import Any

from .double import OllamaDouble
from .state import DEFAULT_KNOBS


def _number_type(name: str) -> type:
    return float if isinstance(DEFAULT_KNOBS[name], float) else int


def build_parser() -> argparse.ArgumentParser:
    """Argument parser with one `--knob-name` flag per knob."""
    parser = argparse.ArgumentParser(prog="python -m tests.ollama_double", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    for name, default in DEFAULT_KNOBS.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action="store_true", default=None)
        elif name == "models":
            parser.add_argument(flag, dest=name, help="comma-separated model names")
        elif name in ("faults", "chat_tool_calls"):
            parser.add_argument(flag, dest=name, type=json.loads, help="JSON list")
        elif isinstance(default, str) or default is None:
            parser.add_argument(flag, dest=name)
        else:
            parser.add_argument(flag, dest=name, type=_number_type(name))
    return parser


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Run the double until SIGTERM/SIGINT."""
    args = vars(build_parser().parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    knobs = {name: value for name, value in args.items() if value is not None}
    if isinstance(knobs.get("models"), str):
        knobs["models"] = [m.strip() for m in knobs["models"].split(",") if m.strip()]
    try:
        double = OllamaDouble(port=port, host=host, **knobs)
    except ValueError as err:
        print(f"ollama double: {err}", file=sys.stderr)
        return 2
    double.bind()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    print(f"ollama double listening on {double.url}", flush=True)
    with contextlib.suppress(SystemExit):
        double.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
