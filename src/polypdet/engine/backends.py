"""Inference backends: OpenVINO where installed, onnxruntime always, LiteRT for exported ``.tflite`` files.

Each turns letterboxed RGB ``uint8`` images into the tensor it takes (:meth:`Backend.tensor`): onnxruntime a float32
NCHW batch in 0..1, LiteRT the same in NHWC, OpenVINO the ``uint8`` NHWC pixels themselves, which its compiled graph
converts.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from polypdet.engine.allocator import tune_allocator
from polypdet.engine.models import ModelInfo
from polypdet.engine.preprocess import to_input_tensor

BackendName = Literal["auto", "openvino", "onnxruntime", "litert"]
Precision = Literal["f32", "bf16", "int8", "auto"]
"""OpenVINO inference precision. ``int8`` runs the model's int8 IR (:attr:`ModelInfo.int8_path`), its float parts
(first convolution, box decoding) in f32 on every CPU, so that its boxes and the card's figures for it do not depend
on the CPU; ``auto`` runs it too when its card serves it by default, else OpenVINO's own choice: bf16 on CPUs with
AMX/AVX-512 BF16, else f32. The card holds held-out metrics for each (models/polyp-yolov8n/card.yaml). onnxruntime
always runs fp32."""
Hint = Literal["latency", "throughput"]
InputTensor = npt.NDArray[Any]
"""A backend's input batch, from :meth:`Backend.tensor`."""


RUNTIME_CACHE_ENTRIES = 32
"""OpenVINO's cache of shape-specific kernels for a dynamic model (default 5000): 32 entries cost no measurable
speed on endoscopy shapes and ~50 MB less memory once many shapes have been seen."""


class BackendError(RuntimeError):
    """The requested backend is not installed or cannot load the model."""


class Backend(Protocol):
    name: str
    precision: str
    """What the weights run in: ``f32``, ``bf16``, ``int8`` or ``auto`` (OpenVINO's choice)."""
    dynamic_shape: bool
    """True when the model takes any input height and width (then images are padded only to stride)."""

    def tensor(self, images: Sequence[npt.NDArray[np.uint8]]) -> InputTensor:
        """The input batch for letterboxed RGB images of one shape."""
        ...

    def infer(self, batch: InputTensor) -> npt.NDArray[np.float32]:
        """Run one batch (from :meth:`tensor`); returns the raw ``(B, 4 + classes, anchors)`` output."""
        ...

    def infer_many(self, tensors: Sequence[InputTensor]) -> list[npt.NDArray[np.float32]]:
        """Run many single-image tensors as fast as the backend can (in flight together where possible)."""
        ...


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxRuntimeBackend:
    """onnxruntime CPU session; batching gives it nothing on CPU, so many images run one by one."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.precision = "f32"
        self.dynamic_shape = not all(isinstance(d, int) for d in self._session.get_inputs()[0].shape[2:])

    def tensor(self, images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        return to_input_tensor(images)

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self._session.run(None, {self._input: batch})[0], dtype=np.float32)

    def infer_many(self, tensors: Sequence[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        return [self.infer(t) for t in tensors]


class LiteRtBackend:
    """A ``.tflite`` export (``polypdet export --format tflite``) on LiteRT's CPU kernels (XNNPACK), fp32.

    Its input size is fixed at export, so images are letterboxed to the square input.
    """

    name = "litert"
    dynamic_shape = False
    precision = "f32"

    def __init__(self, model_path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads or default_threads())
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def tensor(self, images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        return np.stack(images).astype(np.float32) * np.float32(1 / 255)

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = []
        for image in batch:
            self._interpreter.set_tensor(self._input, image[None])
            self._interpreter.invoke()
            outputs.append(np.array(self._interpreter.get_tensor(self._output), dtype=np.float32))
        return np.concatenate(outputs)

    def infer_many(self, tensors: Sequence[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        return [self.infer(t) for t in tensors]


class OpenVinoBackend:
    """OpenVINO on the CPU, in one of two modes.

    ``latency`` (one image at a time: the CLI, scripts) spends all threads on each image, and compiles a
    dynamic-input model for each of the first :data:`MAX_SHAPES` input shapes it meets: 20 % (AVX2) to 50 % (AMX,
    bf16) faster than the dynamic compilation, but 0.25-0.6 s and 20-28 MB per shape (letterboxing to a multiple of
    32 gives few: Kvasir-SEG's 880 frames make 7 shapes at 320, two of them 94 % of the frames). Further shapes share
    one dynamic compilation, made when the first of them arrives, so a process compiles at most three times and
    holds three compilations (four peaked at 323 MB on an AMX Xeon). Evicting and recompiling instead took half
    the time of a folder of 120 Kvasir-SEG frames.
    ``throughput`` (the service, video) runs several streams, so that images in flight together finish sooner in
    total, on one compilation for every shape: memory stays flat whatever shapes arrive. With int8 weights, each
    shape's compilation costs ~50 MB (four shapes: ~340 MB peak), but one compilation for all of them made one image
    at a time ~25 % slower when shapes alternate, so they too are compiled per shape.
    """

    name = "openvino"
    MAX_SHAPES = 2

    def __init__(
        self, model_path: Path, threads: int | None = None, precision: Precision = "auto", hint: Hint = "latency"
    ) -> None:
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        self.precision: str = precision
        self._config: dict[str, Any] = {
            "PERFORMANCE_HINT": hint.upper(),
            "INFERENCE_NUM_THREADS": threads or default_threads(),
        }
        if precision != "auto":
            self._config["INFERENCE_PRECISION_HINT"] = "f32" if precision == "int8" else precision
        model = _with_pixel_input(self._core.read_model(str(model_path)))
        self.dynamic_shape = model.inputs[0].get_partial_shape().is_dynamic
        per_shape = self.dynamic_shape and hint == "latency"
        self._model = model if per_shape else None
        self._compiled: dict[tuple[int, ...], _Compiled] = {}
        self._dynamic = None if per_shape else self._compile(model, dynamic=True)
        self._lock = threading.Lock()

    def _compile(self, model: Any, dynamic: bool = False) -> _Compiled:
        config = self._config
        if dynamic:  # shape-specific kernels, cached: a small cache is as fast here and grows far less
            config = {**config, "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_ENTRIES}
        compiled = self._core.compile_model(model, "CPU", config)
        requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        return _Compiled(compiled.create_infer_request(), self._ov.AsyncInferQueue(compiled, requests))

    def _for_shape(self, shape: tuple[int, ...]) -> _Compiled:
        if self._model is None:  # throughput mode or a static model: one compilation
            assert self._dynamic is not None
            return self._dynamic
        with self._lock:
            if shape not in self._compiled and len(self._compiled) < self.MAX_SHAPES:
                model = self._model.clone()
                model.reshape(list(shape))
                self._compiled[shape] = self._compile(model)
            if shape in self._compiled:
                return self._compiled[shape]
            if self._dynamic is None:
                self._dynamic = self._compile(self._model, dynamic=True)
            return self._dynamic

    def tensor(self, images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.uint8]:
        return images[0][None] if len(images) == 1 else np.stack(images)

    def infer(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if batch.shape[0] == 1:
            single = self._for_shape(batch.shape).single
            single.infer({0: batch})
            return np.array(single.get_output_tensor(0).data, dtype=np.float32)
        return np.concatenate(self.infer_many([batch[i : i + 1] for i in range(batch.shape[0])]))

    def infer_many(self, tensors: Sequence[npt.NDArray[np.uint8]]) -> list[npt.NDArray[np.float32]]:
        results: list[npt.NDArray[np.float32] | None] = [None] * len(tensors)

        def done(request: Any, index: int) -> None:
            results[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)

        for shape in dict.fromkeys(t.shape for t in tensors):
            queue = self._for_shape(shape).queue
            queue.set_callback(done)
            for index, tensor in enumerate(tensors):
                if tensor.shape == shape:
                    queue.start_async({0: tensor}, index)
            queue.wait_all()
        return [r for r in results if r is not None]


def _with_pixel_input(model: Any) -> Any:
    """``model`` taking letterboxed RGB ``uint8`` NHWC pixels: the compiled graph converts them to 0..1 NCHW,
    ~0.3 ms less per 320 px image than numpy's float conversion before it."""
    from openvino import Layout, Type
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC"))
    steps.input().preprocess().convert_element_type(Type.f32).scale(255.0)
    steps.input().model().set_layout(Layout("NCHW"))
    return steps.build()


@dataclass(frozen=True)
class _Compiled:
    """One compiled shape: a request for single images and a queue for images in flight together."""

    single: Any
    queue: Any


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def cpu_has_bf16() -> bool:
    """True where OpenVINO runs bf16 on this CPU (AMX or AVX-512 BF16); elsewhere ``bf16`` and ``auto`` run f32."""
    if not openvino_available():
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def cpu_name() -> str:
    """The CPU's model name (figures differ between CPUs: bf16, VNNI), or the architecture where it is not known."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return name or platform.machine()


def load_backend(
    model: ModelInfo,
    name: BackendName = "auto",
    threads: int | None = None,
    precision: Precision = "auto",
    hint: Hint = "latency",
) -> Backend:
    """Open ``model`` with the named backend (``auto`` prefers OpenVINO) in ``precision`` (:data:`Precision`)."""
    tune_allocator()  # every process that runs a model: the backends' threads would each get a malloc arena
    if name == "auto":
        name = "openvino" if openvino_available() else "onnxruntime"
    try:
        if name == "openvino":
            int8 = precision == "int8" or (precision == "auto" and model.int8_default)
            if int8 and model.int8_path is not None:
                return OpenVinoBackend(model.int8_path, threads, "int8", hint)
            if precision == "int8":
                raise BackendError(f"{model.model_version} has no int8 weights (polypdet quantize makes them)")
            return OpenVinoBackend(model.onnx_path, threads, precision, hint)
        if name == "onnxruntime":
            if precision not in ("f32", "auto"):
                raise BackendError(f"onnxruntime runs the fp32 model only, not {precision} (use --backend openvino)")
            return OnnxRuntimeBackend(model.onnx_path, threads)
        if name == "litert":
            if precision not in ("f32", "auto"):
                raise BackendError(f"LiteRT runs the fp32 .tflite export only, not {precision}")
            return LiteRtBackend(model.onnx_path, threads)
    except ImportError as error:
        raise BackendError(f"backend {name} is not installed: {error}") from error
    raise BackendError(f"unknown backend {name!r} (choose auto, openvino, onnxruntime or litert)")
