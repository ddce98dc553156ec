"""Where the outbox sends SR/SC objects: a PACS by C-STORE, or a DICOMweb server by STOW-RS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import requests
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

DEFAULT_CALLING_AET = "POLYPDET"
_TRANSIENT_STORE_STATUS = range(0xA700, 0xA800)  # "Refused: out of resources": try again later
_SUCCESS_OR_WARNING = {0x0000, 0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007}


class DeliveryError(RuntimeError):
    """Sending failed; ``permanent`` means retrying the same object cannot help (the peer refused it)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Destination(Protocol):
    def send(self, dataset: Dataset) -> None:
        """Deliver one instance or raise :class:`DeliveryError`."""

    def describe(self) -> str:
        """A short human-readable name for logs."""


@dataclass(frozen=True)
class CStoreDestination:
    """A DICOM peer (PACS, VNA) reached by C-STORE SCU."""

    called_aet: str
    host: str
    port: int
    calling_aet: str = DEFAULT_CALLING_AET
    timeout_s: float = 30.0

    def describe(self) -> str:
        return f"{self.called_aet}@{self.host}:{self.port}"

    def send(self, dataset: Dataset) -> None:
        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        transfer_syntax = dataset.file_meta.TransferSyntaxUID
        ae.add_requested_context(
            dataset.SOPClassUID, list(dict.fromkeys([transfer_syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian]))
        )
        assoc = ae.associate(self.host, self.port, ae_title=self.called_aet)
        if not assoc.is_established:
            state = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
            raise DeliveryError(f"association with {self.describe()} {state}")
        try:
            status = assoc.send_c_store(dataset)
        except (RuntimeError, ValueError) as error:  # no accepted context for this SOP class / transfer syntax
            raise DeliveryError(
                f"{self.describe()} cannot take {dataset.SOPClassUID.name}: {error}", permanent=True
            ) from None
        finally:
            assoc.release()
        if "Status" not in status:
            raise DeliveryError(f"no C-STORE response from {self.describe()} (connection lost or timed out)")
        code = int(status.Status)
        if code in _SUCCESS_OR_WARNING:
            return
        comment = str(status.get("ErrorComment", "") or "")
        raise DeliveryError(
            f"{self.describe()} answered C-STORE status 0x{code:04X} {comment}".strip(),
            permanent=code not in _TRANSIENT_STORE_STATUS,
        )


@dataclass(frozen=True)
class StowRsDestination:
    """A DICOMweb server (its base URL, e.g. ``http://pacs:8042/dicom-web``) reached by STOW-RS."""

    url: str
    timeout_s: float = 30.0

    def describe(self) -> str:
        return self.url

    def send(self, dataset: Dataset) -> None:
        from dicomweb_client.api import DICOMwebClient

        client = DICOMwebClient(url=self.url, timeout=self.timeout_s)
        client.set_http_retry_params(retry=False)  # the outbox owns retries and back-off
        try:
            client.store_instances(datasets=[dataset])
        except requests.HTTPError as error:
            code = error.response.status_code if error.response is not None else 0
            permanent = 400 <= code < 500 and code not in (408, 425, 429)
            raise DeliveryError(f"STOW-RS to {self.url} failed: HTTP {code}", permanent=permanent) from None
        except requests.RequestException as error:
            raise DeliveryError(f"STOW-RS to {self.url} failed: {type(error).__name__}") from None


_CSTORE_SPEC = re.compile(r"^(?P<aet>[^@\\]{1,16})@(?P<host>[^:]+):(?P<port>\d{1,5})$")


def parse_destination(spec: str, calling_aet: str = DEFAULT_CALLING_AET) -> CStoreDestination | StowRsDestination:
    """``AET@HOST:PORT`` for C-STORE, ``http(s)://...`` (a DICOMweb base URL) for STOW-RS."""
    if spec.startswith(("http://", "https://")):
        return StowRsDestination(spec.rstrip("/"))
    match = _CSTORE_SPEC.match(spec)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"destination {spec!r} is neither AET@HOST:PORT nor an http(s):// DICOMweb URL")
    return CStoreDestination(match["aet"], match["host"], int(match["port"]), calling_aet)
