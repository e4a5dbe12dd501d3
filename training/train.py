"""Train TreeNet from scratch on the YELL training images (fixed seed, CPU).

Every step draws random crops (scale jitter 0.7-1.4x, any position), rotates
them by a random multiple of 90 degrees, flips them, and jitters brightness,
contrast, saturation, per-channel gain, gamma, blur and noise. Targets are
CenterNet's: a Gaussian centre heatmap at stride 8 (penalty-reduced focal
loss) plus L1 on the sub-cell offset and on log width/height at the centre
cell. An exponential moving average of the weights is what gets exported.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import dataset
from model import STRIDE, TreeNet


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def channel_stats(samples) -> tuple[list[float], list[float]]:
    px = np.concatenate([s.image.reshape(-1, 3) for s in samples]).astype(np.float64) / 255.0
    return [round(float(v), 3) for v in px.mean(0)], [round(float(v), 3) for v in px.std(0)]


class Sampler:
    """Random augmented crops of `samples` (boxes N x 4, or N x (4 + k): extra columns such as
    a class index ride along untouched).

    scale_range: the zoom drawn log-uniformly per crop (a crop of crop/s source pixels is resized
    to crop). pad_small: when the source window is larger than the image, pad it with pixel 0 (as
    the engine pads edge tiles) instead of shrinking the window, which would change the scale.
    The 90-degree rotations and the horizontal flip together give all 8 flips/rotations
    (a vertical flip is a horizontal flip after a 180-degree turn).
    """

    def __init__(self, samples, crop: int, rng: np.random.Generator,
                 scale_range: tuple[float, float] = (0.7, 1.4), pad_small: bool = False):
        self.samples = samples
        self.images = [torch.from_numpy(s.image.copy()).permute(2, 0, 1).contiguous() for s in samples]
        areas = np.array([s.image.shape[0] * s.image.shape[1] for s in samples], dtype=np.float64)
        self.p = areas / areas.sum()
        self.crop = crop
        self.rng = rng
        self.log_scale = (math.log(scale_range[0]), math.log(scale_range[1]))
        self.pad_small = pad_small

    def one(self) -> tuple[torch.Tensor, np.ndarray]:
        r = self.rng
        k = int(r.choice(len(self.samples), p=self.p))
        img, boxes = self.images[k], self.samples[k].boxes
        _, H, W = img.shape
        s = math.exp(r.uniform(*self.log_scale))
        if self.pad_small:
            src = int(round(self.crop / s))
            x0 = int(r.integers(min(0, W - src), max(0, W - src) + 1))
            y0 = int(r.integers(min(0, H - src), max(0, H - src) + 1))
            patch = torch.zeros(1, 3, src, src)
            ya, yb, xa, xb = max(0, y0), min(H, y0 + src), max(0, x0), min(W, x0 + src)
            patch[0, :, ya - y0:yb - y0, xa - x0:xb - x0] = img[:, ya:yb, xa:xb].float() / 255.0
        else:
            src = min(int(round(self.crop / s)), H, W)
            x0 = int(r.integers(0, W - src + 1))
            y0 = int(r.integers(0, H - src + 1))
            patch = img[:, y0:y0 + src, x0:x0 + src].float().unsqueeze(0) / 255.0
        if src != self.crop:
            patch = F.interpolate(patch, size=(self.crop, self.crop), mode="bilinear",
                                  align_corners=False, antialias=src > self.crop)
        patch = patch[0]
        b = boxes.copy()
        extra = b[:, 4:]
        b = b[:, :4]
        b[:, [0, 2]] -= x0
        b[:, [1, 3]] -= y0
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        keep = (cx >= 0) & (cx < src) & (cy >= 0) & (cy < src)
        b, extra = b[keep], extra[keep]
        b = np.clip(b, 0, src) * (self.crop / src)
        # rotation by k*90 degrees (counter-clockwise, as torch.rot90 on H,W)
        rot = int(r.integers(0, 4))
        for _ in range(rot):
            patch = torch.rot90(patch, 1, dims=(1, 2))
            # (x, y) -> (y, C - x)
            b = np.stack([b[:, 1], self.crop - b[:, 2], b[:, 3], self.crop - b[:, 0]], axis=1)
        if r.random() < 0.5:
            patch = torch.flip(patch, dims=(2,))
            b = np.stack([self.crop - b[:, 2], b[:, 1], self.crop - b[:, 0], b[:, 3]], axis=1)
        patch = self.colour(patch)
        if extra.shape[1]:
            b = np.concatenate([b, extra.astype(b.dtype)], axis=1)
        return patch, b.astype(np.float32)

    def colour(self, x: torch.Tensor) -> torch.Tensor:
        r = self.rng
        grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
        x = grey + (x - grey) * r.uniform(0.6, 1.4)  # saturation
        x = x * torch.tensor(r.uniform(0.88, 1.12, size=3), dtype=torch.float32).view(3, 1, 1)  # white balance
        x = x * r.uniform(0.7, 1.3)  # brightness
        m = x.mean()
        x = m + (x - m) * r.uniform(0.7, 1.3)  # contrast
        x = x.clamp(0, 1) ** r.uniform(0.8, 1.25)  # gamma
        if r.random() < 0.2:
            sigma = r.uniform(0.5, 1.2)
            t = torch.arange(-2, 3, dtype=torch.float32)
            g = torch.exp(-t * t / (2 * sigma * sigma))
            g = g / g.sum()
            x = F.conv2d(x.unsqueeze(1), g.view(1, 1, 1, 5), padding=(0, 2))
            x = F.conv2d(x, g.view(1, 1, 5, 1), padding=(2, 0)).squeeze(1)
        if r.random() < 0.2:
            x = x + torch.from_numpy(r.normal(0, r.uniform(0.005, 0.03), size=x.shape).astype(np.float32))
        return x.clamp(0, 1)


def targets(boxes: np.ndarray, n: int, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterNet targets at stride 8 for one crop: heatmap, regression, centre mask.

    num_classes None: one heatmap [n, n] for all boxes (the default model). Otherwise a heatmap
    [num_classes, n, n] with each box drawn on the channel of its class (column 4).
    """
    heat = np.zeros((1 if num_classes is None else num_classes, n, n), np.float32)
    reg = np.zeros((4, n, n), np.float32)
    mask = np.zeros((n, n), np.float32)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    for row in boxes:
        x1, y1, x2, y2 = row[:4]
        c = 0 if num_classes is None else int(row[4])
        w, h = x2 - x1, y2 - y1
        if w < 4 or h < 4:
            continue
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        j, i = min(int(cx), n - 1), min(int(cy), n - 1)
        sx, sy = max(0.5, 0.15 * w / STRIDE), max(0.5, 0.15 * h / STRIDE)
        g = np.exp(-((xx - j) ** 2) / (2 * sx * sx) - ((yy - i) ** 2) / (2 * sy * sy))
        np.maximum(heat[c], g, out=heat[c])
        heat[c, i, j] = 1.0
        reg[:, i, j] = (cx - j, cy - i, math.log(w / STRIDE), math.log(h / STRIDE))
        mask[i, j] = 1.0
    return (heat[0] if num_classes is None else heat), reg, mask


def focal(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def make_batch(sampler: Sampler, batch: int, n: int, mean_t: torch.Tensor, std_t: torch.Tensor,
               num_classes: int | None = None):
    """One augmented, normalised batch and its targets: x, heat_gt [B,C,n,n], reg_gt, mask."""
    xs, hs, rs, ms = [], [], [], []
    for _ in range(batch):
        x, b = sampler.one()
        h, rg, m = targets(b, n, num_classes)
        xs.append(x), hs.append(h), rs.append(rg), ms.append(m)
    x = (torch.stack(xs) - mean_t) / std_t
    heat_gt = torch.from_numpy(np.stack(hs))
    if num_classes is None:
        heat_gt = heat_gt.unsqueeze(1)
    reg_gt = torch.from_numpy(np.stack(rs))
    mask = torch.from_numpy(np.stack(ms)).unsqueeze(1)
    return x, heat_gt, reg_gt, mask


def detection_loss(heat, reg, heat_gt, reg_gt, mask):
    """Focal heatmap loss + L1 offset + L1 log size at the centre cells: (total, heat, off, size)."""
    l_heat = focal(heat, heat_gt)
    npos = mask.sum().clamp(min=1)
    l_off = (torch.abs(torch.sigmoid(reg[:, :2]) - reg_gt[:, :2]) * mask).sum() / npos
    l_size = (torch.abs(reg[:, 2:] - reg_gt[:, 2:]) * mask).sum() / npos
    return l_heat + l_off + l_size, l_heat, l_off, l_size


def cosine_lr(base: float, iters: int, warm: int):
    """Linear warm-up over `warm` steps, then cosine decay to 1e-5."""
    def lr_at(it: int) -> float:
        if it < warm:
            return base * (it + 1) / warm
        return base * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, iters - warm))) + 1e-5
    return lr_at


def make_ema(net: torch.nn.Module) -> torch.nn.Module:
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_update(ema: torch.nn.Module, net: torch.nn.Module, it: int, max_decay: float = 0.999) -> None:
    """EMA of the parameters with a warm-up ramp; buffers (BN statistics) copied."""
    d = min(max_decay, (1 + it) / (10 + it))
    with torch.no_grad():
        for pe, pn in zip(ema.parameters(), net.parameters()):
            pe.mul_(d).add_(pn.detach(), alpha=1 - d)
        for be, bn in zip(ema.buffers(), net.buffers()):
            be.copy_(bn)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=2200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20260417)
    ap.add_argument("--out", default=os.path.join(dataset.HERE, "work", "treenet.pt"))
    args = ap.parse_args()

    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "1")))
    set_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(args.seed)

    samples = dataset.train_samples()
    mean, std = channel_stats(samples)
    print(f"train images: {[(s.name, len(s.boxes)) for s in samples]} mean={mean} std={std}", flush=True)
    sampler = Sampler(samples, args.crop, rng)
    n = args.crop // STRIDE
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)

    net = TreeNet()
    ema = make_ema(net)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    lr_at = cosine_lr(args.lr, args.iters, max(1, args.iters // 30))

    t0 = time.time()
    log = []
    for it in range(args.iters):
        x, heat_gt, reg_gt, mask = make_batch(sampler, args.batch, n, mean_t, std_t)
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        net.train()
        heat, reg = net(x)
        loss, l_heat, l_off, l_size = detection_loss(heat, reg, heat_gt, reg_gt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        ema_update(ema, net, it)
        if it % 50 == 0 or it == args.iters - 1:
            el = time.time() - t0
            rec = dict(it=it, loss=round(loss.item(), 4), heat=round(l_heat.item(), 4),
                       off=round(l_off.item(), 4), size=round(l_size.item(), 4),
                       lr=round(lr_at(it), 6), elapsed_s=round(el, 1))
            log.append(rec)
            print(json.dumps(rec), flush=True)
        if it % 500 == 499:  # partial checkpoint, handy for watching a long run
            os.makedirs(os.path.dirname(args.out), exist_ok=True)
            torch.save({"state_dict": ema.state_dict(), "mean": mean, "std": std}, args.out + ".partial")
    wall = time.time() - t0
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save({"state_dict": ema.state_dict(), "mean": mean, "std": std, "args": vars(args),
                "train_wall_s": wall, "threads": torch.get_num_threads(), "log": log,
                "torch": str(torch.__version__)}, args.out)
    print(f"saved {args.out} after {wall:.0f} s", flush=True)


if __name__ == "__main__":
    main()
