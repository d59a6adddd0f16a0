"""Local RAG knowledge base: core, query side and HTTP API."""

__version__ = "0.1.0"
