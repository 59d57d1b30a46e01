"""Which family a model belongs to, from its config, its model card, or its tensor names.

The rules are hand-written (no library knows bigmodel's families): a table of `model_type`s,
then the head named by `architectures` (`…ForCausalLM`, `…ForImageClassification`), then the
task tables of `transformers` for model types the table does not list. Nothing here runs code
that came with a checkpoint; `auto_map` is read as text only.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable

from bigmodel.taxonomy.families import FAMILIES


@dataclasses.dataclass(frozen=True)
class Kind:
    """What a kind of model does: family, modalities in and out, and its task."""

    family: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    task: str


LLM = Kind("llm", ("text",), ("text",), "text-generation")
TEXT2TEXT = Kind("llm", ("text",), ("text",), "text2text-generation")
ENCODER = Kind("encoder", ("text",), ("embedding",), "feature-extraction")
TEXT_CLASSIFIER = Kind("encoder", ("text",), ("label",), "text-classification")
VISION = Kind("vision", ("image",), ("label",), "image-classification")
VISION_ENCODER = Kind("vision", ("image",), ("embedding",), "image-feature-extraction")
DETECTOR = Kind("vision", ("image",), ("label",), "object-detection")
DUAL_ENCODER = Kind("multimodal", ("text", "image"), ("embedding",), "zero-shot-image-classification")
VLM = Kind("multimodal", ("text", "image"), ("text",), "image-text-to-text")
CAPTIONER = Kind("multimodal", ("image",), ("text",), "image-to-text")
TEXT_AUDIO_DUAL = Kind("multimodal", ("text", "audio"), ("embedding",), "zero-shot-audio-classification")
SPEECH_RECOGNITION = Kind("audio", ("audio",), ("text",), "automatic-speech-recognition")
AUDIO_CLASSIFIER = Kind("audio", ("audio",), ("label",), "audio-classification")
TEXT_TO_MUSIC = Kind("generative", ("text",), ("music",), "text-to-audio")
TEXT_TO_SPEECH = Kind("generative", ("text",), ("audio",), "text-to-speech")
TEXT_TO_IMAGE = Kind("generative", ("text",), ("image",), "text-to-image")
DECISION = Kind("decision", ("game-state",), ("action",), "decision-making")
UNKNOWN = Kind("unknown", (), (), "unknown")

# model_type -> kind. Covers the common models; others fall through to the architecture suffix
# rules and then to transformers' own task tables.
MODEL_TYPES: dict[str, Kind] = {
    **dict.fromkeys(
        "llama mistral mixtral qwen qwen2 qwen2_moe qwen3 qwen3_moe gpt2 gpt_neo gpt_neox gptj gpt_bigcode "
        "falcon phi phi3 phimoe gemma gemma2 gemma3_text opt bloom mpt chatglm glm glm4 baichuan internlm "
        "internlm2 deepseek deepseek_v2 deepseek_v3 olmo olmo2 stablelm starcoder2 cohere codegen rwkv mamba "
        "mamba2 jamba dbrx granite granitemoe yi minicpm exaone".split(),
        LLM,
    ),
    **dict.fromkeys("t5 mt5 umt5 longt5 bart mbart pegasus marian".split(), TEXT2TEXT),
    **dict.fromkeys(
        "bert roberta xlm-roberta distilbert albert electra deberta deberta-v2 mpnet modernbert ernie "
        "camembert nomic_bert xlm megatron-bert clip_text_model siglip_text_model".split(),
        ENCODER,
    ),
    **dict.fromkeys(
        "vit deit beit swin swinv2 convnext convnextv2 resnet efficientnet mobilenet_v2 regnet mobilevit "
        "levit dinat".split(),
        VISION,
    ),
    **dict.fromkeys("dinov2 clip_vision_model siglip_vision_model".split(), VISION_ENCODER),
    **dict.fromkeys("detr yolos deformable_detr rt_detr segformer sam".split(), DETECTOR),
    **dict.fromkeys("clip siglip siglip2 chinese_clip align altclip owlvit flava".split(), DUAL_ENCODER),
    **dict.fromkeys(
        "llava llava_next llava_onevision qwen2_vl qwen2_5_vl idefics idefics2 idefics3 paligemma mllama "
        "gemma3 instructblip blip-2 internvl smolvlm florence2 kosmos-2".split(),
        VLM,
    ),
    **dict.fromkeys("vision-encoder-decoder blip git pix2struct".split(), CAPTIONER),
    "clap": TEXT_AUDIO_DUAL,
    **dict.fromkeys("whisper wav2vec2 hubert wavlm speech_to_text data2vec-audio unispeech".split(), SPEECH_RECOGNITION),
    "audio-spectrogram-transformer": AUDIO_CLASSIFIER,
    **dict.fromkeys("musicgen musicgen_melody".split(), TEXT_TO_MUSIC),
    **dict.fromkeys("bark speecht5 vits".split(), TEXT_TO_SPEECH),
    **dict.fromkeys("decision_transformer trajectory_transformer alphazero".split(), DECISION),
}

# The head named in `architectures`, for model types the table does not list. First match wins.
ARCHITECTURE_SUFFIXES: list[tuple[str, Kind]] = [
    ("ForCausalLM", LLM),
    ("LMHeadModel", LLM),
    ("ForImageClassification", VISION),
    ("ForObjectDetection", DETECTOR),
    ("ForSemanticSegmentation", DETECTOR),
    ("ForSpeechSeq2Seq", SPEECH_RECOGNITION),
    ("ForCTC", SPEECH_RECOGNITION),
    ("ForAudioClassification", AUDIO_CLASSIFIER),
    ("ForVision2Seq", VLM),
    ("ForImageTextToText", VLM),
    ("ForSeq2SeqLM", TEXT2TEXT),
    ("ForMaskedLM", ENCODER),
    ("ForSequenceClassification", TEXT_CLASSIFIER),
    ("ForTokenClassification", TEXT_CLASSIFIER),
    ("ForQuestionAnswering", ENCODER),
]

# Diffusers write `_class_name` instead of `model_type`.
DIFFUSERS_CLASSES = re.compile(r"UNet|Transformer2DModel|SD3Transformer|FluxTransformer|AutoencoderKL|Pipeline")

# Tensor-name fingerprints for weight files without a config. First match wins, so the more
# specific patterns (a vision tower inside an LLM) come before the general ones.
TENSOR_PATTERNS: list[tuple[re.Pattern[str], Kind, str]] = [
    (re.compile(r"(^|\.)(vision_tower|multi_modal_projector|visual)\."), VLM, "a vision tower beside a language model"),
    (re.compile(r"(^|\.)vision_model\."), DUAL_ENCODER, "vision_model.* tensors"),  # needs text_model too, see below
    (re.compile(r"(^|\.)encoder\.conv1\.|(^|\.)feature_extractor\.conv_layers\.|^wav2vec2\."), SPEECH_RECOGNITION, "audio front-end tensors"),
    (re.compile(r"(^|\.)(down_blocks|up_blocks|mid_block)\."), TEXT_TO_IMAGE, "UNet blocks"),
    (re.compile(r"(^|\.)(policy_head|value_head)\."), DECISION, "policy/value heads"),
    (re.compile(r"(^|\.)(block_sparse_moe|mlp\.experts)\."), LLM, "mixture-of-experts decoder layers"),
    (
        re.compile(
            r"(^|\.)layers\.\d+\.self_attn\.q_proj\.|(^|\.)h\.\d+\.attn\.|(^|\.)layers\.\d+\.attention\.wq\."
            r"|^blk\.\d+\.attn_q|(^|\.)encoder\.layers\.\d+\.self_attention\.query_key_value\."
        ),
        LLM,
        "decoder-layer tensors",
    ),
    (re.compile(r"(^|\.)(patch_embeddings|patch_embed)\."), VISION, "patch-embedding tensors"),
    (re.compile(r"(^|\.)embeddings\.word_embeddings\.|(^|\.)encoder\.layer\.\d+\.attention\."), ENCODER, "BERT-style encoder tensors"),
]

# GGUF `general.architecture` values that are not LLMs.
GGUF_ARCHITECTURES: dict[str, Kind] = {"bert": ENCODER, "nomic-bert": ENCODER, "clip": DUAL_ENCODER, "whisper": SPEECH_RECOGNITION}

CHAT_NAME = re.compile(r"(?:^|[-_./\s])(?:chat|instruct|it)(?:$|[-_./\s])|Instruct", re.IGNORECASE)
DOMAINS = {
    "medical": "medical", "medicine": "medical", "biomedical": "medical", "clinical": "medical", "health": "medical",
    "legal": "legal", "law": "legal", "finance": "finance", "financial": "finance", "travel": "travel",
    "chemistry": "chemistry", "biology": "biology", "education": "education",
}


@dataclasses.dataclass
class Classification:
    family: str
    input_modalities: list[str]
    output_modalities: list[str]
    architecture: str
    task: str
    chat: bool = False
    chat_evidence: str | None = None
    why: str = ""  # the evidence for the family, in a few words


def _classification(kind: Kind, architecture: str, why: str) -> Classification:
    return Classification(kind.family, list(kind.inputs), list(kind.outputs), architecture, kind.task, why=why)


def _kind_from_transformers(model_type: str) -> Kind | None:
    """transformers' own task tables, for model types bigmodel's table does not list."""
    try:
        from transformers.models.auto import modeling_auto as auto
    except ImportError:
        return None
    # Order matters: a model type may appear in several tables (BART is both seq2seq and masked LM).
    tables = [
        ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", VLM),
        ("MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES", DUAL_ENCODER),
        ("MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", SPEECH_RECOGNITION),
        ("MODEL_FOR_CTC_MAPPING_NAMES", SPEECH_RECOGNITION),
        ("MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES", TEXT_TO_SPEECH),
        ("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", VISION),
        ("MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES", DETECTOR),
        ("MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES", TEXT2TEXT),
        ("MODEL_FOR_MASKED_LM_MAPPING_NAMES", ENCODER),
        ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", LLM),
    ]
    for table, kind in tables:
        if model_type in getattr(auto, table, {}):
            return kind
    return None


def classify_config(config: dict[str, Any]) -> Classification:
    """Classify a Hugging Face `config.json` (already parsed). Never raises; unknown → family unknown."""
    model_type = str(config.get("model_type") or "")
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else ""
    if not architecture and isinstance(config.get("_class_name"), str):
        architecture = config["_class_name"]

    if DIFFUSERS_CLASSES.search(str(config.get("_class_name", ""))):
        result = _classification(TEXT_TO_IMAGE, architecture, f"diffusers class {config['_class_name']}")
    elif model_type in MODEL_TYPES:
        result = _classification(MODEL_TYPES[model_type], architecture or model_type, f"model_type {model_type!r}")
        # The head refines the task: BERT with a classification head outputs labels.
        if result.family == "encoder" and architecture.endswith(("ForSequenceClassification", "ForTokenClassification")):
            result = _classification(TEXT_CLASSIFIER, architecture, f"model_type {model_type!r} with a {architecture} head")
    else:
        suffix_kind = next((kind for suffix, kind in ARCHITECTURE_SUFFIXES if architecture.endswith(suffix)), None)
        if suffix_kind is not None:
            result = _classification(suffix_kind, architecture, f"architecture {architecture}")
        elif model_type and (kind := _kind_from_transformers(model_type)) is not None:
            result = _classification(kind, architecture or model_type, f"transformers task table for {model_type!r}")
        else:
            what = f"model_type {model_type!r}" if model_type else "no model_type or architectures"
            result = _classification(UNKNOWN, architecture or model_type, f"{what} not recognised")
    if name := config.get("_name_or_path"):
        evidence = chat_from_name(str(name))
        if evidence:
            result.chat, result.chat_evidence = True, evidence
    return result


def classify_tensor_names(names: Iterable[str]) -> Classification | None:
    """Classify a bare weight file from its tensor names; None when nothing matches."""
    names = list(names)
    for pattern, kind, why in TENSOR_PATTERNS:
        if not any(pattern.search(n) for n in names):
            continue
        # A vision model beside a text model is a CLIP-style pair; a vision model alone is vision.
        if kind is DUAL_ENCODER and not any(re.search(r"(^|\.)text_model\.", n) for n in names):
            return _classification(VISION_ENCODER, "", "vision_model.* tensors without a text model")
        if kind is DUAL_ENCODER:
            why = "vision_model.* and text_model.* tensors"
        return _classification(kind, "", f"tensor names: {why}")
    return None


def classify_gguf(metadata: dict[str, Any]) -> Classification | None:
    """Classify from GGUF metadata (`general.architecture`); GGUF is mostly LLMs."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return None
    kind = GGUF_ARCHITECTURES.get(arch, LLM)
    return _classification(kind, arch, f"GGUF general.architecture {arch!r}")


def classify_card(card: Any) -> Classification:
    """The bigmodel.json card says what the model is; it wins over every other rule."""
    family = card.family if card.family in FAMILIES else "unknown"
    result = Classification(
        family, list(card.input_modalities), list(card.output_modalities), card.architecture, card.task,
        why="bigmodel.json card",
    )
    if card.chat:
        result.chat, result.chat_evidence = True, "bigmodel.json says chat"
    return result


def chat_from_name(name: str) -> str | None:
    """Chat/instruct-tuned models are usually named so: -chat, -instruct, -it, Instruct."""
    match = CHAT_NAME.search(name)
    return f"name {name!r} contains {match.group(0).strip('-_./ ')!r}" if match else None


def domain_from_tags(tags: Iterable[str]) -> str | None:
    for tag in tags:
        if isinstance(tag, str) and tag.lower() in DOMAINS:
            return DOMAINS[tag.lower()]
    return None
