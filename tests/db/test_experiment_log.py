"""The shared experiment log: line format and tailing from the end."""

from __future__ import annotations

import re

from rfconsole.db import experiment_log

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| exp \| (\S+) \| (INFO|ERROR) \| (.*)$")


def test_append_and_tail(tmp_path):
    for i in range(5000):
        component = "interactive-control" if i % 10 == 0 else "controller"
        experiment_log.append(tmp_path, "exp", component, "info", f"event {i}\nsecond line")
    path = experiment_log.log_file(tmp_path)
    assert path == tmp_path / "logs" / "experiment.log"
    last = experiment_log.tail(path, 3)
    assert [LINE.match(line).group(3) for line in last] == [
        f"event {i} second line" for i in (4997, 4998, 4999)
    ]
    ic = experiment_log.tail(path, 2, component="interactive-control")
    assert [LINE.match(line).group(3) for line in ic] == ["event 4980 second line", "event 4990 second line"]
    assert len(experiment_log.tail(path)) == 5000
    assert experiment_log.tail(path, 0) == []


def test_missing_log_is_empty(tmp_path):
    assert experiment_log.tail(tmp_path / "nothing.log", 10) == []


def test_append_returns_the_line_it_wrote_and_append_line_copies_it(tmp_path):
    line = experiment_log.append(tmp_path, "exp", "dispatcher", "info", "two\nlines")
    assert line.endswith(" | exp | dispatcher | INFO | two lines")
    copy = tmp_path / "logs" / "dispatcher.log"
    experiment_log.append_line(copy, line)
    assert experiment_log.tail(experiment_log.log_file(tmp_path)) == [line]
    assert copy.read_text() == line + "\n"
