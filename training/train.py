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
    def __init__(self, samples, crop: int, rng: np.random.Generator):
        self.samples = samples
        self.images = [torch.from_numpy(s.image.copy()).permute(2, 0, 1).contiguous() for s in samples]
        areas = np.array([s.image.shape[0] * s.image.shape[1] for s in samples], dtype=np.float64)
        self.p = areas / areas.sum()
        self.crop = crop
        self.rng = rng

    def one(self) -> tuple[torch.Tensor, np.ndarray]:
        r = self.rng
        k = int(r.choice(len(self.samples), p=self.p))
        img, boxes = self.images[k], self.samples[k].boxes
        _, H, W = img.shape
        s = math.exp(r.uniform(math.log(0.7), math.log(1.4)))
        src = min(int(round(self.crop / s)), H, W)
        x0 = int(r.integers(0, W - src + 1))
        y0 = int(r.integers(0, H - src + 1))
        patch = img[:, y0:y0 + src, x0:x0 + src].float().unsqueeze(0) / 255.0
        if src != self.crop:
            patch = F.interpolate(patch, size=(self.crop, self.crop), mode="bilinear",
                                  align_corners=False, antialias=src > self.crop)
        patch = patch[0]
        b = boxes.copy()
        b[:, [0, 2]] -= x0
        b[:, [1, 3]] -= y0
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        b = b[(cx >= 0) & (cx < src) & (cy >= 0) & (cy < src)]
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


def targets(boxes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    heat = np.zeros((n, n), np.float32)
    reg = np.zeros((4, n, n), np.float32)
    mask = np.zeros((n, n), np.float32)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        if w < 4 or h < 4:
            continue
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        j, i = min(int(cx), n - 1), min(int(cy), n - 1)
        sx, sy = max(0.5, 0.15 * w / STRIDE), max(0.5, 0.15 * h / STRIDE)
        g = np.exp(-((xx - j) ** 2) / (2 * sx * sx) - ((yy - i) ** 2) / (2 * sy * sy))
        np.maximum(heat, g, out=heat)
        heat[i, j] = 1.0
        reg[:, i, j] = (cx - j, cy - i, math.log(w / STRIDE), math.log(h / STRIDE))
        mask[i, j] = 1.0
    return heat, reg, mask


def focal(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


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
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    warm = max(1, args.iters // 30)

    def lr_at(it: int) -> float:
        if it < warm:
            return args.lr * (it + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (it - warm) / (args.iters - warm))) + 1e-5

    t0 = time.time()
    log = []
    for it in range(args.iters):
        xs, hs, rs, ms = [], [], [], []
        for _ in range(args.batch):
            x, b = sampler.one()
            h, rg, m = targets(b, n)
            xs.append(x), hs.append(h), rs.append(rg), ms.append(m)
        x = (torch.stack(xs) - mean_t) / std_t
        heat_gt = torch.from_numpy(np.stack(hs)).unsqueeze(1)
        reg_gt = torch.from_numpy(np.stack(rs))
        mask = torch.from_numpy(np.stack(ms)).unsqueeze(1)
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        net.train()
        heat, reg = net(x)
        l_heat = focal(heat, heat_gt)
        npos = mask.sum().clamp(min=1)
        l_off = (torch.abs(torch.sigmoid(reg[:, :2]) - reg_gt[:, :2]) * mask).sum() / npos
        l_size = (torch.abs(reg[:, 2:] - reg_gt[:, 2:]) * mask).sum() / npos
        loss = l_heat + l_off + l_size
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        d = min(0.999, (1 + it) / (10 + it))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(d).add_(pn.detach(), alpha=1 - d)
            for be, bn in zip(ema.buffers(), net.buffers()):
                be.copy_(bn)
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
