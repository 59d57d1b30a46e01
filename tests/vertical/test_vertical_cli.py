"""`bigmodel vertical make-pack` and `bigmodel vertical pack`, run as a user runs them."""

import json
import subprocess
import sys


def bigmodel(*args):
    return subprocess.run([sys.executable, "-m", "bigmodel.cli", "vertical", *args], capture_output=True, text=True, timeout=120)


def test_make_pack_then_check_it(tmp_path):
    out = tmp_path / "finance"
    made = bigmodel("make-pack", "--domain", "finance", "--subset", "60", "--seed", "2", "--out", str(out), "--json")
    assert made.returncode == 0, made.stderr
    meta = json.loads(made.stdout)
    assert meta == json.loads((out / "pack.json").read_text())
    assert meta["name"] == "finance" and meta["subset"] == 60 and meta["seed"] == 2 and meta["counts"]["facts"] == 60
    assert {p["name"] for p in meta["packages"]} == {"pycountry", "babel"}
    eval_lines = (out / "eval_qa.jsonl").read_text().splitlines()
    assert len(eval_lines) == meta["counts"]["eval_questions"]

    checked = bigmodel("pack", str(out))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"valid {out}: pack 'finance', {meta['counts']['passages']} passages")
    as_json = json.loads(bigmodel("pack", str(out), "--json").stdout)
    assert as_json["valid"] is True and as_json["problems"] == [] and as_json["summary"]["eval_questions"] == len(eval_lines)


def test_bad_pack_reports_every_problem_with_its_line(tmp_path):
    out = tmp_path / "pack"
    assert bigmodel("make-pack", "--domain", "travel", "--subset", "30", "--out", str(out)).returncode == 0
    train = (out / "train_qa.jsonl").read_text().splitlines()
    train[1] = train[1][:20]
    (out / "train_qa.jsonl").write_text("\n".join(train) + "\n")
    rows = (out / "eval_qa.jsonl").read_text().splitlines()
    duplicate = json.loads(rows[2])
    duplicate["id"] = json.loads(rows[0])["id"]
    rows[2] = json.dumps(duplicate)
    (out / "eval_qa.jsonl").write_text("\n".join(rows) + "\n")

    result = bigmodel("pack", str(out))
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {out}/train_qa.jsonl line 2: not valid JSON: Unterminated string starting at (column 8)",
        f"error: {out}/eval_qa.jsonl line 3: duplicate question id {duplicate['id']!r} (first on eval_qa.jsonl line 1)",
    ]
    as_json = bigmodel("pack", str(out), "--json")
    assert as_json.returncode == 2
    problems = json.loads(as_json.stdout)["problems"]
    assert [(p["path"].rsplit("/", 1)[1], p["line"]) for p in problems] == [("train_qa.jsonl", 2), ("eval_qa.jsonl", 3)]


def test_missing_folder_and_missing_file(tmp_path):
    result = bigmodel("pack", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and f"{tmp_path / 'nowhere'}: no such pack folder" in result.stderr
    (tmp_path / "pack.json").write_text("{}")
    result = bigmodel("pack", str(tmp_path))
    assert result.returncode == 2 and f"{tmp_path}/eval_qa.jsonl: missing file" in result.stderr
    result = bigmodel("pack", str(tmp_path / "pack.json"))
    assert result.returncode == 2 and f"{tmp_path / 'pack.json'}: a file; give the pack's folder" in result.stderr


def test_unknown_domain_and_bad_subset_leave_the_output_alone(tmp_path):
    out = tmp_path / "pack"
    out.mkdir()
    result = bigmodel("make-pack", "--domain", "law", "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown domain 'law'; known domains: medical, travel, finance" in result.stderr
    result = bigmodel("make-pack", "--domain", "finance", "--subset", "100000", "--out", str(out))
    assert result.returncode == 2 and "--subset 100000: the finance pack has" in result.stderr
    result = bigmodel("make-pack", "--domain", "finance", "--subset", "1", "--out", str(out))
    assert result.returncode == 2 and "--subset 1 leaves no facts to hold out for evaluation" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["pack"] and not any(out.iterdir())
    (out / "mine.txt").write_text("keep me")  # a folder of the user's own files is never replaced
    result = bigmodel("make-pack", "--domain", "finance", "--subset", "50", "--out", str(out))
    assert result.returncode == 2 and "is a folder that bigmodel did not write (it has no pack.json)" in result.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"


def test_help_has_examples():
    for command in ("pack", "make-pack"):
        result = bigmodel(command, "--help")
        assert result.returncode == 0 and "Example: bigmodel vertical" in result.stdout
