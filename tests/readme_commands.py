"""The README's command examples, read the way a new user reads them (tests/integration/test_readme_examples.py,
tests/readme/test_readme_in_order.py).

Code blocks (```bash, ```console) are split into commands: a `$ ` prompt in a console block, every line
of a bash block, an indented line continuing the command above it; a `# comment` is kept apart (it may say
that the command exits 1). A command
is a *synopsis* when it holds placeholders (`[...]`, `A|B`, `N`, `FROM..TO`, `FILE...`, `ID`, `DIR`)
and a *concrete example* otherwise; concrete examples are run as written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"```(bash|console)\n(.*?)```", re.S)
_PLACEHOLDER = re.compile(r"\[|\||\.\.\.|…|\b(N|S|D|J|ID|RUN|DIR|FILE|FROM\.\.TO)\b")


@dataclass(frozen=True)
class ReadmeCommand:
    text: str  # as printed, comment dropped
    output: str | None  # what a console block shows after it
    comment: str = ""  # the `# …` after it, where a line says what it does (or that it exits 1)

    @property
    def exit_code(self) -> int:
        """What a user should see it exit with: 2 for a shown `error:`, 1 where its comment says it exits 1, else 0."""
        if self.output and self.output.startswith("error:"):
            return 2
        return 1 if re.search(r"\bexits 1\b", self.comment) else 0

    @property
    def is_paybatch(self) -> bool:
        return self.argv[:1] == ["paybatch"]

    @property
    def env_assignments(self) -> dict[str, str]:
        words = shlex.split(self.text)
        pairs = {}
        for word in words:
            if "=" not in word or word.startswith("-"):
                break
            name, value = word.split("=", 1)
            pairs[name] = value
        return pairs

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)[len(self.env_assignments):]

    @property
    def is_synopsis(self) -> bool:
        return bool(_PLACEHOLDER.search(self.text))

    def options(self) -> list[str]:
        """Every --option the command names, synopsis brackets included."""
        return re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", self.text)

    def command_paths(self) -> list[list[str]]:
        """The leading words that may name subcommands: `queues|logs|upload` and `deploy glue|lambda` name several."""
        words = self.argv[1:]
        paths: list[list[str]] = [[]]
        for word in words:
            if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
                break
            paths = [[*p, alt] for p in paths for alt in word.split("|")]
        return paths


def readme_commands(text: str | None = None) -> list[ReadmeCommand]:
    text = README.read_text() if text is None else text
    commands: list[ReadmeCommand] = []
    for kind, body in _BLOCK.findall(text):
        if kind == "console":
            prompt, _, rest = body.partition("\n")
            if prompt.startswith("$ "):
                commands.append(ReadmeCommand(prompt[2:].strip(), rest.rstrip("\n")))
            continue
        lines: list[tuple[str, str]] = []
        for line in body.splitlines():
            code = re.sub(r"\s+#\s.*$", "", line).rstrip()
            comment = line[len(code):].strip().removeprefix("#").strip()
            if not code:
                if comment and lines:
                    lines[-1] = (lines[-1][0], f"{lines[-1][1]} {comment}")
                continue
            if line[:1].isspace() and lines:
                lines[-1] = (f"{lines[-1][0]} {code.strip()}", f"{lines[-1][1]} {comment}".strip())
            else:
                lines.append((code, comment))
        commands += [ReadmeCommand(line, None, comment) for line, comment in lines]
    return commands
