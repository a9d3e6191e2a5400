"""A throwaway CA and a certificate it signed for 127.0.0.1, made with openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

# A new P-256 key, unencrypted.
_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _openssl(*argv: str | Path) -> None:
    subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """``(ca.pem, cert.pem, key.pem)`` in ``directory``: a CA, and the collector's
    certificate for ``127.0.0.1`` and ``localhost`` signed by it."""
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    _openssl("req", "-x509", *_NEW_KEY, "-keyout", ca_key, "-out", ca, "-days", "2",
             "-subj", "/CN=kexec-lineage test CA")  # fmt: skip
    _openssl("req", *_NEW_KEY, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext)  # fmt: skip
    return ca, cert, key
