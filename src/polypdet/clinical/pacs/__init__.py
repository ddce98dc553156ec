"""DICOM networking: the C-STORE/C-ECHO listener, the persisted outbox and its destinations."""
