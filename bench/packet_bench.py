"""Packet build cost: 300 photo exhibits (1600x1200 JPEGs) through render_packet, against img2pdf
on the same images, in the same run.

Each side runs in its own child process so that its peak RSS (from wait4's rusage) is its own;
time is the operation's wall time inside the child, after imports. Targets: ours <= 3x img2pdf's
time, <= 512 MB peak RSS. Writing the bundle zip is timed separately (it is I/O, not rendering).
Run: python bench/packet_bench.py [--photos N] [--volume-mb M]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _child_ours(work: Path, volume_mb: int) -> dict:
    from legal_docs.bundle import write_bundle
    from legal_docs.render import render_packet

    from tests.legal_factories import signing_key

    content, key = pickle.loads((work / "content.pickle").read_bytes()), signing_key()
    import weasyprint  # noqa: F401  (import cost is not the build's)
    start = time.perf_counter()
    rendered = render_packet(content, work / "ours", max_volume_bytes=volume_mb * 1_000_000)
    built = time.perf_counter() - start
    start = time.perf_counter()
    write_bundle(work / "bundle.zip", content, rendered, key)
    bundled = time.perf_counter() - start
    return {"seconds": built, "bundle_seconds": bundled, "pages": rendered.pages, "volumes": len(rendered.volumes),
            "bytes": sum(v.size for v in rendered.volumes)}


def _child_img2pdf(work: Path) -> dict:
    import img2pdf

    paths = sorted(str(p) for p in (work / "in").glob("photo*.jpg"))
    start = time.perf_counter()
    with open(work / "img2pdf.pdf", "wb") as out:
        img2pdf.convert(paths, outputstream=out)
    return {"seconds": time.perf_counter() - start, "pages": len(paths),
            "bytes": (work / "img2pdf.pdf").stat().st_size}


def _measure(args: list[str]) -> dict:
    """Run one side in a child; return its figures and its own peak RSS."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE)
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    figures = json.loads(output)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--volume-mb", type=int, default=25)
    parser.add_argument("--child", choices=["ours", "img2pdf"])
    parser.add_argument("--work", type=Path)
    options = parser.parse_args()
    if options.child == "ours":
        print(json.dumps(_child_ours(options.work, options.volume_mb)))
        return 0
    if options.child == "img2pdf":
        print(json.dumps(_child_img2pdf(options.work)))
        return 0

    from tests.legal_factories import make_packet_content

    with tempfile.TemporaryDirectory(prefix="packet-bench-") as scratch:
        work = Path(scratch)
        start = time.perf_counter()
        content, _key = make_packet_content(work / "in", photos=options.photos, pdf=False, audio=False)
        print(f"generated {options.photos} photos (1600x1200) and their ledger in {time.perf_counter() - start:.1f} s")
        (work / "content.pickle").write_bytes(pickle.dumps(content))
        ours = _measure(["--child", "ours", "--work", str(work), "--volume-mb", str(options.volume_mb)])
        baseline = _measure(["--child", "img2pdf", "--work", str(work)])
    ratio = ours["seconds"] / baseline["seconds"]
    print(f"img2pdf : {baseline['seconds']:.2f} s, {baseline['pages']} pages, {baseline['bytes'] / 1e6:.1f} MB, "
          f"peak RSS {baseline['peak_rss_mb']:.0f} MB")
    print(f"ours    : {ours['seconds']:.2f} s, {ours['pages']} pages in {ours['volumes']} volumes, "
          f"{ours['bytes'] / 1e6:.1f} MB, peak RSS {ours['peak_rss_mb']:.0f} MB; bundle zip {ours['bundle_seconds']:.2f} s")
    print(f"ratio   : {ratio:.2f}x img2pdf's time (target <= 3x); peak RSS target <= 512 MB")
    return 0 if ours["peak_rss_mb"] <= 512 else 1


if __name__ == "__main__":
    sys.exit(main())
