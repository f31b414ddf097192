#!/usr/bin/env python3
"""A `terraform validate` of infra/ that downloads no provider: every resource and data source
checked against the hashicorp/aws schema that @cdktf/provider-aws carries in its jsii assembly.

    .venv-infra/bin/python tests/infra/schema.py [infra ...]

`make infra-check` runs it after `make infra-schema` has put the pinned package (package-lock.json)
in node_modules/. Each argument is a module directory (all its *.tf files) or a single .tf file;
the default is infra/. For each `resource` and `data` block whose provider is aws it checks:

- the type exists in the provider;
- every argument and block is in the schema, nested blocks recursively; `dynamic "x" { content {} }`
  is checked as the block `x`; an argument written as a block (`tags { }`, when `tags` is a map) or
  a block written as an argument (`point_in_time_recovery = { }`) is an error, as in Terraform;
- every required argument and required block is present, at each level where its parent is;
- a block the provider allows at most once is not written twice;
- a reference `aws_x.name.attr` or `data.aws_x.name.attr` to a block of the module, and each
  element of a lifecycle's ignore_changes, names an attribute that type has.

Terraform's meta-arguments (count, for_each, provider, depends_on, lifecycle, and provisioner and
connection on resources) are accepted at the top of a block only: nested, the same names are the
provider's (wafv2's `action { count {} }`, backup plan's `rule { lifecycle {} }`). Types of other
providers (e.g. `archive_file`) are counted as not checked when required_providers names their
provider, and are errors when nothing does.

Deprecated arguments and attributes are printed as warnings and do not fail: the jsii assembly
marks none as deprecated, so they come from DEPRECATED below, kept by hand from the provider's
upgrade guides; every entry must name an argument or block the schema has, or the check stops.

Errors print as `file:line address: message` and exit 1; a last line counts what was checked.
The assembly is ~125 MB of JSON: the part the check needs is extracted once per package version
to node_modules/.cache/fluxo-infra-schema/ (a few MB), which later runs load in well under a second.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = "@cdktf/provider-aws"
DEFAULT_PACKAGE_DIR = ROOT / "node_modules" / PACKAGE
DEFAULT_CACHE_DIR = ROOT / "node_modules" / ".cache" / "fluxo-infra-schema"
# Bump when the extract's shape changes, so a stale cache of the same package version is not read.
EXTRACT_FORMAT = 1

# Deprecated in the provider the lock pins (hashicorp/aws 6.25.0), by (kind, type): argument or
# attribute path -> what to use instead. The jsii assembly has no deprecation flags, so this is kept
# by hand from the provider's changelog and upgrade guides; `check_deprecated_table` refuses an entry
# whose path the schema lacks, so an upgrade that removes one shows here.
DEPRECATED: dict[tuple[str, str], dict[str, str]] = {
    ("data", "aws_region"): {
        "name": "deprecated in hashicorp/aws 6.0: use `region`",
    },
    ("resource", "aws_iam_role"): {
        "inline_policy": "deprecated: use aws_iam_role_policy (or aws_iam_role_policies_exclusive)",
        "managed_policy_arns": "deprecated: use aws_iam_role_policy_attachment "
        "(or aws_iam_role_policy_attachments_exclusive)",
    },
    ("resource", "aws_cloudwatch_event_rule"): {
        "is_enabled": "deprecated: use `state`",
    },
    ("resource", "aws_s3_bucket"): {
        name: f"deprecated: use aws_s3_bucket_{resource}"
        for name, resource in {
            "acceleration_status": "accelerate_configuration",
            "acl": "acl",
            "cors_rule": "cors_configuration",
            "grant": "acl",
            "lifecycle_rule": "lifecycle_configuration",
            "logging": "logging",
            "policy": "policy",
            "replication_configuration": "replication_configuration",
            "request_payer": "request_payment_configuration",
            "server_side_encryption_configuration": "server_side_encryption_configuration",
            "versioning": "versioning",
            "website": "website_configuration",
        }.items()
    },
}

# Terraform's meta-arguments, legal at the top of a resource or data block (and nowhere deeper).
META_ARGUMENTS = {"count", "for_each", "provider", "depends_on"}
META_BLOCKS = {"resource": {"lifecycle", "provisioner", "connection"}, "data": {"lifecycle"}}
# What a lifecycle block may hold: a data source's only the conditions.
LIFECYCLE = {
    "resource": (
        {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"},
        {"precondition", "postcondition"},
    ),
    "data": (set(), {"precondition", "postcondition"}),
}
CONDITION_ARGUMENTS = {"condition", "error_message"}

REGISTRY_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/([0-9.]+)/docs/"
    r"(resources|data-sources)/(\w+)(?:#(\w+))? (\w+)(?:#\w+)?\}"
)


# --- the schema: extracted from the jsii assembly once per package version ----------------------


def snake_case(camel: str) -> str:
    """jsii's camelCase back to Terraform's snake_case, for the few names no registry link gives."""
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)


def terraform_name(prop: dict) -> str:
    """The Terraform name of a jsii property: the anchor of its registry link, which is exact
    where cdktf renamed the property (`self` -> selfAttribute, `equals` -> equalTo,
    `get_password_data` -> fetchPasswordData, `address_line_1` -> addressLine1)."""
    docs = prop.get("docs", {})
    match = REGISTRY_LINK.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
    if match and match.group(4):
        return match.group(4)
    return snake_case(prop["name"])


def _type_shape(jtype: dict) -> tuple[str, str | None]:
    """(shape, interface fqn) of a jsii type: 'one' for a single struct, 'many' for a list of
    structs, 'value' for anything else (primitives, maps, lists of primitives)."""
    if "fqn" in jtype and jtype["fqn"] != "cdktf.IResolvable":
        return "one", jtype["fqn"]
    if "union" in jtype:
        shapes = [_type_shape(t) for t in jtype["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"]
        for shape in ("many", "one"):
            for found, fqn in shapes:
                if found == shape:
                    return shape, fqn
        return "value", None
    collection = jtype.get("collection")
    if collection and collection["kind"] == "array":
        shape, fqn = _type_shape(collection["elementtype"])
        if shape == "one":
            return "many", fqn
    return "value", None


def extract(assembly: dict) -> dict:
    """The compact schema the check reads, from the jsii assembly (its parsed JSON).

    A body is {"a": {name: [required, object_body_or_null]}, "b": {name: [required, max_one,
    body_or_null]}}: an argument whose object body is set is a list of objects, which Terraform
    also accepts written as blocks; a block whose body is null is typed `any` by cdktf (too deep
    to generate) and is not looked into. Bodies are shared by id in "bodies".
    """
    types = assembly["types"]
    bodies: dict[str, dict] = {}
    ids: dict[str, str] = {}

    def body_of(fqn: str) -> str:
        if fqn in ids:
            return ids[fqn]
        ids[fqn] = body_id = str(len(ids))
        interface = types[fqn]
        arguments: dict[str, list] = {}
        blocks: dict[str, list] = {}
        for prop in interface.get("properties", []):
            name = terraform_name(prop)
            required = not prop.get("optional", False)
            shape, nested = _type_shape(prop["type"])
            if prop.get("docs", {}).get("summary", "").endswith(" block."):
                blocks[name] = [required, shape != "many", body_of(nested) if nested else None]
            else:
                arguments[name] = [required, body_of(nested) if shape == "many" else None]
        bodies[body_id] = {"a": arguments, "b": blocks}
        return body_id

    resources: dict[str, dict] = {}
    data_sources: dict[str, dict] = {}
    provider_version = None
    for jclass in types.values():
        base = jclass.get("base")
        if base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            continue
        match = re.search(r"Represents a \{@link (\S+) (aws_\w+)\}", jclass["docs"]["summary"])
        link = REGISTRY_LINK.search(jclass["docs"]["summary"])
        if not match or not link:
            raise SystemExit(f"{jclass['fqn']}: no registry link in its docs; has the assembly's shape changed?")
        provider_version = link.group(1)
        config = next(p for p in jclass["initializer"]["parameters"] if p["name"] == "config")
        attributes = set()
        for prop in jclass.get("properties", []):
            if prop.get("static") or prop["name"].endswith("Input"):
                continue
            attributes.add(prop["name"])
        entry = {"body": body_of(config["type"]["fqn"]), "attributes": sorted(attributes)}
        (resources if base == "cdktf.TerraformResource" else data_sources)[match.group(2)] = entry

    extracted = {
        "package": assembly["name"],
        "version": assembly["version"],
        "provider_version": provider_version,
        "format": EXTRACT_FORMAT,
        "resource": resources,
        "data": data_sources,
        "bodies": bodies,
    }
    return extracted


def check_deprecated_table(schema: "Schema") -> None:
    """DEPRECATED may name only what the schema has: an upgrade that removes an entry shows here."""
    for (kind, type_name), paths in DEPRECATED.items():
        for path in paths:
            if schema.lookup(kind, type_name, path.split(".")) is None:
                raise SystemExit(f"DEPRECATED names {kind} {type_name}.{path}, which {PACKAGE} "
                                 f"{schema.package_version} lacks: remove it")


def load_schema(package_dir: Path = DEFAULT_PACKAGE_DIR, cache_dir: Path = DEFAULT_CACHE_DIR) -> "Schema":
    """The schema of the installed package, from the cache when it holds this version's extract."""
    manifest = package_dir / "package.json"
    if not manifest.exists():
        raise SystemExit(f"{package_dir} is missing: run `make infra-schema` (npm ci --ignore-scripts) first")
    version = json.loads(manifest.read_text())["version"]
    cached = cache_dir / f"provider-aws-{version}.format-{EXTRACT_FORMAT}.json"
    if cached.exists():
        schema = Schema(json.loads(cached.read_text()))
        check_deprecated_table(schema)
        return schema
    print(f"extracting the schema from {PACKAGE} {version}'s jsii assembly to {cached.relative_to(ROOT) if cached.is_relative_to(ROOT) else cached}", file=sys.stderr)
    with open(package_dir / ".jsii", encoding="utf-8") as assembly_file:
        extracted = extract(json.load(assembly_file))
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed, so a run that stops half-way or a concurrent run never reads half a file.
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as out:
        json.dump(extracted, out, separators=(",", ":"))
    os.chmod(out.name, 0o644)
    os.replace(out.name, cached)
    schema = Schema(extracted)
    check_deprecated_table(schema)
    return schema


@dataclass
class Body:
    """What a block may hold: arguments (required, list-of-object body) and blocks."""

    arguments: dict[str, list]
    blocks: dict[str, list]


class Schema:
    """The extract, read: bodies by type, the attributes a reference may name."""

    def __init__(self, extracted: dict):
        self.raw = extracted
        self.package_version = extracted["version"]
        self.provider_version = extracted["provider_version"]

    def body(self, body_id: str | None) -> Body | None:
        if body_id is None:
            return None
        raw = self.raw["bodies"][body_id]
        return Body(raw["a"], raw["b"])

    def type_body(self, kind: str, type_name: str) -> Body | None:
        entry = self.raw[kind].get(type_name)
        return self.body(entry["body"]) if entry else None

    def types(self, kind: str) -> list[str]:
        return list(self.raw[kind])

    def has_attribute(self, kind: str, type_name: str, attribute: str) -> bool:
        """Whether `attribute` is one of the type's attributes (settable or computed).

        The class getters are camelCase with the renames cdktf makes to dodge its own members
        (`self` -> selfAttribute, `get_password_data` -> fetchPasswordData), and digits run into
        words (`address_line_1` -> addressLine1), so both sides are compared without underscores
        or case."""
        entry = self.raw[kind][type_name]
        wanted = attribute.replace("_", "").lower()
        for getter in entry["attributes"]:
            key = getter.lower()
            if wanted in (key, key.removesuffix("attribute"), "get" + key.removeprefix("fetch")):
                return True
        body = self.body(entry["body"])
        return attribute in body.arguments or attribute in body.blocks

    def lookup(self, kind: str, type_name: str, path: list[str]) -> str | None:
        """What `path` (names through nested blocks) names in the type: "argument", "block" or None."""
        body = self.type_body(kind, type_name)
        for i, name in enumerate(path):
            last = i == len(path) - 1
            if body is None:
                return None
            if name in body.arguments and last:
                return "argument"
            if name not in body.blocks:
                return None
            if last:
                return "block"
            body = self.body(body.blocks[name][2])
        return None


# --- the configuration: python-hcl2's rule tree, with line numbers ---------------------------------


@dataclass
class Attribute:
    name: str
    line: int
    value: object


@dataclass
class Block:
    type: str
    labels: list[str]
    line: int
    attributes: list[Attribute] = field(default_factory=list)
    blocks: list["Block"] = field(default_factory=list)


def parse_file(path: Path) -> list[Block]:
    """The top-level blocks of a .tf file, each with its attributes and nested blocks in order."""
    import hcl2
    from hcl2.rules.base import AttributeRule, BlockRule
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(with_comments=False, strip_string_quotes=True)

    # Line numbers are only on each rule's lark Meta: python-hcl2 8.1.4 (pinned) has a `with_meta`
    # serialization option that adds none.
    def convert(rule) -> Block:
        type_name, *labels = [label.serialize(options) for label in rule.labels]
        block = Block(str(type_name), [str(label) for label in labels], rule._meta.line)
        for child in rule.body.children:
            if isinstance(child, AttributeRule):
                name = str(child.identifier.serialize(options))
                block.attributes.append(Attribute(name, child._meta.line, child.expression.serialize(options)))
            elif isinstance(child, BlockRule):
                block.blocks.append(convert(child))
        return block

    tree = hcl2.parses(path.read_text(encoding="utf-8"), discard_comments=True)
    return [convert(child) for child in tree.body.children if isinstance(child, BlockRule)]


# --- the check ----------------------------------------------------------------------------------


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resources: int = 0
    data_sources: int = 0
    arguments: int = 0
    blocks: int = 0
    references: int = 0
    unchecked: dict[str, int] = field(default_factory=dict)


def suggestion(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def strings_in(value) -> list[str]:
    """Every string in a serialized expression: the places references can be."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


REFERENCE = re.compile(
    r"(?<![\w.])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\[\]]*\]|\.\*)?\.([A-Za-z_]\w*)"
)


class Checker:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.report = Report()

    def error(self, where: str, address: str, message: str) -> None:
        self.report.errors.append(f"{where} {address}: {message}")

    def warn(self, where: str, address: str, message: str) -> None:
        self.report.warnings.append(f"{where} {address}: warning: {message}")

    def check_module(self, files: list[Path]) -> None:
        """One module: its files share required_providers and the blocks references name."""
        parsed = []
        for path in files:
            try:
                parsed.append((path, parse_file(path)))
            except Exception as error:  # lark's parse errors share no base class worth naming here
                line = getattr(error, "line", None)
                where = f"{path}:{line}" if isinstance(line, int) and line > 0 else str(path)
                self.report.errors.append(f"{where}: does not parse: {str(error).splitlines()[0]}")
        providers = {"aws"}
        declared: set[tuple[str, str, str]] = set()
        for _, blocks in parsed:
            for block in blocks:
                if block.type == "terraform":
                    for required in (b for b in block.blocks if b.type == "required_providers"):
                        providers.update(a.name for a in required.attributes)
                if block.type in ("resource", "data") and len(block.labels) == 2:
                    declared.add((block.type, *block.labels))
        for path, blocks in parsed:
            for block in blocks:
                if block.type in ("resource", "data") and len(block.labels) == 2:
                    self.check_top(path, block, providers)
                self.check_references(path, block, declared)

    def check_top(self, path: Path, block: Block, providers: set[str]) -> None:
        kind = block.type
        type_name, name = block.labels
        address = f"{'data.' if kind == 'data' else ''}{type_name}.{name}"
        where = f"{path}:{block.line}"
        provider = type_name.split("_", 1)[0]
        for attribute in block.attributes:
            if attribute.name == "provider" and isinstance(attribute.value, str):
                provider = attribute.value.removeprefix("${").removesuffix("}").split(".")[0]
        if provider != "aws":
            if provider in providers:
                self.report.unchecked[type_name] = self.report.unchecked.get(type_name, 0) + 1
            else:
                self.error(where, address, f'no provider "{provider}" in required_providers for {type_name}')
            return
        body = self.schema.type_body(kind, type_name)
        if body is None:
            what = "resource type" if kind == "resource" else "data source"
            self.error(where, address, f'unknown {what} "{type_name}" in hashicorp/aws '
                       f"{self.schema.provider_version}{suggestion(type_name, self.schema.types(kind))}")
            return
        if kind == "resource":
            self.report.resources += 1
        else:
            self.report.data_sources += 1
        self.check_body(path, block, body, address, [], kind, type_name, top=True)

    def check_body(self, path: Path, block: Block, body: Body, address: str, trail: list[str],
                   kind: str, type_name: str, top: bool = False) -> None:
        inside = f" in {'.'.join(trail)}" if trail else ""
        deprecated = DEPRECATED.get((kind, type_name), {})
        present: set[str] = set()
        for attribute in block.attributes:
            where = f"{path}:{attribute.line}"
            if top and attribute.name in META_ARGUMENTS:
                continue
            present.add(attribute.name)
            if attribute.name in body.arguments:
                self.report.arguments += 1
                dotted = ".".join(trail + [attribute.name])
                if dotted in deprecated:
                    self.warn(where, address, f'argument "{dotted}" is {deprecated[dotted]}')
            elif attribute.name in body.blocks:
                self.error(where, address, f'"{attribute.name}"{inside} is a block, not an argument: '
                           f"write {attribute.name} {{ ... }} without =")
            else:
                self.error(where, address, f'unsupported argument "{attribute.name}"{inside}'
                           f"{suggestion(attribute.name, list(body.arguments) + list(body.blocks))}")
        static_count: dict[str, int] = {}
        for nested in block.blocks:
            where = f"{path}:{nested.line}"
            if top and nested.type in META_BLOCKS[kind]:
                if nested.type == "lifecycle":
                    self.check_lifecycle(path, nested, address, kind, type_name)
                continue
            if nested.type == "dynamic":
                self.check_dynamic(path, nested, body, address, trail, kind, type_name)
                if nested.labels:
                    present.add(nested.labels[0])
                continue
            present.add(nested.type)
            static_count[nested.type] = static_count.get(nested.type, 0) + 1
            self.check_nested(path, nested, nested.type, body, address, trail, kind, type_name, where)
        for name, (required, *_rest) in body.arguments.items():
            if required and name not in present:
                self.error(f"{path}:{block.line}", address, f'missing required argument "{name}"{inside}')
        for name, (required, max_one, _nested) in body.blocks.items():
            if required and name not in present:
                self.error(f"{path}:{block.line}", address, f'missing required block "{name}"{inside}')
            if max_one and static_count.get(name, 0) > 1:
                self.error(f"{path}:{block.line}", address, f'at most one "{name}" block{inside}, '
                           f"found {static_count[name]}")

    def check_nested(self, path: Path, nested: Block, name: str, body: Body, address: str,
                     trail: list[str], kind: str, type_name: str, where: str) -> None:
        """A block named `name` (written as such, or the content of a dynamic block) in `body`."""
        inside = f" in {'.'.join(trail)}" if trail else ""
        if name in body.blocks:
            self.report.blocks += 1
            dotted = ".".join(trail + [name])
            deprecated = DEPRECATED.get((kind, type_name), {})
            if dotted in deprecated:
                self.warn(where, address, f'block "{dotted}" is {deprecated[dotted]}')
            inner = self.schema.body(body.blocks[name][2])
            if inner is not None:
                self.check_body(path, nested, inner, address, trail + [name], kind, type_name)
        elif name in body.arguments and body.arguments[name][1] is not None:
            # A list of objects: Terraform accepts each element written as a block too.
            self.report.blocks += 1
            self.check_body(path, nested, self.schema.body(body.arguments[name][1]), address,
                            trail + [name], kind, type_name)
        elif name in body.arguments:
            self.error(where, address, f'"{name}"{inside} is an argument, not a block: write {name} = {{ ... }}')
        else:
            self.error(where, address, f'unsupported block type "{name}"{inside}'
                       f"{suggestion(name, list(body.blocks) + list(body.arguments))}")

    def check_dynamic(self, path: Path, dynamic: Block, body: Body, address: str, trail: list[str],
                      kind: str, type_name: str) -> None:
        where = f"{path}:{dynamic.line}"
        if len(dynamic.labels) != 1:
            self.error(where, address, "a dynamic block takes one label, the block type it generates")
            return
        name = dynamic.labels[0]
        for attribute in dynamic.attributes:
            if attribute.name not in ("for_each", "iterator", "labels"):
                self.error(f"{path}:{attribute.line}", address, f'unsupported argument "{attribute.name}" in dynamic "{name}"')
        if not any(a.name == "for_each" for a in dynamic.attributes):
            self.error(where, address, f'missing required argument "for_each" in dynamic "{name}"')
        contents = [b for b in dynamic.blocks if b.type == "content"]
        for other in (b for b in dynamic.blocks if b.type != "content"):
            self.error(f"{path}:{other.line}", address, f'unsupported block type "{other.type}" in dynamic "{name}": '
                       "only content")
        if len(contents) != 1:
            self.error(where, address, f'dynamic "{name}" needs exactly one content block, found {len(contents)}')
            return
        self.check_nested(path, contents[0], name, body, address, trail, kind, type_name, where)

    def check_lifecycle(self, path: Path, lifecycle: Block, address: str, kind: str, type_name: str) -> None:
        arguments, blocks = LIFECYCLE[kind]
        for attribute in lifecycle.attributes:
            if attribute.name not in arguments:
                self.error(f"{path}:{attribute.line}", address, f'unsupported argument "{attribute.name}" in lifecycle')
            elif attribute.name == "ignore_changes" and isinstance(attribute.value, list):
                # Each element is a path into this resource's own attributes: its first name must be one.
                for element in attribute.value:
                    first = re.match(r"^(?:\$\{)?([A-Za-z_][\w-]*)", str(element))
                    if first and not self.schema.has_attribute(kind, type_name, first.group(1)):
                        self.error(f"{path}:{attribute.line}", address,
                                   f'ignore_changes names "{first.group(1)}", which {type_name} does not have')
        for nested in lifecycle.blocks:
            where = f"{path}:{nested.line}"
            if nested.type not in blocks:
                self.error(where, address, f'unsupported block type "{nested.type}" in lifecycle')
                continue
            names = {a.name for a in nested.attributes}
            for extra in sorted(names - CONDITION_ARGUMENTS):
                self.error(where, address, f'unsupported argument "{extra}" in lifecycle.{nested.type}')
            for missing in sorted(CONDITION_ARGUMENTS - names):
                self.error(where, address, f'missing required argument "{missing}" in lifecycle.{nested.type}')

    def check_references(self, path: Path, block: Block, declared: set[tuple[str, str, str]]) -> None:
        """References to this module's resources and data sources name attributes their type has."""
        for attribute in block.attributes:
            for text in strings_in(attribute.value):
                if "${" not in text and "%{" not in text:
                    continue
                for match in REFERENCE.finditer(text):
                    kind = "data" if match.group(1) else "resource"
                    type_name, name, attr = match.group(2), match.group(3), match.group(4)
                    # Only this module's blocks of aws types: another provider's have no schema here.
                    if (kind, type_name, name) not in declared or type_name not in self.schema.raw[kind]:
                        continue
                    self.report.references += 1
                    reference = match.group(0)
                    where = f"{path}:{attribute.line}"
                    owner = address_of(block, attribute)
                    if not self.schema.has_attribute(kind, type_name, attr):
                        self.error(where, owner, f'{reference}: {type_name} has no attribute "{attr}"')
                    elif attr in DEPRECATED.get((kind, type_name), {}):
                        self.warn(where, owner, f'{reference}: "{attr}" is {DEPRECATED[(kind, type_name)][attr]}')
        for nested in block.blocks:
            self.check_references(path, nested, declared)


def address_of(block: Block, attribute: Attribute) -> str:
    """How Terraform names what holds a reference: aws_x.name, data.aws_x.name, local.x, output.x."""
    if block.type == "resource" and len(block.labels) == 2:
        return ".".join(block.labels)
    if block.type == "data" and len(block.labels) == 2:
        return "data." + ".".join(block.labels)
    if block.type == "locals":
        return f"local.{attribute.name}"
    prefix = {"variable": "var", "output": "output", "module": "module"}.get(block.type)
    if prefix and block.labels:
        return f"{prefix}.{block.labels[0]}"
    return " ".join([block.type, *block.labels])


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def by_place(line: str) -> tuple:
    """Diagnostics in file order: by path, then line number."""
    place = line.split(" ", 1)[0].rstrip(":")
    path, _, number = place.rpartition(":")
    return (path, int(number)) if number.isdigit() else (place, 0)


def check(paths: list[Path], schema: Schema) -> Report:
    checker = Checker(schema)
    for target in paths:
        files = sorted(target.glob("*.tf")) if target.is_dir() else [target]
        if not files:
            checker.report.errors.append(f"{target}: no .tf files")
        checker.check_module(files)
    return checker.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("infra")],
                        help="module directories or .tf files (default: infra)")
    parser.add_argument("--package-dir", type=Path, default=DEFAULT_PACKAGE_DIR)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    schema = load_schema(args.package_dir, args.cache_dir)
    report = check(args.paths, schema)
    for line in sorted(report.warnings + report.errors, key=by_place):
        print(line, file=sys.stderr)
    unchecked = sum(report.unchecked.values())
    print(
        f"schema check: {plural(report.resources, 'resource')}, {plural(report.data_sources, 'data source')}, "
        f"{plural(report.arguments, 'argument')}, {plural(report.blocks, 'block')} and "
        f"{plural(report.references, 'reference')} checked against hashicorp/aws {schema.provider_version} "
        f"({PACKAGE} {schema.package_version}); "
        + (f"{unchecked} of other providers not checked ({', '.join(sorted(report.unchecked))}); " if unchecked else "")
        + f"{plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}"
    )
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
