"""A small anchor-free CenterNet-style detector with a stride-8 head.

Backbone: plain 3x3 conv/BN/ReLU stages down to stride 32; a light FPN folds
strides 32 and 16 back into stride 8; one shared 3x3 conv feeds a 1-channel
centre heatmap and 4 regression channels (sub-cell offset x/y, log width,
log height). For export, `ExportWrapper` turns the raw maps into the YOLO-style
raw layout GeoInfer decodes: [B, 5, A] with rows cx, cy, w, h (input pixels)
and the tree score in [0, 1], zeroed where a 3x3 max-pool says the cell is not
a local peak (CenterNet's NMS-free peak picking; GeoInfer still runs NMS).

With `num_classes` C > 1 the heatmap has C channels and the export is
[B, 4 + C, A]: cx, cy, w, h, then one peak-filtered score per class (each
class's heatmap is peak-filtered on its own), the layout GeoInfer's "yolo"
decoder and geoinfer_ref.decode read (best class per anchor). C = 1 builds
exactly the network and graph the default model was made with.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE = 8
MAX_LOG_SIZE = math.log(256 / STRIDE)  # widest box the head can express: 256 px


def cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TreeNet(nn.Module):
    def __init__(self, width: int = 64, num_classes: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(cbr(3, 16, 2), cbr(16, 32, 2), cbr(32, 32))  # /4
        self.s8 = nn.Sequential(cbr(32, 64, 2), cbr(64, 64), cbr(64, 64))  # /8
        self.s16 = nn.Sequential(cbr(64, 96, 2), cbr(96, 96), cbr(96, 96))  # /16
        self.s32 = nn.Sequential(cbr(96, 128, 2), cbr(128, 128), cbr(128, 128))  # /32
        self.l8 = nn.Conv2d(64, width, 1)
        self.l16 = nn.Conv2d(96, width, 1)
        self.l32 = nn.Conv2d(128, width, 1)
        self.fuse = cbr(width, width)
        self.head = cbr(width, width)
        self.heat = nn.Conv2d(width, num_classes, 1)
        self.reg = nn.Conv2d(width, 4, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.reset_heat()
        nn.init.normal_(self.reg.weight, std=0.01)
        nn.init.zeros_(self.reg.bias)
        with torch.no_grad():
            self.reg.bias[2:] = math.log(40 / STRIDE)  # median crown ~40 px

    def reset_heat(self) -> None:
        """The heatmap head's initial weights (also used to re-initialise it for new classes)."""
        nn.init.normal_(self.heat.weight, std=0.01)
        nn.init.constant_(self.heat.bias, -2.19)  # prior 0.1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c8 = self.s8(self.stem(x))
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.l16(c16) + F.interpolate(self.l32(c32), scale_factor=2.0, mode="nearest")
        p8 = self.l8(c8) + F.interpolate(p16, scale_factor=2.0, mode="nearest")
        f = self.head(self.fuse(p8))
        return self.heat(f), self.reg(f)  # logits [B,C,h,w], raw [B,4,h,w]


class ExportWrapper(nn.Module):
    """Raw maps -> [B, 4 + C, A] (cx, cy, w, h in input pixels; peak-filtered score per class)."""

    def __init__(self, net: TreeNet, size: int = 512):
        super().__init__()
        self.net = net
        n = size // STRIDE
        ys, xs = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
        self.register_buffer("gx", xs.reshape(1, 1, n, n), persistent=False)
        self.register_buffer("gy", ys.reshape(1, 1, n, n), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        heat, reg = self.net(images)
        score = torch.sigmoid(heat)
        peak = F.max_pool2d(score, 3, 1, 1)
        score = score * (score >= peak).to(score.dtype)
        cx = (self.gx + torch.sigmoid(reg[:, 0:1])) * STRIDE
        cy = (self.gy + torch.sigmoid(reg[:, 1:2])) * STRIDE
        w = torch.exp(torch.clamp(reg[:, 2:3], max=MAX_LOG_SIZE)) * STRIDE
        h = torch.exp(torch.clamp(reg[:, 3:4], max=MAX_LOG_SIZE)) * STRIDE
        out = torch.cat([cx, cy, w, h, score], dim=1)  # [B,4+C,n,n]
        return out.flatten(2)  # [B,4+C,A], anchor a = row * n + col
