"""The zoo end to end: `bigmodel zoo --quick` builds every family, inspect classifies each, re-runs resume."""

import json

from bigmodel import checkpoint, zoo


def _default_build() -> list[zoo.ZooMember]:
    """What `bigmodel zoo` builds without options: every default member and the medical vertical model."""
    return zoo.members(None, ["vertical-medical"])


def test_quick_zoo_builds_every_family_and_inspect_classifies_it(quick_zoo):
    root, result = quick_zoo
    members = _default_build()
    assert members, "no family has joined the zoo"
    report = json.loads((root / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == [m.name for m in members]
    for member, entry in zip(members, report["models"]):
        assert checkpoint.is_complete(root / member.name), member.name
        assert entry["card"]["family"] == member.family
        assert entry["inspect"]["family"] == member.family, f"inspect misclassifies {member.name}"
        assert entry["inspect"]["parameters"] == entry["card"]["parameters"], member.name
    markdown = (root / "report.md").read_text()
    for member in members:
        assert member.name in markdown and member.name in result.stdout


def test_rerun_keeps_valid_models_and_rebuild_builds_again(quick_zoo, bigmodel_cli):
    root, _ = quick_zoo
    first = _default_build()[0]
    weights = {m.name: (root / m.name / "bigmodel.json").stat().st_mtime_ns for m in _default_build()}
    again = bigmodel_cli("zoo", "--quick", "--out", str(root))
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.count("built and valid, kept") == len(weights)
    assert {m: (root / m / "bigmodel.json").stat().st_mtime_ns for m in weights} == weights

    rebuilt = bigmodel_cli("zoo", "--quick", "--out", str(root), "--only", first.name, "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (root / first.name / "bigmodel.json").stat().st_mtime_ns != weights[first.name]
    report = json.loads((root / "report.json").read_text())
    assert len(report["models"]) == len(weights), "the report still covers the whole zoo"


def test_unknown_member_is_one_clear_line(tmp_path, bigmodel_cli):
    result = bigmodel_cli("zoo", "--quick", "--out", str(tmp_path / "z"), "--only", "no-such-model")
    assert result.returncode == 2
    assert "unknown zoo member(s) no-such-model; known:" in result.stderr
    assert "Traceback" not in result.stderr


def test_quick_zoo_compares_the_vertical_model_with_its_base(quick_zoo):
    root, _ = quick_zoo
    card = json.loads((root / "vertical-medical" / "bigmodel.json").read_text())
    assert card["family"] == "vertical" and card["domain"] == "medical" and card["base_model"] == str(root / "general-llm")
    benchmark = card["metrics"]["benchmark"]
    verdicts = json.loads((root / "vertical-medical" / "hallucination.json").read_text())
    assert benchmark["questions"] == sum(verdicts["questions"].values()) > 0
    assert benchmark["base"] == verdicts["models"]["general-llm (base)"]
    assert benchmark["vertical"] == verdicts["models"]["vertical-medical (vertical)"]
    assert (root / "vertical-medical" / "hallucination.png").stat().st_size > 1000
    section = (root / "report.md").read_text().split("## vertical-medical (vertical)")[1].split("\n## ")[0]
    assert "| general-llm (base) |" in section and "| vertical-medical (vertical) |" in section
    assert "](vertical-medical/hallucination.png)" in section


def test_unknown_domain_is_one_clear_line(tmp_path, bigmodel_cli):
    result = bigmodel_cli("zoo", "--quick", "--out", str(tmp_path / "z"), "--domains", "medical,astrology")
    assert result.returncode == 2
    assert "--domains: unknown domain(s) astrology; known: medical, travel, finance" in result.stderr
    assert not (tmp_path / "z").exists()


def test_captioner_joins_the_zoos_clip_and_llm_when_asked_for(quick_zoo, bigmodel_cli, tmp_path):
    import shutil

    root = tmp_path / "zoo"
    shutil.copytree(quick_zoo[0], root)
    assert "captioner-shapes" not in [m.name for m in _default_build()]
    result = bigmodel_cli("zoo", "--quick", "--out", str(root), "--only", "captioner-shapes")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("built and valid, kept") == 2  # general-llm and clip-shapes
    card = json.loads((root / "captioner-shapes" / "bigmodel.json").read_text())
    assert card["task"] == "image-captioning" and card["base_model"] == str(root / "general-llm")
    assert card["extra"]["vision_encoder"] == str(root / "clip-shapes")
    report = json.loads((root / "report.json").read_text())
    entry = next(m for m in report["models"] if m["name"] == "captioner-shapes")
    assert entry["inspect"]["family"] == "multimodal"
    language_side = next(m for m in report["models"] if m["name"] == "general-llm")
    assert language_side["inspect"]["chat"] is True and entry["inspect"]["chat"] is False, "captions are not chat turns"
    section = (root / "report.md").read_text().split("## captioner-shapes")[1].split("\n## ")[0]
    assert section.count("](captioner-shapes/examples/caption-") == 3
