"""Metric history: append points after every chunk, read them back (downsampled on request)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, col, select

from .errors import InvalidError
from .models import Metric, MetricPoint, utcnow


def append_metrics(
    session: Session,
    *,
    run_id: int,
    values: Mapping[str, float],
    epoch: int,
    chunk: int,
    step: int,
    timestamp: datetime | None = None,
) -> None:
    """Record one point per metric name, all at the same step."""
    if not values:
        return
    when = timestamp or utcnow()
    session.execute(
        insert(Metric),
        [
            {
                "run_id": run_id,
                "epoch": epoch,
                "chunk": chunk,
                "step": step,
                "name": name,
                "value": float(value),
                "timestamp": when,
            }
            for name, value in values.items()
        ],
    )


def metric_history(
    session: Session,
    *,
    run_id: int,
    names: Iterable[str] | None = None,
    max_points: int | None = None,
) -> dict[str, list[MetricPoint]]:
    """Each metric's points in step order; with `max_points`, at most that many per metric.

    Downsampling keeps the first and the last point and spreads the rest evenly,
    so a plot keeps its ends and its shape.
    """
    if max_points is not None and max_points < 2:
        raise InvalidError("max_points must be at least 2.")
    statement = select(Metric).where(Metric.run_id == run_id)
    if names is not None:
        statement = statement.where(col(Metric.name).in_(list(names)))
    statement = statement.order_by(col(Metric.name), col(Metric.step), col(Metric.id))
    history: dict[str, list[MetricPoint]] = {}
    for row in session.exec(statement).all():
        history.setdefault(row.name, []).append(MetricPoint.model_validate(row))
    if max_points is not None:
        history = {name: downsample(points, max_points) for name, points in history.items()}
    return history


def downsample(points: list[MetricPoint], max_points: int) -> list[MetricPoint]:
    if len(points) <= max_points:
        return points
    last = len(points) - 1
    picks = sorted({round(i * last / (max_points - 1)) for i in range(max_points)})
    return [points[i] for i in picks]


def points_by_chunk(
    session: Session,
    *,
    run_id: int,
    num_chunks: int,
    after: int,
    through: int,
) -> list[tuple[int, str, float, datetime]]:
    """The run's metric points of the chunks `after` < position <= `through`, as
    (position, name, value, timestamp), in position order; a point's position counts the
    chunks trained up to and including it, across epochs (epoch and chunk are 1-based)."""
    position = (col(Metric.epoch) - 1) * num_chunks + col(Metric.chunk)
    statement = (
        select(position, Metric.name, Metric.value, Metric.timestamp)
        .where(Metric.run_id == run_id, position > after, position <= through)
        .order_by(position, col(Metric.id))
    )
    return [(int(p), name, float(value), when) for p, name, value, when in session.exec(statement).all()]
