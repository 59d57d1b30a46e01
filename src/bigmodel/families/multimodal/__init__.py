"""The multimodal family: a CLIP-style dual encoder that joins images and text (retrieval,
zero-shot classification) and a LLaVA-style captioner whose language side is a given LLM."""
