"""Discovery endpoints (/, version, tags, show, ps) and the /_double control endpoints."""

from .exchange import Exchange
from .models import BY_NAME, canonical, display_name, ps_item, resolve, show_body, tags_item
from .wire import ApiError, go_time, parse_json_body

VERSION = "0.33.0"


def handle_root(ex: Exchange) -> None:
    """GET/HEAD /."""
    ex.send_text(200, "Ollama is running")


def handle_version(ex: Exchange) -> None:
    """GET/HEAD /api/version."""
    ex.send_json(200, {"version": VERSION})


def handle_tags(ex: Exchange) -> None:
    """GET/HEAD /api/tags: the pulled models, most recently modified first."""
    specs = [s for s in BY_NAME.values() if resolve(s.name, ex.state.knob("models"))]
    specs.sort(key=lambda s: s.modified_at, reverse=True)
    ex.send_json(200, {"models": [tags_item(s) for s in specs]})


def handle_show(ex: Exchange) -> None:
    """POST /api/show."""
    body, _ = ex.decode("ShowRequest")
    name = body.get("model") or body.get("name") or ""
    if not name:
        raise ApiError(400, "model is required")
    spec = resolve(name, ex.state.knob("models"))
    if spec is None:
        raise ApiError(404, f"model '{display_name(name)}' not found")
    ex.send_json(200, show_body(spec))


def handle_ps(ex: Exchange) -> None:
    """GET /api/ps: loaded models, longest remaining lifetime first."""
    items = [
        ps_item(BY_NAME[canonical(name)], go_time(expires_ns), context_length)
        for name, expires_ns, context_length in ex.state.loaded_models()
    ]
    ex.send_json(200, {"models": items})


def handle_config(ex: Exchange) -> None:
    """POST /_double/config: merge a JSON object of knobs."""
    knobs = parse_json_body(ex.body)
    if not isinstance(knobs, dict):
        raise ApiError(400, "config body must be a JSON object of knobs")
    try:
        ex.state.configure(**knobs)
    except ValueError as err:
        raise ApiError(400, str(err)) from None
    ex.send_json(200, {"knobs": ex.state.knobs_snapshot()})


def handle_reset(ex: Exchange) -> None:
    """POST /_double/reset: baseline knobs, no stats, no faults, nothing loaded."""
    ex.state.reset()
    ex.send_json(200, {"ok": True})


def handle_stats(ex: Exchange) -> None:
    """GET /_double/stats."""
    ex.send_json(200, ex.state.stats())


ROUTES = {
    ("GET", "/"): handle_root,
    ("HEAD", "/"): handle_root,
    ("GET", "/api/version"): handle_version,
    ("HEAD", "/api/version"): handle_version,
    ("GET", "/api/tags"): handle_tags,
    ("HEAD", "/api/tags"): handle_tags,
    ("POST", "/api/show"): handle_show,
    ("GET", "/api/ps"): handle_ps,
    ("POST", "/_double/config"): handle_config,
    ("POST", "/_double/reset"): handle_reset,
    ("GET", "/_double/stats"): handle_stats,
}
