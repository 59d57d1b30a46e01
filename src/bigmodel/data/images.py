"""Image datasets for the vision and multimodal families, and the one safe way to read an image.

- `digits`: scikit-learn's bundled handwritten digits (8×8, 1797 images), resized for the model.
- `shapes`: generated scenes of one to three objects (shape, colour, size, position), each with
  captions in several phrasings. Some colour+shape combinations never appear in training, so
  the test split measures compositional generalisation.
- users' folders: `class_name/*.png|jpg` for classification; images plus `captions.jsonl`
  (`{"image": "...", "caption": "..."}`) for image–text models.

Every image is read through `load_image`, which checks the size in the file header before
decoding (so a 20000×20000 file is refused without allocating it) and turns every decoding
failure into one clear line.
"""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from bigmodel.errors import BigModelError

if TYPE_CHECKING:  # torch is imported where tensors are made, so dataset code stays light
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Memory bound: an image is decoded only if it has at most this many pixels (about 100 MB as
# RGB); larger ones are refused from their header, before any pixel is read.
MAX_IMAGE_PIXELS = 32_000_000
# Smaller than this carries no picture worth classifying (sklearn's digits are 8×8).
MIN_IMAGE_SIDE = 8
CAPTIONS_FILE = "captions.jsonl"


def load_image(path: str | Path, size: int) -> np.ndarray:
    """An RGB image as uint8 [size, size, 3], resized bilinearly (as `ViTImageProcessor` does).

    Refuses, with one line naming the file: unreadable or truncated files, images with a side
    under MIN_IMAGE_SIDE, and images over MAX_IMAGE_PIXELS (checked before decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise BigModelError(f"{path}: {'a folder, not an image file' if path.is_dir() else 'no such image file'}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size  # from the header; nothing decoded yet
                if width * height > MAX_IMAGE_PIXELS:
                    raise BigModelError(
                        f"{path}: image is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                        f"at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are decoded (memory bound)"
                    )
                if min(width, height) < MIN_IMAGE_SIDE:
                    raise BigModelError(
                        f"{path}: image is {width}×{height} pixels; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} is needed"
                    )
                image.load()
                rgb = image.convert("RGB")
    except BigModelError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # Pillow's own header check fires first for the very largest images.
        raise BigModelError(
            f"{path}: image is over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels ({err}); refused before decoding (memory bound)"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        # PIL reports corrupt, truncated and unknown formats through these.
        raise BigModelError(f"{path}: not a readable image ({err})") from None
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


@dataclasses.dataclass
class LabelledImages:
    """Images with one class label each."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int64 [N]
    names: list[str]  # label index -> class name

    def subset(self, index: np.ndarray) -> "LabelledImages":
        return LabelledImages(self.images[index], self.labels[index], self.names)


@dataclasses.dataclass
class CaptionedImages:
    """Images with one or more captions each; `captions[i][0]` is the canonical one."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    captions: list[list[str]]
    scenes: list["Scene"] | None = None  # the generating attributes, for shapes scenes
    labels: np.ndarray | None = None  # class labels, where the captions name a class
    names: list[str] | None = None

    def subset(self, index: np.ndarray) -> "CaptionedImages":
        return CaptionedImages(
            self.images[index],
            [self.captions[i] for i in index],
            [self.scenes[i] for i in index] if self.scenes is not None else None,
            self.labels[index] if self.labels is not None else None,
            self.names,
        )


@dataclasses.dataclass
class Split:
    """A dataset's train and test parts and where it came from (for the model card)."""

    train: Any
    test: Any
    provenance: dict[str, Any]
    held_out: Any = None  # test items with compositions never seen in training (shapes)


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        n_test = max(1, round(len(index) * test_fraction))
        test.extend(index[:n_test])
        train.extend(index[n_test:])
    return np.sort(np.array(train)), np.sort(np.array(test))


# --- digits ----------------------------------------------------------------------------------

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digits(size: int, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn's handwritten digits as RGB images of `size`, split per class."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    gray = (bunch.images / 16.0 * 255).round().astype(np.uint8)  # values are 0..16
    images = np.stack(
        [np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BILINEAR).convert("RGB")) for g in gray]
    )
    data = LabelledImages(images, bunch.target.astype(np.int64), [str(d) for d in range(10)])
    train, test = _stratified_split(data.labels, test_fraction, seed)
    provenance = {
        "name": "digits",
        "source": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)",
        "images": len(data.labels),
        "train": len(train),
        "test": len(test),
    }
    return Split(data.subset(train), data.subset(test), provenance)


def digit_captions(data: LabelledImages) -> CaptionedImages:
    """Digits with captions naming the digit in a few phrasings (for image–text models)."""
    captions = [
        [
            f"a handwritten digit {DIGIT_NAMES[label]}",
            f"the number {DIGIT_NAMES[label]}",
            f"a picture of a {DIGIT_NAMES[label]}",
        ]
        for label in data.labels
    ]
    return CaptionedImages(data.images, captions, labels=data.labels, names=DIGIT_NAMES)


def digit_prompts() -> list[str]:
    """One zero-shot prompt per digit class, in label order."""
    return [f"a handwritten digit {name}" for name in DIGIT_NAMES]


# --- shapes ----------------------------------------------------------------------------------

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 230), "yellow": (235, 210, 40)}
SIZES = ("small", "large")
POSITIONS = ("left", "middle", "right")
# Colour+shape pairs that never appear in the training split: the test split's scenes that
# contain one measure whether a model composes attributes it only saw apart.
HELD_OUT = (("green", "circle"), ("yellow", "triangle"), ("blue", "square"))
# Training objects may be drawn in a grey of random lightness instead: a shape with no hue, so a
# model learns to tell shapes apart from their outline, not from which colours they come in.
# No palette colour is grey, so no held-out pair enters training this way.
GREY = "grey"
GREY_LEVELS = (30, 200)


@dataclasses.dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    position: str  # the slot it occupies: left, middle or right


@dataclasses.dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]  # left to right

    @property
    def held_out(self) -> bool:
        return any((o.colour, o.shape) in HELD_OUT for o in self.objects)

    def captions(self) -> list[str]:
        """Several phrasings of the same scene; the first is canonical."""
        names = [f"a {o.size} {o.colour} {o.shape}" for o in self.objects]
        if len(names) == 1:
            (only,) = self.objects
            where = "in the middle" if only.position == "middle" else f"on the {only.position}"
            return [f"{names[0]} {where}", f"there is {names[0]} {where}", f"{where}, {names[0]}"]
        left_to_right = " left of ".join(names)
        right_to_left = " right of ".join(reversed(names))
        return [left_to_right, right_to_left, f"from left to right: {', '.join(names)}"]


def hard_negatives(scene: Scene) -> list[Scene]:
    """Scenes that differ from `scene` in one attribute of one object (its shape, colour or
    size), or in the order of two objects: captions that share almost every word with the true
    one, so a contrastive model must see shapes to tell them apart. None holds a HELD_OUT pair,
    so training text never names one."""
    variants = []
    for i, obj in enumerate(scene.objects):
        changed = [dataclasses.replace(obj, shape=s) for s in SHAPES if s != obj.shape]
        changed += [dataclasses.replace(obj, colour=c) for c in COLOURS if c != obj.colour]
        changed += [dataclasses.replace(obj, size=z) for z in SIZES if z != obj.size]
        variants += [Scene(scene.objects[:i] + (new,) + scene.objects[i + 1 :]) for new in changed]
    for i in range(len(scene.objects) - 1):
        a, b = scene.objects[i], scene.objects[i + 1]
        if (a.shape, a.colour, a.size) != (b.shape, b.colour, b.size):
            swapped = (dataclasses.replace(b, position=a.position), dataclasses.replace(a, position=b.position))
            variants.append(Scene(scene.objects[:i] + swapped + scene.objects[i + 2 :]))
    return [v for v in variants if not v.held_out]


def random_scene(rng: random.Random, max_objects: int = 3) -> Scene:
    count = rng.randint(1, max_objects)
    slots = sorted(rng.sample(range(len(POSITIONS)), count))
    return Scene(
        tuple(
            ShapeObject(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(SIZES), POSITIONS[slot])
            for slot in slots
        )
    )


def greyed(scene: Scene, share: float, rng: random.Random) -> Scene:
    """`scene` with each object's colour replaced by GREY with probability `share`."""
    return Scene(tuple(dataclasses.replace(o, colour=GREY) if rng.random() < share else o for o in scene.objects))


def render_scene(scene: Scene, size: int, rng: random.Random) -> np.ndarray:
    """Draw at 4× and downsample, so edges are smooth at any model size; small jitter in place."""
    scale = 4
    canvas = size * scale
    image = Image.new("RGB", (canvas, canvas), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    slot_width = canvas / len(POSITIONS)
    for obj in scene.objects:
        radius = slot_width * (0.22 if obj.size == "small" else 0.42) * rng.uniform(0.9, 1.05)
        cx = slot_width * (POSITIONS.index(obj.position) + 0.5) + rng.uniform(-0.06, 0.06) * slot_width
        cy = canvas / 2 + rng.uniform(-0.25, 0.25) * canvas
        colour = (rng.randint(*GREY_LEVELS),) * 3 if obj.colour == GREY else COLOURS[obj.colour]
        if obj.shape == "circle":
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        elif obj.shape == "square":
            side = radius * 0.88
            draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=colour)
        else:
            draw.polygon([(cx, cy - radius), (cx - radius, cy + radius * 0.8), (cx + radius, cy + radius * 0.8)], fill=colour)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def shapes(
    size: int, train: int = 2400, test: int = 600, seed: int = 0, max_objects: int = 3, grey_share: float = 0.0
) -> Split:
    """Generated captioned scenes: `train` for training, never with a HELD_OUT colour+shape pair;
    `test` fresh scenes and `test // 2` with held-out pairs (`held_out`), in palette colours only.
    Each training object is drawn in GREY with probability `grey_share`."""
    rng = random.Random(seed)
    train_scenes: list[Scene] = []
    test_scenes: list[Scene] = []
    held_scenes: list[Scene] = []
    while len(train_scenes) < train or len(test_scenes) < test or len(held_scenes) < test // 2:
        scene = random_scene(rng, max_objects)
        if scene.held_out:
            if len(held_scenes) < test // 2:
                held_scenes.append(scene)
        elif len(train_scenes) < train:
            # No draw at share 0, so the scenes of every seed stay what they were before grey.
            train_scenes.append(greyed(scene, grey_share, rng) if grey_share else scene)
        elif len(test_scenes) < test:
            test_scenes.append(scene)

    def build(scenes: list[Scene]) -> CaptionedImages:
        images = np.stack([render_scene(s, size, rng) for s in scenes])
        return CaptionedImages(images, [s.captions() for s in scenes], scenes)

    provenance = {
        "name": "shapes",
        "source": "bigmodel.data.images.shapes (generated scenes, Pillow)",
        "seed": seed,
        "train": len(train_scenes),
        "test": len(test_scenes),
        "held_out": len(held_scenes),
        "held_out_pairs": [" ".join(p) for p in HELD_OUT],
        "max_objects": max_objects,
        "grey_share": grey_share,
    }
    return Split(build(train_scenes), build(test_scenes), provenance, held_out=build(held_scenes))


def shape_labels(data: CaptionedImages) -> LabelledImages:
    """For classification: the shape of single-object scenes (3 classes)."""
    assert data.scenes is not None
    keep = np.array([i for i, s in enumerate(data.scenes) if len(s.objects) == 1], dtype=np.int64)
    labels = np.array([SHAPES.index(data.scenes[i].objects[0].shape) for i in keep], dtype=np.int64)
    return LabelledImages(data.images[keep], labels, list(SHAPES))


# --- users' folders --------------------------------------------------------------------------


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_folder(path: str | Path, size: int, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """`path/class_name/*.png|jpg` as a classification dataset, split per class."""
    root = Path(path)
    if not root.is_dir():
        raise BigModelError(f"{root}: no such image folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BigModelError(f"{root}: no class folders; expected {root}/CLASS_NAME/*.png|jpg")
    if len(classes) < 2:
        raise BigModelError(f"{root}: only one class ({classes[0].name}); a classifier needs at least two class folders")
    images, labels = [], []
    for label, folder in enumerate(classes):
        files = image_files(folder)
        if len(files) < 2:
            raise BigModelError(
                f"{folder}: {len(files)} image(s); each class needs at least 2 (one to train on, one to test)"
            )
        images.extend(load_image(f, size) for f in files)
        labels.extend([label] * len(files))
    data = LabelledImages(np.stack(images), np.array(labels, dtype=np.int64), [c.name for c in classes])
    train, test = _stratified_split(data.labels, test_fraction, seed)
    provenance = {"name": root.name, "source": str(root.resolve()), "images": len(labels), "train": len(train), "test": len(test)}
    return Split(data.subset(train), data.subset(test), provenance)


def read_captions(path: str | Path) -> list[tuple[Path, str]]:
    """Parse `captions.jsonl`: (image path, caption) pairs; malformed lines name their number."""
    path = Path(path)
    if not path.is_file():
        raise BigModelError(f"{path}: no such captions file (expected lines like {{\"image\": \"a.png\", \"caption\": \"...\"}})")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BigModelError(f"{path}:{number}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("image"), str) or not isinstance(row.get("caption"), str):
            raise BigModelError(f'{path}:{number}: expected {{"image": "...", "caption": "..."}} with string values')
        if not row["caption"].strip():
            raise BigModelError(f"{path}:{number}: empty caption")
        image = path.parent / row["image"]
        if not image.is_file():
            raise BigModelError(f"{path}:{number}: image {row['image']!r} not found in {path.parent}")
        pairs.append((image, row["caption"].strip()))
    if len(pairs) < 2:
        raise BigModelError(f"{path}: {len(pairs)} caption(s); at least 2 are needed")
    return pairs


def caption_folder(path: str | Path, size: int, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """A folder of images with `captions.jsonl`; captions of the same image are grouped."""
    root = Path(path)
    if not root.is_dir():
        raise BigModelError(f"{root}: no such folder")
    grouped: dict[Path, list[str]] = {}
    for image, caption in read_captions(root / CAPTIONS_FILE):
        grouped.setdefault(image, []).append(caption)
    files = list(grouped)
    data = CaptionedImages(np.stack([load_image(f, size) for f in files]), [grouped[f] for f in files])
    order = np.random.default_rng(seed).permutation(len(files))
    n_test = max(1, round(len(files) * test_fraction))
    provenance = {"name": root.name, "source": str(root.resolve()), "images": len(files), "train": len(files) - n_test, "test": n_test}
    return Split(data.subset(np.sort(order[n_test:])), data.subset(np.sort(order[:n_test])), provenance)


# --- tensors for the models ------------------------------------------------------------------


def pixel_values(images: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W], rescaled and normalised as `ViTImageProcessor` does."""
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def augment(
    x: torch.Tensor, generator: torch.Generator, shift: float = 0.1, degrees: float = 10.0, zoom: float = 0.1
) -> torch.Tensor:
    """Random small affine moves (translate, rotate, zoom) of a batch of pixel values.

    No flips: a mirrored scene would contradict its caption ("left of"). Edges repeat the border,
    which is the background in every dataset here.
    """
    import math

    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * zoom
    move = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2  # grid units span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1), torch.stack([sin, cos, move[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)
