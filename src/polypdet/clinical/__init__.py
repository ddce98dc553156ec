"""Clinical outputs and networking: DICOM SR (TID 1500), Secondary Capture, FHIR R4 and the PACS listener.

Data flows one way: a decoded source (:class:`polypdet.io.dicom.DicomImage`) and its ``Detections`` in,
DICOM / FHIR objects out. Each kind of object has its own module: ``sr``, ``sc``, ``fhir``; ``pacs`` talks DICOM
on the network.
"""
