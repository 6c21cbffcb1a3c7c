"""The README's local walkthrough, run as written on a fresh stack, each step's output checked.

The steps are read from README.md itself: the ```console blocks of its "Run it locally" section. A
line starting with ``$ `` is a command (a trailing ``\\`` continues it on the next line), and the lines
under it, up to the next command, are what it prints on stdout, compared as doctest compares
(``...`` stands for anything, runs of whitespace are one space, blank lines are ignored). Every
command runs in one bash session from the repository root, so ``export`` and ``BUCKET=$(...)``
carry over to the next steps, and must exit 0. A step whose comment says ``repeat until`` is run
again (for up to 30 s) until its output matches: the uploads dispatcher scans an object within a
second or two of its upload, as it would on AWS.

What the test changes, and only this: the stack runs on a free port instead of 4566 (``4566`` is
replaced in the commands and the expected output, and ``.venv/bin/aupctl`` is a wrapper adding
``--port N``, which every command talking to the stack takes), ``.venv/bin/`` is the directory of
the interpreter running the tests, and aupctl's state goes to a temporary directory.
"""

from __future__ import annotations

import doctest
import os
import re
import selectors
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aupctl import state

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Run it locally"
README_PORT = "4566"
STEP_TIMEOUT = 120.0
REPEAT_FOR = 30.0
CHECKER = doctest.OutputChecker()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Step:
    command: str
    expected: str
    line: int  # in README.md, for the failure message

    @property
    def repeat(self) -> bool:
        return "repeat until" in self.command


def section(text: str, heading: str = SECTION) -> tuple[str, int]:
    """The text of the section starting at ``heading`` (up to the next ``## ``) and its first line."""
    found = re.search(rf"^{re.escape(heading)}", text, re.M)
    if found is None:
        raise AssertionError(f"README.md has no section {heading!r}")
    start = found.start()
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)], text[:start].count("\n") + 1


def walkthrough_steps(text: str) -> list[Step]:
    body, first_line = section(text)
    steps: list[Step] = []
    for block in re.finditer(r"^```console\n(.*?)^```$", body, re.M | re.S):
        line_no = first_line + body[: block.start(1)].count("\n")
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise AssertionError(f"README.md:{line_no + i}: a console block's output with no command")
            start, command = line_no + i, lines[i][2:]
            while command.endswith("\\"):
                i += 1
                command = command + "\n" + lines[i]
            i += 1
            out: list[str] = []
            while i < len(lines) and not lines[i].startswith("$ "):
                out.append(lines[i])
                i += 1
            steps.append(Step(command, "\n".join(out), start))
    return steps


def comparable(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if line.strip())


def matches(expected: str, got: str) -> bool:
    return CHECKER.check_output(comparable(expected), comparable(got), FLAGS)


class Shell:
    """One bash session: a step's stdout, stderr and exit code, each step run to its end."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.folder = folder
        self.n = 0
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def run(self, command: str, timeout: float = STEP_TIMEOUT) -> tuple[int, str, str]:
        self.n += 1
        out, err = self.folder / f"{self.n}.out", self.folder / f"{self.n}.err"
        done = f"__step_{self.n}_done__"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # A brace group runs in this shell: what the command exports or assigns stays for the next steps.
        self.proc.stdin.write(
            f"{{ {command}\n}} >{shlex.quote(str(out))} 2>{shlex.quote(str(err))} </dev/null\n"
            f"echo {done} $?\n"
        )
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            if not self.selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"step did not finish within {timeout:.0f} s: {command}")
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the shell exited during: {command}")
            if line.startswith(done):
                code = int(line.split()[1])
                return code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def as_run(step: Step, port: int, wrapper: Path, bindir: Path) -> tuple[str, str]:
    """(command, expected) as the test runs them: the free port, the port wrapper, this venv."""
    command = step.command.replace(README_PORT, str(port)).replace(".venv/bin/aupctl", str(wrapper))
    command = command.replace(".venv/bin/", f"{bindir}/")
    return command, step.expected.replace(README_PORT, str(port))


def test_readme_has_a_walkthrough_from_up_to_down():
    steps = walkthrough_steps(README.read_text(encoding="utf-8"))
    assert len(steps) >= 10
    assert steps[0].command.startswith(".venv/bin/aupctl local up")
    assert steps[-1].command.startswith(".venv/bin/aupctl local down")
    # Every sample a step names ships with the repository.
    for step in steps:
        for path in re.findall(r"(?:events|examples)/[\w./-]+", step.command):
            assert (ROOT / path).is_file(), (step.line, path)


def test_parser_reads_commands_continuations_and_output():
    text = (
        "## Run it locally\n\nprose\n\n```console\n$ echo a \\\n  b   # a comment\na b\n$ true\n"
        "```\n\n```\n$ not a step\n```\n\n## Next\n```console\n$ not this section\n```\n"
    )
    steps = walkthrough_steps(text)
    assert [(s.command, s.expected) for s in steps] == [("echo a \\\n  b   # a comment", "a b"), ("true", "")]
    assert steps[0].line == 6
    assert matches("x ... z\n\n", "x   y\nz\n") and not matches("x z", "x y z")


def test_the_readme_walkthrough_works_as_written(tmp_path):
    steps = walkthrough_steps(README.read_text(encoding="utf-8"))
    port = state.free_port()
    bindir = Path(sys.executable).parent
    wrapper = tmp_path / "aupctl"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(str(bindir / "aupctl"))} "$@" --port {port}\n')
    wrapper.chmod(0o755)
    (tmp_path / "steps").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUPCTL_"))}
    env.update(AUPCTL_STATE_DIR=str(tmp_path / "state"), SAM_CLI_TELEMETRY="0", HOME=str(tmp_path))
    shell = Shell(env, tmp_path / "steps")
    failures: list[str] = []
    try:
        for step in steps:
            command, expected = as_run(step, port, wrapper, bindir)
            give_up = time.monotonic() + (REPEAT_FOR if step.repeat else 0)
            while True:
                code, out, err = shell.run(command)
                if (code == 0 and matches(expected, out)) or time.monotonic() >= give_up:
                    break
                time.sleep(1)
            if code != 0 or not matches(expected, out):
                failures.append(
                    f"README.md:{step.line}: $ {step.command}\n  exit {code}\n"
                    f"  expected:\n{expected}\n  got:\n{out}\n  stderr (last lines):\n"
                    + "\n".join(err.splitlines()[-8:])
                )
                if code != 0 and "local up" in step.command:
                    break  # nothing after it can work
    finally:
        shell.close()
        subprocess.run(
            [str(bindir / "aupctl"), "local", "down", "--port", str(port)],
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
    assert not failures, "\n\n".join(failures)
