#!/usr/bin/env python3
"""Upload path for partitioned generation: our boto3 multipart writer (generate.sink) against s3fs.

    .venv/bin/python bench/bench_s3_sink.py --mb 400 --files 4

Writes `--files` objects of `--mb` MB in total, in 1 MiB writes (as the generator's shard writer
does), to a moto S3 server run as its own process on loopback, and prints wall seconds and this
process's CPU-seconds per writer. s3fs is measured only when it is importable: it is not a
dependency of the project (it needs aiobotocore, which pins botocore to a narrower range than boto3's
and brings aiohttp), so run this from a separate virtual environment that has both to compare.
moto is Python and shares the machine: wall figures bound our overhead, not a real S3's bandwidth.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable

CHUNK = 1 << 20


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(name: str, write_file: Callable[[str, int], None], files: int, total: int) -> None:
    t, c = time.perf_counter(), cpu()
    for i in range(files):
        write_file(f"{name}/file_{i}.csv", total // files)
    wall, used = time.perf_counter() - t, cpu() - c
    print(f"  {name:<8} {wall:6.2f} s wall  {used:6.2f} CPU-s  {total / wall / 1e6:6.0f} MB/s  "
          f"{used / (total / 1e9):5.2f} CPU-s per GB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--files", type=int, default=4)
    opts = ap.parse_args()
    total = opts.mb * 1_000_000
    payload = os.urandom(CHUNK)

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint)
        for _ in range(100):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        print(f"{opts.mb} MB in {opts.files} objects, 1 MiB writes, moto on loopback")

        from zbugs_synth.generate.sink import open_sink

        sink = open_sink("s3://bench/", endpoint_url=endpoint)

        def ours(key: str, size: int) -> None:
            f = sink.open(key)
            for _ in range(size // CHUNK):
                f.write(payload)
            f.write(payload[: size % CHUNK])
            f.commit()

        measure("boto3", ours, opts.files, total)
        try:
            import s3fs
        except ImportError:
            print("  s3fs     not installed here (see the docstring)")
            return
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})

        def theirs(key: str, size: int) -> None:
            with fs.open(f"bench/s3fs-{key}", "wb", block_size=16 << 20) as f:
                for _ in range(size // CHUNK):
                    f.write(payload)
                f.write(payload[: size % CHUNK])

        measure("s3fs", theirs, opts.files, total)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
