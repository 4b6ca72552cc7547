"""The one feature encoder: every kind, every path (Context, trainers, saved artifacts, OOF)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from qa.api import build_context
from qa.config import parse_config
from qa.encoding import FeatureEncoder
from qa.models import load_artifact
from qa.trainers.base import get_trainer

UTC = dt.UTC


def test_numbers_booleans_and_missing_values():
    frame = pl.DataFrame(
        {"x": [1.5, float("inf"), None, float("nan")], "flag": [True, False, None, True]}
    )
    X = FeatureEncoder.fit(frame, ["x", "flag"]).transform(frame)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0], [1.5, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(X[:, 1], [1.0, 0.0, np.nan, 1.0])


def test_categories_get_train_codes_an_unseen_code_and_nan_for_missing():
    train = pl.DataFrame({"colour": ["red", "blue", "red", None]})
    encoder = FeatureEncoder.fit(train, ["colour"])
    assert encoder.levels("colour") == ("blue", "red")
    other = pl.DataFrame({"colour": ["red", "green", None, "blue"]})
    np.testing.assert_array_equal(encoder.transform(other)[:, 0], [1.0, 2.0, np.nan, 0.0])


def test_max_levels_keeps_the_most_frequent_levels():
    train = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"] * 1})
    encoder = FeatureEncoder.fit(train, ["c"], max_levels=2)
    assert encoder.levels("c") == ("a", "b")
    np.testing.assert_array_equal(encoder.transform(train)[-1], [2.0])  # "c" shares unseen


def test_datetimes_are_epoch_seconds_plus_calendar_parts():
    stamps = [dt.datetime(2024, 1, 1, 5, 30), dt.datetime(2024, 2, 3, 23, 0), None]
    frame = pl.DataFrame({"created_at": stamps, "day": [d.date() if d else None for d in stamps]})
    encoder = FeatureEncoder.fit(frame, ["created_at", "day"])
    assert encoder.output_names == [
        "created_at",
        "created_at.hour",
        "created_at.weekday",
        "created_at.month",
        "day",
        "day.weekday",
        "day.month",
    ]
    assert encoder.output_features[:4] == ["created_at"] * 4
    X = encoder.transform(frame)
    seconds = [s.replace(tzinfo=UTC).timestamp() for s in stamps[:2]]
    np.testing.assert_allclose(X[:2, 0], seconds, rtol=1e-7)  # float32: ~2 min at 2024
    np.testing.assert_array_equal(X[:2, 1:4], [[5, 1, 1], [23, 6, 2]])  # Monday = 1
    np.testing.assert_allclose(X[0, 4], dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert np.isnan(X[2, :4]).all()


def test_date_datetime_and_time_zones_agree_on_the_instant():
    instant = dt.datetime(2024, 3, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "ms": pl.Series([instant]).cast(pl.Datetime("ms")),
            "ns": pl.Series([instant]).cast(pl.Datetime("ns")),
            "date": [instant.date()],
            "tz": pl.Series([instant]).dt.convert_time_zone("Europe/Paris"),
        }
    )
    X = FeatureEncoder.fit(frame, frame.columns, calendar=False).transform(frame)
    np.testing.assert_allclose(X[0], [instant.timestamp()] * 4)


def test_durations_and_times_of_day_are_seconds_without_calendar_parts():
    frame = pl.DataFrame({"wait": [dt.timedelta(minutes=2)], "at": [dt.time(1, 0, 30)]})
    encoder = FeatureEncoder.fit(frame, ["wait", "at"])
    assert encoder.output_names == ["wait", "at"]
    np.testing.assert_allclose(encoder.transform(frame)[0], [120.0, 3630.0])


def test_an_absent_column_is_missing_and_hostile_names_are_plain_names():
    train = pl.DataFrame({"^a.*$": [1.0, 2.0], "*": ["x", "y"], "名前": [True, False]})
    encoder = FeatureEncoder.fit(train, train.columns)
    np.testing.assert_array_equal(encoder.transform(train), [[1, 0, 1], [2, 1, 0]])
    assert np.isnan(encoder.transform(pl.DataFrame({"other": [1]}))).all()


def test_the_encoder_round_trips_through_json():
    frame = pl.DataFrame(
        {"c": ["b", "a"], "t": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], "x": [1, 2]}
    )
    encoder = FeatureEncoder.fit(frame, ["c", "t", "x"])
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again == encoder
    np.testing.assert_array_equal(again.transform(frame), encoder.transform(frame))


def test_a_malformed_encoder_is_refused():
    with pytest.raises(ValueError, match="kind"):
        FeatureEncoder.from_dict({"columns": [{"name": "a", "kind": "pickle"}]})


# --------------------------------------------------------------------------- every path
def _frames(seed: int, colours: list[str], month: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    start = dt.datetime(2024, month, 1)
    stamps = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, n)]
    colour = rng.choice(colours, n)
    x = rng.normal(size=n)
    hour = np.array([s.hour for s in stamps])
    label = ((x + (hour >= 12) + (colour == colours[0])) > 1).astype(int)
    return pl.DataFrame({"x": x, "colour": colour, "created_at": stamps, "label": label})


def _context(frames: dict[str, pl.DataFrame], **model: str):
    raw: dict = {"task": {"target": "label"}, "run": {"seed": 0, "threads": 1}}
    if model:
        raw["model"] = model
    return build_context(parse_config(raw), frames=frames)


def test_the_context_matrix_is_the_encoder_matrix():
    frames = {"train": _frames(0, ["red", "blue"], 1), "test": _frames(1, ["red", "green"], 2)}
    ctx = _context(frames)
    assert ctx.encoder.output_names == [
        "x",
        "colour",
        "created_at",
        "created_at.hour",
        "created_at.weekday",
        "created_at.month",
    ]
    expected = FeatureEncoder.fit(frames["train"], ["x", "colour", "created_at"])
    np.testing.assert_array_equal(ctx.feature_matrix("test"), expected.transform(frames["test"]))
    data = ctx.training_data()
    assert data.encoder is ctx.encoder  # trainers and OOF read the same matrix
    assert data.X["test"] is ctx.feature_matrix("test")


@pytest.mark.parametrize("trainer", ["xgboost", "linear"])
def test_a_saved_model_predicts_the_same_on_a_split_with_new_categories(tmp_path, trainer):
    fitted_on = {"train": _frames(0, ["red", "blue"], 1), "test": _frames(1, ["red", "blue"], 2)}
    ctx = _context(fitted_on)
    model = get_trainer(trainer).fit(ctx.training_data())
    path = model.save(tmp_path)
    # Checked later against data whose train has other categories (so another encoder) and
    # whose test has a category the model never saw, in another month.
    later = {"train": _frames(2, ["blue", "green"], 3), "test": _frames(3, ["red", "purple"], 4)}
    other = _context(later, artifact=str(path))
    assert other.encoder != ctx.encoder
    from_artifact = other.predictions("test").proba
    direct = model.predict(ctx.encoder.transform(later["test"]))
    np.testing.assert_allclose(from_artifact, direct, atol=1e-9)
    loaded = load_artifact(path)
    assert loaded.meta is not None and loaded.meta.encoder == ctx.encoder


def test_a_version_one_sidecar_is_still_read(tmp_path):
    frames = {"train": _frames(0, ["red", "blue"], 1), "test": _frames(1, ["red", "blue"], 2)}
    ctx = _context(frames)
    path = get_trainer("xgboost").fit(ctx.training_data()).save(tmp_path)
    sidecar = tmp_path / "model.qa.json"
    raw = json.loads(sidecar.read_text())
    old = {k: raw[k] for k in ("trainer", "task", "target", "classes", "feature_columns")}
    old["kinds"] = {"x": "numeric", "colour": "categorical", "created_at": "datetime"}
    old["category_maps"] = {"colour": ["blue", "red"]}
    old["version"] = 1
    sidecar.write_text(json.dumps(old))
    meta = load_artifact(path).meta
    assert meta is not None and meta.encoder.output_names == ["x", "colour", "created_at"]
