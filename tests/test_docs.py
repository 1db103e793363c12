"""The README and docs/*.md stay true: every relative link resolves (to a file, and to a heading where it
names one), and every option they show for a script exists in that script's --help.

An option counts as shown for a script when it follows `scripts/<name>.py` in a command: a line of a fenced
code block (continuation lines joined, comments cut, `&&`/`;`/`|` ending a command) or an inline code span.
Options a script hands on to train.py (crossval.py, benchmark_accuracy.py; evaluate.py's --config and
--data.*) are looked up in train.py's --help, and so is every `--section.option` in the docs' code, wherever
it stands. Each script's --help runs once, in this process (the imports are shared); no training.
"""
from __future__ import annotations

import contextlib
import io
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SCRIPT = re.compile(r"(?<![\w/.-])(?:\./)?scripts/(\w+)\.py\b")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w.+-]*")
DOTTED = re.compile(r"^--[a-z_]+\.[a-z_][\w.]*$")  # train.py's --section.option
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*```")
# Scripts that pass the options they do not know to train.py: which of those they pass.
HANDS_ON = {"crossval": ("--",), "benchmark_accuracy": ("--",), "evaluate": ("--config", "--data."),
            "choose_recipe": ("--",)}
# The scripts that write a result somewhere, and which of them called that option --out before.
WRITERS = ("evaluate", "export", "make_demo_data", "make_motion_data", "benchmark_accuracy", "crossval", "predict",
           "check_videos", "choose_recipe")
# Wrong on purpose: README shows that an abbreviated option is an error.
WRONG_ON_PURPOSE = {"--model.cel"}
RENAMED = ("evaluate", "export", "make_demo_data", "make_motion_data", "benchmark_accuracy", "crossval")


@dataclass
class Command:
    doc: Path
    line: int
    script: str
    flags: List[str]

    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}: scripts/{self.script}.py"


def _split_markdown(text: str) -> tuple:
    """(code lines, prose text): the lines of fenced code blocks with their line numbers, and the rest
    with each code line blanked (so that the prose keeps its line numbers)."""
    code, prose, fenced = [], [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            prose.append("")
        elif fenced:
            code.append((number, line))
            prose.append("")
        else:
            prose.append(line)
    return code, "\n".join(prose)


def _code_commands(lines: List[tuple]) -> Iterator[tuple]:
    """(line number, command) of code lines: continuations joined, comments cut, split at && ; |."""
    pending, start = "", 0
    for number, line in lines:
        if not pending:
            start = number
        line = re.sub(r"(^|\s)#.*$", "", line)
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        for command in re.split(r"&&|;|\|", pending + line):
            yield start, command
        pending = ""
    if pending:  # a block that ends on a continuation
        yield start, pending


def _inline_spans(prose: str) -> Iterator[tuple]:
    """(line number, text) of each inline code span of the prose (a span may wrap onto the next line)."""
    for match in re.finditer(r"`([^`]+)`", prose):
        yield prose.count("\n", 0, match.start()) + 1, " ".join(match.group(1).split())


def _flags_after_script(text: str) -> Iterator[tuple]:
    """(script, flags) for each `scripts/<name>.py` in the text: the options up to the next script."""
    found = list(SCRIPT.finditer(text))
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        flags = [flag.split("=", 1)[0].rstrip(".-") for flag in FLAG.findall(text[match.end():end])]
        yield match.group(1), flags


def doc_commands(doc: Path) -> List[Command]:
    """Every command of `doc` that runs a script, with the options it shows."""
    code, prose = _split_markdown(doc.read_text(encoding="utf-8"))
    texts = [*_code_commands(code), *_inline_spans(prose)]
    return [Command(doc, number, script, flags) for number, text in texts
            for script, flags in _flags_after_script(text)]


def dotted_flags(doc: Path) -> List[tuple]:
    """(line number, flag) of every `--section.option` in the doc's code blocks and inline code."""
    code, prose = _split_markdown(doc.read_text(encoding="utf-8"))
    found = []
    for number, text in [*code, *_inline_spans(prose)]:
        for flag in FLAG.findall(text):
            flag = flag.split("=", 1)[0].rstrip(".-")
            if DOTTED.match(flag):
                found.append((number, flag))
    return found


def help_options(text: str) -> Set[str]:
    """The options a --help lists: the names on its option lines ('  -c CONFIG, --config CONFIG')."""
    options: Set[str] = set()
    for line in text.splitlines():
        if re.match(r"^ {2}-", line):
            options.update(re.findall(r"(?:^|, )(--?[^\s,=\[]+)", line.strip()))
    return options


def known_to_train(flag: str, train: Set[str]) -> bool:
    """A train.py option, or one below an option whose class is chosen at run time (`--trainer.logger
    .init_args.save_dir`: --help lists `--trainer.logger.help` for those instead of their arguments)."""
    if flag in train:
        return True
    parts = flag.split(".")
    return any(".".join(parts[:n]) + ".help" in train for n in range(1, len(parts)))


@pytest.fixture(scope="module")
def commands() -> List[Command]:
    return [command for doc in DOCS for command in doc_commands(doc)]


@pytest.fixture(scope="module")
def helps(commands) -> Dict[str, Set[str]]:
    """Each script's options, from one --help of each script the docs run (and of train.py and the WRITERS)."""
    names = sorted({c.script for c in commands} | {"train", *WRITERS})
    missing = [name for name in names if not (REPO / "scripts" / f"{name}.py").is_file()]
    assert not missing, f"the docs run scripts that do not exist: {missing}"
    return {name: help_options(script_help(name)) for name in names}


def script_help(name: str) -> str:
    """What `python scripts/<name>.py --help` prints, run in this process: torch and Lightning are imported
    once for all the scripts instead of once each (a second or more of CPU per script)."""
    path = REPO / "scripts" / f"{name}.py"
    argv, printed = sys.argv, io.StringIO()
    sys.argv = [str(path), "--help"]
    try:
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as stop:
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = argv
    assert stop.value.code in (0, None), f"scripts/{name}.py --help: exit {stop.value.code}"
    return printed.getvalue()


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        _, prose = _split_markdown(doc.read_text(encoding="utf-8"))
        for match in LINK.finditer(prose):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            where = f"{doc.relative_to(REPO)}:{prose.count(chr(10), 0, match.start()) + 1}: {target}"
            if not file.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and file.suffix == ".md" and fragment not in heading_anchors(file):
                broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def heading_anchors(doc: Path) -> Set[str]:
    """The anchors GitHub gives the doc's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated one numbered (-1, -2)."""
    _, prose = _split_markdown(doc.read_text(encoding="utf-8"))
    anchors: Set[str] = set()
    for line in prose.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        anchor = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        unique, n = anchor, 0
        while unique in anchors:
            n += 1
            unique = f"{anchor}-{n}"
        anchors.add(unique)
    return anchors


def test_the_docs_show_commands_of_every_kind(commands):
    # The extraction itself: if it found nothing, the next test would pass for nothing.
    shown = {c.script for c in commands}
    assert {"train", "predict", "evaluate", "export", "check_videos", "crossval"} <= shown, shown
    assert any("--output" in c.flags for c in commands if c.script == "predict")


def test_every_option_the_docs_show_for_a_script_exists(commands, helps):
    train = helps["train"]
    unknown = []
    for command in commands:
        own = helps[command.script]
        for flag in command.flags:
            if flag in own:
                continue
            handed_on = HANDS_ON.get(command.script)
            if handed_on and flag.startswith(handed_on) and known_to_train(flag, train):
                continue
            if command.script == "train" and known_to_train(flag, train):
                continue
            unknown.append(f"{command.where()} {flag}")
    assert not unknown, "options the docs show that the script does not have:\n" + "\n".join(unknown)


def test_every_section_option_in_the_docs_is_one_of_train_py(helps):
    train = helps["train"]
    unknown = [f"{doc.relative_to(REPO)}:{line}: {flag}" for doc in DOCS for line, flag in dotted_flags(doc)
               if not known_to_train(flag, train) and flag not in WRONG_ON_PURPOSE]
    assert not unknown, "train.py has no such option:\n" + "\n".join(unknown)


@pytest.mark.parametrize("script", WRITERS)
def test_where_the_result_goes_is_called_output(script, helps):
    assert "--output" in helps[script]
    if script in RENAMED:
        assert "--out" in helps[script], "--out stays accepted, as the old name, for a release"
