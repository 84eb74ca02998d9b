"""The deployment docs stay true to the manifests and to Surge's command line: the objects
`kubectl apply` is shown creating, the folders and files they name, and the flags the
migration guide maps prometheus-adapter's to."""

from __future__ import annotations

import re

import pytest

from surge.cli import build_parser
from tests.deploy.manifests import DEPLOY, ROOT, Rendered, kustomize

README = DEPLOY / "README.md"
MIGRATION = ROOT / "docs" / "migration-from-prometheus-adapter.md"
DOCS = [README, MIGRATION]
# How `kubectl apply` names a kind: its plural, then the group.
PLURALS = {
    "Namespace": "namespace",
    "ServiceAccount": "serviceaccount",
    "ClusterRole": "clusterrole.rbac.authorization.k8s.io",
    "ClusterRoleBinding": "clusterrolebinding.rbac.authorization.k8s.io",
    "RoleBinding": "rolebinding.rbac.authorization.k8s.io",
    "ConfigMap": "configmap",
    "Service": "service",
    "Deployment": "deployment.apps",
    "PodDisruptionBudget": "poddisruptionbudget.policy",
    "APIService": "apiservice.apiregistration.k8s.io",
    "NetworkPolicy": "networkpolicy.networking.k8s.io",
}
HASHED = re.compile(r"-[a-z0-9]{10}\b")


def _serve_flags() -> set[str]:
    """Every option string `surge serve` accepts (argparse keeps them on the subparser)."""
    subparsers = build_parser()._subparsers
    assert subparsers is not None
    serve = subparsers._group_actions[0].choices["serve"]  # type: ignore[attr-defined]
    return set(serve._option_string_actions)


def _output_after(text: str, command: str) -> list[str]:
    """The lines of the output block that follows the code block holding `command`."""
    at = text.index(command)
    block = text.index("```\n", text.index("```", at) + 3)
    end = text.index("```", block + 4)
    return text[block + 4 : end].strip().splitlines()


def test_readme_shows_what_applying_the_dev_overlay_creates(dev: Rendered) -> None:
    shown = _output_after(README.read_text(), "kubectl apply -k deploy/overlays/dev\n")
    expected = [f"{PLURALS[o['kind']]}/{o['metadata']['name']} created" for o in dev.objects]
    assert [HASHED.sub("-HASH", line) for line in shown] == [
        HASHED.sub("-HASH", line) for line in expected
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_kustomization_the_docs_apply_renders(doc) -> None:
    targets = set(re.findall(r"kubectl (?:apply|delete) -k ([\w./-]*\w)", doc.read_text()))
    assert targets
    for target in targets:
        assert kustomize(ROOT / target), target


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_the_docs_name_exists(doc) -> None:
    text = doc.read_text()
    named = set(re.findall(r"`((?:deploy|docs)/[\w./-]+?)`", text))
    named |= {
        str((doc.parent / link).resolve().relative_to(ROOT))
        for link in re.findall(r"\]\((\.[\w./-]+)\)", text)
    }
    named.discard("deploy/dev/certs/")  # made by make-certs.sh, git-ignored
    missing = [p for p in sorted(named) if not (ROOT / p).exists()]
    assert not missing, missing
    # The README's table names its folders relative to deploy/.
    for folder in re.findall(r"^\| `([\w./-]+/)` \|", text, flags=re.M):
        assert (DEPLOY / folder).is_dir(), folder


def _table(text: str, heading: str) -> list[list[str]]:
    section = text[text.index(heading) :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def _flags(cell: str) -> set[str]:
    return set(re.findall(r"--[a-z][a-z0-9-]+", cell))


def test_migration_flag_table_matches_surges_command_line() -> None:
    known = _serve_flags()
    rows = _table(MIGRATION.read_text(), "## Flags")
    assert len(rows) > 10
    for pa, surge in rows:
        if surge.startswith("same"):
            assert _flags(pa) <= known, pa
        elif "not accepted" in surge:
            assert not _flags(pa) & known, pa
        assert _flags(surge) <= known, surge
    adapter_only = {"--prometheus-auth-config", "--prometheus-auth-incluster", "--disable-http2"}
    assert adapter_only <= {f for pa, _ in rows for f in _flags(pa)}
    assert not adapter_only & known


def test_migration_names_only_real_flags_elsewhere() -> None:
    text = MIGRATION.read_text()
    additions = text[text.index("Surge's own additions") :].split("\n\n")[0]
    helm = " ".join(" ".join(row) for row in _table(text, "## Helm values"))
    assert _flags(additions) and _flags(additions) <= _serve_flags()
    assert _flags(helm) <= _serve_flags()
