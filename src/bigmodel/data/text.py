"""Users' own text: a file, a folder of files, or JSONL with a "text" field per line.

Text is read as UTF-8; bytes that are not UTF-8 are replaced by U+FFFD and counted, so a stray
Latin-1 file trains instead of failing, and the count is reported (and kept in the model card).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bigmodel.errors import BigModelError

TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ".jsonl"}


@dataclasses.dataclass
class TextCorpus:
    """Documents ready to tokenize, with where they came from."""

    name: str
    documents: list[str]
    provenance: list[dict[str, Any]]  # one entry per source, for the model card
    replaced_bytes: int = 0  # bytes that were not UTF-8 and became U+FFFD

    @property
    def characters(self) -> int:
        return sum(len(d) for d in self.documents)

    def summary(self) -> str:
        line = f"{self.name}: {len(self.documents):,} documents, {self.characters:,} characters"
        if self.replaced_bytes:
            line += f"; {self.replaced_bytes:,} bytes were not UTF-8 and were replaced by U+FFFD"
        return line


def _decode(data: bytes) -> tuple[str, int]:
    """UTF-8 text and the number of bytes that had to be replaced."""
    replaced = 0

    def count(err: UnicodeDecodeError) -> tuple[str, int]:
        nonlocal replaced
        replaced += err.end - err.start
        return "\ufffd", err.end

    import codecs

    codecs.register_error("bigmodel-count", count)
    return data.decode("utf-8", errors="bigmodel-count"), replaced


def _jsonl_documents(path: Path, text: str) -> list[str]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise BigModelError(f"{path}:{number}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise BigModelError(f'{path}:{number}: expected an object with a string "text" field')
        documents.append(record["text"])
    return documents


def read_text_corpus(source: str | Path) -> TextCorpus:
    """Documents from a text file (one document), a JSONL file (one per line) or a folder of both."""
    root = Path(source)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise BigModelError(f"{root}: no text files ({', '.join(sorted(TEXT_SUFFIXES))}) in this folder")
    elif root.is_file():
        files = [root]
    else:
        raise BigModelError(f"{root}: no such file or folder")
    documents: list[str] = []
    replaced = 0
    for path in files:
        text, bad = _decode(path.read_bytes())
        replaced += bad
        documents.extend(_jsonl_documents(path, text) if path.suffix.lower() == ".jsonl" else [text])
    documents = [d for d in documents if d.strip()]
    if not documents:
        raise BigModelError(f"{root}: the corpus is empty (no text)")
    provenance = [{"source": str(root.resolve()), "files": len(files), "licence": "supplied by the user"}]
    return TextCorpus(name=str(root), documents=documents, provenance=provenance, replaced_bytes=replaced)
