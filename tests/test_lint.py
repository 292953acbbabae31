"""`kb lint` on the sample corpus and on the deliberately broken fixture set."""

from click.testing import CliRunner
from conftest import BROKEN, SAMPLE_CASES

from kb.cli import main
from kb.corpus import load_cases
from kb.settings import load_settings

EXPECTED = [
    ("ESC-2026-0901.md:4:", "unknown status 'fixed'"),
    ("ESC-2026-0901.md:8:", "invalid date '2026-13-45'"),
    ("ESC-2026-0902.md:2:", "does not match the file name"),
    ("ESC-2026-0902.md:9:", "unknown field 'colour'"),
    ("ESC-2026-0903.md:13:", "duplicate section '症状'"),
    ("ESC-2026-0903.md:16:", "section '対処' is empty"),
    ("ESC-2026-0903.md:10:", "missing required section '原因 / Cause'"),
    ("ESC-2026-0904.md:3:", "invalid YAML"),
    ("ESC-2026-0905.md:7:", "invalid UTF-8"),
    ("ESC-2026-0906.txt:", "not a Markdown case file"),
    ("ESC-2026-0907.md:7:", "unknown visibility 'secret'"),
    ("ESC-2026-0907.md:8:", "quote versions"),
    ("ESC-2026-0907.md:10:", "before the created date"),
    ("ESC-2026-0908.md:1:", "missing YAML front matter"),
    ("dup/ESC-2024-0100.md:2:", "duplicate id 'ESC-2024-0100'"),
]


def test_sample_corpus_is_clean():
    settings = load_settings(environ={})
    result = load_cases([SAMPLE_CASES], settings.id_regex, settings.max_case_bytes)
    assert result.error_count == 0, [str(p) for p in result.problems if p.is_error]
    assert len(result.cases) >= 60


def test_lint_reports_every_seeded_error_with_file_and_line():
    runner = CliRunner()
    result = runner.invoke(
        main, ["lint", str(SAMPLE_CASES), str(BROKEN), str(BROKEN / "ESC-2026-0906.txt")]
    )
    assert result.exit_code == 1
    out = result.output
    for where, what in EXPECTED:
        assert any(where in line and what in line for line in out.splitlines()), (where, what)
    assert "ESC-2026-0904.md:2: missing required field" not in out  # no noise after a YAML error


def test_lint_passes_on_the_sample_corpus():
    result = CliRunner().invoke(main, ["lint", str(SAMPLE_CASES)])
    assert result.exit_code == 0, result.output


def test_lint_json_output():
    import json

    result = CliRunner().invoke(main, ["lint", "--json", str(BROKEN / "ESC-2026-0901.md")])
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert {p["field"] for p in data["problems"]} >= {"status", "created"}


def test_missing_path_is_an_error():
    result = CliRunner().invoke(main, ["lint", "no/such/folder"])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_a_broken_file_does_not_make_its_related_cases_report_a_missing_case(write_cases):
    from conftest import case_text

    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text("ESC-2026-0001").replace(
                "tags: [repeat-event]", "tags: [repeat-event"
            ),  # bad YAML
            "ESC-2026-0002.md": case_text(
                "ESC-2026-0002", extra="related: [ESC-2026-0001, ESC-2026-0077]\n"
            ),
        }
    )
    result = CliRunner().invoke(main, ["lint", str(folder)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any("ESC-2026-0001.md:8: invalid YAML in front matter" in line for line in lines)
    related = [line for line in lines if "related case" in line]
    assert related == [
        f"{folder / 'ESC-2026-0002.md'}: warning: related case 'ESC-2026-0077' does not exist"
    ]


def test_unrecognised_front_matter_is_one_error_not_an_unknown_heading(write_cases):
    from conftest import case_text

    folder = write_cases({"ESC-2026-0001.md": " " + case_text("ESC-2026-0001")})
    result = CliRunner().invoke(main, ["lint", str(folder)])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if "ESC-2026-0001.md" in line]
    assert (
        len(problems) == 1
        and "missing YAML front matter" in problems[0]
        and "line 1 is ' ---'" in problems[0]
    )


def test_lint_warns_when_a_case_names_a_case_its_readers_cannot_open(write_cases, settings):
    from conftest import case_text

    from kb.corpus import load_cases

    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text(
                "ESC-2026-0001",
                symptoms="Same as ESC-2026-0002 and ESC-2026-0003; see ESC-2026-0009.",
            ),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", visibility="restricted"),
            "ESC-2026-0003.md": case_text("ESC-2026-0003", visibility="support"),
            "ESC-2026-0004.md": case_text(
                "ESC-2026-0004", visibility="restricted", symptoms="Follows ESC-2026-0002."
            ),
        }
    )
    result = load_cases([folder], settings.id_regex, settings.max_case_bytes)
    warnings = [p for p in result.problems if "cannot open" in p.message]
    assert [(p.path.rsplit("/", 1)[-1], p.message) for p in warnings] == [
        (
            "ESC-2026-0001.md",
            "names 'ESC-2026-0002' (restricted), which readers of this support case cannot open",
        )
    ]
    assert all(p.severity == "warning" for p in warnings) and len(result.cases) == 4
