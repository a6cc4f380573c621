"""Filter expressions, table cells, config diffs and the merge patch the clone dialog sends."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from rfconsole.console.cells import format_number, literal, progress_bar, sort_key, sparkline
from rfconsole.console.clone_screen import describe_diff, merge_patch_between, parse_config
from rfconsole.console.filters import FilterError, parse_filter, unknown_keys
from rfconsole.console.run_columns import differing_config_keys, metric_columns
from rfconsole.db.configs import merge_patch
from rfconsole.db.models import RunRead

WHEN = datetime(2026, 1, 15, tzinfo=timezone.utc)


def make_run(run_id: int, status: str = "ONGOING", config: dict | None = None,
             metrics: dict | None = None, name: str | None = None) -> RunRead:
    from rfconsole.db.configs import flatten

    config = config or {}
    return RunRead(run_id=run_id, experiment_id=1, run_name=name or f"run_{run_id}",
                   status=status, config_leaf=config, flattened_config=flatten(config),
                   metrics=metrics or {}, current_chunk=0, num_chunks=4, current_epoch=0,
                   num_epochs=2, num_epochs_completed=0, completed_steps=0, total_steps=0,
                   num_chunks_visited=run_id, source="USER", warm_start=False,
                   created_at=WHEN, updated_at=WHEN)


RUNS = [
    make_run(1, "ONGOING", {"lr": 0.1, "model": {"width": 64}}, {"val_accuracy": 0.9}),
    make_run(2, "STOPPED", {"lr": 0.01, "model": {"width": 128}}, {"val_accuracy": 0.7}),
    make_run(3, "COMPLETED", {"lr": 0.001, "model": {"width": 64}, "tag": "bert-base"}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [1, 2, 3]),
        ("STOPPED", [2]),
        ("stopped", [2]),
        ("status = STOPPED", [2]),
        ("status != STOPPED", [1, 3]),
        ("lr > 0.01", [1]),
        ("lr >= 0.01", [1, 2]),
        ("model.width = 64", [1, 3]),
        ("width == 128", [2]),
        ("val_accuracy >= 0.8", [1]),
        ("val_accuracy < 0.8", [2]),
        ("bert", [3]),
        ("tag ~ BERT", [3]),
        ("lr < 0.05 and width = 64", [3]),
        ("lr < 0.05, STOPPED", [2]),
        ("progress > 0.2", [2, 3]),
        ("name = run_3", [3]),
        ("unknown_key > 1", []),
    ],
)
def test_filter_expressions_pick_the_right_runs(text: str, expected: list[int]) -> None:
    run_filter = parse_filter(text)
    assert [run.run_id for run in RUNS if run_filter(run)] == expected


@pytest.mark.parametrize("text", ["lr >", "> 3", "lr > 1 and", "a =< b"])
def test_unreadable_filters_give_one_sentence(text: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.args[0].endswith(".")
    assert "\n" not in caught.value.args[0]


def test_sparkline_progress_and_numbers() -> None:
    assert sparkline([]) == ""
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3.0, 3.0]) == "▄▄"
    assert progress_bar(0.5, width=4) == "██░░  50%"
    assert progress_bar(2.0, width=2) == "██ 100%"
    assert format_number(0.123456) == "0.1235"
    assert format_number(1e-6) == "1.00e-06"
    assert format_number(None) == "–"
    assert sorted([None, "b", 2, 1.5], key=sort_key) == [1.5, 2, "b", None]


def test_config_columns_are_the_keys_that_differ() -> None:
    assert differing_config_keys(RUNS) == ["lr", "model.width", "tag"]
    assert differing_config_keys(RUNS[:1]) == []
    assert metric_columns(["z", "val_loss", "train_loss", "val_accuracy", "a"]) == [
        "val_loss", "val_accuracy", "train_loss"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"lr": 0.1, "opt": {"name": "sgd", "m": 0.9}}, {"lr": 0.2, "opt": {"name": "sgd"}}),
        ({"lr": 0.1}, {"lr": 0.1, "extra": [1, 2]}),
        ({"a": {"b": 1}}, {"a": {}}),
        ({"a": 1, "b": 2}, {"b": 2}),
    ],
)
def test_the_clone_patch_turns_the_parent_config_into_the_edited_one(old: dict, new: dict) -> None:
    assert merge_patch(old, merge_patch_between(old, new)) == new


def test_clone_config_errors_are_inline_sentences() -> None:
    schema = {"type": "object", "properties": {"lr": {"type": "number", "exclusiveMinimum": 0}}}
    assert parse_config('{"lr": 0.1}', schema) == ({"lr": 0.1}, None)
    config, error = parse_config('{"lr": -1}', schema)
    assert config == {"lr": -1}
    assert error is not None
    assert error.startswith("The config is invalid at lr")
    config, error = parse_config('{"lr": 0.1', schema)
    assert config is None
    assert error is not None
    assert "not valid JSON" in error
    assert "line 1" in error
    assert parse_config("[1]", None)[1] == "The config must be a JSON object ({...})."
    assert "null" in (parse_config('{"lr": null}', None)[1] or "")
    assert describe_diff({"lr": 0.1, "a": 1}, {"lr": 0.2, "b": 2}) == [
        "[red]- a: 1[/]", "[green]+ b: 2[/]", "[yellow]~ lr: 0.1 → 0.2[/]"]


def test_sparkline_data_is_the_newest_points_in_step_order(store: Any, seeded: Any) -> None:
    from rfconsole.console.data import recent_values
    from rfconsole.db import metrics

    run_id = seeded.run_ids[3]  # NEW: no history yet
    with store.write() as session:
        for step in range(100, 0, -1):  # written newest first, on purpose
            metrics.append_metrics(session, run_id=run_id, values={"val_loss": step / 100},
                                   epoch=0, chunk=0, step=step)
    with store.read() as session:
        values = recent_values(session, [run_id, seeded.run_ids[0]], "val_loss", points=5)
    assert values[run_id] == [0.96, 0.97, 0.98, 0.99, 1.0]
    assert len(values[seeded.run_ids[0]]) == 5


def test_the_first_read_shows_every_run_and_leaves_the_sparklines_to_the_next(store: Any, seeded: Any) -> None:
    from rfconsole.console.data import read_runs_snapshot, recent_values, runs_changed_since

    first = read_runs_snapshot(store, experiment_id=None, experiment_name=None, shown_experiment_id=None,
                               known_revision=None, since=None, main_metric=None)
    assert first.full
    assert first.sparks_pending
    assert first.sparks == {}
    ids = [run.run_id for run in first.changed_runs]
    assert ids == sorted([*seeded.run_ids, seeded.clone_id])
    assert first.main_metric == "val_loss"
    experiment = first.experiment
    assert experiment is not None
    with store.read() as session:
        expected = recent_values(session, ids, "val_loss")
        assert first.changed_runs == runs_changed_since(session, experiment.id, None)  # the ORM's read
    assert expected  # the seeded runs have a history
    second = read_runs_snapshot(store, experiment_id=None, experiment_name=None,
                                shown_experiment_id=experiment.id, known_revision=experiment.revision,
                                since=max(run.updated_at for run in first.changed_runs),
                                main_metric=first.main_metric,
                                known_runs={run.run_id: run for run in first.changed_runs}, all_sparks=True)
    assert not second.full
    assert second.all_sparks
    assert not second.sparks_pending
    assert second.changed_runs == []  # nothing changed: only the sparklines were read
    assert second.sparks == expected


@pytest.mark.parametrize("typed", ["[(", "[b", "lr [", "[red]x[/red]", "a\\", "\\[b]", "x\\y"])
def test_literal_text_keeps_the_markup_around_it_intact(typed: str) -> None:
    from textual.content import Content

    shown = Content.from_markup(f"[b]{literal(typed)}[/b] after")
    assert shown.plain.replace("\u200b", "") == f"{typed} after"
    assert "[/b]" not in shown.plain


def test_unknown_keys_are_the_condition_keys_no_run_has():
    runs = [make_run(1, config={"optimizer": {"learning_rate": 0.1}}, metrics={"val_loss": 1.0})]
    run_filter = parse_filter("lr > 0.01 and learning_rate > 0.01, val_loss < 2, status = NEW, bert")
    assert unknown_keys(run_filter, runs) == ["lr"]
    assert unknown_keys(run_filter, []) == ["lr", "learning_rate", "val_loss", "status"]


def test_a_bulk_op_of_ten_runs_is_a_short_toast() -> None:
    from rfconsole.console.ops import OpOutcome, summarize

    outcomes = [OpOutcome("STOP", run_id, ic_id=run_id + 100) for run_id in range(1, 11)]
    outcomes += [OpOutcome("STOP", run_id, refusal=f"Run {run_id} is COMPLETED.")
                 for run_id in range(11, 16)]
    text, refused = summarize(outcomes)
    assert refused
    assert text.splitlines() == [
        "Stop queued for 10 runs (1 to 10; ops 101 to 110).",
        "Run 11 is COMPLETED. 4 more runs were refused (12 to 15).",
    ]
    assert summarize([OpOutcome("STOP", 3, ic_id=7)])[0] == "Stop queued for run 3 (op 7)."
