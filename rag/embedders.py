"""What we know about common Ollama embedding models: languages covered and a relevance floor.

Retrieval uses the languages to weigh the dense leg (an English-only model ranks Vietnamese text
nearly at random, so hybrid search leans on the keyword leg there) and the floor as the default
of RAG_MIN_SCORE. RAG_EMBED_LANGUAGES and RAG_MIN_SCORE override both for any model.

Floors are cosine similarities measured on the dev data (docs: the retrieval section of the
README); a model without a measured floor gets DEFAULT_MIN_SCORE, the nomic-embed-text number.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.config import Settings

MULTILINGUAL = "*"  # in a languages tuple: every language
DEFAULT_MIN_SCORE = 0.5  # nomic-embed-text: unrelated text ~0.30-0.45, related 0.55+


@dataclass(frozen=True)
class Embedder:
    """Known traits of an embedding model."""

    languages: tuple[str, ...]  # ISO 639-1 codes, or ("*",) for multilingual
    min_score: float = DEFAULT_MIN_SCORE

    def covers(self, language: str) -> bool:
        """True if the model was trained for text in this language."""
        return MULTILINGUAL in self.languages or language in self.languages


_EN = ("en",)
_ALL = (MULTILINGUAL,)
# Longest matching name first wins, so "granite-embedding:278m" beats "granite-embedding".
KNOWN: dict[str, Embedder] = {
    "nomic-embed-text-v2": Embedder(_ALL),
    "nomic-embed-text": Embedder(_EN, 0.5),
    # all-MiniLM-L6-v2 on XQuAD en, questions whose paragraph is held out vs answerable ones
    # refused by retrieval alone: 0.40 -> 41% / 2.0%, 0.45 -> 50% / 3.0%, 0.50 -> 62% / 4.4%.
    # Answers no longer rely on it (rag.answerability decides); search results still do.
    "all-minilm": Embedder(_EN, 0.45),
    "mxbai-embed-large": Embedder(_EN),
    "snowflake-arctic-embed2": Embedder(_ALL),
    "snowflake-arctic-embed": Embedder(_EN),
    "bge-m3": Embedder(_ALL),
    "bge-large": Embedder(_EN),
    "bge-base": Embedder(_EN),
    "bge-small": Embedder(_EN),
    "multilingual-e5": Embedder(_ALL),
    "paraphrase-multilingual": Embedder(_ALL),
    "qwen3-embedding": Embedder(_ALL),
    "embeddinggemma": Embedder(_ALL),
    "granite-embedding:278m": Embedder(_ALL),
    "granite-embedding": Embedder(_EN),  # the default tag is the 30m English model
}
UNKNOWN = Embedder(_ALL)  # assume the best: never down-weigh a model we know nothing about


def lookup(model: str) -> Embedder:
    """The known traits of a model by name (any namespace or tag), else UNKNOWN."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.endswith(":latest"):
        name = name[: -len(":latest")]
    for known in sorted(KNOWN, key=len, reverse=True):
        if name == known or name.startswith((known + ":", known + "-")) or known in name:
            return KNOWN[known]
    return UNKNOWN


def embedder(settings: Settings) -> Embedder:
    """The configured embedding model's traits, with the settings' overrides applied."""
    found = lookup(settings.embed_model)
    languages = settings.embed_languages or found.languages
    floor = found.min_score if settings.min_score is None else settings.min_score
    return Embedder(tuple(languages), floor)
