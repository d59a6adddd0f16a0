"""The double's model catalogue and the bodies of /api/tags, /api/show and /api/ps items."""

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """One model the double knows about."""

    name: str  # base name without tag
    family: str
    parameter_size: str
    quantization: str
    context_length: int  # trained context from GGUF metadata (clamp for embedders)
    embedding_length: int
    capabilities: tuple[str, ...]
    size: int
    modified_at: str
    num_ctx_param: int | None = None  # Modelfile PARAMETER num_ctx
    extra_info: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        """`name:latest`, the form Ollama lists."""
        return f"{self.name}:latest"

    @property
    def is_embedder(self) -> bool:
        """True if the model only produces embeddings."""
        return "embedding" in self.capabilities

    @property
    def digest(self) -> str:
        """A stable sha256-looking digest."""
        if self.name == "nomic-embed-text":
            return "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f"
        return hashlib.sha256(self.full_name.encode()).hexdigest()


CATALOGUE: tuple[ModelSpec, ...] = (
    ModelSpec(
        "llama3.2", "llama", "3.2B", "Q4_K_M", 131072, 3072, ("completion", "tools"),
        2019393189, "2026-05-26T09:12:04.481226019Z",
        extra_info={"llama.block_count": 28, "llama.attention.head_count": 24,
                    "general.parameter_count": 3212749888},
    ),
    ModelSpec(
        "nomic-embed-text", "nomic-bert", "137M", "F16", 2048, 768, ("embedding",),
        274302450, "2026-05-25T11:47:38.258632913Z", num_ctx_param=8192,
        extra_info={"nomic-bert.block_count": 12, "nomic-bert.pooling_type": 1,
                    "general.parameter_count": 136727040},
    ),
    ModelSpec(
        "mxbai-embed-large", "bert", "334M", "F16", 512, 1024, ("embedding",),
        669615493, "2026-05-24T16:03:51.120009Z",
        extra_info={"bert.block_count": 24, "bert.pooling_type": 2,
                    "general.parameter_count": 334090240},
    ),
    ModelSpec(
        "all-minilm", "bert", "23M", "F16", 512, 384, ("embedding",),
        45960996, "2026-05-23T08:30:00.5Z",
        extra_info={"bert.block_count": 6, "bert.pooling_type": 1,
                    "general.parameter_count": 22565760},
    ),
)  # fmt: skip

BY_NAME = {spec.name: spec for spec in CATALOGUE}
ALL_MODEL_NAMES = tuple(spec.name for spec in CATALOGUE)


def canonical(name: str) -> str:
    """Normalise a model name: casefold, strip a `:latest` tag."""
    base = name.strip().lower()
    return base.removesuffix(":latest")


def display_name(name: str) -> str:
    """The `name:tag` form Ollama's /api/show echoes (tag defaults to latest)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def resolve(name: str, pulled: list[str]) -> ModelSpec | None:
    """The pulled model matching name (case-insensitive, `:latest` optional), or None."""
    key = canonical(name)
    if key not in {canonical(p) for p in pulled}:
        return None
    return BY_NAME.get(key)


def details(spec: ModelSpec) -> dict[str, Any]:
    """The `details` object of tags/show/ps items."""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
        "context_length": spec.context_length,
        "embedding_length": spec.embedding_length,
    }


def tags_item(spec: ModelSpec) -> dict[str, Any]:
    """One entry of GET /api/tags."""
    return {
        "name": spec.full_name,
        "model": spec.full_name,
        "modified_at": spec.modified_at,
        "size": spec.size,
        "digest": spec.digest,
        "details": details(spec),
        "capabilities": list(spec.capabilities),
    }


def model_info(spec: ModelSpec) -> dict[str, Any]:
    """A small flat map of GGUF metadata, as in /api/show's `model_info`."""
    arch = spec.family
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.file_type": 1 if spec.quantization == "F16" else 15,
        "general.quantization_version": 2,
        f"{arch}.context_length": spec.context_length,
        f"{arch}.embedding_length": spec.embedding_length,
        "tokenizer.ggml.model": "gpt2" if arch == "llama" else "bert",
    }
    if spec.is_embedder:
        info[f"{arch}.attention.causal"] = False
    info.update(spec.extra_info)
    return dict(sorted(info.items()))


def _parameters(spec: ModelSpec) -> str:
    if spec.is_embedder:
        params = [("num_ctx", str(spec.num_ctx_param))] if spec.num_ctx_param else []
    else:
        params = [("stop", f'"{tok}"') for tok in ("<|start_header_id|>", "<|eot_id|>")]
    return "".join(f"{key:<30} {value}\n" for key, value in params)


def show_body(spec: ModelSpec) -> dict[str, Any]:
    """The POST /api/show response for spec."""
    template = (
        "{{ .Prompt }}"
        if spec.is_embedder
        else (
            "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
            "{{ range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
            "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
        )
    )
    return {
        "license": "Apache License 2.0 (ollama double)",
        "modelfile": f"FROM {spec.full_name}\nTEMPLATE {template!r}\n",
        "parameters": _parameters(spec),
        "template": template,
        "details": details(spec),
        "model_info": model_info(spec),
        "tensors": [],
        "capabilities": list(spec.capabilities),
        "modified_at": spec.modified_at,
    }


def ps_item(spec: ModelSpec, expires_at: str, context_length: int) -> dict[str, Any]:
    """One entry of GET /api/ps."""
    return {
        "name": spec.full_name,
        "model": spec.full_name,
        "size": spec.size,
        "digest": spec.digest,
        "details": details(spec),
        "expires_at": expires_at,
        "size_vram": spec.size,
        "context_length": context_length,
    }
