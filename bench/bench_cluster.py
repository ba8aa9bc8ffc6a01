#!/usr/bin/env python3
"""Benchmark partitioned generation on a local Dask cluster: 1 worker process against 2.

    .venv/bin/python bench/bench_cluster.py                        # 1M issues, 8 parts, to a directory
    .venv/bin/python bench/bench_cluster.py --dest s3 --issues 500000   # to moto's S3 server on loopback

Each worker runs one part at a time with one generator thread (WORKERS=1), so the parallelism is
the cluster's, not the generator's threads. For each worker count: a fresh LocalCluster, then
`generate-synthetic --parts N --scheduler ADDRESS` as a subprocess (as a user runs it), timed
wall-clock (client start, pack loading, every part and combining). CPU-s counts the client and the
worker processes (cluster start-up included), so its excess over the whole run is the cluster's cost.
A whole single-process run (WORKERS=1 and 2) is printed first as the baseline.

`--dest s3` starts moto's S3 server in this process: its request handling is Python and shares the
machine's cores with the workers, so it measures our upload path's overhead, not a real S3's
bandwidth (which scales with workers: each writes its own multipart uploads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none", "--force"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(f"generate-synthetic failed:\n{proc.stderr}")
    return wall


def dataset_size(manifest: dict[str, Any]) -> tuple[int, int]:
    return (sum(t["rows"] for t in manifest["tables"].values()),
            sum(t["bytes"] for t in manifest["tables"].values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--dest", choices=("dir", "s3"), default="dir")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare")
    opts = ap.parse_args()

    from distributed import LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="zbugs-bench-cluster-"))
    env = {**os.environ, "NUM_ISSUES": str(opts.issues), "WORKERS": "1"}
    moto = None
    try:
        if opts.dest == "s3":
            import boto3
            from moto.server import ThreadedMotoServer

            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            moto.start()
            host, port = moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                       AWS_ENDPOINT_URL=endpoint)
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
            s3.create_bucket(Bucket="bench")

        print(f"{opts.issues:,} issues, {opts.parts} parts, destination: {opts.dest}")
        base = tmp / "whole"
        for threads in (1, 2):
            cpu = children_cpu()
            wall = run(["--output-dir", str(base)], {**env, "WORKERS": str(threads)})
            cpu = children_cpu() - cpu
            rows, size = dataset_size(json.loads((base / "manifest.json").read_text()))
            print(f"  whole run to a directory, {threads} thread(s): {wall:6.2f} s wall  {cpu:6.2f} CPU-s  "
                  f"{rows / wall / 1e6:5.2f} M rows/s  {size / wall / 1e6:6.0f} MB/s")
        shutil.rmtree(base)

        for n in [int(x) for x in opts.workers.split(",")]:
            cpu = children_cpu()  # the workers' too: they are children of this process, reaped at close
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                              host="127.0.0.1", env={k: v for k, v in env.items() if k.startswith("AWS_")}) as c:
                dest = f"s3://bench/w{n}/" if opts.dest == "s3" else str(tmp / f"w{n}")
                wall = run(["--output-dir", dest, "--parts", str(opts.parts), "--scheduler", c.scheduler_address],
                           env)
            if opts.dest == "s3":
                manifest = json.loads(s3.get_object(Bucket="bench", Key=f"w{n}/manifest.json")["Body"].read())
            else:
                manifest = json.loads((Path(dest) / "manifest.json").read_text())
                shutil.rmtree(dest)
            cpu = children_cpu() - cpu
            rows, size = dataset_size(manifest)
            print(f"  cluster to {opts.dest}, {n} worker process(es): {wall:6.2f} s wall  {cpu:6.2f} CPU-s  "
                  f"{rows / wall / 1e6:5.2f} M rows/s  {size / wall / 1e6:6.0f} MB/s")
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
