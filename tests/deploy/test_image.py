"""The image, as far as it can be checked without a Docker engine: the Dockerfile's
properties (a lint of the points that matter), the build context .dockerignore lets
through, and the wheel the Dockerfile installs, built from exactly that context."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.manifests import DEPLOY, ROOT

BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|apk|yum|dnf)\s+(-\S+\s+)*install\b|\b(gcc|g\+\+|make|build-essential|"
    r"pip\s+install|pip\s+wheel|python3?-dev)\b"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments
    (outside continuations) dropped, as Docker reads them."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # comment lines inside a continuation are skipped too
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            logical.append(full)
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            stages.append(Stage(base, name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM, got {keyword}"
            arg_name, _, default = rest.partition("=")
            args[arg_name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())[1]


def test_multi_stage_on_a_pinned_slim_python_311(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert stages[0].name == "build"
    for stage in stages:
        image, _, tag = stage.base.partition(":")
        assert image == "python"
        # Pinned to a patch release of 3.11's slim variant, never a moving `latest`/`3`.
        assert re.fullmatch(r"3\.11\.\d+-slim(-[a-z]+)?", tag), stage.base
    assert stages[0].base == stages[-1].base, "the virtualenv needs the same Python in both"


def test_final_stage_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    keywords = [kw for kw, _ in final.instructions]
    users = final.all("USER")
    assert users, "the final stage sets no USER: it would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or (gid.isdigit() and int(gid) > 0))
    # Nothing runs as root after the switch.
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_final_stage_has_no_build_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tooling in the final stage: {run}"
    # It brings only the built virtualenv, no sources.
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=build ") for c in copies), copies
    assert not final.all("ADD")


def test_entrypoint_is_surge_serve_in_exec_form(stages: list[Stage]) -> None:
    final = stages[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: a JSON array, no shell in between
    assert isinstance(command, list) and all(isinstance(w, str) for w in command)
    assert Path(command[0]).name == "surge" and command[1:] == ["serve"]
    # The entrypoint lives in the virtualenv copied from the build stage.
    (copy,) = final.all("COPY")
    _, source, target = copy.split()
    assert source == target and command[0].startswith(target.rstrip("/") + "/")
    # Kubernetes probes the health endpoints itself; a Docker HEALTHCHECK would be ignored.
    assert not final.all("HEALTHCHECK")
    assert not final.all("CMD"), "flags come from the pod's args"


def test_final_stage_suits_a_read_only_root(stages: list[Stage]) -> None:
    final = stages[-1]
    env = " ".join(final.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    # Relative paths (the default --cert-dir) resolve under /tmp, the pod's emptyDir.
    assert final.all("WORKDIR")[-1] == "/tmp"
    mounts = (DEPLOY / "base" / "deployment.yaml").read_text()
    assert "mountPath: /tmp" in mounts


# --- .dockerignore, with Docker's rules: patterns match a path or any of its parents, the
# --- last matching pattern decides, `!` re-includes, `**` spans directories.


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append((negated, _pattern_regex(cleaned)))
    return rules


def excluded(rules: list[tuple[bool, re.Pattern[str]]], path: str) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negated, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            result = not negated
    return result


def build_context(dest: Path | None = None) -> list[str]:
    """The files `docker build .` would send (relative paths), copied to `dest` if given."""
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    files: list[str] = []
    for directory, subdirs, names in os.walk(ROOT):
        rel_dir = os.path.relpath(directory, ROOT)
        subdirs[:] = [d for d in subdirs if d != ".git" or not excluded(rules, ".git")]
        for name in names:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if excluded(rules, rel):
                continue
            files.append(rel)
            if dest is not None:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
    return sorted(files)


def test_dockerignore_matcher_follows_dockers_rules() -> None:
    rules = dockerignore_rules("*\n!src/\nsrc/**/*.pyc\n!src/keep.pyc\n")
    assert excluded(rules, "tests/test_a.py")
    assert not excluded(rules, "src/a/b.py")
    assert excluded(rules, "src/a/b.pyc") and excluded(rules, "src/b.pyc")
    assert not excluded(rules, "src/keep.pyc")


def test_context_holds_the_sources_and_nothing_else() -> None:
    files = build_context()
    tops = {f.split("/")[0] for f in files}
    assert tops == {
        "pyproject.toml",
        "README.md",
        "apiservice",
        "adapter",
        "autoscaler",
        "surge",
        "bench",
    }
    assert "surge/seed-rules.yaml" in files and "surge/cli.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    for path in (
        ".git/HEAD",
        "tests/conftest.py",
        "deploy/dev/certs/ca.key",
        ".venv/bin/python",
        "surge.egg-info/PKG-INFO",
        ".hypothesis/x",
        "build/lib/surge/cli.py",
    ):
        assert excluded(rules, path), path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (`pip wheel --no-deps`, as the Dockerfile does) from the context."""
    src = tmp_path_factory.mktemp("context")
    build_context(src)
    out = tmp_path_factory.mktemp("wheels")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--disable-pip-version-check",
            str(src),
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (built,) = out.glob("surge-*.whl")
    return built


def test_wheel_holds_every_package_module_and_the_seed_rules(wheel: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert wheel.name.startswith(f"surge-{version}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("apiservice", "adapter", "autoscaler", "surge", "bench"):
        modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")}
        assert modules and modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert "surge/seed-rules.yaml" in names
    assert not [n for n in names if n.startswith("tests/")]
    packaged = zipfile.ZipFile(wheel).read("surge/seed-rules.yaml").decode()
    assert packaged == (DEPLOY / "config" / "seed-rules.yaml").read_text()
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "surge = surge.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_wheel_installs_a_working_surge_command(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python, surge = venv / "bin" / "python", venv / "bin" / "surge"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert install.returncode == 0, install.stderr
    where = subprocess.run(
        [str(python), "-c", "import surge.cli; print(surge.cli.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), "imported the source tree, not the wheel"
    version = subprocess.run(
        [str(surge), "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert version.returncode == 0 and version.stdout.startswith("surge ")
    usage = subprocess.run(
        [str(surge), "serve", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert usage.returncode == 0 and "--prometheus-url" in usage.stdout


FIRST_PARTY = ("apiservice", "adapter", "autoscaler", "surge", "bench")


def _module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is loaded: top-level statements, not function bodies
    or `if TYPE_CHECKING:` blocks; relative imports resolved against its package."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return found


def _third_party_needed_by(module: str) -> set[str]:
    """Top-level names of the non-stdlib, non-first-party modules `module` loads."""
    seen: set[str] = set()
    needed: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for candidate in (
            ROOT / (name.replace(".", "/") + ".py"),
            ROOT / name.replace(".", "/") / "__init__.py",
        ):
            if candidate.is_file():
                for imported in _module_level_imports(candidate):
                    top = imported.split(".")[0]
                    if top in FIRST_PARTY:
                        todo.append(imported)
                        parts = imported.split(".")
                        todo.extend(".".join(parts[:n]) for n in range(1, len(parts)))
                    elif top not in sys.stdlib_module_names and top != "__future__":
                        needed.add(top)
    return needed


def test_wheel_declares_what_surge_serve_imports(wheel: Path) -> None:
    """The image installs the wheel's declared dependencies only: every third-party module
    `surge serve` loads must come from one of them."""
    metadata = (
        zipfile.ZipFile(wheel)
        .read(
            next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
        )
        .decode()
    )
    declared = {
        _requirement_name(line.removeprefix("Requires-Dist:"))
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    providers = importlib.metadata.packages_distributions()
    needed = {
        top: {_normal(d) for d in providers.get(top, [top])}
        for top in _third_party_needed_by("surge.cli") | _third_party_needed_by("surge.serve")
    }
    installed = _with_requirements(declared)
    missing = {top: dists for top, dists in needed.items() if not dists & installed}
    assert not missing, (
        f"imported by `surge serve`, not installed by the wheel's dependencies: {missing}"
    )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str:
    return _normal(re.split(r"[\s;<>=!~\[(]", line.strip())[0])


def _with_requirements(names: set[str]) -> set[str]:
    """The distributions pip installs for `names`: them and, transitively, what they require
    (markers ignored, so a little more than on a given platform; extras left out)."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_name(r) for r in requires if "extra ==" not in r)
    return found


@pytest.mark.parametrize(
    ("args", "status", "stream", "says"),
    [
        (["--help"], 0, "stdout", "usage: deploy/image/build.sh [tools]"),
        (["-h"], 0, "stdout", "usage: deploy/image/build.sh [tools]"),
        (["--tools"], 2, "stderr", "build.sh: unknown arguments: --tools"),
        (["tools", "extra"], 2, "stderr", "build.sh: unknown arguments: tools extra"),
    ],
)
def test_build_script_answers_its_arguments_before_building(
    args: list[str], status: int, stream: str, says: str, tmp_path: Path
) -> None:
    """An argument build.sh does not take must not start minutes of building and replace
    the shared store's image: it is answered at once. PATH is empty, so a script that went on
    to build would fail on its first command instead."""
    bash = shutil.which("bash")
    assert bash
    done = subprocess.run(
        [bash, str(DEPLOY / "image" / "build.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": str(tmp_path)},
    )
    assert done.returncode == status, done.stderr
    assert says in getattr(done, stream)
    assert "building" not in done.stderr
