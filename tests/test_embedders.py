"""Embedder traits: languages and floors per model, the weights fusion takes from them, grouping."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.embedders import DEFAULT_MIN_SCORE, UNKNOWN, embedder, lookup
from rag.errors import ConfigError
from rag.grouping import group_by_document
from rag.language import query_language
from rag.lexical import fold
from rag.models import Hit
from rag.retrieve import FOREIGN_DENSE_WEIGHT, leg_weights

VI = "Mỗi nhân viên được bao nhiêu ngày nghỉ phép năm?"
EN = "How many days of annual leave do employees get?"


@pytest.mark.parametrize(
    ("model", "multilingual"),
    [
        ("nomic-embed-text", False),
        ("nomic-embed-text:v1.5", False),
        ("nomic-embed-text-v2-moe", True),
        ("all-minilm:latest", False),
        ("bge-m3", True),
        ("jeffh/intfloat-multilingual-e5-large:f16", True),
        ("qwen3-embedding:0.6b", True),
        ("snowflake-arctic-embed2", True),
        ("snowflake-arctic-embed:33m", False),
        ("granite-embedding", False),
        ("granite-embedding:278m", True),
        ("some-new-embedder", True),
    ],
)
def test_known_models_cover_the_right_languages(model, multilingual):
    assert lookup(model).covers("vi") is multilingual
    assert lookup(model).covers("en")


def test_floors_are_per_model_and_rag_min_score_overrides_them():
    base = Settings.from_mapping({"RAG_EMBED_MODEL": "all-minilm"})
    assert embedder(base).min_score == lookup("all-minilm").min_score != DEFAULT_MIN_SCORE
    assert embedder(base.with_(embed_model="nomic-embed-text")).min_score == DEFAULT_MIN_SCORE
    assert embedder(base.with_(embed_model="who-knows")).min_score == UNKNOWN.min_score
    forced = Settings.from_mapping({"RAG_EMBED_MODEL": "all-minilm", "RAG_MIN_SCORE": "0.7"})
    assert embedder(forced).min_score == 0.7


def test_rag_embed_languages_overrides_the_table():
    settings = Settings.from_mapping(
        {"RAG_EMBED_MODEL": "all-minilm", "RAG_EMBED_LANGUAGES": "en,VI"}
    )
    assert embedder(settings).covers("vi")
    with pytest.raises(ConfigError, match="RAG_EMBED_LANGUAGES"):
        Settings.from_mapping({"RAG_EMBED_LANGUAGES": "english!"})


def test_query_language():
    assert query_language(VI) == "vi"
    assert query_language(EN) == "en"
    assert query_language("Où est la bibliothèque ?") == ""


def test_the_dense_leg_weighs_less_for_a_language_its_model_does_not_know():
    english_only, multilingual = lookup("all-minilm"), lookup("bge-m3")
    assert leg_weights(VI, english_only) == (FOREIGN_DENSE_WEIGHT, 1.0)
    assert leg_weights(EN, english_only) == (1.0, 1.0)
    assert leg_weights(VI, multilingual) == (1.0, 1.0)
    assert FOREIGN_DENSE_WEIGHT < 1.0
    # Typed without accents it is still Vietnamese, which all-minilm does not know.
    assert leg_weights(fold(VI), english_only) == (FOREIGN_DENSE_WEIGHT, 1.0)


def _hit(chunk: str, doc: str, score: float) -> Hit:
    return Hit(chunk_id=chunk, source=f"/{doc}.md", text=chunk, score=score, doc_id=doc)


def test_grouping_ranks_documents_by_their_best_chunk_and_keeps_the_others():
    hits = [_hit("a1", "a", 0.9), _hit("b1", "b", 0.8), _hit("a2", "a", 0.7), _hit("c1", "c", 0.6)]
    groups = group_by_document(hits)
    assert [g.doc_id for g in groups] == ["a", "b", "c"]
    assert [h.chunk_id for h in groups[0].hits] == ["a1", "a2"]
    assert groups[0].score == 0.9 and groups[1].others == []
    limited = group_by_document(hits, limit=2)
    assert [g.doc_id for g in limited] == ["a", "b"]
    assert [h.chunk_id for h in limited[0].hits] == ["a1", "a2"]
