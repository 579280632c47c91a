"""Sections of README.md that the code writes (the marts contract, the method): each lies between two
marker comments, is rewritten by its module's `python -m …`, and a test checks it is current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent.parent / "README.md"


@dataclass(frozen=True)
class Section:
    begin: str
    end: str

    def read(self, text: str | None = None) -> str:
        """The section as README.md (or `text`) holds it."""
        text = README.read_text(encoding="utf-8") if text is None else text
        return text[text.index(self.begin) + len(self.begin) : text.index(self.end)].strip("\n") + "\n"

    def write(self, body: str) -> None:
        text = README.read_text(encoding="utf-8")
        head, tail = text[: text.index(self.begin) + len(self.begin)], text[text.index(self.end) :]
        README.write_text(f"{head}\n\n{body}\n{tail}", encoding="utf-8")
