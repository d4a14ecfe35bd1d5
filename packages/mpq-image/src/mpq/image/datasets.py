"""Image datasets as streams of examples, whatever their source.

Sources (the `--dataset` spec):

- a Hugging Face hub id with the options of `mpq.core.dataspec` (``REPO[@CONFIG][:KEY=VALUE]``:
  revision, data_dir, data_files, streaming, exclude), e.g. ``AI-Lab-Makerere/beans`` or
  ``keremberke/chest-xray-classification:revision=refs/convert/parquet:data_dir=full``, read with
  `datasets.load_dataset` (streamed by default); items are numbered by their index in the split;
- ``imagefolder:PATH``: one sub-folder per class (the folder name is the label name);
- a plain folder (or files) of images: no labels, so only label-free scores apply;
- ``skimage`` or ``skimage:MAX_SIDE``: the photos that scikit-image ships, for offline demos and
  tests, optionally shrunk (Lanczos) so that their longest side is at most MAX_SIDE pixels.

Every image becomes HxWx3 uint8 RGB (`mpq.image.data.to_rgb`); an image that cannot be read
becomes an example with `error` set, so the sweep records a failed row and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from mpq.core.dataspec import DatasetSpec, HubSplit, parse_dataset_spec
from mpq.core.errors import MpqError
from mpq.image.data import image_files, load_image, to_rgb


@dataclass
class Example:
    """One item: an id unique in the dataset, its image, its label (None when unlabelled)."""

    id: str
    image: np.ndarray | None
    label: Any = None
    error: str | None = None


class ImageDataset(Protocol):
    """What tasks read. `label_names` lists class names by label id (None: no class labels)."""

    name: str
    label_names: list[str] | None

    def count(self) -> int | None:
        """How many items iterating yields (None when unknown, e.g. a streamed split)."""

    def __iter__(self) -> Iterator[Example]: ...


# Photos scikit-image ships in its wheel, with the ImageNet-1k class each shows (None: no single
# ImageNet class fits). Names follow torchvision's ImageNet category list.
SKIMAGE_PHOTOS: dict[str, str | None] = {
    "chelsea": "Egyptian cat",
    "coffee": "espresso",
    "astronaut": None,
    "rocket": None,
    "hubble_deep_field": None,
    "immunohistochemistry": None,
    "retina": None,
    "colorwheel": None,
    "brick": None,
    "grass": None,
    "gravel": None,
    "camera": None,
    "coins": None,
    "moon": None,
    "page": None,
    "text": None,
    "horse": None,
    "clock": None,
}


@dataclass
class FolderDataset:
    """Image files, optionally labelled by their parent folder (imagefolder layout)."""

    name: str
    files: list[Path]
    label_names: list[str] | None
    labels: list[int | None]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.files)

    def count(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Example]:
        for path, label, item_id in zip(self.files, self.labels, self.ids, strict=True):
            try:
                yield Example(item_id, load_image(path), label)
            except MpqError as error:
                yield Example(item_id, None, label, str(error))


@dataclass
class SkimageDataset:
    """scikit-image's bundled photos; labels are ImageNet class names where one fits."""

    name: str = "skimage"
    label_names: list[str] | None = None
    max_side: int | None = None

    def __post_init__(self) -> None:
        self.label_names = sorted({v for v in SKIMAGE_PHOTOS.values() if v})

    def __len__(self) -> int:
        return len(SKIMAGE_PHOTOS)

    def count(self) -> int:
        return len(SKIMAGE_PHOTOS)

    def __iter__(self) -> Iterator[Example]:
        try:
            import skimage.data
        except ImportError:
            raise MpqError(
                "dataset skimage needs scikit-image: pip install 'mpq-image[demo]'."
            ) from None

        for photo, label in SKIMAGE_PHOTOS.items():
            label_id = None if label is None else self.label_names.index(label)
            try:
                image = np.asarray(getattr(skimage.data, photo)())
            except Exception as error:  # a missing photo is a failed item
                yield Example(photo, None, label_id, f"{type(error).__name__}: {error}")
                continue
            if image.dtype == bool:
                image = image.astype(np.uint8) * 255
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            image = np.ascontiguousarray(image[..., :3].astype(np.uint8))
            yield Example(photo, _shrink(image, self.max_side), label_id)


class HubDataset:
    """A Hugging Face dataset split; the image and label columns are found or named."""

    def __init__(
        self,
        spec: DatasetSpec,
        split: str,
        image_key: str | None = None,
        label_key: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.rows = HubSplit(spec, split, LOCAL_FORMS, trust_remote_code)
        self.name = str(spec)
        features = self.rows.features
        self.image_key = image_key or _find_column(features, "Image", self.name)
        self.label_key = label_key or _find_label_column(features)
        for key in (self.image_key, self.label_key):
            if key is not None and key not in features:
                raise MpqError(
                    f"dataset {self.name!r} has no column {key!r}; it has {', '.join(features)}."
                )
        label_feature = features.get(self.label_key) if self.label_key else None
        self.label_names = getattr(label_feature, "names", None)

    @property
    def features(self) -> Any:
        return self.rows.features

    def count(self) -> int | None:
        return self.rows.count()

    def __iter__(self) -> Iterator[Example]:
        for index, row in self.rows:
            label = row.get(self.label_key) if self.label_key else None
            try:
                yield Example(f"{index:08d}", to_rgb(row[self.image_key]), label)
            except Exception as error:  # an unreadable image: a failed item
                yield Example(f"{index:08d}", None, label, f"{type(error).__name__}: {error}")


def open_dataset(
    spec: str,
    split: str = "validation",
    image_key: str | None = None,
    label_key: str | None = None,
    trust_remote_code: bool = False,
) -> ImageDataset:
    """The dataset a `--dataset` spec names (see the module docstring)."""
    parsed = parse_dataset_spec(spec)
    if parsed.source == "skimage" or parsed.local("skimage") is not None:
        parsed.refuse_options("scikit-image's photos")
        side = parsed.local("skimage") or ""
        if side and not side.isdigit():
            raise MpqError(f"dataset {spec!r}: write skimage or skimage:MAX_SIDE (pixels).")
        return SkimageDataset(name=parsed.source, max_side=int(side) if side else None)
    folder = parsed.local("imagefolder")
    if folder is not None:
        parsed.refuse_options("an imagefolder")
        return _image_folder(Path(folder))
    path = Path(parsed.source)
    if path.exists():
        parsed.refuse_options("a local folder")
        files = image_files([path]).files
        ids = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
        return FolderDataset(str(path), files, None, [None] * len(files), ids)
    return HubDataset(parsed, split, image_key, label_key, trust_remote_code)


LOCAL_FORMS = "--dataset imagefolder:PATH (one sub-folder per class) or a folder of images"


def _shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _image_folder(root: Path) -> FolderDataset:
    if not root.is_dir():
        raise MpqError(f"imagefolder:{root}: no such folder.")
    # Hidden folders (.ipynb_checkpoints, .git) are no classes, as for list_files.
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise MpqError(f"imagefolder:{root} has no class sub-folders (expected ROOT/CLASS/IMAGE).")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = image_files([root / name]).files if any((root / name).iterdir()) else []
        files += found
        labels += [label] * len(found)
    ids = [str(f.relative_to(root)) for f in files]
    return FolderDataset(f"imagefolder:{root}", files, classes, labels, ids)


def _find_column(features: Any, kind: str, hub_id: str) -> str:
    for name, feature in features.items():
        if type(feature).__name__ == kind:
            return name
    raise MpqError(f"dataset {hub_id!r} has no {kind} column; name it with --image-key.")


def _find_label_column(features: Any) -> str | None:
    for name, feature in features.items():
        if type(feature).__name__ == "ClassLabel":
            return name
    return None
