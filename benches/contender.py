"""The official Python SDK as a benchmark contender (run by brickwork-bench).

The workspace comes from DATABRICKS_HOST and DATABRICKS_TOKEN. Each command
prints one JSON object on stdout:

  get --cluster-id ID --count N --concurrency C
      w.clusters.get from a thread pool: per_second, p50_ms, p99_ms
  list-jobs
      every job through w.jobs.list's pages of 100: jobs, seconds
  delete-jobs --prefix P --concurrency C
      list, then w.jobs.delete of each job whose name starts with P from a
      thread pool: deleted, seconds
  transfer --local L --remote R --out O
      w.files.upload_from(R, L), then w.files.download_to(R, O), each with
      the SDK's defaults: upload_seconds, download_seconds
"""

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from databricks.sdk import WorkspaceClient


def quantile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def get(w, args):
    def one(_):
        sent = time.perf_counter()
        w.clusters.get(args.cluster_id)
        return (time.perf_counter() - sent) * 1e3

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, range(min(args.count, 100))))  # warm the connection pool
        started = time.perf_counter()
        latencies = sorted(pool.map(one, range(args.count)))
        seconds = time.perf_counter() - started
    return {"per_second": args.count / seconds, "p50_ms": quantile(latencies, 0.5), "p99_ms": quantile(latencies, 0.99)}


def list_jobs(w, _args):
    started = time.perf_counter()
    count = sum(1 for _ in w.jobs.list(limit=100))
    return {"jobs": count, "seconds": time.perf_counter() - started}


def delete_jobs(w, args):
    started = time.perf_counter()
    ids = [j.job_id for j in w.jobs.list(limit=100) if j.settings and (j.settings.name or "").startswith(args.prefix)]
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(lambda job_id: w.jobs.delete(job_id), ids))
    return {"deleted": len(ids), "seconds": time.perf_counter() - started}


def transfer(w, args):
    started = time.perf_counter()
    w.files.upload_from(args.remote, args.local, overwrite=True)
    uploaded = time.perf_counter() - started
    started = time.perf_counter()
    w.files.download_to(args.remote, args.out)
    return {"upload_seconds": uploaded, "download_seconds": time.perf_counter() - started}


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("get")
    g.add_argument("--cluster-id", required=True)
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--concurrency", type=int, default=32)
    commands.add_parser("list-jobs")
    d = commands.add_parser("delete-jobs")
    d.add_argument("--prefix", required=True)
    d.add_argument("--concurrency", type=int, default=32)
    t = commands.add_parser("transfer")
    t.add_argument("--local", required=True)
    t.add_argument("--remote", required=True)
    t.add_argument("--out", required=True)
    args = parser.parse_args()
    w = WorkspaceClient()
    run = {"get": get, "list-jobs": list_jobs, "delete-jobs": delete_jobs, "transfer": transfer}[args.command]
    print(json.dumps(run(w, args)))


if __name__ == "__main__":
    main()
