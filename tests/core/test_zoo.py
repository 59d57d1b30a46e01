"""The zoo end to end: `bigmodel zoo --quick` builds every family, inspect classifies each, re-runs resume."""

import json

from bigmodel import checkpoint, zoo


def test_quick_zoo_builds_every_family_and_inspect_classifies_it(quick_zoo):
    root, result = quick_zoo
    members = zoo.all_members()
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
    first = zoo.all_members()[0]
    weights = {m.name: (root / m.name / "bigmodel.json").stat().st_mtime_ns for m in zoo.all_members()}
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
