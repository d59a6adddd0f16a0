"""Every failure the service knows about, each with its HTTP status and a message for people.

RagError
├── ConfigError                  500  a setting is missing or invalid
├── BadRequest                   400  the caller sent something we cannot use
│   └── PayloadTooLarge          413
├── Unauthorized                 401
├── Forbidden                    403  the key lacks the scope the route needs
├── NotFound                     404  no such document / collection
├── Conflict                     409
│   ├── StoreLocked                   another process owns the embedded store
│   ├── ModelMismatch                 collection built with another embedding model
│   └── ChunkingChanged               collection chunked with other parameters
├── DocumentError                422  one file could not be ingested (the run goes on)
│   ├── UnsupportedFile
│   ├── EncryptedDocument
│   ├── CorruptDocument
│   │   └── DecompressionBomb         a tiny file that inflates past pypdf's limits
│   ├── EmptyDocument
│   └── ParseLimit                    parsing needed more time or memory than allowed
├── ServiceUnavailable           503  a dependency is down
│   ├── OllamaUnavailable             cannot reach Ollama / it keeps failing
│   │   └── OllamaTimeout             a request overran its deadline or a stream went idle
│   ├── ModelNotPulled                the model is not in `ollama list`
│   └── StoreUnavailable              the Chroma server does not answer
└── OllamaError                  502  Ollama answered with an error we did not expect
    ├── InputTooLong             502  a chunk exceeded the embedder's context (our bug, not yours)
    ├── StreamCut                502  the answer stream ended without its final object
    └── BadVectors               502  embeddings of the wrong count, size, or not finite
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error this project raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(self, message: str, internal: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal  # addresses in the message that only operators may see

    def __str__(self) -> str:
        return self.message

    @property
    def public(self) -> str:
        """The message for API clients: without the internal addresses (the CLI shows them)."""
        hidden = (self.internal,) if isinstance(self.internal, str) else self.internal or ()
        text = self.message
        for address in sorted(filter(None, hidden), key=len, reverse=True):  # longest first
            text = text.replace(f" at {address}", "").replace(f" ({address})", "")
            text = text.replace(address, "the server")
        return text


class ConfigError(RagError):
    """A setting is missing or invalid."""

    title = "Invalid configuration"


class BadRequest(RagError):
    """The caller sent something we cannot use."""

    status = 400
    title = "Bad request"


class PayloadTooLarge(BadRequest):
    """An upload is over the configured limit."""

    status = 413
    title = "Payload too large"


class Unauthorized(RagError):
    """A missing or wrong API key."""

    status = 401
    title = "Unauthorized"


class Forbidden(RagError):
    """A valid API key without the scope the route needs."""

    status = 403
    title = "Forbidden"


class NotFound(RagError):
    """No such document or collection."""

    status = 404
    title = "Not found"


class Conflict(RagError):
    """The request conflicts with the state of the store."""

    status = 409
    title = "Conflict"


class StoreLocked(Conflict):
    """Another process owns the embedded Chroma store."""

    title = "Store in use"


class ModelMismatch(Conflict):
    """The collection was built with a different embedding model or dimension."""

    title = "Embedding model mismatch"


class ChunkingChanged(Conflict):
    """The collection was chunked with other parameters; ingesting now would mix chunkings."""

    title = "Chunking changed"


class DocumentError(RagError):
    """One file could not be ingested; the run goes on without it."""

    status = 422
    title = "Unreadable document"


class UnsupportedFile(DocumentError):
    """A file type we do not ingest, or a binary file with a text name."""


class EncryptedDocument(DocumentError):
    """A PDF that needs a password we do not have."""


class CorruptDocument(DocumentError):
    """A file the parser cannot read."""


class DecompressionBomb(CorruptDocument):
    """A file whose compressed streams inflate past the parser's limits."""


class EmptyDocument(DocumentError):
    """A file with no extractable text."""


class ParseLimit(DocumentError):
    """Parsing one file needed more time or memory than the settings allow."""


class ServiceUnavailable(RagError):
    """A dependency is down."""

    status = 503
    title = "Service unavailable"


class OllamaUnavailable(ServiceUnavailable):
    """Ollama cannot be reached, or keeps failing after retries."""


class OllamaTimeout(OllamaUnavailable):
    """A request overran its overall deadline, or a stream stalled between tokens."""


class ModelNotPulled(ServiceUnavailable):
    """The configured model is not present in Ollama."""


class StoreUnavailable(ServiceUnavailable):
    """The Chroma server (or embedded store) cannot be used."""


class OllamaError(RagError):
    """Ollama answered with an error we did not expect."""

    status = 502
    title = "Ollama error"

    def __init__(
        self,
        message: str,
        upstream_status: int | None = None,
        internal: str | tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(message, internal)
        self.upstream_status = upstream_status


class InputTooLong(OllamaError):
    """An input exceeded the embedding model's context length."""


class StreamCut(OllamaError):
    """Ollama's stream ended before its `done: true` object: the answer is incomplete."""


class BadVectors(OllamaError):
    """Ollama sent embeddings we must not store: wrong count or size, NaN or null values."""
