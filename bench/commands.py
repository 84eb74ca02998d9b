"""Every `surge` command run as a user would, on broken inputs.

The corpus (`cases`) is what tests/security/test_cli_corpus.py pins: for each command and
each way a file it reads can be broken (missing, a directory, empty, invalid YAML or JSON,
not UTF-8, the wrong types), plus unreachable services, unmappable resources and bad
flags, the documented exit status and one line naming the problem (a rule naming a
resource the objects lack is checked against a live Prometheus in
tests/integration/test_broken_rules.py). The `cli` target of
`python -m bench fuzz` feeds mutated files to the same slots. Either way, the
invariants of `Outcome.problems` hold: no traceback, an exit status of 0, 1 or 2, and a
failure said in exactly one line.

Adding a command is one line in `verbs` (the arguments it requires), one line in `_slots`
per file it reads (`{}` stands for the file), and its other failures as lines in `cases`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
SEED_HPA = ROOT / "autoscaler" / "seed-hpa.yaml"
SEED_CASE = ROOT / "tests" / "autoscaler" / "cases" / "latency-max-clamp.json"
PODS_PATH = (
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform/pods/*/http_requests_waiting"
    "?labelSelector=app%3Dai-service"
)
DEPLOYMENT_PATH = (
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform/deployments.apps/ai-service/"
    "ai_llm_response_time_p99_seconds"
)
TIMEOUT_S = 60.0

# The ways a file can be broken: its bytes, None for a missing file, "" for a directory.
BROKEN_FILES: dict[str, bytes | str | None] = {
    "missing": None,
    "directory": "",
    "empty": b"",
    "bad-yaml": b"rules:\n  - seriesQuery: [1, 2\n",
    "bad-json": b'{"apiVersion": "v1", "kind": ',
    "not-utf8": b"rules: []\n# caf\xe9\xff\n",
    "wrong-types": b"- 1\n- two\n",
}
# Files that are broken in what they say, not in whether they can be read.
CONTENT = ("bad-yaml", "bad-json", "wrong-types")


@dataclass(frozen=True)
class Slot:
    """One file a command reads: its command line, `{}` for the file; the exit status
    for a file with bad content (`content`) and for an empty one (`empty`: None when an
    empty file is valid input there); `verdict` is where a content problem is printed."""

    argv: tuple[str, ...]
    content: int = 2
    empty: int | None = 2
    verdict: str = "stderr"


def _slots(work: Workspace) -> dict[str, Slot]:
    dead, objects, hpa = work.dead_url, str(work.objects), str(SEED_HPA)
    serve = ("--prometheus-url", dead, "--insecure-skip-auth", "--secure-port=0")
    serve += (f"--cert-dir={work.root / 'certs'}", "--log-format=json")
    query = ("--prometheus-url", dead, "--log-format=json")
    sim = ("--plot=", "--csv=", "--log-format=json")
    tune = (f"--out={work.root / 'tune'}",)
    return {
        "check": Slot(("check", "{}", "--log-format=json"), content=1, empty=0, verdict="stdout"),
        "check --objects": Slot(("check", str(SEED_RULES), "--objects", "{}"), empty=None),
        "query --config": Slot(
            ("query", "--config", "{}", "--objects", objects, *query, "/apis"), empty=None
        ),
        "query --objects": Slot(
            ("query", "--config", str(SEED_RULES), "--objects", "{}", *query, "/apis"), empty=None
        ),
        "query --kubeconfig": Slot(
            ("query", "--config", str(SEED_RULES), "--kubeconfig", "{}", *query, "/apis")
        ),
        "serve --config": Slot(
            ("serve", "--config", "{}", "--objects", objects, *serve), empty=None
        ),
        "serve --objects": Slot(
            ("serve", "--config", str(SEED_RULES), "--objects", "{}", *serve), empty=None
        ),
        "serve --tls-cert-file": Slot(
            (
                "serve",
                "--config",
                str(SEED_RULES),
                "--objects",
                objects,
                "--tls-cert-file",
                "{}",
                "--tls-private-key-file",
                "{}",
                *serve,
            )
        ),
        "serve --prometheus-ca-file": Slot(
            (
                "serve",
                "--config",
                str(SEED_RULES),
                "--objects",
                objects,
                "--prometheus-ca-file",
                "{}",
                *serve[:1],
                "https://127.0.0.1:1",
                *serve[2:],
            )
        ),
        "hpa evaluate": Slot(("hpa", "evaluate", "{}")),
        "explain --kubeconfig": Slot(
            ("explain", "ai-platform/ai-service", "--kubeconfig", "{}", "--log-format=json")
        ),
        "simulate --timeline": Slot(("simulate", "--timeline", "{}", "--hpa", hpa, *sim)),
        "simulate --hpa": Slot(("simulate", "--scenario", "seed-workday", "--hpa", "{}", *sim)),
        "simulate --capacity": Slot(
            ("simulate", "--scenario", "seed-workday", "--capacity", "{}", *sim)
        ),
        "simulate --traffic": Slot(("simulate", "--traffic", "{}", "--hpa", hpa, *sim)),
        "simulate --config": Slot(
            ("simulate", "--scenario", "seed-workday", "--config", "{}", *sim), empty=None
        ),
        "serve --forecast-config": Slot(
            (
                "serve",
                "--config",
                str(SEED_RULES),
                "--objects",
                objects,
                "--forecast-config",
                "{}",
                *serve,
            ),
            empty=None,
        ),
        "check --forecast": Slot(
            ("check", "--forecast", "{}"), content=1, empty=0, verdict="stdout"
        ),
        "tune --traffic": Slot(("tune", "--traffic", "{}", "--hpa", hpa, *tune)),
        "tune --hpa": Slot(("tune", "--scenario", "seed-workday", "--hpa", "{}", *tune)),
        "tune --capacity": Slot(
            ("tune", "--scenario", "seed-workday", "--hpa", hpa, "--capacity", "{}", *tune)
        ),
        "capacity fit --timeline": Slot(
            ("capacity", "fit", "--timeline", "{}", f"--out={work.root / 'capacity.yaml'}")
        ),
    }


def verbs(work: Workspace) -> dict[str, tuple[str, ...]]:
    """Every command with the arguments it requires: one line per command."""
    return {
        "serve": ("--config", str(SEED_RULES), "--prometheus-url", work.dead_url),
        "check": (str(SEED_RULES),),
        "query": ("--config", str(SEED_RULES), "--prometheus-url", work.dead_url, "/apis"),
        "demo": (),
        "hpa evaluate": (str(SEED_CASE),),
        "explain": ("ai-platform/ai-service",),
        "simulate": (),
        "tune": (),
        "capacity export": ("--seed",),
        "capacity fit": (),
    }


@dataclass(frozen=True)
class Case:
    """One command line, the exit status it must end with, and what its one line of
    diagnosis (on `stream`) must contain."""

    name: str
    argv: tuple[str, ...]
    code: int
    says: str
    stream: str = "stderr"


_DEPLOYMENT_RULE = """\
rules:
  - seriesQuery: 'gateway_requests_pending{namespace!="",deployment!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        deployment: {group: "apps", resource: "deployment"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
"""


class Workspace:
    """A directory for the broken files, valid companions (objects, kubeconfigs) and the
    address of a port nobody listens on (an unreachable Prometheus or Kubernetes API).
    Paths are known at once; `prepare` writes the files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dead_url = f"http://127.0.0.1:{_closed_port()}"
        self.objects = root / "objects.yaml"
        self.pods_only = root / "pods-only.yaml"
        self.deployment_rule = root / "deployment-rule.yaml"  # one rule naming deployments
        self.dead_kubeconfig = root / "unreachable.kubeconfig"

    def prepare(self) -> Workspace:
        from surge.demo.data import demo_objects, pod_names

        self.root.mkdir(parents=True, exist_ok=True)
        every = demo_objects(pod_names(2, seed="corpus"))
        pods = [o for o in every if o["kind"] != "Deployment"]
        for path, items in ((self.objects, every), (self.pods_only, pods)):
            path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
        self.deployment_rule.write_text(_DEPLOYMENT_RULE)
        self.dead_kubeconfig.write_text(_kubeconfig(self.dead_url))
        for name, content in BROKEN_FILES.items():
            if isinstance(content, bytes):
                self.broken(name).write_bytes(content)
            elif content == "":
                self.broken(name).mkdir(exist_ok=True)
        return self

    def broken(self, name: str) -> Path:
        return self.root / f"broken-{name}"

    def slots(self) -> dict[str, Slot]:
        return _slots(self)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig(server: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )


def _file_cases(work: Workspace) -> Iterator[Case]:
    for slot_name, slot in work.slots().items():
        for broken in BROKEN_FILES:
            path = work.broken(broken)
            argv = tuple(str(path) if a == "{}" else a for a in slot.argv)
            name = f"{slot_name} <{broken}>"
            if broken == "empty":
                if slot.empty is None:
                    continue
                stream = slot.verdict if slot.empty == 1 else "stderr"
                says = "OK" if slot.empty == 0 else str(path)
                yield Case(name, argv, slot.empty, says, "stdout" if slot.empty == 0 else stream)
            elif broken in CONTENT:
                yield Case(name, argv, slot.content, str(path), slot.verdict)
            else:
                yield Case(name, argv, 2, str(path))


def cases(work: Workspace) -> list[Case]:
    """The whole corpus: every slot with every broken file, then services, resources,
    and flags."""
    dead, kube = work.dead_url, str(work.dead_kubeconfig)
    seed, objects = str(SEED_RULES), str(work.objects)
    unreachable = "cannot discover the cluster's resources: Kubernetes API unreachable"
    query = ("query", "--config", seed, "--log-format=json")
    serve = ("serve", "--config", seed, "--insecure-skip-auth", "--secure-port=0")
    serve += (f"--cert-dir={work.root / 'certs'}", "--log-format=json")
    times = ("--start=2026-01-01T00:00:00Z", "--end=2026-01-01T01:00:00Z")
    more = [
        # unreachable Prometheus: the answer says so (503), exit 1
        Case(
            "query, Prometheus down",
            (*query, "--prometheus-url", dead, "--objects", objects, PODS_PATH),
            1,
            '"code":503',
            "stdout",
        ),
        Case(
            "simulate, Prometheus down",
            (
                "simulate",
                "--hpa",
                str(SEED_HPA),
                "--prometheus-url",
                dead,
                "--start=2026-01-01T00:00:00Z",
                "--end=2026-01-01T01:00:00Z",
                "--query=qps=up",
                "--plot=",
                "--csv=",
                "--log-format=json",
            ),
            1,
            "unreachable",
        ),
        Case(
            "tune, Prometheus down",
            (
                "tune",
                "--hpa",
                str(SEED_HPA),
                "--prometheus-url",
                dead,
                "--query=qps=up",
                "--start=2026-01-01T00:00:00Z",
                "--end=2026-01-02T00:00:00Z",
            ),
            1,
            "unreachable",
        ),
        # unreachable Kubernetes API
        Case(
            "query, Kubernetes down",
            (*query, "--prometheus-url", dead, "--kubeconfig", kube, "/apis"),
            1,
            unreachable,
        ),
        Case(
            "serve, Kubernetes down",
            (*serve, "--prometheus-url", dead, "--kubeconfig", kube),
            1,
            unreachable,
        ),
        Case("check, Kubernetes down", ("check", seed, "--kubeconfig", kube), 1, unreachable),
        Case(
            "explain, Kubernetes down",
            ("explain", "ai-platform/ai-service", "--kubeconfig", kube),
            1,
            "Kubernetes API unreachable",
        ),
        Case(
            "serve, delegated auth down",
            (
                "serve",
                "--config",
                seed,
                "--prometheus-url",
                dead,
                "--objects",
                objects,
                "--secure-port=0",
                f"--cert-dir={work.root / 'certs'}",
                "--authentication-kubeconfig",
                kube,
                "--authorization-kubeconfig",
                kube,
                "--log-format=json",
            ),
            1,
            "Kubernetes API unreachable",
        ),
        # authentication on (no cluster here): the missing rules file is what is named
        Case(
            "serve, rules file missing, authentication on",
            (
                *("serve", "--config", str(work.root / "missing.yaml"), "--objects", objects),
                *("--prometheus-url", dead, "--secure-port=0", f"--cert-dir={work.root / 'certs'}"),
            ),
            2,
            "missing.yaml: unable to read the config file",
        ),
        # a resource the objects do not serve: the rule is skipped, its 404 says why
        Case(
            "check, unmappable resource",
            ("check", str(work.deployment_rule), "--objects", str(work.pods_only)),
            1,
            "unable to normalize group-resource deployment.apps",
            "stdout",
        ),
        # bad values
        Case(
            "serve, not a URL",
            (*serve, "--prometheus-url", "prometheus:9090", "--objects", objects),
            2,
            "--prometheus-url 'prometheus:9090'",
        ),
        *(
            Case(
                f"{verb}, not a URL",
                (*argv, "--prometheus-url", "prometheus:9090", "--query=qps=up", *times),
                2,
                f"surge {verb}: --prometheus-url 'prometheus:9090': expected http(s)://",
            )
            for verb, argv in (
                ("simulate", ("simulate", "--hpa", str(SEED_HPA), "--plot=", "--csv=")),
                ("tune", ("tune", "--hpa", str(SEED_HPA))),
                ("capacity fit", ("capacity", "fit", f"--out={work.root / 'fit.yaml'}")),
            )
        ),
        Case(
            "serve, port out of range",
            (*serve[:4], "--secure-port=70000", "--prometheus-url", dead),
            2,
            "port 70000 is not within 0-65535",
        ),
        Case(
            "serve, duration",
            (*serve, "--prometheus-url", dead, "--metrics-relist-interval=soon"),
            2,
            "--metrics-relist-interval",
        ),
        *(
            Case(
                f"{verb}, {flag}",
                (*argv, "--prometheus-url", dead, "--objects", objects, flag),
                2,
                f"surge {verb}: {says}",
            )
            for verb, argv in (("serve", serve), ("query", (*query, PODS_PATH)))
            for flag, says in (
                ("--metrics-relist-interval=0s", "--metrics-relist-interval must be above 0"),
                ("--metrics-max-age=-1s", "--metrics-max-age must not be negative"),
            )
        ),
        Case(
            "serve, cert dir is a file",
            (*serve, "--prometheus-url", dead, "--objects", objects, f"--cert-dir={work.objects}"),
            2,
            f"--cert-dir {work.objects}",
        ),
        Case(
            "demo, workdir is a file",
            ("demo", f"--workdir={work.objects}", "--port=0", "--log-format=json"),
            2,
            f"--workdir {work.objects}",
        ),
        Case("demo, port out of range", ("demo", "--port=-1"), 2, "port -1 is not within 0-65535"),
        Case(
            "explain, not NAMESPACE/HPA",
            ("explain", "no-slash", "--kubeconfig", kube),
            2,
            "no-slash",
        ),
        Case("simulate, no source", ("simulate", "--hpa", str(SEED_HPA)), 2, "surge simulate:"),
        Case("tune, no source", ("tune", "--hpa", str(SEED_HPA)), 2, "surge tune: give one of"),
        Case("hpa, no command", ("hpa", "nope"), 2, "invalid choice: 'nope'"),
        Case("hpa alone", ("hpa",), 2, "surge hpa: the following arguments are required"),
        Case("capacity alone", ("capacity",), 2, "surge capacity: the following arguments"),
    ]
    # every command: an unknown flag, and its required arguments left out
    for verb, argv in verbs(work).items():
        words = tuple(verb.split())
        more.append(
            Case(f"{verb} --no-such-flag", (*words, *argv, "--no-such-flag"), 2, "--no-such-flag")
        )
        if argv:
            more.append(Case(f"{verb}, nothing", words, 2, "required"))
    return [*_file_cases(work), *more]


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int | None  # None: still running at the timeout (a server that started)
    stdout: str
    stderr: str

    def diagnosis(self) -> list[str]:
        """The lines of stderr meant for a person: not the JSON log records."""
        return [line for line in self.stderr.splitlines() if line.strip() and not _is_log(line)]

    def problems(self) -> list[str]:
        """What breaks the promise of every command, whatever its input."""
        found = []
        if "Traceback" in self.stdout + self.stderr:
            found.append("a traceback")
        if self.code not in (None, 0, 1, 2):
            found.append(f"exit status {self.code}")
        if self.code and len(self.diagnosis()) > 1:
            found.append(f"{len(self.diagnosis())} lines of diagnosis, not one")
        if self.code == 2 and not self.diagnosis():
            found.append("a usage error without a message")
        return found


def _is_log(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "level" in record


def run(argv: tuple[str, ...], timeout_s: float = TIMEOUT_S) -> Outcome:
    """`python -m surge ARGV` from the repository root, as the tests run Surge."""
    process = subprocess.Popen(
        [sys.executable, "-m", "surge", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
        return Outcome(argv, process.returncode, out, err)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return Outcome(argv, None, out, err)


def verdict(case: Case, outcome: Outcome) -> list[str]:
    """How `outcome` breaks the corpus' expectation of `case` (empty when it keeps it)."""
    found = outcome.problems()
    if outcome.code != case.code:
        found.append(f"exit status {outcome.code}, expected {case.code}")
    lines = outcome.diagnosis() if case.stream == "stderr" else outcome.stdout.splitlines()
    if len(lines) != 1:
        found.append(f"{len(lines)} lines on {case.stream}, expected one")
    elif case.says not in lines[0]:
        found.append(f"{case.stream} does not say {case.says!r}")
    return found
