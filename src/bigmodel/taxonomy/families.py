"""The families of large models and the one rule that makes a model "large"."""

from __future__ import annotations

# "Large model" (大模型): conventionally one billion parameters or more.
LARGE_THRESHOLD = 1_000_000_000

# family -> what it is, in one line. Order is the order of the taxonomy table.
FAMILIES: dict[str, str] = {
    "llm": "understands and generates text; chat",
    "vertical": "an LLM further trained on one industry's knowledge",
    "vision": "image classification, detection, generation",
    "multimodal": "fuses text, image, audio: captioning, retrieval, VQA",
    "decision": "plans and acts: search + reinforcement learning",
    "generative": "language fused with another output: text->image, text->music, text+image->action",
    "audio": "speech recognition and audio understanding",
    "encoder": "text encoder: embeddings, classification, retrieval",
    "unknown": "not recognised",
}

MODALITIES = ("text", "image", "audio", "video", "game-state", "action", "embedding", "label", "music")


def is_large(parameters: int) -> bool:
    return parameters >= LARGE_THRESHOLD
