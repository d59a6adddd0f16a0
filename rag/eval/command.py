"""`rag eval DATASET`: retrieval quality on a BEIR folder (rag.eval.beir) or answer quality on
a SQuAD file (rag.eval.qa), measured on a throwaway collection."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import BadRequest
from rag.eval.beir import print_beir, run_beir
from rag.eval.qa import print_qa, run_qa
from rag.kb import KnowledgeBase


def add_parser(sub: Any) -> None:
    """Register `rag eval`."""
    p = sub.add_parser(
        "eval",
        help="measure retrieval (BEIR folder) or answer quality (SQuAD file)",
        description="Ingest a benchmark into a throwaway collection and measure it. A BEIR folder "
        "(corpus.jsonl, queries.jsonl, qrels/*.tsv) reports nDCG@10, Recall@10/100, MRR@10 and "
        "latency for dense, keyword and hybrid retrieval. A SQuAD-format .json file (or --qa) "
        "reports the gold paragraph's hit rate, answers citing it, and refusals on questions "
        "whose paragraph was held out of the index.",
    )
    p.add_argument("dataset", metavar="DATASET", help="BEIR folder or SQuAD .json file")
    p.add_argument("--split", help="qrels split (default: test, else train, else the only one)")
    p.add_argument("--qa", action="store_true", help="treat DATASET as SQuAD-format QA")
    p.add_argument("--limit", type=_positive, metavar="N", help="evaluate the first N queries")
    p.add_argument("-c", "--collection", help="throwaway collection (default eval-<dataset>)")
    p.add_argument("--keep", action="store_true", help="keep the index to reuse next time")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_eval)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Run the evaluation and print the table (or JSON)."""
    path = Path(args.dataset).expanduser()
    qa = args.qa or (path.is_file() and path.suffix.lower() == ".json")
    if not path.exists():
        raise BadRequest(f"no such dataset: {args.dataset}")
    with KnowledgeBase(settings, role="eval") as kb:
        if qa:
            result = run_qa(kb, path, args)
            show = print_qa
        else:
            result = run_beir(kb, path, args)
            show = print_beir
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        show(result)
    return 0
