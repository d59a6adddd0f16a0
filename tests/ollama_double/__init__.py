"""A faithful, standard-library-only Ollama HTTP test double (see ollama-contract.md).

    with OllamaDouble(port=0, embed_cost_s=0.01) as d:   # or d = OllamaDouble(); d.start()
        httpx.post(d.url + "/api/embed", json={"model": "nomic-embed-text", "input": "hi"})
        d.configure(faults=[{"path": "/api/embed", "status": 503, "count": 1}])
        d.stats(); d.reset()

Knobs (DEFAULT_KNOBS) are also settable over HTTP: POST /_double/config, POST /_double/reset,
GET /_double/stats. Standalone: `python -m tests.ollama_double --port 0 [--knob-name VALUE]`.
"""

from .chat import DEFAULT_REFUSAL
from .double import OllamaDouble
from .embedding import count_tokens, embed_text
from .models import CATALOGUE
from .server import QUEUE_FULL
from .state import DEFAULT_KNOBS

__all__ = [
    "CATALOGUE",
    "DEFAULT_KNOBS",
    "DEFAULT_REFUSAL",
    "QUEUE_FULL",
    "OllamaDouble",
    "count_tokens",
    "embed_text",
]
