"""Document-level results: chunk hits grouped by their document, best document first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rag.models import Hit


@dataclass
class DocumentHits:
    """One document's matching chunks: the best one (which ranks the document) and the rest."""

    doc_id: str
    source: str
    best: Hit
    others: list[Hit] = field(default_factory=list)  # in rank order

    @property
    def score(self) -> float:
        """The document's score: its best chunk's."""
        return self.best.score

    @property
    def hits(self) -> list[Hit]:
        """All of the document's matching chunks, best first."""
        return [self.best, *self.others]


def group_by_document(hits: Iterable[Hit], limit: int | None = None) -> list[DocumentHits]:
    """Group ranked hits by document, ranked by each document's best hit; at most limit."""
    groups: dict[str, DocumentHits] = {}
    for hit in hits:
        key = hit.doc_id or hit.source
        group = groups.get(key)
        if group is None:
            if limit is not None and len(groups) == limit:
                continue  # its other chunks may still join documents already in
            groups[key] = DocumentHits(key, hit.source, hit)
        else:
            group.others.append(hit)
    return list(groups.values())
