"""The `rag` argument parser: argparse that suggests the nearest name on a typo.

Python 3.14's argparse has `suggest_on_error`; this project supports 3.11, so difflib it is.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable
from typing import NoReturn

_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")
_UNKNOWN = re.compile(r"unrecognized arguments: (.*)")


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest name, or '' when none is close."""
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class RagParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors name the closest command, choice or option."""

    def error(self, message: str) -> NoReturn:
        """Print usage and the error (with a suggestion when a name is close), exit 2."""
        super().error(message + self._suggestion(message))

    def _suggestion(self, message: str) -> str:
        choice = _CHOICE.search(message)
        if choice:
            names = [n.strip().strip("'") for n in choice.group(2).split(",")]
            return did_you_mean(choice.group(1), names)
        unknown = _UNKNOWN.search(message)
        if unknown:
            options = list(_options(self))
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    hint = did_you_mean(word.split("=")[0], options)
                    if hint:
                        return hint
        return ""


def _options(parser: argparse.ArgumentParser) -> Iterable[str]:
    """Every option string of a parser and of its subcommands' parsers."""
    for action in parser._actions:
        yield from action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _options(child)
