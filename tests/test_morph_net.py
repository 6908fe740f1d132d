"""The learned morphology measurement on shapes with known answers: spheroids whose size is their long axis."""

import numpy as np
import pytest
import pyvista as pv

pytest.importorskip("torch")

from cfdgen.errors import IahemoError  # noqa: E402
from surrogate.morph_net import (  # noqa: E402
    MorphTrainConfig,
    evaluate_morph_model,
    load_morph_model,
    relative_errors,
    save_morph_model,
    train_morph_model,
)


def spheroid(a: float, b: float) -> pv.PolyData:
    return pv.ParametricEllipsoid(a, b, b, u_res=40, v_res=40).extract_surface().triangulate()


def test_learns_size_of_held_out_spheroids(tmp_path):
    axes = [(3.0, 2.0), (4.0, 2.5), (5.0, 2.0), (6.0, 3.0), (7.0, 3.5), (8.0, 3.0), (9.0, 4.0), (10.0, 4.0)]
    shapes = [spheroid(a, b) for a, b in axes]
    truths = [{"size": 2 * a, "width": 2 * b} for a, b in axes]
    model = train_morph_model(shapes, truths, MorphTrainConfig(points=256, epochs=80))
    assert model.keys == ["size", "width"] and set(model.log_keys) == {"size", "width"}
    held = [spheroid(6.5, 3.0), spheroid(4.5, 2.2)]
    truth = [{"size": 13.0, "width": 6.0}, {"size": 9.0, "width": 4.4}]
    result = evaluate_morph_model(model, held, truth)
    # a constant guess (the training mean, 12 mm) is 8 % and 33 % off; the model must follow the shape
    assert result["median"]["size"] < 0.15
    again = load_morph_model(save_morph_model(model, tmp_path / "m.pt"))
    assert again.predict(held[0]) == pytest.approx(model.predict(held[0]), rel=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"x")
    with pytest.raises(IahemoError, match="not a readable"):
        load_morph_model(tmp_path / "bad.pt")


def test_error_definitions_and_refusal():
    e = relative_errors({"size": 11.0, "nsi": 0.25}, {"size": 10.0, "nsi": 0.2}, ["size", "nsi"])
    assert e["size"] == pytest.approx(0.1) and e["nsi"] == pytest.approx(0.05)  # indices: absolute
    with pytest.raises(IahemoError, match="at least 4"):
        train_morph_model([spheroid(3, 2)], [{"size": 6.0}])
    assert np.isfinite(spheroid(3, 2).area)
