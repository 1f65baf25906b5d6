"""Content fingerprints of files and folders that read a few blocks, not the whole file, and do
not depend on where the data lies: the same bytes give the same fingerprint after a move or a copy.

A file's fingerprint is its size and the sha256 of sampled blocks (the whole file up to
:data:`WHOLE`, else the head, the tail and evenly spaced blocks between); a folder's is the
sorted relative names of its files (hidden ones left out) with their fingerprints. A change
that keeps a large file's size and falls between the sampled blocks goes unseen.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

BLOCK = 1 << 16        # bytes read per sample
SAMPLES = 32           # evenly spaced blocks of a large file, head and tail included
WHOLE = BLOCK * SAMPLES  # files up to this size are read whole


def file_fingerprint(path: str | Path) -> str:
    """sha256 hex of a file's size and sampled content."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(f"{size}\n".encode())
    with open(path, "rb") as file:
        if size <= WHOLE:
            digest.update(file.read())
        else:
            for i in range(SAMPLES):
                file.seek((size - BLOCK) * i // (SAMPLES - 1))
                digest.update(file.read(BLOCK))
    return digest.hexdigest()


def folder_files(folder: str | Path) -> list[Path]:
    """The files under ``folder``, sorted, without hidden files or hidden folders."""
    folder, found = Path(folder), []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, name) for name in files if not name.startswith(".")]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def path_fingerprint(path: str | Path) -> str:
    """sha256 hex of a file's content, or of a folder's file names and contents."""
    path = Path(path)
    if path.is_file():
        return file_fingerprint(path)
    digest = hashlib.sha256(b"folder\n")
    for file in folder_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\t{file_fingerprint(file)}\n".encode())
    return digest.hexdigest()
