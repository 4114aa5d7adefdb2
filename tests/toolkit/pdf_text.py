"""The text an fpdf2 document draws, read back from its compressed content streams (for the PDF tests)."""

from __future__ import annotations

import re
import zlib


def pdf_text(pdf: bytes) -> str:
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return " ".join(re.findall(r"\((.*?)\) Tj", "\n".join(chunks)))
