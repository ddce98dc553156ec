"""The PACS listener: a C-STORE / C-ECHO SCP that analyses every image it receives.

For each received image the SR (and SC if asked) is built and persisted in the outbox *before* the C-STORE
is answered with success, so a success status means the result will reach the destination. Instances that
cannot be decoded are answered with a "Cannot understand" failure (0xC2xx) and an error comment; objects
without pixel data that are not images (SR, PDF, presentation states sent with a study) are accepted and
ignored. Associations from calling AE titles not in ``allowed_aets`` are rejected.

With a ``deidentifier`` every received instance is de-identified (PS3.15 Basic Profile, keyed pseudonyms) before
it is decoded, analysed, logged or put in the outbox: the SR then refers to the de-identified study, and no
original identifier leaves the listener. An instance that cannot be de-identified is refused.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydicom import Dataset
from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from polypdet.clinical.outputs import dicom_outputs
from polypdet.clinical.pacs.outbox import Outbox
from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.io.dicom import DEFAULT_MAX_TOTAL_PIXELS, DicomDecodeError, DicomImage, decode_dataset

if TYPE_CHECKING:
    from polypdet.security.deid import DicomDeidentifier

log = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_CANNOT_PARSE = 0xC210
"""Failure, "Cannot understand": the data set itself could not be parsed."""
STATUS_CANNOT_DECODE = 0xC211
"""Failure, "Cannot understand": the pixel data could not be decoded (corrupt, unsupported syntax, no pixels)."""
STATUS_PROCESSING_FAILURE = 0xA700
"""Refused, "Out of resources": analysis or the outbox failed; the sender may retry."""
BATCH = 8


@dataclass(frozen=True)
class ListenerConfig:
    ae_title: str = "POLYPDET"
    host: str = "0.0.0.0"
    port: int = 11112
    allowed_aets: tuple[str, ...] = ()
    """Calling AE titles allowed to associate; empty allows any."""
    send_sc: bool = False
    params: DetectParams = field(default_factory=DetectParams)
    max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS


class PacsListener:
    """Owns the pynetdicom server; ``start()`` returns at once, ``stop()`` closes it."""

    def __init__(
        self,
        config: ListenerConfig,
        detector: Detector,
        outbox: Outbox,
        deidentifier: DicomDeidentifier | None = None,
    ) -> None:
        self.config = config
        self.detector = detector
        self.outbox = outbox
        self.deidentifier = deidentifier
        self._inference = threading.Lock()  # one inference at a time: the backends use every core already
        self._server: ThreadedAssociationServer | None = None

    def build_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        if self.config.allowed_aets:
            ae.require_calling_aet = list(self.config.allowed_aets)
        return ae

    def start(self) -> None:
        handlers: list[Any] = [(evt.EVT_C_STORE, self.handle_store), (evt.EVT_C_ECHO, lambda _event: STATUS_SUCCESS)]
        address = (self.config.host, self.config.port)
        self._server = self.build_ae().start_server(address, block=False, evt_handlers=handlers)
        log.info("pacs: listening as %s on %s:%d", self.config.ae_title, *address)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def handle_store(self, event: Event) -> Dataset | int:
        calling = event.assoc.requestor.ae_title
        try:
            dataset = event.dataset
            dataset.file_meta = event.file_meta
        except Exception as error:  # pydicom raises many types on a malformed data set
            log.warning("pacs: unparseable data set from %s: %s", calling, error)
            return _failure(STATUS_CANNOT_PARSE, f"cannot parse data set: {error}")
        sop_class = UID(str(dataset.get("SOPClassUID", "")))
        if "PixelData" not in dataset and "Image" not in sop_class.name:
            log.info("pacs: %s from %s is not an image, ignored", sop_class.name or sop_class, calling)
            return STATUS_SUCCESS
        if self.deidentifier is not None:
            try:
                warnings = self.deidentifier.deidentify(dataset).warnings
            except Exception as error:  # the message could quote an identifying value: only its type is told
                log.warning("pacs: an instance from %s cannot be de-identified (%s)", calling, type(error).__name__)
                return _failure(STATUS_CANNOT_PARSE, f"cannot de-identify ({type(error).__name__})")
            for warning in warnings:
                log.warning("pacs: %s from %s: %s", dataset.SOPInstanceUID, calling, warning)
        try:
            image = decode_dataset(dataset, self.config.max_total_pixels)
        except DicomDecodeError as error:
            log.warning("pacs: %s from %s: %s", dataset.get("SOPInstanceUID", "?"), calling, error)
            return _failure(STATUS_CANNOT_DECODE, str(error))
        try:
            frames = self.detect(image)
            outputs = dicom_outputs(image, frames, self.detector.model_version, with_sc=self.config.send_sc)
            for output in outputs:
                self.outbox.put(output)
        except Exception as error:  # a bug or a full disk must not kill the listener; the sender may retry
            log.exception("pacs: analysing %s failed", image.sop_instance_uid)
            return _failure(STATUS_PROCESSING_FAILURE, f"analysis failed: {error}")
        polyps = sum(len(d) for d in frames)
        log.info("pacs: %s from %s: %d frame(s), %d polyp(s)", image.sop_instance_uid, calling, len(frames), polyps)
        return STATUS_SUCCESS

    def detect(self, image: DicomImage) -> list[Detections]:
        results: list[Detections] = []
        with self._inference:
            for start in range(0, len(image.frames), BATCH):
                results += self.detector.detect_batch(image.frames[start : start + BATCH], self.config.params)
        return results


def _failure(status: int, comment: str) -> Dataset:
    response = Dataset()
    response.Status = status
    response.ErrorComment = comment[:64]  # LO: at most 64 characters
    return response
