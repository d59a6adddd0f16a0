"""`rag eval`: BEIR retrieval metrics and SQuAD QA checks, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.eval.beir import choose_split, load_beir, read_qrels
from rag.eval.common import collection_for
from rag.eval.qa import hold_out, load_squad, pick_questions

METRICS = {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms"}
CORPUS = [
    ("d1", "Axolotl regeneration", "The axolotl regrows whole limbs after amputation."),
    ("d2", "Quasar luminosity", "Quasars outshine their host galaxies by far."),
    ("d3", "Sourdough baking", "A sourdough starter ferments flour with wild yeast."),
    ("d4", "Glacier calving", "Calving glaciers shed icebergs into fjords."),
    ("d5", "Origami", "Tessellations fold a single sheet into repeating tiles."),
]
QUERIES = [
    ("q1", "How does the axolotl regrow limbs?"),
    ("q2", "What ferments in a sourdough starter?"),
    ("q3", "Why do glaciers shed icebergs?"),
    ("q4", "A query without judgements is not evaluated"),
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq3\td4\t1\nq3\td2\t0\n"


@pytest.fixture()
def env(cli_env):
    """The CLI's environment (see conftest.cli_env)."""
    return cli_env


@pytest.fixture()
def beir(tmp_path) -> Path:
    """A five-document BEIR folder with three judged queries (and one unjudged)."""
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as out:
        for key, title, text in CORPUS:
            out.write(json.dumps({"_id": key, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as out:
        for key, text in QUERIES:
            out.write(json.dumps({"_id": key, "text": text, "metadata": {}}) + "\n")
    (folder / "qrels" / "train.tsv").write_text(QRELS)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_beir_json_report_and_perfect_keyword_ranking(env, beir, capsys):
    code, out, err = run(capsys, "eval", str(beir), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"] == "tiny" and report["split"] == "train"
    assert report["collection"] == "eval-tiny" and report["kept"] is False
    assert report["documents"] == 5 and report["queries"] == 3  # q4 has no qrels
    ingest = report["ingest"]
    assert (ingest["ingested"], ingest["reused"], ingest["failed"]) == (5, 0, 0)
    assert set(report["modes"]) == {"dense", "keyword", "hybrid"}
    for scores in report["modes"].values():
        assert set(scores) == METRICS
        assert set(scores["latency_ms"]) == {"p50", "p95"}
        assert all(0.0 <= scores[m] <= 1.0 for m in METRICS - {"latency_ms"})
    # Each query shares rare words with its one relevant document: BM25 puts it first.
    keyword = report["modes"]["keyword"]
    assert keyword["ndcg@10"] == keyword["mrr@10"] == keyword["recall@10"] == 1.0
    # Five documents: every mode finds all relevant ones within 100.
    assert all(scores["recall@100"] == 1.0 for scores in report["modes"].values())
    # The throwaway collection is gone afterwards.
    code, out, _ = run(capsys, "collections", "--json")
    assert "eval-tiny" not in {c["name"] for c in json.loads(out)["collections"]}


def test_beir_table_keep_reuses_the_index(env, beir, capsys):
    code, out, _ = run(capsys, "eval", str(beir), "--keep", "--limit", "2", "-c", "mine")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("tiny (train): 2 queries, 5 documents")
    assert lines[1].split() == [
        "mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50", "ms", "p95", "ms"
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[2:5]] == ["dense", "keyword", "hybrid"]
    assert "5 ingested, 0 reused" in out and "collection kept" in out

    code, out, _ = run(capsys, "eval", str(beir), "--keep", "--json", "-c", "mine")
    report = json.loads(out)
    assert code == 0 and report["ingest"]["ingested"] == 0 and report["ingest"]["reused"] == 5
    code, out, _ = run(capsys, "list", "-c", "mine", "--json")
    sources = sorted(d["source"] for d in json.loads(out)["documents"])
    assert sources == [f"beir/tiny/d{n}.txt" for n in range(1, 6)]


def test_eval_refuses_a_collection_with_other_documents(env, beir, capsys):
    (env / "notes.md").write_text("# Notes\n\nMy own notes about axolotls.\n")
    assert run(capsys, "ingest", str(env / "notes.md"), "--json")[0] == 0
    code, _, err = run(capsys, "eval", str(beir), "-c", "default")
    assert code == 1 and "Error: collection 'default' holds other documents" in err
    code, out, _ = run(capsys, "list", "--json")
    assert [d["source"] for d in json.loads(out)["documents"]] == ["notes.md"]


def test_bad_datasets_are_explained(env, tmp_path, capsys):
    code, _, err = run(capsys, "eval", str(tmp_path / "missing"))
    assert code == 1 and "Error: no such dataset" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "eval", str(tmp_path / "empty"))
    assert code == 1 and "corpus.jsonl is missing" in err
    (tmp_path / "broken.json").write_text('{"data": [{"title": "x"}]}')
    code, _, err = run(capsys, "eval", str(tmp_path / "broken.json"))
    assert code == 1 and "is not a SQuAD-format file" in err


def test_split_choice_and_qrels_parsing(tmp_path, beir):
    assert choose_split(beir, None) == "train"
    (beir / "qrels" / "test.tsv").write_text("q1\td1\t1\n")  # no header line
    (beir / "qrels" / "dev.tsv").write_text("q2\td3\t1\n")
    assert choose_split(beir, None) == "test"
    assert choose_split(beir, "dev") == "dev"
    with pytest.raises(Exception, match=r"no qrels/nope\.tsv"):
        choose_split(beir, "nope")
    assert read_qrels(beir / "qrels" / "train.tsv") == {
        "q1": {"d1": 1},
        "q2": {"d3": 2},
        "q3": {"d4": 1, "d2": 0},
    }
    data = load_beir(beir, "train", limit=2)
    assert list(data.queries) == ["q1", "q2"]
    assert data.corpus["d1"] == f"Axolotl regeneration\n\n{CORPUS[0][2]}"
    assert collection_for("xquad.en") == "eval-xquad-en"


def test_squad_holdout_is_fixed_and_limit_samples(shared_dir):
    squad = load_squad(shared_dir / "eval" / "xquad" / "xquad.en.json")
    assert len(squad.paragraphs) == 240 and len(squad.questions) == 1190
    held = hold_out(list(squad.paragraphs))
    assert len(held) == 24 and held == hold_out(list(reversed(squad.paragraphs)))
    picked = pick_questions(squad.questions, 50)
    assert len(picked) == 50 and picked == pick_questions(squad.questions, 50)
    assert len({q.source.rsplit("-", 1)[0] for q in picked}) > 10  # spread over articles


def test_qa_mode_on_a_slice_of_xquad(env, shared_dir, capsys):
    path = shared_dir / "eval" / "xquad" / "xquad.en.json"
    code, out, err = run(capsys, "eval", str(path), "--limit", "40", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["format"] == "squad" and report["collection"] == "eval-xquad-en"
    assert report["paragraphs"] == 240 and report["held_out_paragraphs"] == 24
    assert report["ingest"]["ingested"] == 216 and report["questions"] == 40
    retrieval, answers, refusal = report["retrieval"], report["answers"], report["refusal"]
    assert retrieval["questions"] + refusal["questions"] == 40 and refusal["questions"] > 0
    assert set(retrieval) == {
        "questions",
        *("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10"),
        "latency_ms",
    }
    assert retrieval["hit@1"] <= retrieval["hit@5"] <= retrieval["hit@10"]
    # Paragraph retrieval per mode: nDCG@10 of one gold paragraph lies between hit@1 and hit@10.
    assert set(retrieval["ndcg@10"]) == {"dense", "keyword", "hybrid"}
    hybrid = retrieval["ndcg@10"]["hybrid"]
    assert retrieval["hit@1"] <= hybrid <= retrieval["hit@10"]
    assert report["chunks"] >= report["ingest"]["ingested"]
    # The double ranks lexically; SQuAD questions reuse their paragraph's words.
    assert retrieval["hit@10"] >= 0.8
    assert answers["answered"] > 0.5 and answers["cites_gold"] > 0.5
    assert 0.0 <= refusal["accuracy"] <= 1.0

    code, out, _ = run(capsys, "eval", str(path), "--qa", "--limit", "10")
    assert code == 0 and "refusals" in out and "held out" in out
    assert "paragraph nDCG@10  dense" in out
