"""A thin OpenAI-compatible shim: /v1/embeddings, /v1/models, /v1/chat/completions."""

import base64
import calendar
import struct
import time
from typing import Any

from .chat_api import Generation, chat_num_ctx, emit_pieces, generate, resolve_chat_model
from .embed_api import embed_batch, embed_limit, resolve_pulled
from .embedding import resize
from .exchange import Exchange
from .models import BY_NAME, ModelSpec, resolve
from .wire import ApiError, go_json, parse_json_body

ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """The OpenAI error envelope for a native error."""
    kind = ERROR_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _body(ex: Exchange) -> dict[str, Any]:
    value = parse_json_body(ex.body)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid request body")
    return value


def _encode(vec: list[float], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
    return vec


def handle_embeddings(ex: Exchange) -> None:
    """POST /v1/embeddings."""
    body = _body(ex)
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not texts:
        raise ApiError(400, "invalid input")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "invalid input type")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(400, f"Invalid value for 'encoding_format' = {encoding}")
    model = str(body.get("model") or "")
    spec = resolve_pulled(ex.state, model)
    limit = embed_limit(ex.state, spec, {})
    keep_alive = ex.state.knob("keep_alive_default_s")
    ex.state.ensure_loaded(spec.full_name, limit, keep_alive)
    try:
        vectors, tokens = embed_batch(ex.state, spec, texts, limit, truncate=True)
    finally:
        ex.state.release(spec.full_name, limit, keep_alive)
    data = [
        {
            "object": "embedding",
            "embedding": _encode(resize(v, body.get("dimensions")), encoding),
            "index": i,
        }
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    ex.send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})


def _model_entry(spec: ModelSpec) -> dict[str, Any]:
    created = calendar.timegm(time.strptime(spec.modified_at[:19], "%Y-%m-%dT%H:%M:%S"))
    return {"id": spec.full_name, "object": "model", "created": created, "owned_by": "library"}


def handle_models(ex: Exchange) -> None:
    """GET /v1/models (`data` is null when no model is pulled)."""
    specs = [s for s in BY_NAME.values() if resolve(s.name, ex.state.knob("models"))]
    ex.send_json(200, {"object": "list", "data": [_model_entry(s) for s in specs] or None})


def handle_model(ex: Exchange) -> None:
    """GET /v1/models/{model}."""
    name = ex.path.removeprefix("/v1/models/")
    spec = resolve(name, ex.state.knob("models"))
    if spec is None:
        raise ApiError(404, f'model "{name}" not found')
    ex.send_json(200, _model_entry(spec))


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _completion(model: str, cid: str, **fields: Any) -> dict[str, Any]:
    head = {"id": cid, "created": int(time.time()), "model": model}
    return {**head, "system_fingerprint": "fp_ollama", **fields}


def _stream(ex: Exchange, body: dict[str, Any], gen: Generation, cid: str) -> None:
    model = body["model"]
    ex.start_stream("text/event-stream")

    def event(obj: Any) -> None:
        ex.write_chunk(f"data: {go_json(obj)}\n\n".encode())

    sent: list[str] = []

    def piece_event(piece: str) -> None:
        delta = {"content": piece} if sent else {"role": "assistant", "content": piece}
        sent.append(piece)
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        event(_completion(model, cid, object="chat.completion.chunk", choices=[choice]))

    _, faulted = emit_pieces(ex, gen, piece_event)
    if not faulted:
        final = {"index": 0, "delta": {}, "finish_reason": gen.done_reason}
        event(_completion(model, cid, object="chat.completion.chunk", choices=[final]))
        if (body.get("stream_options") or {}).get("include_usage"):
            event(
                _completion(
                    model, cid, object="chat.completion.chunk", choices=[], usage=_usage(gen)
                )
            )
        ex.write_chunk(b"data: [DONE]\n\n")
    ex.end_stream()


def _usage(gen: Generation) -> dict[str, int]:
    prompt, completion = gen.plan.prompt_tokens, len(gen.pieces)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def handle_chat_completions(ex: Exchange) -> None:
    """POST /v1/chat/completions (non-streaming unless `stream: true`)."""
    body = _body(ex)
    if not body.get("messages"):
        raise ApiError(400, "[] is too short - 'messages'")
    spec = resolve_chat_model(ex.state, str(body.get("model") or ""))
    if spec.is_embedder:
        raise ApiError(400, f'"{body["model"]}" does not support chat')
    messages = [
        {"role": m.get("role"), "content": _text(m.get("content"))}
        for m in body["messages"]
        if isinstance(m, dict)
    ]
    native = {
        "model": body["model"],
        "messages": messages,
        "options": {"num_predict": body.get("max_tokens") or 0},
    }
    num_ctx = chat_num_ctx(ex.state, spec, {})
    keep_alive = ex.state.knob("keep_alive_default_s")
    ex.state.ensure_loaded(spec.full_name, num_ctx, keep_alive)
    cid = f"chatcmpl-{time.time_ns() % 999}"
    try:
        with ex.state.chat_slots:
            gen = generate(ex, native, messages, num_ctx)
            if body.get("stream"):
                _stream(ex, body, gen, cid)
                return
            parts: list[str] = []
            _, faulted = emit_pieces(ex, gen, parts.append)
    finally:
        ex.state.release(spec.full_name, num_ctx, keep_alive)
    if faulted and gen.fault:
        raise ApiError(500, gen.fault["midstream_error"])
    message = {"role": "assistant", "content": "".join(parts)}
    choice = {"index": 0, "message": message, "finish_reason": gen.done_reason}
    fields = {"object": "chat.completion", "choices": [choice], "usage": _usage(gen)}
    ex.send_json(200, _completion(body["model"], cid, **fields))


ROUTES = {
    ("POST", "/v1/embeddings"): handle_embeddings,
    ("GET", "/v1/models"): handle_models,
    ("POST", "/v1/chat/completions"): handle_chat_completions,
}
PREFIX_ROUTES = {("GET", "/v1/models/"): handle_model}
