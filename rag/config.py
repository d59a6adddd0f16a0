"""Every setting in one place: read from the environment (and `.env`), validated once at start."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rag.apikeys import ApiKey, normalized, parse_keys, read_keys_file
from rag.errors import ConfigError

COLLECTION_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
DEFAULT_COLLECTION = "default"


@dataclass(frozen=True)
class Settings:
    """All knobs of the service; build with `Settings.load()`."""

    ollama_host: str = "http://localhost:11434"  # several: comma-separated
    ollama_hosts: tuple[str, ...] = ()  # RAG_OLLAMA_HOSTS; wins over OLLAMA_HOST when set
    embed_model: str = "nomic-embed-text"
    chat_model: str = "llama3.2"
    embed_doc_prefix: str | None = None  # None: the model's known convention
    embed_query_prefix: str | None = None
    embed_batch: int = 32
    embed_concurrency: int = 2
    parse_workers: int = 2  # processes parsing big PDFs at once (1: parse in the loader thread)
    pdf_split_pages: int = 4  # a PDF this long is read by all parse workers at once (0: never)
    ocr: str = "auto"  # auto: OCR pages without a usable text layer if Tesseract is installed
    ocr_languages: str = "eng+vie"  # Tesseract language packs, joined with "+"
    keep_alive: str = "30m"
    ollama_timeout: float = 300.0  # seconds; a cold model load can take a minute
    ollama_connect_timeout: float = 5.0
    ollama_retries: int = 4
    ollama_deadline: float = 600.0  # seconds for a whole request, however the bytes trickle in
    ollama_idle_timeout: float = 60.0  # seconds between two lines of a stream once it started
    data_dir: Path = Path("data")
    chroma_path: Path | None = None  # default: data_dir / "chroma"
    chroma_url: str | None = None  # set to use a Chroma server instead of the embedded store
    collection: str = DEFAULT_COLLECTION
    display_root: Path | None = None  # sources under it are shown relative to it (rag.display)
    chunk_tokens: int = 400
    chunk_overlap: int = 50
    top_k: int = 5
    # Relevance floor on the dense cosine similarity; None: the embedder's own (rag.embedders).
    min_score: float | None = None
    # Share of the question's informative words the best chunk must hold for an answer
    # (rag.answerability); 0 turns the check off. Chosen on one half of XQuAD en/vi with
    # all-minilm, so that at most ~4% of answerable questions are refused there.
    min_coverage: float = 0.33
    embed_languages: tuple[str, ...] = ()  # languages the embedder covers; (): rag.embedders
    chat_num_ctx: int = 8192  # context window we ask the chat model for (num_ctx)
    api_keys: tuple[ApiKey, ...] = ()  # `key:scope` entries; a bare key (or str) is admin
    api_keys_file: Path | None = None  # more keys, one `key:scope` per line
    metrics_public: bool = False  # /metrics without the admin scope
    cors_origins: tuple[str, ...] = ()
    max_upload_mb: float = 50.0  # per upload request (all its files together)
    max_body_mb: float = 4.0  # every other request body (JSON questions, chats)
    max_pages: int = 5000  # PDF pages indexed per file; the rest is cut with a warning
    max_chars: int = 5_000_000  # extracted characters indexed per file (like indexed_chars)
    max_chunks_per_file: int = 10_000
    parse_timeout: float = 300.0  # seconds one file may take to parse in a worker process
    parse_memory_mb: int = 2048  # address-space limit of a parse worker process
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every Ollama URL to spread requests over (at least one)."""
        return self.ollama_hosts or tuple(self.ollama_host.split(","))

    @property
    def store_path(self) -> Path:
        """Folder of the embedded Chroma store."""
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def catalog_path(self) -> Path:
        """SQLite file holding the document catalog and keyword index."""
        if self.chroma_url:
            return self.data_dir / "catalog-server.sqlite3"
        return self.store_path / "catalog.sqlite3"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Read settings from `.env` (if present) overlaid by the process environment."""
        merged: dict[str, str] = {}
        path = env_file if env_file is not None else Path(".env")
        if path.is_file():
            merged.update(read_env_file(path))
        merged.update(os.environ if env is None else env)
        if not merged.get("CHROMA_URL") and merged.get("CHROMA_HOST"):
            merged["CHROMA_URL"] = f"{merged['CHROMA_HOST']}:{merged.get('CHROMA_PORT') or 8000}"
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a flat name → string mapping, validating every value."""
        values: dict[str, Any] = {}
        for name, (var, parse) in _FIELDS.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = parse(raw.strip())
            except (ValueError, ConfigError) as exc:
                shown = var if var in SECRET_VARS else f"{var}={raw!r}"  # never echo a key
                raise ConfigError(f"invalid {shown}: {exc}") from None
        if values.get("api_keys_file"):
            values["api_keys"] = (
                *values.get("api_keys", ()),
                *read_keys_file(values["api_keys_file"]),
            )
        return cls(**values).validated()

    def validated(self) -> Settings:
        """Check cross-field rules; return self."""
        if not COLLECTION_RE.match(self.collection):
            raise ConfigError(collection_message(self.collection))
        if self.chunk_overlap >= self.chunk_tokens:
            raise ConfigError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_TOKENS")
        keys = normalized(self.api_keys)
        if keys != self.api_keys:  # plain strings (tests, older callers) become admin keys
            object.__setattr__(self, "api_keys", keys)
        return self

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated."""
        return replace(self, **changes).validated()


def collection_message(name: str) -> str:
    """The error text for an invalid collection name."""
    return (
        f"invalid collection name {name!r}: use 1-63 letters, digits, '_' or '-', "
        "starting and ending with a letter or digit"
    )


def check_collection(name: str) -> str:
    """Return the name if valid, else raise ConfigError."""
    if not COLLECTION_RE.match(name):
        raise ConfigError(collection_message(name))
    return name


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE `.env` file (comments, blank lines and quotes allowed)."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{lineno}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _url(raw: str) -> str:
    # Like Ollama's own clients: a bare host gets port 11434, an explicit scheme keeps its default.
    bare = "://" not in raw
    url = ("http://" + raw if bare else raw).rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("expected a URL like http://localhost:11434")
    if bare and parsed.port is None:
        url += ":11434"
    return url


def _urls(raw: str) -> tuple[str, ...]:
    urls = tuple(_url(part.strip()) for part in raw.split(",") if part.strip())
    if not urls:
        raise ValueError("expected one or more URLs, comma-separated")
    if len(set(urls)) != len(urls):
        raise ValueError("the same host is listed twice")
    return urls


def _host_list(raw: str) -> str:
    return ",".join(_urls(raw))


def _chroma_url(raw: str) -> str:
    if "://" not in raw:
        raw = "http://" + raw
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("expected a URL like http://127.0.0.1:8001")
    return raw.rstrip("/")


def _folder(raw: str) -> Path:
    # Stored sources are resolved absolute paths: the root must be one too to be compared.
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ValueError("must be an absolute path (or start with ~)")
    if not path.is_dir():
        raise ValueError("no such folder")
    return path.resolve()


def _positive_int(raw: str) -> int:
    if not re.fullmatch(r"\d+", raw) or int(raw) <= 0:
        raise ValueError("must be a positive integer")
    return int(raw)


def _nonneg_int(raw: str) -> int:
    if not re.fullmatch(r"\d+", raw):
        raise ValueError("must be a whole number, 0 or more")
    return int(raw)


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _score(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number between -1 and 1") from None
    if not -1.0 <= value <= 1.0:
        raise ValueError("must be a number between -1 and 1")
    return value


def _share(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be a number between 0 and 1")
    return value


def _keep_alive(raw: str) -> str:
    # Ollama rejects a bare numeric *string*; accept seconds here and send a Go duration.
    if re.fullmatch(r"-?\d+", raw):
        return f"{raw}s"
    if not re.fullmatch(r"-?(\d+(\.\d+)?(ns|us|ms|s|m|h))+", raw):
        raise ValueError("expected seconds or a duration like 5m, 1h, -1")
    return raw


def _ocr_mode(raw: str) -> str:
    mode = raw.lower()
    if mode not in ("auto", "off", "force"):
        raise ValueError("expected auto, off or force")
    return mode


def _ocr_languages(raw: str) -> str:
    # "eng,vie", "eng+vie" and "eng vie" all name the same two Tesseract language packs.
    names = [part for part in re.split(r"[+,\s]+", raw) if part]
    if not names or not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) for name in names):
        raise ValueError("expected Tesseract language codes like eng+vie")
    return "+".join(names)


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _languages(raw: str) -> tuple[str, ...]:
    codes = tuple(part.lower() for part in _csv(raw))
    for code in codes:
        if code != "*" and not re.fullmatch(r"[a-z]{2,3}", code):
            raise ValueError("expected language codes like en,vi or * for every language")
    return codes


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def _prefix(raw: str) -> str:
    return "" if raw.lower() in ("none", "off") else raw


SECRET_VARS = {"RAG_API_KEYS"}
_Parse = Callable[[str], Any]
_FIELDS: dict[str, tuple[str, _Parse]] = {
    "ollama_host": ("OLLAMA_HOST", _host_list),
    "ollama_hosts": ("RAG_OLLAMA_HOSTS", _urls),
    "embed_model": ("RAG_EMBED_MODEL", str),
    "chat_model": ("RAG_CHAT_MODEL", str),
    "embed_doc_prefix": ("RAG_EMBED_DOC_PREFIX", _prefix),
    "embed_query_prefix": ("RAG_EMBED_QUERY_PREFIX", _prefix),
    "embed_batch": ("RAG_EMBED_BATCH", _positive_int),
    "embed_concurrency": ("RAG_EMBED_CONCURRENCY", _positive_int),
    "parse_workers": ("RAG_PARSE_WORKERS", _positive_int),
    "pdf_split_pages": ("RAG_PDF_SPLIT_PAGES", _nonneg_int),
    "ocr": ("RAG_OCR", _ocr_mode),
    "ocr_languages": ("RAG_OCR_LANGUAGES", _ocr_languages),
    "keep_alive": ("RAG_KEEP_ALIVE", _keep_alive),
    "ollama_timeout": ("RAG_OLLAMA_TIMEOUT", _positive_float),
    "ollama_connect_timeout": ("RAG_OLLAMA_CONNECT_TIMEOUT", _positive_float),
    "ollama_retries": ("RAG_OLLAMA_RETRIES", _nonneg_int),
    "ollama_deadline": ("RAG_OLLAMA_DEADLINE", _positive_float),
    "ollama_idle_timeout": ("RAG_OLLAMA_IDLE_TIMEOUT", _positive_float),
    "data_dir": ("RAG_DATA_DIR", Path),
    "chroma_path": ("RAG_CHROMA_PATH", Path),
    "chroma_url": ("CHROMA_URL", _chroma_url),
    "collection": ("RAG_COLLECTION", check_collection),
    "display_root": ("RAG_DISPLAY_ROOT", _folder),
    "chunk_tokens": ("RAG_CHUNK_TOKENS", _positive_int),
    "chunk_overlap": ("RAG_CHUNK_OVERLAP", _nonneg_int),
    "top_k": ("RAG_TOP_K", _positive_int),
    "min_score": ("RAG_MIN_SCORE", _score),
    "min_coverage": ("RAG_MIN_COVERAGE", _share),
    "embed_languages": ("RAG_EMBED_LANGUAGES", _languages),
    "chat_num_ctx": ("RAG_CHAT_NUM_CTX", _positive_int),
    "api_keys": ("RAG_API_KEYS", parse_keys),
    "api_keys_file": ("RAG_API_KEYS_FILE", Path),
    "metrics_public": ("RAG_METRICS_PUBLIC", _flag),
    "cors_origins": ("RAG_CORS_ORIGINS", _csv),
    "max_upload_mb": ("RAG_MAX_UPLOAD_MB", _positive_float),
    "max_body_mb": ("RAG_MAX_BODY_MB", _positive_float),
    "max_pages": ("RAG_MAX_PAGES", _positive_int),
    "max_chars": ("RAG_MAX_CHARS", _positive_int),
    "max_chunks_per_file": ("RAG_MAX_CHUNKS_PER_FILE", _positive_int),
    "parse_timeout": ("RAG_PARSE_TIMEOUT", _positive_float),
    "parse_memory_mb": ("RAG_PARSE_MEMORY_MB", _positive_int),
    "host": ("RAG_HOST", str),
    "port": ("RAG_PORT", _positive_int),
}


def field_names() -> set[str]:
    """Names of all Settings fields (kept in step with the variable table by a test)."""
    return {f.name for f in fields(Settings)}
