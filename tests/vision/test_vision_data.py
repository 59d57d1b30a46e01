"""The bundled datasets: digits split per class; shapes scenes with held-out compositions."""

from __future__ import annotations

import numpy as np

from bigmodel.data import images


def test_digits_are_split_per_class_at_the_requested_size() -> None:
    split = images.digits(12, seed=0)
    assert split.train.images.shape[1:] == (12, 12, 3) and split.train.images.dtype == np.uint8
    assert len(split.train.labels) + len(split.test.labels) == 1797
    assert set(np.unique(split.test.labels)) == set(range(10))


def test_shapes_hold_compositions_out_of_training() -> None:
    split = images.shapes(24, train=320, test=80, seed=2)
    assert not any(scene.held_out for scene in split.train.scenes)
    assert not any(scene.held_out for scene in split.test.scenes)
    assert split.held_out.scenes and all(scene.held_out for scene in split.held_out.scenes)
    counts = {len(scene.objects) for scene in split.train.scenes}
    assert counts == {1, 2, 3}
    for scene, captions in zip(split.train.scenes, split.train.captions):
        assert len(captions) == 3 and len(set(captions)) == 3
        assert all(f"{o.size} {o.colour} {o.shape}" in captions[0] for o in scene.objects)
    again = images.shapes(24, train=320, test=80, seed=2)
    assert np.array_equal(again.train.images, split.train.images), "same seed, same scenes"


def test_hard_negatives_change_one_thing_and_never_name_a_held_out_pair() -> None:
    square = images.ShapeObject("square", "red", "small", "left")
    circle = images.ShapeObject("circle", "yellow", "large", "right")
    scene = images.Scene((square, circle))
    negatives = images.hard_negatives(scene)
    captions = {n.captions()[0] for n in negatives}
    assert "a small red circle left of a large yellow circle" in captions  # shape
    assert "a small blue square left of a large yellow circle" not in captions  # blue square is held out
    assert "a large yellow circle left of a small red square" in captions  # order
    assert scene.captions()[0] not in captions and not any(n.held_out for n in negatives)
    # red square: 2 shapes + 2 colours (not blue) + 1 size; yellow circle: 1 shape (not triangle)
    # + 2 colours (not green) + 1 size; and the swap
    assert len(negatives) == 5 + 4 + 1


def test_shapes_for_classification_are_single_objects_labelled_by_shape() -> None:
    from bigmodel.families.vision.train import load_dataset

    split = load_dataset("shapes", 16, seed=0)
    assert split.train.names == ["circle", "square", "triangle"]
    assert set(np.unique(split.train.labels)) == {0, 1, 2} and len(split.held_out.labels) > 0


def test_augment_keeps_shape_and_is_reproducible() -> None:
    import torch

    x = images.pixel_values(images.digits(16).train.images[:8], [0.5] * 3, [0.5] * 3)
    a = images.augment(x, torch.Generator().manual_seed(1))
    b = images.augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_grey_training_objects_have_no_hue_and_never_reach_the_test_scenes() -> None:
    split = images.shapes(24, train=400, test=80, seed=3, grey_share=0.5)
    train_objects = [o for scene in split.train.scenes for o in scene.objects]
    grey = [o for o in train_objects if o.colour == images.GREY]
    assert 0.4 < len(grey) / len(train_objects) < 0.6
    assert not any(scene.held_out for scene in split.train.scenes)
    assert all(o.colour in images.COLOURS for part in (split.test, split.held_out) for s in part.scenes for o in s.objects)
    lone_grey = [i for i, s in enumerate(split.train.scenes) if [o.colour for o in s.objects] == [images.GREY]]
    assert lone_grey and all("grey" in split.train.captions[i][0] for i in lone_grey)
    pixels = split.train.images[lone_grey].astype(int)
    spread = pixels.max(axis=-1) - pixels.min(axis=-1)  # how far a pixel is from grey
    assert spread.max() < 10, "a grey object has no hue (the background is off-white: 5)"
    assert (split.test.images.max(axis=-1).astype(int) - split.test.images.min(axis=-1)).max() > 100
    assert split.provenance["grey_share"] == 0.5
