"""Replay a Dockerfile's build stage outside Docker: its COPY steps into a folder and its ``pip install`` steps."""

from __future__ import annotations

import io
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

_RUN_FLAG = re.compile(r"^(--\S+\s+)+")


@dataclass
class BuildStage:
    """What the ``build`` stage does: files copied from the context (source paths, destination) and pip commands."""

    copies: list[tuple[list[str], str]] = field(default_factory=list)
    pip_commands: list[str] = field(default_factory=list)


def parse(dockerfile: Path) -> DockerfileParser:
    """A read-only parser (``fileobj``: ``path`` would take ``Dockerfile.edge`` for a folder)."""
    return DockerfileParser(fileobj=io.BytesIO(dockerfile.read_bytes()))


def instructions(dockerfile: Path) -> list[dict[str, str]]:
    return [i for i in parse(dockerfile).structure if i["instruction"] != "COMMENT"]


def build_stage(dockerfile: Path, name: str = "build") -> BuildStage:
    """The steps of stage ``name`` (``FROM ... AS name``) that touch the venv."""
    stage, current = BuildStage(), None
    for step in instructions(dockerfile):
        if step["instruction"] == "FROM":
            current = step["value"].split()[-1] if " AS " in step["value"].upper() else None
            continue
        if current != name:
            continue
        value = _RUN_FLAG.sub("", step["value"])  # BuildKit flags such as --mount=type=cache
        if step["instruction"] == "COPY" and "--from=" not in step["value"]:
            *sources, destination = shlex.split(value)
            stage.copies.append((sources, destination))
        elif step["instruction"] == "RUN" and "pip install" in value:
            stage.pip_commands.append(value)
    return stage


def replay_copies(stage: BuildStage, context: Path, workdir: Path) -> None:
    """Copy what the stage copies from ``context`` into ``workdir`` (the stage's relative WORKDIR), like COPY does."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for sources, destination in stage.copies:
        into_folder = destination.endswith("/") or len(sources) > 1
        target = workdir / destination
        for source in sources:
            path = context / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=skip, dirs_exist_ok=True)
            else:
                folder = target if into_folder else target.parent
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, folder / path.name if into_folder else target)
