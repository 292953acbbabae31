"""Generate synthetic case files from the sample corpus's vocabulary (both languages), for benchmarks.

Usage: python scripts/synth_cases.py OUT_DIR COUNT [--seed N]
Each case mixes sentences, log lines and codes taken from real sample cases, with fresh ids,
numbers and codes, so analyzers, signatures and the encoder see realistic text.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

from kb.corpus import load_cases
from kb.settings import load_settings

_SENTENCE = re.compile(r"[^。.!?\n]+[。.!?]?")


def pools(cases_dir: Path) -> dict[str, dict[str, list[str]]]:
    settings = load_settings(environ={})
    result: dict[str, dict[str, list[str]]] = {"ja": {}, "en": {}}
    for case in load_cases([cases_dir], settings.id_regex, settings.max_case_bytes).cases:
        lang = result[case.lang]
        lang.setdefault("title", []).append(case.title)
        for section in case.sections:
            if section.name == "logs":
                lang.setdefault("logs", []).extend(
                    line
                    for line in section.text.splitlines()
                    if len(line) > 30 and not line.startswith("```")
                )
            else:
                lang.setdefault(section.name, []).extend(
                    s.strip() for s in _SENTENCE.findall(section.text) if len(s.strip()) > 12
                )
    return result


def _renumber(text: str, rng: random.Random) -> str:
    return re.sub(
        r"\d+", lambda m: str(rng.randint(0, 10 ** len(m.group()) - 1)).zfill(len(m.group())), text
    )


def synth_case(
    i: int, rng: random.Random, vocab: dict[str, dict[str, list[str]]]
) -> tuple[str, str]:
    lang = "ja" if i % 2 else "en"
    v = vocab[lang]
    code = (
        f"{rng.choice(['SCH', 'WF', 'MAIL', 'SSO', 'PTL', 'API', 'FS', 'NTF', 'FTS', 'UPG', 'PRF'])}"
        f"-{rng.randint(10000, 99999)}"
    )
    year = 1990 + i // 10000  # 10,000 ids a year: any corpus size gets unique ids
    case_id = f"ESC-{year}-{i % 10000:04d}"
    heads = {
        "ja": ("症状", "原因", "対処", "ログ"),
        "en": ("Symptoms", "Cause", "Resolution", "Logs"),
    }[lang]

    def para(name: str, n: int) -> str:
        pool = v.get(name) or v["symptoms"]
        return " ".join(rng.choice(pool) for _ in range(n))

    title = f"{rng.choice(v['title'])[:60]} ({code})"
    logs = (
        "\n".join(_renumber(rng.choice(v["logs"]), rng) for _ in range(4))
        + f"\n[{code}] failure at step {rng.randint(1, 99)}"
    )
    text = (
        f"---\nid: {case_id}\ntitle: {title!r}\nstatus: {rng.choice(['resolved', 'workaround'])}\n"
        f"product: {rng.choice(['tsumugi-server', 'tsumugi-cloud'])}\n"
        f'versions: ["{rng.choice(["5.9", "5.10", "6.0", "6.1"])}"]\n'
        f"component: {rng.choice(['schedule', 'workflow', 'mail', 'sso', 'portal', 'rest-api', 'file-storage'])}\n"
        f"visibility: {rng.choice(['support'] * 8 + ['engineering', 'restricted'])}\ncreated: "
        f"{year}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\n"
        f"error_codes: [{code}]\n---\n"
        f"## {heads[0]}\n{para('symptoms', 4)}\n\n## {heads[1]}\n{para('cause', 3)}\n\n## "
        f"{heads[2]}\n{para('resolution', 3)}\n\n"
        f"## {heads[3]}\n```text\n{logs}\n```\n"
    )
    return f"{case_id}.md", text


def generate(out: Path, count: int, seed: int = 7, cases_dir: Path = Path("cases")) -> list[Path]:
    rng = random.Random(seed)
    vocab = pools(cases_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    seen: set[str] = set()
    i = 0
    while len(written) < count:
        i += 1
        name, text = synth_case(i, rng, vocab)
        if name in seen:
            continue
        seen.add(name)
        (out / name).write_text(text, "utf-8")
        written.append(out / name)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"wrote {len(generate(args.out, args.count, args.seed))} cases to {args.out}")
