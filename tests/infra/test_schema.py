"""Tests of tests/infra/schema.py: infra/ passes, each fixture fails naming its exact problem, and the
names cdktf changed map back to Terraform's.

    .venv-infra/bin/python3 -m unittest tests/infra/test_schema.py -v

They need the schema package in node_modules/ (`make infra-schema`); `make infra-check` runs them.
"""

import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(HERE))

import schema  # noqa: E402


def run(*paths: str, cwd: Path = FIXTURES) -> tuple[int, list[str], str]:
    """The checker on `paths`: exit code, diagnostic lines (stderr) and the summary line (stdout)."""
    done = subprocess.run(
        [sys.executable, str(HERE / "schema.py"), *paths], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    diagnostics = [line for line in done.stderr.splitlines() if not line.startswith("extracting the schema")]
    return done.returncode, diagnostics, done.stdout.strip()


class InfraPasses(unittest.TestCase):
    def test_infra_has_no_error_and_every_resource_is_checked(self):
        # GIVEN infra/ WHEN checked THEN it passes, and the summary shows it looked at the whole module.
        code, diagnostics, summary = run("infra", cwd=ROOT)
        errors = [line for line in diagnostics if ": warning: " not in line]
        self.assertEqual(errors, [], summary)
        self.assertEqual(code, 0, diagnostics)
        self.assertRegex(summary, r"^schema check: \d{2,} resources, \d+ data sources, \d{3,} arguments, \d{2,} blocks")
        self.assertIn("against hashicorp/aws 6.25.0 (@cdktf/provider-aws 21.22.1)", summary)

    def test_the_valid_fixture_passes_with_every_quirk_accepted(self):
        # GIVEN meta-arguments, nested blocks named like them, maps, attributes as blocks and dynamic
        # blocks WHEN checked THEN nothing is reported and every block is counted.
        code, diagnostics, summary = run("valid.tf")
        self.assertEqual((code, diagnostics), (0, []))
        self.assertIn("6 resources, 1 data source, 32 arguments, 15 blocks and 3 references", summary)
        self.assertIn("1 of other providers not checked (archive_file)", summary)


class FixturesFail(unittest.TestCase):
    def assert_fails_with(self, fixture: str, expected: list[str]) -> None:
        code, diagnostics, summary = run(fixture)
        self.assertEqual(diagnostics, expected)
        self.assertEqual(code, 1)
        self.assertTrue(summary.endswith(f"{len(expected)} error{'s' if len(expected) > 1 else ''}, 0 warnings"), summary)

    def test_a_misspelt_argument_is_named_with_the_one_meant(self):
        self.assert_fails_with("misspelt_argument.tf", [
            'misspelt_argument.tf:4 aws_dynamodb_table.ledger: unsupported argument "billing_mod" '
            '(did you mean "billing_mode"?)',
        ])

    def test_a_missing_required_argument_is_named_at_its_level(self):
        self.assert_fails_with("missing_required_argument.tf", [
            'missing_required_argument.tf:3 aws_lambda_function.ingest: missing required argument "role"',
            'missing_required_argument.tf:15 aws_dynamodb_table.ledger: missing required argument "type" in attribute',
        ])

    def test_an_unknown_resource_type_and_data_source_are_named(self):
        self.assert_fails_with("unknown_resource_type.tf", [
            'unknown_resource_type.tf:3 aws_dynamodb_tabel.ledger: unknown resource type "aws_dynamodb_tabel" '
            'in hashicorp/aws 6.25.0 (did you mean "aws_dynamodb_table"?)',
            'unknown_resource_type.tf:7 data.aws_caller_identiy.current: unknown data source "aws_caller_identiy" '
            'in hashicorp/aws 6.25.0 (did you mean "aws_caller_identity"?)',
        ])

    def test_a_dynamic_blocks_content_is_checked_as_the_block_it_generates(self):
        self.assert_fails_with("dynamic_misspelt.tf", [
            'dynamic_misspelt.tf:20 aws_dynamodb_table.ledger: missing required argument "name" in global_secondary_index',
            'dynamic_misspelt.tf:21 aws_dynamodb_table.ledger: unsupported argument "nmae" in global_secondary_index '
            '(did you mean "name"?)',
        ])

    def test_a_map_written_as_a_block_and_a_block_written_as_a_map_are_refused(self):
        self.assert_fails_with("map_and_block_confused.tf", [
            'map_and_block_confused.tf:13 aws_dynamodb_table.ledger: "point_in_time_recovery" is a block, '
            "not an argument: write point_in_time_recovery { ... } without =",
            'map_and_block_confused.tf:17 aws_dynamodb_table.ledger: "tags" is an argument, not a block: '
            "write tags = { ... }",
        ])

    def test_an_attribute_the_type_lacks_is_refused_in_references_and_ignore_changes(self):
        self.assert_fails_with("unknown_attribute.tf", [
            'unknown_attribute.tf:18 aws_lambda_alias.live: ignore_changes names "routing_configuration", '
            "which aws_lambda_alias does not have",
            'unknown_attribute.tf:23 output.ingest_url: aws_lambda_function.ingest.invoke_url: '
            'aws_lambda_function has no attribute "invoke_url"',
        ])

    def test_deprecated_arguments_and_attributes_warn_without_failing(self):
        code, diagnostics, summary = run("deprecated.tf")
        self.assertEqual(diagnostics, [
            'deprecated.tf:4 data.aws_region.current: warning: argument "name" is deprecated in hashicorp/aws 6.0: '
            "use `region`",
            'deprecated.tf:8 output.region: warning: data.aws_region.current.name: "name" is deprecated in '
            "hashicorp/aws 6.0: use `region`",
        ])
        self.assertEqual(code, 0)
        self.assertTrue(summary.endswith("0 errors, 2 warnings"), summary)


class JsiiNames(unittest.TestCase):
    """The extract names arguments as Terraform does, where cdktf's jsii names differ."""

    @classmethod
    def setUpClass(cls):
        cls.schema = schema.load_schema()

    def kind_of(self, kind: str, type_name: str, path: str) -> str | None:
        return self.schema.lookup(kind, type_name, path.split("."))

    def test_renamed_properties_keep_their_terraform_names(self):
        # cdktf renames these to dodge reserved words and its own members; the registry link keeps them.
        cases = [
            ("resource", "aws_security_group_rule", "self"),  # selfAttribute
            ("resource", "aws_instance", "get_password_data"),  # fetchPasswordData
            ("data", "aws_instance", "get_user_data"),  # fetchUserData
            ("resource", "aws_cloudtrail", "advanced_event_selector.field_selector.equals"),  # equalTo
            ("resource", "aws_account_primary_contact", "address_line_1"),  # addressLine1
        ]
        for kind, type_name, path in cases:
            with self.subTest(type_name=type_name, path=path):
                self.assertEqual(self.kind_of(kind, type_name, path), "argument")
        self.assertIsNone(self.kind_of("resource", "aws_security_group_rule", "self_attribute"))

    def test_meta_argument_names_nested_in_the_provider_are_its_blocks(self):
        self.assertEqual(self.kind_of("resource", "aws_wafv2_web_acl", "rule.action.count"), "block")
        self.assertEqual(self.kind_of("resource", "aws_backup_plan", "rule.lifecycle"), "block")
        self.assertEqual(self.kind_of("resource", "aws_codepipeline", "stage.action.provider"), "argument")

    def test_maps_are_arguments_not_blocks(self):
        self.assertEqual(self.kind_of("resource", "aws_lambda_function", "tags"), "argument")
        self.assertEqual(self.kind_of("resource", "aws_lambda_function", "environment"), "block")
        self.assertEqual(self.kind_of("resource", "aws_lambda_function", "environment.variables"), "argument")

    def test_computed_attributes_are_known_for_references(self):
        self.assertTrue(self.schema.has_attribute("resource", "aws_lambda_function", "invoke_arn"))
        self.assertTrue(self.schema.has_attribute("data", "aws_region", "region"))
        self.assertFalse(self.schema.has_attribute("resource", "aws_lambda_function", "invoke_url"))

    def test_the_extract_is_cached_by_package_version(self):
        cached = schema.DEFAULT_CACHE_DIR / f"provider-aws-21.22.1.format-{schema.EXTRACT_FORMAT}.json"
        self.assertTrue(cached.exists())
        self.assertEqual(self.schema.package_version, "21.22.1")


if __name__ == "__main__":
    unittest.main()
