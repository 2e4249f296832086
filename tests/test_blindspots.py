"""Blind spots end to end: the runner, the commands, Markdown and the report note, feedback
(accept / dismiss) remembered across runs — on a copy of the sample vault with the test
embedder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import vaultmind
from vaultmind.blindspots import EXPLANATIONS, KINDS, PREFIX
from vaultmind.cli import main
from vaultmind.config import Config
from vaultmind.store import SCHEMA_VERSION, Store

from .conftest import SAMPLE_VAULT

TRUTH = json.loads((Path(__file__).parent / "data" / "sample_topics.json").read_text(encoding="utf-8"))


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, copy, ignore=shutil.ignore_patterns(".vaultmind"))
    vaultmind.index(copy)
    return copy


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_every_kind_has_a_prefix_and_an_explanation() -> None:
    assert set(KINDS) == set(PREFIX) == set(EXPLANATIONS)
    assert len(set(PREFIX.values())) == len(PREFIX)


def test_findings_are_grouped_by_kind_ranked_and_limited(vault: Path) -> None:
    spots = vaultmind.blind_spots(vault, limit=3)
    kinds = [s.kind for s in spots]
    order = [k for k in KINDS if k in kinds]
    assert kinds == sorted(kinds, key=order.index)  # detector order, one block per kind
    for kind in order:
        group = [s for s in spots if s.kind == kind]
        assert len(group) <= 3
        assert [s.score for s in group] == sorted((s.score for s in group), reverse=True)
    assert {"wanted_note", "broken_link", "orphan", "dead_end", "unanswered"} <= set(kinds)
    for spot in spots:
        assert spot.id.startswith(PREFIX[spot.kind] + "-") and spot.title and spot.suggestion and spot.evidence
        json.dumps(spot.evidence)  # plain data only


def test_ids_are_stable_across_runs(vault: Path) -> None:
    first = vaultmind.blind_spots(vault)
    again = vaultmind.blind_spots(vault)
    assert [s.id for s in first] == [s.id for s in again]
    assert len({s.id for s in first}) == len(first)


def test_unknown_kind_is_a_clear_error(vault: Path) -> None:
    with pytest.raises(vaultmind.VaultmindError, match="unknown blind spot kind"):
        vaultmind.blind_spots(vault, kinds=["nonsense"])
    code, output = run("blindspots", str(vault), "--kind", "nonsense")
    assert code == 2 and "nonsense" in output


def test_blindspots_json_has_the_documented_fields(vault: Path) -> None:
    code, output = run("blindspots", str(vault), "--json", "--kind", "wanted_note", "-n", "3")
    assert code == 0, output
    data = json.loads(output)
    assert 1 <= len(data) <= 3 and all(d["kind"] == "wanted_note" for d in data)
    assert {"id", "kind", "score", "title", "notes", "evidence", "suggestion"} <= set(data[0])
    top_wanted = max(TRUTH["wanted"], key=lambda w: len(TRUTH["wanted"][w]))
    assert data[0]["notes"][0] == top_wanted


def test_table_and_markdown_output(vault: Path) -> None:
    code, output = run("blindspots", str(vault), "-n", "2")
    assert code == 0 and "wanted note" in output and EXPLANATIONS["orphan"] in output
    code, markdown = run("blindspots", str(vault), "--markdown", "-n", "2")
    assert code == 0 and "## Wanted notes" in markdown and "[[" in markdown


def test_write_note_writes_a_report_that_is_never_indexed(vault: Path) -> None:
    before = vaultmind.index(vault)
    code, output = run("blindspots", str(vault), "--write-note", "-n", "3")
    assert code == 0, output
    report = vault / Config().report_note
    text = report.read_text(encoding="utf-8")
    assert text.startswith("---\nvaultmind: blind spots report") and "[[" in text
    after = vaultmind.index(vault)
    assert after.notes == before.notes  # the report is not a note of the vault
    code, _ = run("blindspots", str(vault), "--write-note", "-n", "1")  # rewriting its own report is fine
    assert code == 0


def test_write_note_never_overwrites_the_authors_note(vault: Path) -> None:
    mine = vault / Config().report_note
    mine.write_text("# my own note with this name\n", encoding="utf-8")
    code, output = run("blindspots", str(vault), "--write-note")
    assert code == 1 and "not written by vaultmind" in output
    assert mine.read_text(encoding="utf-8") == "# my own note with this name\n"


def test_dismissed_findings_stay_hidden_and_are_kept_as_labelled_data(vault: Path) -> None:
    spots = vaultmind.blind_spots(vault, kinds=["orphan"])
    target = spots[0]
    code, output = run("dismiss", str(vault), target.id)
    assert code == 0 and target.id in output
    again = vaultmind.blind_spots(vault, kinds=["orphan"])
    assert target.id not in {s.id for s in again}
    assert target.id in {s.id for s in vaultmind.blind_spots(vault, kinds=["orphan"], include_dismissed=True)}
    vaultmind.index(vault)  # a re-run does not bring it back
    assert target.id not in {s.id for s in vaultmind.blind_spots(vault, kinds=["orphan"])}
    verdicts = vaultmind.feedback(vault)
    assert [(v, s.id) for v, s, _at in verdicts] == [("dismissed", target.id)]
    assert verdicts[0][1].evidence == target.evidence  # the whole finding, as it was shown


def test_accepting_keeps_the_finding_and_a_new_verdict_replaces_the_old(vault: Path) -> None:
    spot = vaultmind.blind_spots(vault, kinds=["wanted_note"])[0]
    assert run("accept", str(vault), spot.id)[0] == 0
    assert spot.id in {s.id for s in vaultmind.blind_spots(vault, kinds=["wanted_note"])}
    assert run("dismiss", str(vault), spot.id)[0] == 0
    assert [v for v, s, _ in vaultmind.feedback(vault)] == ["dismissed"]
    with Store.open(vault / ".vaultmind") as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_unknown_finding_is_a_clear_error(vault: Path) -> None:
    code, output = run("dismiss", str(vault), "ml-0000000000")
    assert code == 1 and "no blind spot with id" in output
