"""POST /api/embed and the legacy POST /api/embeddings."""

import json
import time
from typing import Any

from .embedding import count_tokens, embed_text, legacy_vector, resize, truncate_tokens
from .exchange import Exchange
from .models import ModelSpec, resolve
from .state import State
from .wire import ApiError, check_options, metrics

TOO_LONG = "the input length exceeds the context length"
TOO_SMALL = "input after truncation exceeds maximum context length"


def parse_inputs(value: Any) -> list[str]:
    """The `input` field as a list of strings (`""`, `[]` and null mean no input)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(400, "invalid input type")


def resolve_pulled(state: State, model: str) -> ModelSpec:
    """The pulled model named model, or a 404 in /api/embed's wording."""
    spec = resolve(model, state.knob("models"))
    if spec is None:
        quoted = json.dumps(model, ensure_ascii=False)
        raise ApiError(404, f"model {quoted} not found, try pulling it first")
    return spec


def embed_limit(state: State, spec: ModelSpec, options: dict[str, Any]) -> int:
    """Per-input token limit: knob embed_ctx, else min(num_ctx, trained context)."""
    override = state.knob("embed_ctx")
    if override:
        return int(override)
    num_ctx = options.get("num_ctx") or spec.num_ctx_param or spec.context_length
    return min(int(num_ctx), spec.context_length)


def _fit(texts: list[str], limit: int, truncate: bool) -> tuple[list[str], int]:
    fitted, total = [], 0
    for text in texts:
        tokens = count_tokens(text)
        if tokens > limit:
            if not truncate:
                raise ApiError(400, TOO_LONG)
            if limit <= 2:
                raise ApiError(400, TOO_SMALL)
            text = truncate_tokens(text, limit)
            tokens = count_tokens(text)
        fitted.append(text)
        total += tokens
    return fitted, total


def embed_batch(
    state: State, spec: ModelSpec, texts: list[str], limit: int, truncate: bool
) -> tuple[list[list[float]], int]:
    """Embed texts one at a time under the global embed lock; returns (vectors, tokens)."""
    if not spec.is_embedder:
        raise ApiError(
            state.knob("embed_unsupported_status"), state.knob("embed_unsupported_error")
        )
    fitted, tokens = _fit(texts, limit, truncate)
    cost_s = state.knob("embed_cost_s") * len(texts)
    with state.embed_lock:
        started = time.perf_counter()
        vectors = [embed_text(text, spec.name, spec.embedding_length) for text in fitted]
        if cost_s > 0:
            time.sleep(cost_s)
        busy_s = time.perf_counter() - started
    state.record_embed(texts, busy_s)
    return vectors, tokens


def handle_embed(ex: Exchange) -> None:
    """POST /api/embed."""
    body, keep_alive = ex.decode("EmbedRequest")
    truncate = body.get("truncate") is not False
    texts = parse_inputs(body.get("input"))
    model = body.get("model") or ""
    if not model:
        raise ApiError(404, "model '' not found")
    spec = resolve_pulled(ex.state, model)
    options = check_options(body.get("options"))
    limit = embed_limit(ex.state, spec, options)
    load_ns = ex.state.ensure_loaded(spec.full_name, limit, keep_alive)
    try:
        if not texts:
            ex.send_json(200, {"model": model, "embeddings": []})
            return
        vectors, tokens = embed_batch(ex.state, spec, texts, limit, truncate)
        vectors = [resize(vec, body.get("dimensions")) for vec in vectors]
        extra = metrics(
            total_duration=ex.elapsed_ns(), load_duration=load_ns, prompt_eval_count=tokens
        )
        ex.send_json(200, {"model": model, "embeddings": vectors, **extra})
    finally:
        ex.state.release(spec.full_name, limit, keep_alive)


def handle_embeddings(ex: Exchange) -> None:
    """POST /api/embeddings (legacy: one prompt, raw un-normalised vector, no metrics)."""
    body, keep_alive = ex.decode("EmbeddingRequest")
    model = body.get("model") or ""
    if not model:
        raise ApiError(400, "model is required")
    spec = resolve_pulled(ex.state, model)
    options = check_options(body.get("options"))
    limit = embed_limit(ex.state, spec, options)
    ex.state.ensure_loaded(spec.full_name, limit, keep_alive)
    try:
        prompt = body.get("prompt") or ""
        if not prompt:
            ex.send_json(200, {"embedding": []})
            return
        try:
            vectors, _ = embed_batch(ex.state, spec, [prompt], limit, truncate=True)
        except ApiError as err:
            raise ApiError(500, err.message) from None
        ex.send_json(200, {"embedding": legacy_vector(vectors[0])})
    finally:
        ex.state.release(spec.full_name, limit, keep_alive)


ROUTES = {
    ("POST", "/api/embed"): handle_embed,
    ("POST", "/api/embeddings"): handle_embeddings,
}
