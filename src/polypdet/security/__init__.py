"""Security and compliance: the HIPAA technical safeguards (45 CFR 164.312) of polypdet.

- access control: :mod:`roles`, :mod:`apikeys`, :mod:`users` (passwords, TOTP), :mod:`tokens`, :mod:`sessions`
- audit controls: :mod:`audit` (hash-chained, tamper-evident)
- integrity and encryption at rest: :mod:`crypto` (AES-256-GCM envelopes), :mod:`keys` (master keys, rotation)
- transmission security: :mod:`tls`; abuse limits: :mod:`ratelimit`, :mod:`network`
- de-identification: :mod:`polypdet.security.deid`
"""
