"""The `rag` command: one module per group of subcommands, argparse only."""

from rag.cli.main import main

__all__ = ["main"]
