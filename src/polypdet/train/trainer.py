"""Fine-tune YOLOv8n on polyps with ultralytics (the optional ``train`` extra), resumable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from polypdet.train.backgrounds import add_background_frames
from polypdet.train.head import head_keeping_trainer, prune_checkpoint
from polypdet.train.pretrained import build_checkpoint
from polypdet.train.quantize import calibration_images
from polypdet.train.torch_compat import bf16_forward_available, forward_in_bf16, prepare_ultralytics

CALIBRATION_IMAGES = 64
"""Training images, evenly spread, that give a rebuilt start its batch-norm statistics."""


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that decides the trained weights; written into the model card."""

    imgsz: int = 320
    epochs: int = 60
    batch: int = 16
    seed: int = 0
    optimizer: str = "AdamW"
    lr0: float = 0.002
    warmup_epochs: float = 3.0
    cos_lr: bool = True
    close_mosaic: int = 10
    flipud: float = 0.5  # endoscopy has no "up": vertical flips are as real as horizontal ones
    fliplr: float = 0.5
    degrees: float = 0.0
    scale: float = 0.5
    multi_scale: float = 0.0  # each batch resized to a random size in imgsz x (1 +- this), in steps of 32; its one
    # run (1.4.0, 0.25) held Kvasir up when served at 384-448 but lost at 320 (docs/model-history.md): off, as in 1.1.0
    mixup: float = 0.0
    patience: int = 0  # no early stop: the last epoch is the shipped one, not a val-selected one
    val: bool = False  # no held-out scoring after each epoch (~10 s each): nothing is selected on it
    bf16: bool = False  # forward pass in bf16 where the CPU has it natively (torch_compat.forward_in_bf16): ~1.3-1.6x
    # faster epochs; the shipped model's first stage (1.8.0) used it; off by default, so the defaults reproduce 1.1.0
    blank_frames: int = 0  # polyp-free uniform frames added to the training set (train.backgrounds)
    shape_frames: int = 0  # training images copied with flat shapes pasted beside their polyps (train.backgrounds)
    class_width: int = 0  # the detect head's class branch this wide (train.head; 0: as the start has it)
    box_width: int = 0  # and its box branch (0: as the start has it)
    freeze: int = 0  # the first this many layers keep the start's weights (ultralytics' freeze; 22: all but the head)


def train(data_yaml: Path, run_dir: Path, init: Path, recipe: TrainRecipe, threads: int | None = None) -> Path:
    """Train (or resume an interrupted run in ``run_dir``) and return the final ``last.pt``.

    ``init`` is where training starts: a YOLOv8n ONNX export (the COCO int8 start, or a shipped model for a
    second stage at another input size), rebuilt into a checkpoint, or an ultralytics ``.pt``.
    """
    prepare_ultralytics(threads)
    from ultralytics import YOLO

    options = asdict(recipe)
    if options.pop("bf16") and bf16_forward_available():
        forward_in_bf16()
    blank_frames, shape_frames = options.pop("blank_frames"), options.pop("shape_frames")
    widths = options.pop("class_width"), options.pop("box_width")
    trainer = head_keeping_trainer()

    last = run_dir / "weights" / "last.pt"
    if last.exists() and not (run_dir / "weights" / "done").exists():
        YOLO(str(last)).train(resume=True, trainer=trainer)
    elif not last.exists():
        start = init
        if init.suffix != ".pt":
            train_images = list((data_yaml.parent / "images" / "train").iterdir())
            calibration = calibration_images(train_images, CALIBRATION_IMAGES)
            start = build_checkpoint(init, run_dir / "start.pt", calibration, recipe.imgsz)
        if any(widths):
            start = prune_checkpoint(start, *widths, run_dir / "pruned.pt")
        if blank_frames or shape_frames:  # written once; a resumed run finds them where its saved arguments say
            extra = run_dir / "background_frames"
            data_yaml = add_background_frames(data_yaml, extra, recipe.seed, blank_frames, shape_frames)
        YOLO(str(start)).train(
            trainer=trainer,
            data=str(data_yaml),
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            workers=2,
            deterministic=True,
            plots=False,
            pretrained=True,
            cache="ram",  # each image decoded and resized once, not from the full-size JPEG every epoch
            **options,
        )
    (run_dir / "weights" / "done").touch()
    return last
