"""POST /api/chat: preload/unload, extractive replies, NDJSON streaming, mid-stream faults."""

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from .chat import ChatPlan, plan_reply, split_pieces
from .exchange import Exchange
from .models import ModelSpec, resolve
from .schema import check_think
from .state import State
from .wire import ApiError, check_options, go_json, go_time, metrics


@dataclass
class Generation:
    """A reply cut into stream pieces, plus what the final chunk reports."""

    pieces: list[str]
    done_reason: str
    plan: ChatPlan
    prompt_ns: int
    fault: dict[str, Any] | None
    tool_calls: list[dict[str, Any]] | None = None


def message_chunk(
    model: str, content: str, done: bool = False, tool_calls: Any = None, **extra: Any
) -> dict[str, Any]:
    """One chat response object (`message.content` always present)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    out: dict[str, Any] = {"model": model, "created_at": go_time(), "message": message}
    if extra.get("done_reason"):
        out["done_reason"] = extra.pop("done_reason")
    out["done"] = done
    out.update(extra)
    return out


def tool_call_objects(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ollama-shaped tool calls (arguments stay a JSON object) from the knob's list."""
    out = []
    for index, call in enumerate(calls):
        digest = hashlib.sha256(f"{index}:{call['name']}".encode()).hexdigest()
        function = {"index": index, "name": call["name"], "arguments": call.get("arguments") or {}}
        out.append({"id": "call_" + digest[:8], "function": function})
    return out


def resolve_chat_model(state: State, model: str) -> ModelSpec:
    """The pulled chat model, or Ollama's chat-flavoured 400/404."""
    if not model:
        raise ApiError(400, "model is required")
    spec = resolve(model, state.knob("models"))
    if spec is None:
        raise ApiError(404, f"model '{model}' not found")
    return spec


def check_format(value: Any) -> None:
    """`format` must be absent, "", "json" or a JSON-schema object (else 500)."""
    if value in (None, "", "json") or isinstance(value, dict):
        return
    raise ApiError(
        500, f'invalid format: {go_json(value)}; expected "json" or a valid JSON Schema object'
    )


def chat_num_ctx(state: State, spec: ModelSpec, options: dict[str, Any]) -> int:
    """Context size for a chat: options.num_ctx or the default knob, clamped to the model."""
    num_ctx = options.get("num_ctx") or state.knob("chat_num_ctx_default")
    return max(1, min(int(num_ctx), spec.context_length))


def generate(
    ex: Exchange, body: dict[str, Any], messages: list[dict[str, Any]], num_ctx: int
) -> Generation:
    """Plan the reply, apply num_predict and pick a mid-stream fault."""
    state = ex.state
    started = time.perf_counter_ns()
    plan = plan_reply(
        messages,
        num_ctx,
        fake_citation=state.knob("fake_citation"),
        chat_reply=state.knob("chat_reply"),
    )
    state.record_chat(body, plan.truncated)
    pieces = split_pieces(plan.answer)
    limit = int((body.get("options") or {}).get("num_predict") or 0)
    done_reason = "stop"
    if 0 < limit < len(pieces):
        pieces, done_reason = pieces[:limit], "length"
    fault = state.take_fault(ex.path, ("midstream_error",))
    calls = state.knob("chat_tool_calls") if body.get("tools") else None
    if calls:
        pieces, done_reason = [], "stop"
    elapsed = time.perf_counter_ns() - started
    tool_calls = tool_call_objects(calls) if calls else None
    return Generation(pieces, done_reason, plan, elapsed, fault, tool_calls)


def _final_metrics(ex: Exchange, gen: Generation, load_ns: int, eval_ns: int) -> dict[str, int]:
    return metrics(
        total_duration=ex.elapsed_ns(),
        load_duration=load_ns,
        prompt_eval_count=gen.plan.prompt_tokens,
        prompt_eval_duration=max(gen.prompt_ns, 1),
        eval_count=len(gen.pieces),
        eval_duration=max(eval_ns, 1) if gen.pieces else 0,
    )


def emit_pieces(ex: Exchange, gen: Generation, send: Any) -> tuple[int, bool]:
    """Produce pieces through send(piece) with token delays; returns (eval ns, faulted)."""
    delay = ex.state.knob("token_delay_s")
    started = time.perf_counter_ns()
    stop_at = gen.fault["after_chunks"] if gen.fault else len(gen.pieces)
    for index, piece in enumerate(gen.pieces[:stop_at]):
        if delay > 0 and index:
            time.sleep(delay)
        send(piece)
    return time.perf_counter_ns() - started, gen.fault is not None


def reply_stream(ex: Exchange, model: str, gen: Generation, load_ns: int) -> None:
    """Stream the reply as NDJSON; a fault ends it with an `{"error": ...}` line."""
    ex.start_stream()
    if gen.tool_calls:
        ex.stream_json(message_chunk(model, "", tool_calls=gen.tool_calls))
    eval_ns, faulted = emit_pieces(
        ex, gen, lambda piece: ex.stream_json(message_chunk(model, piece))
    )
    if faulted and gen.fault:
        ex.stream_json({"error": gen.fault["midstream_error"]})
    else:
        final = _final_metrics(ex, gen, load_ns, eval_ns)
        ex.stream_json(message_chunk(model, "", True, done_reason=gen.done_reason, **final))
    ex.end_stream()


def reply_single(ex: Exchange, model: str, gen: Generation, load_ns: int) -> None:
    """Answer with one JSON object (a mid-stream fault becomes a 500)."""
    parts: list[str] = []
    eval_ns, faulted = emit_pieces(ex, gen, parts.append)
    if faulted and gen.fault:
        raise ApiError(500, gen.fault["midstream_error"])
    final = _final_metrics(ex, gen, load_ns, eval_ns)
    ex.send_json(
        200,
        message_chunk(
            model, "".join(parts), True, gen.tool_calls, done_reason=gen.done_reason, **final
        ),
    )


def handle_chat(ex: Exchange) -> None:
    """POST /api/chat."""
    body, keep_alive = ex.decode("ChatRequest")
    model = body.get("model") or ""
    spec = resolve_chat_model(ex.state, model)
    messages = [m for m in body.get("messages") or [] if m is not None]
    if not messages and keep_alive == 0:
        ex.state.unload(spec.full_name)
        ex.send_json(200, message_chunk(model, "", True, done_reason="unload"))
        return
    if spec.is_embedder:
        raise ApiError(400, f'"{model}" does not support chat')
    if check_think(body.get("think")):
        raise ApiError(400, f'"{model}" does not support thinking')
    num_ctx = chat_num_ctx(ex.state, spec, check_options(body.get("options")))
    load_ns = ex.state.ensure_loaded(spec.full_name, num_ctx, keep_alive)
    try:
        if not messages:
            ex.send_json(200, message_chunk(model, "", True, done_reason="load"))
            return
        check_format(body.get("format"))
        with ex.state.chat_slots:
            gen = generate(ex, body, messages, num_ctx)
            reply = reply_stream if body.get("stream") is not False else reply_single
            reply(ex, model, gen, load_ns)
    finally:
        ex.state.release(spec.full_name, num_ctx, keep_alive)


ROUTES = {("POST", "/api/chat"): handle_chat}
