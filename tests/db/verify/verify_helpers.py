"""Helpers for verify's tests: a minimal loader that follows the bookkeeping contract, and a PNG reader.

`load_dir` is deliberately simple (COPY each shard with user triggers off, then record the load in
zbugs_synth.loaded_datasets); it stands in for db-seed-synthetic so verify is tested on real rows.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numba
import numpy as np
import psycopg
from psycopg import sql

from zbugs_synth.db.load.bookkeeping import (
    dir_dataset_id,
    record_load_finished,
    record_load_started,
)
from zbugs_synth.manifest import MANIFEST_NAME, read_manifest
from zbugs_synth.tables import HEADERS, TABLES, parse_shard_name


def load_dir(url: str, directory: Path, *, mode: str = "seed", finish: bool = True) -> dict[str, int]:
    """COPY every CSV shard of `directory` into the zbugs tables and record the load; rows per table."""
    manifest = read_manifest(directory)
    dataset_id = manifest.dataset_id if manifest else dir_dataset_id(directory)
    raw_manifest = json.loads((directory / MANIFEST_NAME).read_text()) if manifest else None
    shards = sorted(s for p in directory.iterdir() if (s := parse_shard_name(p.name)))
    with psycopg.connect(url) as conn:
        load_id = record_load_started(conn, dataset_id=dataset_id, source=str(directory), manifest=raw_manifest,
                                      mode=mode)
        conn.commit()
        rows: dict[str, int] = {}
        for table in TABLES:
            ident = sql.Identifier(table)
            # Triggers off, so the CSV's created/modified/lowerCaseName are kept as written.
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(ident))
            copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
                ident, sql.SQL(", ").join(map(sql.Identifier, HEADERS[table])))
            n = 0
            for shard in (s for s in shards if s.table == table):
                with conn.cursor() as cur:
                    with cur.copy(copy) as cp, open(directory / shard.name, "rb") as f:
                        while chunk := f.read(1 << 20):
                            cp.write(chunk)
                    n += cur.rowcount
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(ident))
            rows[table] = n
        if finish:
            record_load_finished(conn, load_id, rows)
        conn.commit()
    return rows


# ---- PNG -----------------------------------------------------------------------------------------

def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG into an (h, w, channels) uint8 array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * channels
    return _unfilter(raw.reshape(height, stride + 1), channels).reshape(height, width, channels)


@numba.njit(cache=False)
def _unfilter(raw: np.ndarray, bpp: int) -> np.ndarray:  # pragma: no cover - compiled
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth); numba: Paeth is byte-serial."""
    height, stride = raw.shape[0], raw.shape[1] - 1
    out = np.zeros((height, stride), dtype=np.uint8)
    for y in range(height):
        kind = raw[y, 0]
        for x in range(stride):
            a = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            b = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
            c = np.int32(out[y - 1, x - bpp]) if (y > 0 and x >= bpp) else np.int32(0)
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            out[y, x] = (np.int32(raw[y, x + 1]) + pred) & 0xFF
    return out
