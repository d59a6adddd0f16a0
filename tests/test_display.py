"""Sources as users and the model see them: relative to the folder ingested, never a server path."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.run import ingest_paths
from rag.api.app import create_app
from rag.cli import main
from rag.config import Settings
from rag.display import display_source, source_names
from rag.errors import ConfigError
from rag.kb import KnowledgeBase
from rag.models import Hit
from tests.conftest import REPO

E7 = "What does error E7 mean?"


def copy_samples(target: Path) -> Path:
    shutil.copytree(REPO / "data", target, ignore=shutil.ignore_patterns("chroma*"))
    return target


def shown(sources: list[str], roots: list[str], display_root: str | None = None) -> list[str]:
    names = source_names(sources, roots, display_root)
    return [names.show(s) for s in sources]


# -- the rules ---------------------------------------------------------------------------------


def test_a_source_is_shown_from_the_parent_of_the_folder_or_file_ingested():
    sources = ["/srv/docs/hr/handbook.md", "/srv/docs/hr/leave/sick.md", "/home/u/notes.md"]
    assert shown([*sources, "uploads/faq.md"], ["/srv/docs/hr", "/home/u/notes.md"]) == [
        "hr/handbook.md",
        "hr/leave/sick.md",
        "notes.md",
        "uploads/faq.md",
    ]


def test_two_roots_of_the_same_name_stay_apart():
    sources = ["/a/docs/handbook.md", "/b/docs/handbook.md", "/c/hr/x.md"]
    assert shown(sources, ["/a/docs", "/b/docs", "/c/hr"]) == [
        "a/docs/handbook.md",
        "b/docs/handbook.md",
        "hr/x.md",
    ]
    files = ["/a/notes.md", "/b/notes.md"]  # two files of one name, each ingested by itself
    assert shown(files, files) == ["a/notes.md", "b/notes.md"]


def test_displays_never_collide_and_lead_back_to_their_source():
    # /q/docs/hr and /r/hr clash as `hr`; `docs/hr` would then hold /p/docs's hr folder.
    sources = ["/p/docs/hr/x.md", "/q/docs/hr/x.md", "/r/hr/x.md", "/s/uploads/x.md"]
    names = source_names(
        [*sources, "uploads/x.md"], ["/p/docs", "/q/docs/hr", "/r/hr", "/s/uploads"]
    )
    displays = [names.show(s) for s in [*sources, "uploads/x.md"]]
    assert len(set(displays)) == len(displays) and not any(d.startswith("/") for d in displays)
    assert names.show("uploads/x.md") == "uploads/x.md"  # an upload keeps its name
    for source, display in zip(sources, displays, strict=False):
        assert names.sources_shown_as(display) == (source,)
        assert source.endswith("/" + display)  # so a source filter matches it


def test_the_outermost_root_wins_and_unrooted_sources_share_their_common_folder():
    assert shown(["/srv/docs/hr/a.md"], ["/srv/docs", "/srv/docs/hr"]) == ["docs/hr/a.md"]
    old = ["/srv/docs/hr/a.md", "/srv/docs/hr/leave/b.md"]  # catalogs from before roots
    assert shown(old, []) == ["hr/a.md", "hr/leave/b.md"]


def test_the_display_root_makes_sources_relative_to_it():
    sources = ["/srv/docs/hr/a.md", "/elsewhere/x/b.md"]
    assert shown(sources, ["/srv/docs/hr", "/elsewhere/x"], "/srv") == ["docs/hr/a.md", "x/b.md"]


def test_a_hit_never_named_by_the_knowledge_base_shows_its_file_name_only():
    assert display_source(Hit("c", "/srv/secret/handbook.md", "text", 1.0)) == "handbook.md"


def test_the_display_root_setting_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings.from_mapping({"RAG_DISPLAY_ROOT": "~"}).display_root == tmp_path.resolve()
    for value, why in [("docs", "must be an absolute path"), ("/no/such/dir", "no such folder")]:
        with pytest.raises(ConfigError, match=f"invalid RAG_DISPLAY_ROOT='{value}': {why}"):
            Settings.from_mapping({"RAG_DISPLAY_ROOT": value})


# -- the API -----------------------------------------------------------------------------------


def test_responses_never_hold_a_server_path(settings, tmp_path):
    docs = copy_samples(tmp_path / "srv" / "hr")
    with TestClient(create_app(settings)) as api:
        report = ingest_paths(api.app.state.rag.kb, settings.collection, [str(docs)])
        assert report.ok, report.to_dict()
        responses = {
            "search": api.post("/search", json={"query": "annual leave", "group_by": "document"}),
            "ask": api.post("/ask", json={"question": E7}),
            "ask stream": api.post("/ask", json={"question": E7, "stream": True}),
            "documents": api.get("/documents"),
            "openai": api.post(
                "/v1/chat/completions",
                json={
                    "model": "rag",
                    "stream": True,
                    "messages": [{"role": "user", "content": E7}],
                },
            ),
            "ollama": api.post(
                "/api/chat", json={"model": "rag", "messages": [{"role": "user", "content": E7}]}
            ),
            "generate": api.post("/api/generate", json={"model": "rag", "prompt": E7}),
        }
        hit = responses["search"].json()["hits"][0]
        responses["chunk"] = api.get(f"/chunks/{hit['chunk_id']}")
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        for server_path in (str(tmp_path), str(settings.data_dir)):
            assert server_path not in response.text, name
    assert hit["source"] == "hr/handbook.md"
    assert responses["ask"].json()["citations"][0]["source"] == "hr/r2-user-manual.pdf"
    assert "[1] hr/r2-user-manual.pdf, p. 3" in responses["openai"].text  # the Sources footer
    assert responses["chunk"].json()["document"]["source"] == "hr/handbook.md"
    listed = sorted(d["source"] for d in responses["documents"].json()["documents"])
    assert listed == sorted(f"hr/{p.name}" for p in docs.iterdir())


def test_a_source_filter_takes_the_displayed_form(settings, tmp_path):
    copy_samples(tmp_path / "a" / "docs")
    copy_samples(tmp_path / "b" / "docs")
    with TestClient(create_app(settings)) as api:
        kb = api.app.state.rag.kb
        ingest_paths(kb, settings.collection, [str(tmp_path / "a" / "docs")])
        ingest_paths(kb, settings.collection, [str(tmp_path / "b" / "docs")])
        api.post("/documents", files=[("files", ("faq.md", b"# FAQ\n\nAnnual leave is 18 days."))])
        query = {"query": "annual leave", "top_k": 20}

        def sources(source: str) -> set[str]:
            found = api.post("/search", json={**query, "filters": {"source": source}}).json()
            return {h["source"] for h in found["hits"]}

        assert sources("a/docs/handbook.md") == {"a/docs/handbook.md"}
        assert sources(str(tmp_path / "b" / "docs" / "handbook.md")) == {"b/docs/handbook.md"}
        assert sources("uploads/faq.md") == {"uploads/faq.md"}
        assert sources("handbook.md") == {"a/docs/handbook.md", "b/docs/handbook.md"}


def test_the_display_root_setting_applies(settings, tmp_path):
    docs = copy_samples(tmp_path / "srv" / "hr")
    with TestClient(create_app(settings.with_(display_root=tmp_path.resolve()))) as api:
        ingest_paths(api.app.state.rag.kb, settings.collection, [str(docs)])
        hits = api.post("/search", json={"query": "annual leave"}).json()["hits"]
    assert hits[0]["source"] == "srv/hr/handbook.md"


# -- the catalog -------------------------------------------------------------------------------


def test_a_catalog_from_before_roots_opens_and_shows_relative_sources(settings, tmp_path):
    docs = copy_samples(tmp_path / "srv" / "docs")
    with KnowledgeBase(settings) as kb:
        ingest_paths(kb, settings.collection, [str(docs)])
    with sqlite3.connect(settings.catalog_path) as db:  # the schema before this change
        db.execute("DROP TABLE roots")
    with KnowledgeBase(settings) as kb:
        records = kb.documents(settings.collection)
        assert [r.display for r in records] == [
            f"docs/{r.source.rsplit('/', 1)[1]}" for r in records
        ]
        assert kb.delete_document(settings.collection, "docs/handbook.md").source == str(
            docs / "handbook.md"
        )
        report = ingest_paths(kb, settings.collection, [str(docs)])  # records its root now
        assert report.added == [str(docs / "handbook.md")] and len(report.unchanged) == 4
        assert {r.display for r in kb.documents(settings.collection)} == {
            f"docs/{p.name}" for p in docs.iterdir()
        }


# -- the CLI -----------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_shows_and_deletes_by_the_displayed_source(cli_env, capsys, monkeypatch):
    one, two = copy_samples(cli_env / "a" / "docs"), copy_samples(cli_env / "b" / "docs")
    assert run(capsys, "ingest", str(one), str(two), "--json")[0] == 0
    code, out, _ = run(capsys, "list")
    assert code == 0 and "a/docs/handbook.md" in out and "b/docs/handbook.md" in out
    assert str(cli_env) not in out
    code, out, _ = run(capsys, "search", "error E7", "--source", "b/docs/*")
    assert "b/docs/r2-user-manual.pdf p. 3" in out and "a/docs/" not in out

    monkeypatch.chdir(cli_env / "b")  # where `a/docs/handbook.md` is no path at all
    code, out, _ = run(capsys, "delete", "a/docs/handbook.md")
    assert code == 0 and out.startswith("Deleted a/docs/handbook.md (")
    code, out, _ = run(capsys, "delete", "docs/handbook.md")  # a relative path still works
    assert code == 0 and out.startswith("Deleted b/docs/handbook.md (")
    code, out, _ = run(capsys, "delete", str(one / "support-faq.html"))  # and an absolute one
    assert code == 0 and out.startswith("Deleted a/docs/support-faq.html (")
    code, _, err = run(capsys, "delete", "a/docs/handbook.md")
    assert code == 1 and err.startswith("Error: no document 'a/docs/handbook.md'")
    listed = json.loads(run(capsys, "list", "--json")[1])["documents"]
    assert len(listed) == 7 and not any(d["source"].endswith("/handbook.md") for d in listed)


def test_a_glob_is_shown_from_the_folder_it_starts_in(cli_env, capsys):
    docs = copy_samples(cli_env / "srv" / "hr")
    assert run(capsys, "ingest", str(docs / "*.md"), "--json")[0] == 0
    listed = json.loads(run(capsys, "list", "--json")[1])["documents"]
    assert sorted(d["source"] for d in listed) == ["hr/handbook.md", "hr/quy-dinh-lam-viec.md"]
