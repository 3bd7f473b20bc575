"""Docs cover the surface: every CLI command and public API name appears in docs/."""

from pathlib import Path

import artstore
from artstore.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = Path(__file__).resolve().parent.parent / "README.rst"


def docs_text():
    return "\n".join(p.read_text() for p in DOCS.glob("*.rst"))


def test_every_cli_command_is_documented_with_an_example():
    text = docs_text()
    for name, command in main.commands.items():
        assert f"artstore {name}" in text or f"``{name}``" in text, name
        assert "Example:" in (command.help or ""), name


def test_every_public_api_name_is_documented():
    text = docs_text()
    for name in artstore.__all__:
        if name.startswith("_"):
            continue
        assert name in text, name


def test_readme_quick_start_gives_the_two_commands():
    text = README.read_text()
    quick = text.split("Quick start", 1)[1].split("Python\n", 1)[0]
    assert "make demo" in quick and "make test" in quick
