"""Every command and every group of commands says in its --help how it is used: an example."""

from __future__ import annotations

import typer

from bigmodel.cli import app


def commands(command, path: tuple[str, ...] = ("bigmodel",)):
    yield path, command
    if hasattr(command, "list_commands"):  # a group (typer's click types are its own)
        context = type(command).context_class(command)
        for name in command.list_commands(context):
            yield from commands(command.get_command(context, name), (*path, name))


def test_every_help_has_an_example(cli):
    tree = list(commands(typer.main.get_command(app)))
    assert len(tree) > 20  # the whole tree was walked, groups included
    missing = [" ".join(path) for path, command in tree if "Example:" not in (command.help or "")]
    assert missing == []
    # and as a user sees it
    for path in (("decision",), ("llm",), ()):
        assert "Example: bigmodel" in cli(*path, "--help").stdout
