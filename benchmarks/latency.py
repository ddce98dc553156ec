#!/usr/bin/env python3
"""Single-image end-to-end latency (file -> boxes) and peak RSS: polypdet against its baselines.

Every contestant runs in its own process on the same images, the same weights and 2 threads; all stay loaded and
take turns on blocks of 5 images, so that the shared machine's changes of speed land on all of them alike:

- ``ultralytics``: ``YOLO(pt).predict`` (needs the train extra), the seed system's way;
- ``onnxruntime-plain``: a plain script — cv2.imread, square letterbox, ``session.run``, numpy NMS;
- ``polypdet-*``: ``read_for_input`` (a large JPEG decoded at a reduced DCT scale) + ``Detector.detect`` on each
  backend and precision (``int8`` is the shipped model's int8 IR, run with ``--precision int8``; the default
  ``auto`` runs bf16 on a CPU with bf16 and f32 elsewhere, unless the model card lets int8 be served by default).

The ultralytics checkpoint is rebuilt from the shipped ONNX (``polypdet.train.pretrained``), so all contestants
run the shipped model's weights (the int8 contestant their quantised copy).

Each polypdet contestant also reports the median of each step (``stages_median_ms``: read, letterbox, inference,
boxes).

Run: ``.venv/bin/python benchmarks/latency.py [--images 60] [--repeats 3] [--block 5] [--imgsz N]``; writes
``benchmarks/results/latency.json``. Figures are ratios to ultralytics from the same run (this machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
CONTESTANTS = [
    "ultralytics",
    "onnxruntime-plain",
    "polypdet-onnxruntime",
    "polypdet-openvino-f32",
    "polypdet-openvino-int8",
]
"""``polypdet-openvino-bf16`` is added on a CPU with bf16 (elsewhere OpenVINO runs it in f32)."""


def _images(count: int) -> list[Path]:
    folders = [DATA / "kvasir-seg/images", DATA / "cvc-clinicdb/images/val", DATA / "frames-unlabeled"]
    pools = [sorted(p for p in f.iterdir() if p.suffix in {".jpg", ".png"}) for f in folders]
    picked: list[Path] = []
    while len(picked) < count and any(pools):
        for pool in pools:
            if pool and len(picked) < count:
                picked.append(pool.pop(0))
    return picked


def _plain_onnxruntime(onnx: Path, imgsz: int, threads: int):  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(path: Path):  # type: ignore[no-untyped-def]
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        r = min(imgsz / h, imgsz / w)
        nw, nh = round(w * r), round(h * r)
        canvas = np.full((imgsz, imgsz, 3), 114, np.uint8)
        top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
        canvas[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh))
        x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
        out = session.run(None, {name: x})[0][0]
        scores = out[4:].max(0)
        keep = scores > 0.25
        boxes = out[:4, keep].T
        xyxy = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
        idx = cv2.dnn.NMSBoxes(xyxy.tolist(), scores[keep].tolist(), 0.25, 0.7)
        return (xyxy[idx] - [left, top, left, top]) / r

    return run


def _contestant(name: str, pt: Path, onnx: Path, imgsz: int, threads: int):  # type: ignore[no-untyped-def]
    if name == "ultralytics":
        from polypdet.train.torch_compat import prepare_ultralytics

        prepare_ultralytics(threads)
        from ultralytics import YOLO

        model = YOLO(str(pt))
        return lambda path: model.predict(str(path), imgsz=imgsz, conf=0.25, max_det=50, verbose=False)[0].boxes
    if name == "onnxruntime-plain":
        return _plain_onnxruntime(onnx, imgsz, threads)
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.io.images import read_for_input

    backend, _, precision = name.removeprefix("polypdet-").partition("-")
    detector = Detector(
        resolve_model(onnx), backend=backend, threads=threads, precision=precision or "f32", imgsz=imgsz
    )  # type: ignore[arg-type]

    def run(path: Path):  # type: ignore[no-untyped-def]
        """``Detector.detect`` on ``read_for_input``, one step at a time so that each step is timed."""
        t0 = time.perf_counter()
        image = read_for_input(path, imgsz)
        t1 = time.perf_counter()
        tensor, transform = detector.preprocess(image)
        t2 = time.perf_counter()
        output = detector.backend.infer(tensor)[0]
        t3 = time.perf_counter()
        detections = detector.postprocess(output, transform)
        t4 = time.perf_counter()
        for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            STAGES[stage].append(took * 1000)
        return detections

    return run


STAGES: dict[str, list[float]] = {"read": [], "letterbox": [], "inference": [], "boxes": []}
"""Per-image milliseconds of each step of a polypdet contestant: reading and decoding the file, letterbox and
tensor, the network, box decoding and NMS."""


def _contestants_here() -> list[str]:
    from polypdet.engine.backends import cpu_has_bf16

    return CONTESTANTS + (["polypdet-openvino-bf16"] if cpu_has_bf16() else [])


def peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from the parent across exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def serve_child(name: str, pt: Path, onnx: Path, imgsz: int, threads: int, images: list[Path]) -> None:
    """One contestant's process: load, warm up, then time the blocks of images the parent asks for.

    Protocol on stdin/stdout, one JSON line each: the child says ``{"load_s": ..}`` when ready; ``[i, j]`` runs
    ``images[i:j]`` (after one untimed run of ``images[i]``: the others' turns left the caches cold) and
    answers ``{"times": [..], "stage_times": {..}}``; an empty line answers the peak RSS and ends the process.
    """
    start = time.perf_counter()
    run = _contestant(name, pt, onnx, imgsz, threads)
    print(json.dumps({"load_s": round(time.perf_counter() - start, 2)}), flush=True)
    for path in images[:5]:
        run(path)
    for line in sys.stdin:
        if not line.strip():
            break
        first, end = json.loads(line)
        run(images[first])
        for stage_times in STAGES.values():
            stage_times.clear()
        times = []
        for path in images[first:end]:
            t0 = time.perf_counter()
            run(path)
            times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"times": times, "stage_times": STAGES}), flush=True)
    print(json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1), "torch_imported": "torch" in sys.modules}), flush=True)


class Child:
    """A contestant's process, kept alive for the whole run."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        cmd = [sys.executable, __file__, "--child", name, "--images", str(args.images), "--threads", str(args.threads)]
        cmd += ["--imgsz", str(args.imgsz)] if args.imgsz else []
        cmd += ["--pt", str(args.pt)] if args.pt else []
        # A pipe nobody reads could fill up and stall the child; the file lives as long as the child.
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.times: list[float] = []
        self.turns: list[float] = []
        """Median milliseconds of each turn's block of images, in the order all contestants ran them."""
        self.stages: dict[str, list[float]] = {}
        self.info: dict = self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.process.wait()
        self.stderr.seek(0)
        raise RuntimeError((self.stderr.read().strip().splitlines() or ["failed"])[-1])

    def _ask(self, line: str) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer()

    def run(self, first: int, end: int) -> None:
        answer = self._ask(json.dumps([first, end]))
        self.times += answer["times"]
        self.turns.append(statistics.median(answer["times"]))
        for stage, stage_times in answer["stage_times"].items():
            if stage_times:  # only polypdet's contestants time their steps
                self.stages.setdefault(stage, []).extend(stage_times)

    def finish(self) -> dict:
        self.info |= self._ask("")
        self.process.wait()
        self.stderr.close()
        return self.info


def turn_ratios(child: Child, base: Child) -> list[float]:
    """10th and 90th percentile of ``child``'s median time over ``base``'s on the same block in the same round."""
    ratios = sorted(mine / theirs for mine, theirs in zip(child.turns, base.turns, strict=True))
    return [round(ratios[len(ratios) // 10], 3), round(ratios[-(len(ratios) // 10) - 1], 3)]


def run_rounds(names: list[str], args: argparse.Namespace, images: int) -> dict[str, dict]:
    """All contestants stay loaded and take turns on blocks of ``--block`` images (who goes first rotates), one
    turn straight after the other, so that a change in the shared machine's load, which lasts seconds, lands on all
    of them alike."""
    children: dict[str, Child] = {}
    results: dict[str, dict] = {}
    for name in names:
        try:
            children[name] = Child(name, args)
        except RuntimeError as error:
            results[name] = {"error": str(error)}
    blocks = [(i, min(i + args.block, images)) for i in range(0, images, args.block)]
    order = list(children)
    turn = 0
    for _ in range(args.repeats):
        for first, end in blocks:
            for name in order[turn % len(order) :] + order[: turn % len(order)]:
                children[name].run(first, end)
            turn += 1
    base = children.get("ultralytics")
    for name, child in children.items():
        ordered = sorted(child.times)
        results[name] = {
            "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
            "mean_ms": round(statistics.fmean(ordered), 2),
            **child.finish(),
            **({"turn_ratio_p10_p90": turn_ratios(child, base)} if base and child is not base else {}),
            **(
                {"stages_median_ms": {k: round(statistics.median(v), 2) for k, v in child.stages.items()}}
                if child.stages
                else {}
            ),
        }
    return {name: results[name] for name in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pt", type=Path, default=None, help="ultralytics weights (default: the shipped model's)")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block", type=int, default=5, help="images per turn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--imgsz", type=int, default=None, help="input size of every contestant (default: the model's)")
    parser.add_argument("--only", nargs="*", default=None, help="contestants (default: all that run here)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/latency.json")
    args = parser.parse_args()

    from polypdet.engine.backends import cpu_name
    from polypdet.engine.models import resolve_model

    shipped = resolve_model()
    if args.pt:
        from polypdet.train.export import onnx_from_checkpoint

        pt, onnx = args.pt, onnx_from_checkpoint(args.pt, shipped.input_size)
    else:
        from polypdet.train.pretrained import cached_checkpoint

        pt, onnx = cached_checkpoint(shipped.onnx_path), shipped.onnx_path
    images = _images(args.images)
    imgsz = args.imgsz or shipped.input_size
    if args.child:
        serve_child(args.child, pt, onnx, imgsz, args.threads, images)
        return 0
    results = run_rounds(args.only or _contestants_here(), args, len(images))
    base = results.get("ultralytics", {}).get("median_ms")
    for r in results.values():
        if base and "median_ms" in r:
            r["ratio_to_ultralytics"] = round(r["median_ms"] / base, 3)
    report = {
        "what": "single image, file -> boxes, median over images x repeats, contestants taking turns on blocks",
        "weights": str(pt),
        "onnx": str(onnx),
        "imgsz": imgsz,
        "threads": args.threads,
        "images": len(images),
        "repeats": args.repeats,
        "block": args.block,
        "machine": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| contestant | median ms | p95 ms | vs ultralytics | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r.get('median_ms')} | {r.get('p95_ms')} | {r.get('ratio_to_ultralytics')} | "
            f"{r.get('peak_rss_mb')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
