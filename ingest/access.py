"""Which groups may read a file of a folder ingest: a TOML mapping kept beside the documents.

    # kura-access.toml (patterns are relative to this file's folder; the first match wins)
    [[rule]]
    pattern = "contracts/*"
    groups = ["legal"]

    [[rule]]
    pattern = "*"
    groups = ["*"]          # "*": everyone with a key

A file no rule matches gets its collection's default groups.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ACCESS_FILE = "kura-access.toml"  # read from the top of an ingested folder


@dataclass(frozen=True)
class AccessRule:
    """Files matching ``pattern`` are readable by ``groups``."""

    pattern: str
    groups: tuple[str, ...]


class AccessMap:
    """Rules read from a kura-access.toml file."""

    def __init__(self, root: Path, rules: list[AccessRule]) -> None:
        self.root = root.resolve()
        self.rules = rules

    @classmethod
    def load(cls, path: Path) -> AccessMap:
        """Read the rules; raises ValueError naming the file and the problem."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the access rules: {exc}") from exc
        rules = []
        for n, rule in enumerate(data.get("rule", []), start=1):
            pattern, groups = rule.get("pattern"), rule.get("groups")
            if not isinstance(pattern, str) or not isinstance(groups, list) or not groups:
                raise ValueError(f"{path}: rule {n} needs a pattern and a non-empty groups list")
            rules.append(AccessRule(pattern, tuple(str(g) for g in groups)))
        return cls(path.parent, rules)

    def groups_for(self, file: Path) -> tuple[str, ...] | None:
        """The groups of the first rule matching ``file``, or None when no rule does."""
        try:
            relative = file.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None
        for rule in self.rules:
            if fnmatchcase(relative, rule.pattern):
                return rule.groups
        return None
