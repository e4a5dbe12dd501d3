"""Fine-tune TreeNet (or train it from scratch) on a dataset prepared by GeoInfer.

    python finetune.py --data DIR --out OUT [--init PATH.onnx | --init scratch] [--iters 600] ...
    python finetune.py --check-init PATH.onnx

DIR/dataset.json:
    {"classes": ["tree", ...], "gsd_m": 0.1,
     "images": [{"file": "images/a.png", "boxes": [[x1, y1, x2, y2, class_index], ...],
                 "split": "train" | "val" | null}, ...]}
Images are 8-bit RGB (their channels feed the model's input channels in order), already at the
model's GSD; boxes are pixel coordinates in them, class_index 0-based into "classes".

Starting weights come from an exported ONNX file (the PyTorch checkpoint is not committed): the
export folded every BatchNorm into the convolution before it, so the folded weight goes into the
convolution, the folded bias into the BatchNorm's bias, and the BatchNorm becomes the identity
(weight 1, mean 0, variance 1 - eps). Those BatchNorms stay frozen (eval mode, affine trainable)
while fine-tuning: their statistics are gone and small batches would not re-estimate them well.
`--check-init` proves the load exact: the re-exported net against the original in onnxruntime.

Validation: the images marked "val"; when none is, the right --val-fraction of every image (boxes
inside the strip are validation boxes, boxes inside the rest training boxes, boxes cut by the line
neither: they become "ignore" regions for the validation AP). AP50 every --eval-every iterations
(and before the first), on the EMA weights, decoded exactly as geoinfer_ref / the engine do; the
best weights are exported; --patience evaluations without improvement stop the run.

stdout carries JSON lines only (start, iter, val, stop, exported); everything else goes to stderr.
A user mistake (bad dataset, unreadable init model, ...) prints one message on stderr and exits 2.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INIT = os.path.normpath(os.path.join(HERE, "..", "models", "tree-crowns", "tree-crowns.onnx"))
DEFAULT_SEED = 20260417
AP_SCORE_FLOOR = 0.05  # detections kept for AP (as evaluate.py)
SCALE_RANGE = (0.8, 1.25)  # zoom jitter around the dataset's GSD
BN_EPS = 1e-5
# float32(1 - 1e-5) + 1e-5 == 1.0 exactly, so an "identity" BatchNorm is exactly the identity
IDENTITY_VAR = 1.0 - BN_EPS

Image.MAX_IMAGE_PIXELS = None


class UserError(Exception):
    """A mistake in the input or the arguments: reported as one line, exit code 2."""


# --------------------------------------------------------------------------------------------------
# JSON-line events on the real stdout; everything else (library chatter included) on stderr.

class Events:
    def __init__(self) -> None:
        self.out = sys.stdout

    def capture(self) -> None:
        """From now on fd 1 and sys.stdout are stderr; events keep a private copy of the old stdout."""
        sys.stdout.flush()
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def emit(self, **rec) -> None:
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()


EVENTS = Events()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Loading an exported TreeNet back from ONNX

def read_onnx_manifest(path: str) -> dict:
    import onnx

    m = onnx.load(path, load_external_data=False)
    meta = {p.key: p.value for p in m.metadata_props}
    if "geoinfer.manifest" not in meta:
        raise UserError(f"{path}: no geoinfer.manifest in the ONNX metadata")
    return json.loads(meta["geoinfer.manifest"])


def load_treenet_onnx(path: str):
    """TreeNet with the weights of an exported ONNX file (BatchNorm folded; see the module doc).

    Returns (net, manifest). Raises UserError when the file is not a TreeNet export."""
    import onnx
    import torch
    from onnx import numpy_helper

    from model import TreeNet

    if not os.path.isfile(path):
        raise UserError(f"init model {path} not found")
    try:
        m = onnx.load(path)
    except Exception as e:  # noqa: BLE001 - any parse failure is the user's file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"init model {path} is not a readable ONNX file ({first})") from None
    meta = {p.key: p.value for p in m.metadata_props}
    if "geoinfer.manifest" not in meta:
        raise UserError(f"init model {path} has no geoinfer.manifest in its metadata")
    man = json.loads(meta["geoinfer.manifest"])
    inits = {t.name: np.array(numpy_helper.to_array(t)) for t in m.graph.initializer}
    convs = {}
    for node in m.graph.node:
        if node.op_type != "Conv":
            continue
        parts = node.name.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "net" or not all(i in inits for i in node.input[1:3]) or len(node.input) < 3:
            raise UserError(f"init model {path} is not a TreeNet export (Conv node {node.name!r})")
        convs[parts[-2]] = (inits[node.input[1]], inits[node.input[2]])
    heat = convs.get("heat")
    if heat is None:
        raise UserError(f"init model {path} is not a TreeNet export (no heatmap head)")
    net = TreeNet(num_classes=heat[0].shape[0])
    modules = dict(net.named_modules())
    loaded = set()
    with torch.no_grad():
        for name, (w, b) in convs.items():
            mod = modules.get(name)
            if not isinstance(mod, torch.nn.Conv2d) or tuple(mod.weight.shape) != w.shape:
                raise UserError(f"init model {path} is not a TreeNet export (layer {name} {w.shape})")
            mod.weight.copy_(torch.from_numpy(w))
            loaded.add(name)
            if mod.bias is not None:
                mod.bias.copy_(torch.from_numpy(b))
                continue
            # conv of a conv/BN/ReLU block: the folded bias goes into an identity BatchNorm
            parent, idx = name.rsplit(".", 1)
            bn = modules[parent][int(idx) + 1]
            assert isinstance(bn, torch.nn.BatchNorm2d) and bn.eps == BN_EPS, name
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
            bn.running_mean.zero_()
            bn.running_var.fill_(IDENTITY_VAR)
    missing = [n for n, mod in net.named_modules() if isinstance(mod, torch.nn.Conv2d) and n not in loaded]
    if missing:
        raise UserError(f"init model {path} is not a TreeNet export (missing {missing})")
    net.eval()
    return net, man


def check_init(path: str, runs: int = 2, tol: float = 1e-4) -> bool:
    """Load `path` into TreeNet, re-export it untrained, and compare both in onnxruntime."""
    import onnxruntime as ort
    import torch

    import export

    torch.set_num_threads(1)
    net, man = load_treenet_onnx(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "reloaded.onnx")
        export.write_onnx(net, out, log=log)
        a = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        box_err = score_err = 0.0
        for _ in range(runs):
            x = rng.normal(size=(2, 3, export.SIZE, export.SIZE)).astype(np.float32)
            ya = a.run(None, {a.get_inputs()[0].name: x})[0]
            yb = b.run(None, {"images": x})[0]
            if ya.shape != yb.shape:
                raise UserError(f"check-init: output shapes differ: {ya.shape} vs {yb.shape}")
            box_err = max(box_err, float(np.abs(ya[:, :4] - yb[:, :4]).max()))
            score_err = max(score_err, float(np.abs(ya[:, 4:] - yb[:, 4:]).max()))
        same_weights = _same_initializers(path, out)
    err = max(box_err, score_err)
    ok = err < tol
    EVENTS.emit(event="check_init", model=path, name=man.get("name"), classes=man.get("classes"),
                max_abs_diff=err, box_max_abs_diff=box_err, score_max_abs_diff=score_err,
                identical_weights=same_weights, ok=ok)
    return ok


def _same_initializers(a: str, b: str) -> bool:
    import onnx
    from onnx import numpy_helper

    def arrays(p):
        return sorted((numpy_helper.to_array(t).tobytes() for t in onnx.load(p).graph.initializer))
    return arrays(a) == arrays(b)


# --------------------------------------------------------------------------------------------------
# The dataset

def _fail(msg: str):
    raise UserError(f"dataset.json: {msg}")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_dataset(data_dir: str) -> dict:
    """Parse and check DIR/dataset.json and read its images: {"classes", "gsd_m", "images": [...]}."""
    path = os.path.join(data_dir, "dataset.json")
    if not os.path.isdir(data_dir):
        raise UserError(f"--data {data_dir}: no such directory")
    if not os.path.isfile(path):
        raise UserError(f"{path} not found")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = json.loads(raw)
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        _fail("the top level must be an object")
    classes = doc.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        _fail('"classes" must be a non-empty list of non-empty strings')
    if len(set(classes)) != len(classes):
        _fail('"classes" lists a name twice')
    gsd = doc.get("gsd_m")
    if gsd is not None and not (_number(gsd) and gsd > 0):
        _fail('"gsd_m" must be a positive number')
    items = doc.get("images")
    if not isinstance(items, list) or not items:
        _fail('"images" must be a non-empty list')
    images = []
    clipped = 0
    for k, it in enumerate(items):
        where = f"images[{k}]"
        if not isinstance(it, dict):
            _fail(f"{where} must be an object")
        rel = it.get("file")
        if not isinstance(rel, str) or not rel:
            _fail(f'{where}."file" must be a non-empty string')
        split = it.get("split")
        if split not in ("train", "val", None):
            _fail(f'{where}."split" must be "train", "val" or null (is {split!r})')
        fpath = os.path.join(data_dir, rel)
        if not os.path.isfile(fpath):
            _fail(f'{where}: image file {rel!r} not found in {data_dir}')
        try:
            with Image.open(fpath) as im:
                if im.mode not in ("RGB", "RGBA", "L", "P"):
                    _fail(f"{where}: {rel!r} is not an 8-bit RGB image (mode {im.mode})")
                arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8)[:, :, :3])
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - PIL raises many kinds for a bad file
            _fail(f"{where}: cannot read {rel!r} as an image: {e}")
        H, W = arr.shape[:2]
        boxes = it.get("boxes", [])
        if not isinstance(boxes, list):
            _fail(f'{where}."boxes" must be a list')
        out = []
        for j, b in enumerate(boxes):
            if not (isinstance(b, list) and len(b) == 5 and all(_number(v) for v in b)):
                _fail(f"{where}.boxes[{j}] must be [x1, y1, x2, y2, class_index] (finite numbers)")
            x1, y1, x2, y2, c = b
            if c != int(c) or not 0 <= int(c) < len(classes):
                _fail(f"{where}.boxes[{j}]: class_index {c} is not an index into classes (0..{len(classes) - 1})")
            if not (x2 > x1 and y2 > y1):
                _fail(f"{where}.boxes[{j}]: needs x2 > x1 and y2 > y1 (got {b[:4]})")
            cx1, cy1, cx2, cy2 = min(max(x1, 0), W), min(max(y1, 0), H), min(max(x2, 0), W), min(max(y2, 0), H)
            if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
                clipped += 1
                if not (cx2 > cx1 and cy2 > cy1):
                    continue  # wholly outside the image
            out.append([cx1, cy1, cx2, cy2, int(c)])
        images.append({"file": rel, "split": split, "image": arr,
                       "boxes": np.asarray(out, np.float32).reshape(-1, 5), "sha256": sha256_file(fpath)})
    if clipped:
        log(f"dataset.json: {clipped} box(es) reached outside their image and were clipped to it")
    lines = "".join(f"{im['sha256']}  {im['file']}\n" for im in sorted(images, key=lambda i: i["file"]))
    digests = {"dataset.json": hashlib.sha256(raw).hexdigest(),
               "images": hashlib.sha256(lines.encode()).hexdigest()}
    return {"classes": classes, "gsd_m": gsd, "images": images, "sha256": digests}


def split_dataset(ds: dict, val_fraction: float):
    """(train samples, val samples, val ignore regions per val sample); samples carry N x 5 boxes."""
    from dataset import Sample

    imgs = ds["images"]
    train, val, ignore = [], [], []
    explicit = any(im["split"] == "val" for im in imgs)
    for k, im in enumerate(imgs):
        name = f"{k}:{im['file']}"
        if explicit or im["split"] == "train" or val_fraction <= 0:
            (val if im["split"] == "val" else train).append(Sample(name, im["image"], im["boxes"]))
            if im["split"] == "val":
                ignore.append(np.zeros((0, 5), np.float32))
            continue
        W = im["image"].shape[1]
        cut = int(round(W * (1 - val_fraction)))
        if cut <= 0 or cut >= W:
            train.append(Sample(name, im["image"], im["boxes"]))
            continue
        b = im["boxes"]
        left, right = b[b[:, 2] <= cut], b[b[:, 0] >= cut]
        crossing = b[(b[:, 0] < cut) & (b[:, 2] > cut)]
        train.append(Sample(name + "[left]", np.ascontiguousarray(im["image"][:, :cut]), left))
        r = right.copy()
        r[:, [0, 2]] -= cut
        ig = crossing.copy()
        ig[:, 0] = 0
        ig[:, 2] -= cut
        val.append(Sample(name + "[right]", np.ascontiguousarray(im["image"][:, cut:]), r))
        ignore.append(ig)
    return train, val, ignore


# --------------------------------------------------------------------------------------------------
# Evaluation through geoinfer_ref on the torch model (no export needed)

class TorchSession:
    """Just enough of onnxruntime.InferenceSession for geoinfer_ref.detect."""

    def __init__(self, wrapper, device):
        self.wrapper, self.device = wrapper, device

    def run(self, _names, feeds):
        import torch

        (x,) = feeds.values()
        with torch.no_grad():
            return [self.wrapper(torch.from_numpy(x).to(self.device)).float().cpu().numpy()]


def evaluate_ap50(net, samples, ignore, man: dict, device) -> float:
    import geoinfer_ref
    import metrics
    from model import ExportWrapper

    wrapper = ExportWrapper(net, man["input_width"]).to(device).eval()
    sess = TorchSession(wrapper, device)
    eman = dict(man, band_order=[1, 2, 3])  # the dataset's images are already in input-channel order
    items = []
    for s, ig in zip(samples, ignore):
        d = geoinfer_ref.detect(sess, s.image, eman, score_threshold=AP_SCORE_FLOOR)
        pred = np.asarray([x[:6] for x in d], np.float64).reshape(-1, 6)
        items.append((s.image.shape[1], s.image.shape[0], s.boxes, pred, ig))
    return metrics.coco_ap(items, len(man["classes"]))["AP50"]


# --------------------------------------------------------------------------------------------------
# Training

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Fine-tune the GeoInfer tree-crown detector (or train one from scratch).")
    ap.add_argument("--check-init", metavar="PATH.onnx",
                    help="only check that PATH loads exactly into TreeNet (re-export vs original, onnxruntime)")
    ap.add_argument("--data", help="dataset directory holding dataset.json")
    ap.add_argument("--out", help="output directory (model.onnx, model.json, training.json)")
    ap.add_argument("--init", default=DEFAULT_INIT, help="starting ONNX model, or 'scratch' (default: %(default)s)")
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256, help="training crop side in pixels (multiple of 32)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default 5e-4 fine-tuning, 2e-3 from scratch)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--val-fraction", type=float, default=0.25,
                    help="right part of each image held out when no image has split 'val' (0: no validation)")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--patience", type=int, default=5,
                    help="stop after this many evaluations without a better AP50 (0: never stop early)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("TRAIN_THREADS", "1")))
    ap.add_argument("--name", default=None, help="model name in the manifest (default: <init name>-finetuned, or 'detector')")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--score-threshold", type=float, default=None,
                    help="recommended score threshold (default: best F1 on the training split)")
    args = ap.parse_args(argv)
    if args.check_init:
        return args
    if not args.data or not args.out:
        ap.error("--data and --out are required (or --check-init PATH)")
    for flag, v, lo in (("--iters", args.iters, 1), ("--batch", args.batch, 1), ("--eval-every", args.eval_every, 1),
                        ("--patience", args.patience, 0), ("--threads", args.threads, 1), ("--crop", args.crop, 32)):
        if v < lo:
            ap.error(f"{flag} must be at least {lo}")
    if args.crop % 32:
        ap.error("--crop must be a multiple of 32")
    if not 0 <= args.val_fraction < 1:
        ap.error("--val-fraction must be in [0, 1)")
    if args.lr is not None and not args.lr > 0:
        ap.error("--lr must be positive")
    if args.score_threshold is not None and not 0 <= args.score_threshold <= 1:
        ap.error("--score-threshold must be in [0, 1]")
    return args


def run(args) -> None:
    import torch

    import export
    import train
    from model import STRIDE, TreeNet

    t_start = time.time()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device (the CPU-only torch build is installed?)")
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")

    ds = load_dataset(args.data)
    classes = ds["classes"]
    C = len(classes)

    # starting weights and normalisation
    scratch = args.init == "scratch"
    init_sha = None
    if scratch:
        train.set_seed(args.seed)
        net = TreeNet(num_classes=C)
        init_man = {}
    else:
        init_sha = sha256_file(args.init) if os.path.isfile(args.init) else None
        net, init_man = load_treenet_onnx(args.init)
        if init_man.get("input_width") != export.SIZE or init_man.get("input_height") != export.SIZE:
            raise UserError(f"init model input is not {export.SIZE}x{export.SIZE}")
        if net.num_classes != C:
            log(f"init model has {net.num_classes} class(es), dataset {C}: new heatmap head")
            train.set_seed(args.seed)
            net.heat = torch.nn.Conv2d(net.heat.in_channels, C, 1)
            net.num_classes = C
            net.reset_heat()
        init_gsd = init_man.get("gsd_m")
        if ds["gsd_m"] and init_gsd and abs(ds["gsd_m"] / init_gsd - 1) > 0.1:
            log(f"warning: dataset gsd_m {ds['gsd_m']} differs from the init model's {init_gsd} by more than 10%")
    gsd = ds["gsd_m"] or init_man.get("gsd_m")
    if gsd is None:
        raise UserError('dataset.json: "gsd_m" is required when training from scratch')

    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: {e}") from None

    train_s, val_s, val_ignore = split_dataset(ds, args.val_fraction)
    n_train_boxes = int(sum(len(s.boxes) for s in train_s))
    n_val_boxes = int(sum(len(s.boxes) for s in val_s))
    if not train_s or n_train_boxes == 0:
        raise UserError("dataset.json: the training split has no boxes")
    validate = bool(val_s) and n_val_boxes > 0
    if val_s and not validate:
        log("warning: the validation split has no boxes; training without validation")

    if scratch:
        mean, std = train.channel_stats(train_s)
        norm = {"scale": 1 / 255, "mean": mean, "std": std}
    else:
        norm = init_man["normalization"]
        if len(norm["mean"]) != 3 or len(init_man.get("band_order", [1, 2, 3])) != 3:
            raise UserError("init model does not take 3 bands")
    k = norm["scale"] * 255.0  # the sampler yields pixel/255
    mean_t = torch.tensor([m / k for m in norm["mean"]], dtype=torch.float32).view(1, 3, 1, 1).to(device)
    std_t = torch.tensor([s / k for s in norm["std"]], dtype=torch.float32).view(1, 3, 1, 1).to(device)

    name = args.name or (f"{init_man.get('name', 'detector')}-finetuned" if not scratch else "detector")
    iou_thr = float(init_man.get("iou_threshold", export.IOU_THRESHOLD))
    base_man = {"input_width": export.SIZE, "input_height": export.SIZE, "band_order": [1, 2, 3],
                "normalization": norm, "classes": classes, "score_threshold": AP_SCORE_FLOOR,
                "iou_threshold": iou_thr, "input_name": "images"}

    train.set_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(args.seed)
    sampler = train.Sampler(train_s, args.crop, rng, scale_range=SCALE_RANGE, pad_small=True)
    n = args.crop // STRIDE
    net = net.to(device)
    ema = train.make_ema(net)
    lr = args.lr if args.lr is not None else (2e-3 if scratch else 5e-4)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    lr_at = train.cosine_lr(lr, args.iters, max(1, args.iters // 30))
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    EVENTS.emit(event="start", iters=args.iters, train_images=len(train_s), val_images=len(val_s) if validate else 0,
                train_boxes=n_train_boxes, val_boxes=n_val_boxes if validate else 0, device=device.type)
    losses, history = [], []
    best_ap, best_iter, best_state, stale = -1.0, 0, copy.deepcopy(ema.state_dict()), 0
    reason = "done"

    def evaluate(it: int) -> bool:
        """Returns True when patience has run out."""
        nonlocal best_ap, best_iter, best_state, stale
        ap50 = evaluate_ap50(ema, val_s, val_ignore, base_man, device)
        if ap50 > best_ap + 1e-9:
            best_ap, best_iter, best_state, stale = ap50, it, copy.deepcopy(ema.state_dict()), 0
        else:
            stale += 1
        history.append({"iter": it, "ap50": round(ap50, 5), "best_ap50": round(best_ap, 5)})
        EVENTS.emit(event="val", iter=it, ap50=round(ap50, 5), best_ap50=round(best_ap, 5))
        return args.patience > 0 and stale >= args.patience

    if validate:
        evaluate(0)
    done = 0
    for it in range(args.iters):
        x, heat_gt, reg_gt, mask = train.make_batch(sampler, args.batch, n, mean_t.cpu(), std_t.cpu(), C)
        x, heat_gt, reg_gt, mask = (t.to(device) for t in (x, heat_gt, reg_gt, mask))
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        net.train()
        if not scratch:
            for bn in bns:  # folded statistics: keep them
                bn.eval()
        heat, reg = net(x)
        loss, l_heat, l_off, l_size = train.detection_loss(heat, reg, heat_gt, reg_gt, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        train.ema_update(ema, net, it)
        done = it + 1
        rec = {"iter": done, "loss": round(loss.item(), 5), "heat": round(l_heat.item(), 5),
               "off": round(l_off.item(), 5), "size": round(l_size.item(), 5), "lr": round(lr_at(it), 7)}
        losses.append(rec)
        EVENTS.emit(event="iter", iter=done, iters=args.iters, loss=rec["loss"])
        if validate and (done % args.eval_every == 0 or done == args.iters):
            if evaluate(done):
                reason = "early"
                break
    if validate:
        ema.load_state_dict(best_state)
    else:
        best_iter = done
    EVENTS.emit(event="stop", reason=reason, best_iter=best_iter)

    # export (CPU), threshold on the training split unless given
    final = copy.deepcopy(ema).cpu().eval()
    if scratch:
        origin = "trained from scratch"
    else:
        origin = (f"fine-tuned from {init_man.get('name', '?')} {init_man.get('version', '?')} "
                  f"(sha256 {init_sha})")
    desc = (f"{C}-class detector ({', '.join(classes)}) for RGB aerial imagery at about {gsd:g} m/pixel, {origin} "
            f"on {len(ds['images'])} image(s) with {n_train_boxes} training box(es), best validation AP50 "
            f"{best_ap:.3f} at iteration {best_iter}. " if validate else
            f"{C}-class detector ({', '.join(classes)}) for RGB aerial imagery at about {gsd:g} m/pixel, {origin} "
            f"on {len(ds['images'])} image(s) with {n_train_boxes} training box(es), {best_iter} iterations. ")
    desc += (f"Small CenterNet-style network (stride 8, 4096 anchors per 512x512 tile). Output [B,{4 + C},4096]: "
             f"cx, cy, w, h in input pixels and a peak-filtered score per class in [0,1]; no NMS inside.")
    lic = "Fine-tuning data: as supplied by the user; its terms apply."
    if not scratch and init_man.get("license"):
        lic = f"Starting weights ({init_man.get('name')}): {init_man['license']} {lic}"
    man = export.manifest(norm["mean"], norm["std"], args.score_threshold if args.score_threshold is not None else 0.3,
                          iou_thr, name=name, version=args.version, classes=classes, gsd_m=gsd,
                          scale=norm["scale"], description=desc, license=lic, training_data=ds["sha256"])
    out_path = os.path.join(args.out, "model.onnx")
    man, digest = export.export_model(final, out_path, man, calib_samples=train_s,
                                      score_threshold=args.score_threshold, log=log)
    seconds = time.time() - t_start
    record = {
        "arguments": {k: v for k, v in vars(args).items() if k != "check_init"},
        "seed": args.seed, "device": device.type, "threads": torch.get_num_threads(),
        "torch": str(torch.__version__), "seconds": round(seconds, 2), "lr": lr,
        "init_model": None if scratch else os.path.abspath(args.init), "init_model_sha256": init_sha,
        "batchnorm": "frozen identity (folded into the init convolutions)" if not scratch else "trained",
        "split": {"train_images": len(train_s), "val_images": len(val_s), "train_boxes": n_train_boxes,
                  "val_boxes": n_val_boxes, "val_ignored_boxes": int(sum(len(i) for i in val_ignore)),
                  "explicit_val": any(im["split"] == "val" for im in ds["images"])},
        "iterations_run": done, "stop_reason": reason,
        "loss": losses, "validation": history, "best_iter": best_iter,
        "best_ap50": round(best_ap, 5) if validate else None,
        "score_threshold": man["score_threshold"], "model_sha256": digest,
        "dataset_sha256": ds["sha256"], "images_sha256": {im["file"]: im["sha256"] for im in ds["images"]},
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f, indent=1)
    EVENTS.emit(event="exported", model=out_path)
    log(f"wrote {out_path} (sha256 {digest}), score_threshold {man['score_threshold']}, {seconds:.1f} s")


def main(argv=None) -> int:
    sys.path.insert(0, HERE)
    try:
        args = parse_args(argv)
    except SystemExit as e:  # argparse already printed its message
        return int(e.code or 0) if e.code in (0, None) else 2
    EVENTS.capture()
    try:
        if args.check_init:
            return 0 if check_init(args.check_init) else 1
        run(args)
        return 0
    except UserError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except MemoryError:
        log("error: out of memory (try a smaller --batch or --crop)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
