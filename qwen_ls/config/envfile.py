"""Find the one .env file of a workspace folder and apply it: the upward walk, the home
fallbacks, and the variables a project file may not set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath

from pydantic import BaseModel, ConfigDict, Field

from qwen_ls.config.dotenv import EnvFile, parse_env_bytes
from qwen_ls.config.files import FileRead
from qwen_ls.config.model import Level, Source, Sourced

DEFAULT_EXCLUDED = ("DEBUG", "DEBUG_MODE")
# They redirect trust or credentials: no project file may set them, whatever the
# settings say.
NEVER_FROM_PROJECT = frozenset(
    {
        "QWEN_OAUTH_BASE_URL",
        "QWEN_HOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)

Reader = Callable[[PurePath], FileRead]


class Candidate(BaseModel):
    """A path the search looks at, in order."""

    model_config = ConfigDict(frozen=True)

    path: PurePath
    project: bool

    @property
    def in_qwen_dir(self) -> bool:
        return self.path.parent.name == ".qwen"


class EnvSearch(BaseModel):
    """The outcome of the search: the chosen file (if any) and what was skipped."""

    candidates: list[Candidate]
    chosen: int | None = None
    data: bytes | None = None
    problems: list[str] = Field(default_factory=list)
    # Why each candidate before the chosen one was passed over, in words.
    passed_over: dict[PurePath, str] = Field(default_factory=dict)

    @property
    def chosen_candidate(self) -> Candidate | None:
        return None if self.chosen is None else self.candidates[self.chosen]


class AppliedEnv(BaseModel):
    """Variables taken from the chosen file after exclusions, with their sources."""

    file: EnvFile | None = None
    candidate: Candidate | None = None
    values: dict[str, Sourced[str]] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)


def home_env_files(home: PurePath) -> list[PurePath]:
    return [home / ".qwen" / ".env", home / ".env"]


def candidates(folder: PurePath | None, home: PurePath) -> list[Candidate]:
    """Every path looked at, in order: the walk from ``folder`` up, then home fallbacks.

    Works on any PurePath flavour; ``parents`` ends at a drive root or a UNC share root.
    """
    fallbacks = home_env_files(home)
    found: list[Candidate] = []
    if folder is not None:
        for directory in (folder, *folder.parents):
            for path in (directory / ".qwen" / ".env", directory / ".env"):
                found.append(Candidate(path=path, project=path not in fallbacks))
    walked = {c.path for c in found}
    found.extend(Candidate(path=p, project=False) for p in fallbacks if p not in walked)
    return found


def search(found: list[Candidate], read: Reader, *, trusted: bool) -> EnvSearch:
    """The first usable file wins; an untrusted folder's project files are skipped."""
    result = EnvSearch(candidates=found)
    for index, candidate in enumerate(found):
        if candidate.project and not trusted:
            result.passed_over[candidate.path] = "not read (folder not trusted)"
            continue
        outcome = read(candidate.path)
        if outcome.data is not None:
            result.chosen = index
            result.data = outcome.data
            break
        if outcome.problem is not None:
            result.problems.append(outcome.problem)
            result.passed_over[candidate.path] = "unusable"
        else:
            result.passed_over[candidate.path] = "absent"
    return result


def apply(
    found: EnvSearch, *, excluded: Iterable[str], environ: Mapping[str, str]
) -> AppliedEnv:
    """Parse the chosen file and keep what it may set; empty values count as unset."""
    candidate = found.chosen_candidate
    if candidate is None or found.data is None:
        return AppliedEnv()

    parsed = parse_env_bytes(found.data, candidate.path, environ)
    applied = AppliedEnv(
        file=parsed, candidate=candidate, problems=list(parsed.problems)
    )
    level: Level = "project" if candidate.project else "user"
    skip = set(excluded) if candidate.project and not candidate.in_qwen_dir else set()
    for key, value in parsed.values.items():
        if candidate.project and key.upper() in NEVER_FROM_PROJECT:
            applied.problems.append(
                f"{key} in {candidate.path} is ignored: a project file may not set it "
                "(set it in the editor's environment or in a home .env file)"
            )
            continue
        if key in skip or not value:
            continue
        source = Source(description=f"{key} in {candidate.path}", level=level)
        applied.values[key] = Sourced[str](value=value, source=source)
    return applied


def skipped_holder(
    found: EnvSearch,
    names: list[str],
    read: Reader,
    *,
    trusted: bool,
    environ: Mapping[str, str],
) -> tuple[PurePath, str] | None:
    """The first file after the chosen one that sets one of ``names``."""
    if found.chosen is None:
        return None
    for candidate in found.candidates[found.chosen + 1 :]:
        if candidate.project and not trusted:
            continue
        outcome = read(candidate.path)
        if outcome.data is None:
            continue
        parsed = parse_env_bytes(outcome.data, candidate.path, environ)
        for name in names:
            if parsed.values.get(name):
                return candidate.path, name
    return None
