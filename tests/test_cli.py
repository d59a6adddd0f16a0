"""The `rag` command as a user runs it: output, --json, exit codes and `Error: …` messages."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.cli import main
from rag.config import Settings
from tests.conftest import REPO, _free_port


@pytest.fixture()
def env(cli_env):
    """The CLI's environment with a private copy of the sample documents in ./docs."""
    docs = cli_env / "docs"
    shutil.copytree(REPO / "data", docs, ignore=shutil.ignore_patterns("chroma*"))
    return docs


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for command in ("ingest", "search", "list", "delete", "collections", "doctor"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = capsys.readouterr().out
    assert "--prune" in out and "--json" in out and "--collection" in out


def test_ingest_json_summary_then_unchanged(env, capsys):
    code, out, _ = run(capsys, "ingest", str(env), "--json")
    summary = json.loads(out)
    assert code == 0
    assert set(summary) >= {"added", "updated", "unchanged", "removed", "failed", "chunks"}
    assert len(summary["added"]) == 5 and summary["failed"] == [] and summary["chunks"] > 5

    code, out, _ = run(capsys, "ingest", str(env), "--json")
    assert code == 0 and len(json.loads(out)["unchanged"]) == 5


def test_human_summary_and_failures_exit_3(env, capsys):
    (env / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    code, out, _ = run(capsys, "ingest", str(env), "--no-progress")
    assert code == 3
    assert "5 added, 0 updated, 0 unchanged, 0 removed, 1 failed" in out
    assert "failed:  docs/broken.pdf: " in out


def test_search_list_delete(env, capsys):
    run(capsys, "ingest", str(env), "--json")
    code, out, _ = run(capsys, "search", "annual leave days", "--top-k", "2", "--json")
    result = json.loads(out)
    assert code == 0 and len(result["hits"]) == 2
    assert result["hits"][0]["source"] == "docs/handbook.md"  # from the folder ingested

    code, out, _ = run(capsys, "search", "error E7")
    assert code == 0 and "1. [" in out and "docs/r2-user-manual.pdf p. 3" in out

    code, out, _ = run(capsys, "search", "annual leave days", "--by-document", "--top-k", "2")
    assert code == 0 and out.startswith("1. docs/handbook.md  (score ")
    code, out, _ = run(capsys, "search", "annual leave", "--by-document", "--json")
    grouped = json.loads(out)["documents"]
    assert grouped[0]["source"] == "docs/handbook.md"
    assert len({d["source"] for d in grouped}) == len(grouped)

    code, out, _ = run(capsys, "list", "--json")
    sources = [d["source"] for d in json.loads(out)["documents"]]
    assert sources == sorted(f"docs/{p.name}" for p in env.iterdir())

    code, out, _ = run(capsys, "delete", "docs/handbook.md")
    assert code == 0 and out.startswith("Deleted docs/handbook.md (")
    code, out, err = run(capsys, "delete", "docs/handbook.md")
    assert code == 1
    assert err.startswith("Error: no document 'docs/handbook.md' in collection 'default'")


def test_collections_are_separate_from_the_cli(env, capsys):
    run(capsys, "ingest", str(env / "handbook.md"), "--collection", "hr", "--json")
    code, out, _ = run(capsys, "list", "--collection", "hr", "--json")
    assert [d["source"] for d in json.loads(out)["documents"]] == ["handbook.md"]  # file named
    code, out, _ = run(capsys, "list", "--json")
    assert json.loads(out)["documents"] == []
    code, out, _ = run(capsys, "collections", "--json")
    assert code == 0
    assert json.loads(out)["collections"] == [{"name": "hr", "documents": 1, "chunks": 6}]


def test_unreachable_ollama_is_an_error_with_exit_1(env, capsys, monkeypatch):
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("OLLAMA_HOST", url)
    code, _, err = run(capsys, "ingest", str(env))
    assert code == 1
    assert err == f"Error: cannot reach Ollama at {url}: is `ollama serve` running?\n"


def test_bad_setting_is_an_error_with_exit_1(env, capsys, monkeypatch):
    monkeypatch.setenv("RAG_EMBED_BATCH", "many")
    code, _, err = run(capsys, "list")
    assert code == 1
    assert err == "Error: invalid RAG_EMBED_BATCH='many': must be a positive integer\n"


def test_bad_collection_name(env, capsys):
    code, _, err = run(capsys, "list", "--collection", "../etc")
    assert code == 1 and err.startswith("Error: invalid collection name '../etc'")


def test_doctor_reports_each_dependency(env, capsys, ollama):
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert "[ok  ] ollama: Ollama 0.33.0 at" in out
    assert "[ok  ] embed_model: nomic-embed-text is pulled, context 2048" in out
    ollama.configure(models=["nomic-embed-text"])
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "[FAIL] chat_model: model 'llama3.2' is not pulled: run `ollama pull llama3.2`" in out


def test_drop_needs_confirmation_off_a_terminal(env, capsys):
    run(capsys, "ingest", str(env / "handbook.md"), "--json")
    code, _, err = run(capsys, "drop", "default")
    assert code == 1 and "refusing to drop without --yes" in err
    code, out, _ = run(capsys, "drop", "default", "--yes")
    assert code == 0 and out == "Collection 'default' deleted.\n"
    code, out, _ = run(capsys, "list", "--json")
    assert json.loads(out)["documents"] == []


def test_globs_pick_only_matching_files(env, capsys, monkeypatch):
    monkeypatch.chdir(env.parent)
    code, out, _ = run(capsys, "ingest", "docs/*.md", "--json")
    added = json.loads(out)["added"]
    assert code == 0
    assert sorted(added) == [str(env / "handbook.md"), str(env / "quy-dinh-lam-viec.md")]
    code, out, _ = run(capsys, "ingest", "docs/**/*.pdf", "nothing-*.txt", "--json")
    summary = json.loads(out)
    assert code == 3
    assert summary["added"] == [str(env / "r2-user-manual.pdf")]
    assert summary["failed"] == [{"path": "nothing-*.txt", "error": "no such file or directory"}]


def test_ask_prints_the_answer_and_its_sources(env, capsys):
    run(capsys, "ingest", str(env), "--json")
    code, out, _ = run(capsys, "ask", "What does error E7 mean?")
    assert code == 0
    assert "Error E7 means the dust bin is missing" in out
    assert "Sources:\n  [1] docs/r2-user-manual.pdf p. 3" in out
    code, out, _ = run(capsys, "ask", "quantum chromodynamics lattice gauge", "--json")
    body = json.loads(out)
    assert (code, body["answerable"], body["reason"]) == (0, False, "nothing_relevant")


E7 = "Error E7 means the dust bin is missing: insert the bin until it clicks."


def test_ask_streams_no_citation_naming_no_source(env, capsys, ollama):
    run(capsys, "ingest", str(env), "--json")
    ollama.configure(fake_citation=True)  # the double's answer ends with " [9]"
    code, out, _ = run(capsys, "ask", "What does error E7 mean?")
    streamed, sources = out.split("\n\nSources:\n")
    assert code == 0 and streamed == f"{E7} [1]"
    assert sources.endswith("  (removed citations to no source: [9])\n")
    code, out, _ = run(capsys, "ask", "What does error E7 mean?", "--json")
    body = json.loads(out)
    assert body["dropped_citations"] == [9] and "[9" not in body["answer"]


def without_timings(body: dict) -> dict:
    return {**body, "timings": sorted(body["timings"])}


def test_json_output_is_the_api_body(env, capsys):
    run(capsys, "ingest", str(env), "--json")
    cli = {
        "search": run(capsys, "search", "annual leave days", "--explain", "--json")[1],
        "ask": run(capsys, "ask", "What does error E7 mean?", "--json")[1],
        "list": run(capsys, "list", "--json")[1],
        "collections": run(capsys, "collections", "--json")[1],
    }
    with TestClient(create_app(Settings.load())) as api:
        search = api.post("/search", json={"query": "annual leave days", "explain": True})
        asked = api.post("/ask", json={"question": "What does error E7 mean?"})
        listed, collections = api.get("/documents"), api.get("/collections")
    assert without_timings(json.loads(cli["search"])) == without_timings(search.json())
    assert without_timings(json.loads(cli["ask"])) == without_timings(asked.json())
    assert json.loads(cli["list"]) == listed.json()
    assert json.loads(cli["collections"]) == collections.json()


def test_unknown_collection_is_an_error_listing_the_existing_ones(env, capsys):
    run(capsys, "ingest", str(env / "handbook.md"), "--collection", "hr", "--json")
    for argv in (
        ("ask", "How many days of leave?", "-c", "hrr"),
        ("search", "leave", "-c", "hrr"),
        ("list", "-c", "hrr"),
        ("drop", "hrr", "--yes"),
    ):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert err == (
            "Error: no collection 'hrr' (did you mean 'hr'?); existing collections: hr\n"
        ), argv
    code, out, _ = run(capsys, "list", "-c", "hr", "--json")
    assert code == 0 and len(json.loads(out)["documents"]) == 1


def test_drop_of_the_empty_default_collection_says_it_does_not_exist(env, capsys):
    code, out, err = run(capsys, "drop", "default", "--yes")
    assert code == 1 and "deleted" not in out
    assert err == "Error: no collection 'default'; existing collections: none yet\n"


def test_version(capsys):
    from rag import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"rag {__version__}\n"


def test_every_subcommand_has_a_description():
    import argparse

    from rag.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [name for name, p in sub.choices.items() if not (p.description or "").strip()]
    assert set(sub.choices) >= {"ingest", "list", "delete", "collections", "drop", "doctor"}
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["serach", "leave"], "(did you mean 'search'?)"),
        (["search", "leave", "--mode", "hybird"], "(did you mean 'hybrid'?)"),
        (["search", "leave", "--explian"], "(did you mean '--explain'?)"),
    ],
)
def test_typos_get_a_suggestion(capsys, argv, hint):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and hint in err.splitlines()[-1]


def test_nonsense_gets_no_suggestion(capsys):
    with pytest.raises(SystemExit):
        main(["zzzzqqq"])
    assert "did you mean" not in capsys.readouterr().err


def test_eta_counts_down_through_a_long_parse_instead_of_climbing():
    from itertools import pairwise
    from types import SimpleNamespace

    from rag.cli.progress import ProgressBar

    bar = ProgressBar(enabled=False)
    p = SimpleNamespace(
        files_total=3,
        files_done=1,
        bytes_total=3_000,
        bytes_done=1_000,
        bytes_parsed=1_000,
        bytes_skipped=0,
        chunks_found=100,
        chunks_embedded=100,
        started=0.0,
    )
    shown = [bar.eta(p, now=float(t)) for t in range(5, 12)]  # a big file parses: no progress
    assert all(b < a for a, b in pairwise(shown))
    p.chunks_found, p.bytes_parsed, p.chunks_embedded = 300, 3_000, 250  # it parsed, fewer chunks
    later = bar.eta(p, now=12.0)
    assert later is not None and later <= shown[-1]
    p.files_done = 3
    assert bar.eta(p, now=13.0) == 0.0
