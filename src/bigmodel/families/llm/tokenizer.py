"""Byte-level BPE tokenizers (the `tokenizers` library) and the one chat template.

The tokenizer is saved as a `PreTrainedTokenizerFast` (tokenizer.json + tokenizer_config.json),
so `AutoTokenizer.from_pretrained` loads it with no custom code, and the chat template lives in
tokenizer_config.json, so `apply_chat_template` renders chats exactly as bigmodel trains on them.
"""

from __future__ import annotations

from typing import Any, Iterable

END_OF_TEXT = "<|endoftext|>"  # separates documents; also ends every chat turn
TURN_START = "<|im_start|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [END_OF_TEXT, TURN_START, PAD]
ROLES = ("system", "user", "assistant")

# ChatML-style turns that end with the tokenizer's own EOS, so the same template works for any
# LLaMA-family tokenizer without adding tokens, and generation stops at EOS. The
# {% generation %} block marks the assistant's tokens: `return_assistant_tokens_mask` then gives
# the loss mask for chat fine-tuning.
CHAT_TEMPLATE = (
    "{%- if bos_token %}{{ bos_token }}{% endif -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{%- else -%}"
    "{{ message['content'] + eos_token }}"
    "{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, wrapped for `transformers`.

    Encoding a text prepends END_OF_TEXT, as packing does between documents, so a prompt at
    generation time starts the way every training document starts.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    eos_id = tokenizer.token_to_id(END_OF_TEXT)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{END_OF_TEXT} $A", pair=f"{END_OF_TEXT} $A {END_OF_TEXT} $B", special_tokens=[(END_OF_TEXT, eos_id)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, pad_token=PAD
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def prepare_chat_tokenizer(tokenizer: Any) -> bool:
    """Give a tokenizer the bigmodel chat template (and a pad token) unless its own template marks
    assistant turns for the loss. Returns whether the template was replaced."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if template is not None and "{% generation %}" in template.replace("{%- generation %}", "{% generation %}"):
        return False
    tokenizer.chat_template = CHAT_TEMPLATE
    return True
