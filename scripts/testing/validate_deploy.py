#!/usr/bin/env python3
"""Validates the deployment files against their official JSON schemas, offline.

- deploy/docker-compose.yml against the Compose Specification schema (compose-spec.json, as
  vendored, with its SHA-256, by the `check-jsonschema` package), plus two rules of ours: no
  obsolete top-level `version:` key, and counts such as `deploy.replicas` are integers (the schema
  also takes any string there, for `${VARIABLE}` interpolation).
- every document of every *.yaml / *.yml in deploy/kubernetes/ against the Kubernetes JSON
  schemas of a pinned Kubernetes version (default 1.30), strict variant (unknown fields are
  errors), as shipped by the `kubernetes-validate` package.

The schemas come from pip-installed packages (scripts/requirements-test.txt): nothing is fetched
here and no schema is kept in this repository. Validation uses `jsonschema`; YAML is read with
PyYAML's safe loader, and a key repeated in one mapping is an error (kubectl refuses those too).

    .venv/bin/python scripts/testing/validate_deploy.py [--kubernetes-version 1.30]
                                                       [--compose FILE] [--kubernetes-dir DIR]

Exit status 0 with a one-line summary when everything is valid; 1 with one line per problem
(file, path in the document, message); 2 when a schema package is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

try:
    import jsonschema
    import yaml
    from jsonschema.exceptions import ValidationError, best_match
    from referencing import Registry, Resource
except ImportError as error:  # pragma: no cover - set-up problem
    print(f"validate_deploy: {error.name} is missing: run `.venv/bin/pip install -r scripts/requirements-test.txt`",
          file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KUBERNETES_VERSION = "1.30"

# Compose fields that are counts. The schema types them integer-or-string only so that a
# `${VARIABLE}` can stand there; after interpolation Compose wants an integer, so any other string
# (`replicas: "two"`) is refused by `docker compose` although the schema lets it through.
COMPOSE_COUNT_FIELDS = (
    ("scale",),
    ("deploy", "replicas"),
    ("deploy", "update_config", "parallelism"),
    ("deploy", "rollback_config", "parallelism"),
    ("deploy", "restart_policy", "max_attempts"),
    ("deploy", "placement", "max_replicas_per_node"),
)


class SetupError(Exception):
    """A schema package is missing or incomplete."""


# --- YAML ---------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key repeated within one mapping (YAML forbids it; PyYAML
    silently keeps the last). Keys brought in by a `<<` merge may be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base constructor reports unhashable keys
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                        key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return list(yaml.load_all(stream, Loader=StrictLoader))


def yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return f"{where}not valid YAML: {problem}" + (f" ({context})" if context else "")


# --- schemas from installed packages ------------------------------------------------------------


def package_dir(module: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(f"the Python package {distribution} is not installed: "
                         "run `.venv/bin/pip install -r scripts/requirements-test.txt`")
    return Path(next(iter(spec.submodule_search_locations)))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SetupError(f"cannot read the schema {path}: {error}") from error


def compose_schema() -> tuple[dict[str, Any], str]:
    """The Compose Specification schema vendored by check-jsonschema, checked against the SHA-256
    the package ships beside it."""
    vendor = package_dir("check_jsonschema", "check-jsonschema") / "builtin_schemas" / "vendor"
    path = vendor / "compose-spec.json"
    digest_file = vendor / "sha256" / "compose-spec.sha256"
    if not path.is_file():
        raise SetupError(f"check-jsonschema does not ship {path.name} any more ({vendor})")
    if digest_file.is_file():
        want = digest_file.read_text(encoding="utf-8").split()[0]
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if want != got:
            raise SetupError(f"{path} does not match its SHA-256 ({got} != {want})")
    source = f"compose-spec.json from check-jsonschema {importlib.metadata.version('check-jsonschema')}"
    return read_json(path), source


class KubernetesSchemas:
    """The strict JSON schemas of one Kubernetes version, from the kubernetes-validate package:
    one file per kind (`deployment-apps-v1.json`) whose `$ref`s point into `_definitions.json`."""

    def __init__(self, version: str) -> None:
        base = package_dir("kubernetes_validate", "kubernetes-validate") / "kubernetes-json-schema"
        self.version = version.removeprefix("v")
        self.dir = base / f"v{self.version}.0-local-strict"
        if not self.dir.is_dir():
            shipped = sorted(p.name[1:].removesuffix(".0-local-strict") for p in base.glob("v*-local-strict"))
            raise SetupError(f"kubernetes-validate {importlib.metadata.version('kubernetes-validate')} has no "
                             f"schemas for Kubernetes {self.version}; it ships {', '.join(shipped)}")
        definitions = read_json(self.dir / "_definitions.json")
        self.registry: Registry = Registry().with_resource(
            definitions["$id"], Resource.from_contents(definitions))
        self.source = (f"Kubernetes {self.version} strict schemas from kubernetes-validate "
                       f"{importlib.metadata.version('kubernetes-validate')}")
        self._validators: dict[str, Any] = {}

    def validator(self, api_version: str, kind: str) -> Any:
        # apps/v1 -> apps-v1, autoscaling/v2 -> autoscaling-v2, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
        group, _, version = api_version.rpartition("/")
        suffix = f"{group.split('.')[0]}-{version}" if group else version
        name = f"{kind.lower()}-{suffix}.json"
        if name not in self._validators:
            path = self.dir / name
            if not path.is_file():
                return None
            schema = read_json(path)
            cls = jsonschema.validators.validator_for(schema)
            self._validators[name] = cls(schema, registry=self.registry)
        return self._validators[name]


# --- reporting ----------------------------------------------------------------------------------


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def explain(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf failures, the deepest error of the alternatives (jsonschema's own descent)
    says more than 'is not valid under any of the given schemas'."""
    return best_match([error]) or error


def schema_problems(validator: Any, document: Any) -> Iterator[tuple[str, str]]:
    errors = list(validator.iter_errors(document))
    paths = [tuple(e.absolute_path) for e in errors]

    def echo(error: ValidationError) -> bool:
        # A subschema that fails drops its evaluated properties, so the object around an error is
        # also reported with 'Unevaluated properties are not allowed (…)' for valid keys: skip that echo.
        here = tuple(error.absolute_path)
        return error.validator == "unevaluatedProperties" and any(
            len(p) > len(here) and p[:len(here)] == here for p in paths)

    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        if echo(error):
            continue
        detail = explain(error)
        message = detail.message
        if detail is not error:
            message += f" (in {json_path(error.absolute_path)}: {error.message[:200]})"
        yield json_path(detail.absolute_path), message


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --- checks -------------------------------------------------------------------------------------


def check_compose(path: Path, problems: list[str]) -> str:
    schema, source = compose_schema()
    name = relative(path)
    try:
        documents = load_documents(path)
    except OSError as error:
        problems.append(f"{name}: cannot read: {error}")
        return source
    except yaml.YAMLError as error:
        problems.append(f"{name}: {yaml_problem(error)}")
        return source
    documents = [d for d in documents if d is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        problems.append(f"{name}: $: a Compose file is one YAML mapping (found {len(documents)} document(s))")
        return source
    document = documents[0]
    if "version" in document:
        problems.append(f"{name}: $.version: the top-level `version` key is obsolete in the Compose "
                        "Specification: remove it")
    validator = jsonschema.validators.validator_for(schema)(schema)
    for where, message in schema_problems(validator, document):
        problems.append(f"{name}: {where}: {message}")
    services = document.get("services")
    for service_name, service in (services.items() if isinstance(services, dict) else []):
        for field in COMPOSE_COUNT_FIELDS:
            value: Any = service
            for key in field:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, str) and "$" not in value and not re.fullmatch(r"\s*\d+\s*", value):
                where = json_path(("services", service_name) + field)
                problems.append(f"{name}: {where}: {value!r} is not an integer (a string is accepted here "
                                "only for ${VARIABLE} interpolation)")
    return source


def check_kubernetes(directory: Path, version: str, problems: list[str]) -> tuple[str, int, int]:
    schemas = KubernetesSchemas(version)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")) \
        if directory.is_dir() else []
    if not files:
        problems.append(f"{relative(directory)}: no *.yaml manifests found")
        return schemas.source, 0, 0
    count = 0
    for path in files:
        name = relative(path)
        try:
            documents = load_documents(path)
        except OSError as error:
            problems.append(f"{name}: cannot read: {error}")
            continue
        except yaml.YAMLError as error:
            problems.append(f"{name}: {yaml_problem(error)}")
            continue
        for index, document in enumerate(documents):
            if document is None:
                continue  # an empty document between `---` lines
            label = name if len(documents) == 1 else f"{name}[document {index}]"
            if not isinstance(document, dict):
                problems.append(f"{label}: $: a manifest is a YAML mapping, found {type(document).__name__}")
                continue
            api_version, kind = document.get("apiVersion"), document.get("kind")
            if not isinstance(api_version, str) or not isinstance(kind, str):
                problems.append(f"{label}: $: `apiVersion` and `kind` are required strings")
                continue
            object_name = (document.get("metadata") or {}).get("name", "?") if isinstance(document.get("metadata"), dict) else "?"
            label += f" ({kind}/{object_name})"
            validator = schemas.validator(api_version, kind)
            if validator is None:
                problems.append(f"{label}: $: Kubernetes {schemas.version} has no {kind} in {api_version}")
                continue
            count += 1
            for where, message in schema_problems(validator, document):
                problems.append(f"{label}: {where}: {message}")
    return schemas.source, len(files), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION,
                        help=f"Kubernetes minor version whose schemas apply (default {DEFAULT_KUBERNETES_VERSION})")
    parser.add_argument("--compose", type=Path, default=ROOT / "deploy" / "docker-compose.yml")
    parser.add_argument("--kubernetes-dir", type=Path, default=ROOT / "deploy" / "kubernetes")
    args = parser.parse_args(argv)

    problems: list[str] = []
    try:
        compose_source = check_compose(args.compose, problems)
        kube_source, files, documents = check_kubernetes(args.kubernetes_dir, args.kubernetes_version, problems)
    except SetupError as error:
        print(f"validate_deploy: {error}", file=sys.stderr)
        return 2
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"validate_deploy: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"validate_deploy: OK: {relative(args.compose)} ({compose_source}); {documents} Kubernetes "
          f"object(s) in {files} file(s) under {relative(args.kubernetes_dir)} ({kube_source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
