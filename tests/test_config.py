"""Settings: defaults, environment parsing and the error messages people see."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import config
from rag.config import Settings
from rag.errors import ConfigError


def test_defaults_match_the_readme():
    settings = Settings.load(env={}, env_file=Path("/nonexistent"))
    assert settings.ollama_host == "http://localhost:11434"
    assert settings.embed_model == "nomic-embed-text"
    assert settings.chat_model == "llama3.2"
    assert settings.store_path == Path("data/chroma")
    assert settings.collection == "default"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:11434"),
        ("0.0.0.0:9999", "http://0.0.0.0:9999"),
        ("http://gpu-box:11434/", "http://gpu-box:11434"),
        ("https://ollama.example", "https://ollama.example"),
    ],
)
def test_ollama_host_is_read_like_ollama_reads_it(raw, expected):
    assert Settings.load(env={"OLLAMA_HOST": raw}).ollama_host == expected


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("RAG_EMBED_BATCH", "lots", "invalid RAG_EMBED_BATCH='lots': must be a positive integer"),
        ("RAG_EMBED_BATCH", "0", "invalid RAG_EMBED_BATCH='0': must be a positive integer"),
        ("RAG_OLLAMA_TIMEOUT", "-3", "invalid RAG_OLLAMA_TIMEOUT='-3': must be a positive number"),
        ("OLLAMA_HOST", "ftp://x", "expected a URL like http://localhost:11434"),
        ("RAG_KEEP_ALIVE", "soon", "expected seconds or a duration like 5m, 1h, -1"),
        ("RAG_COLLECTION", "my docs", "invalid collection name 'my docs'"),
    ],
)
def test_bad_values_are_named_with_the_reason(var, value, message):
    with pytest.raises(ConfigError) as err:
        Settings.load(env={var: value})
    assert message in str(err.value)


def test_keep_alive_seconds_become_a_go_duration():
    # Ollama rejects a bare numeric string ("300"), so we must send "300s".
    assert Settings.load(env={"RAG_KEEP_ALIVE": "300"}).keep_alive == "300s"
    assert Settings.load(env={"RAG_KEEP_ALIVE": "-1"}).keep_alive == "-1s"


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport RAG_EMBED_BATCH=64\nRAG_COLLECTION='notes'\nRAG_TOP_K=9\n",
        encoding="utf-8",
    )
    settings = Settings.load(env={"RAG_TOP_K": "3"}, env_file=env_file)
    assert (settings.embed_batch, settings.collection, settings.top_k) == (64, "notes", 3)


def test_malformed_env_file_line_is_reported(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("RAG_TOP_K=3\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        Settings.load(env={}, env_file=env_file)


def test_chroma_host_and_port_make_a_url():
    settings = Settings.load(env={"CHROMA_HOST": "10.1.2.3", "CHROMA_PORT": "8765"})
    assert settings.chroma_url == "http://10.1.2.3:8765"
    assert settings.catalog_path == Path("data/catalog-server.sqlite3")


def test_overlap_must_be_smaller_than_chunk():
    with pytest.raises(ConfigError, match="RAG_CHUNK_OVERLAP must be smaller"):
        Settings.load(env={"RAG_CHUNK_TOKENS": "100", "RAG_CHUNK_OVERLAP": "100"})


def test_every_setting_has_an_environment_variable():
    assert config.field_names() == set(config._FIELDS)
