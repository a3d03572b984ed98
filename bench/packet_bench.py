"""Packet build cost: 300 photo exhibits (1600x1200 JPEGs) through render_packet, against img2pdf
on the same images, in the same run.

Each side runs in its own child process so that its peak RSS is its own; the renderer may use
worker processes, so its peak is the largest *sum* of RSS over the child and its descendants
(sampled from /proc every 20 ms), also checked against wait4's single-process figure. Time is
the operation's wall time inside the child, after imports; CPU seconds (all processes) are shown
too, since on a shared machine wall time depends on the load. Targets (two workers): ours <= 12x
img2pdf's time, <= 512 MB peak RSS. Where the packet's time goes: ``--profile`` also runs the build
in one process and prints the CPU seconds of each kind of piece laid out and written. Writing the
bundle zip is timed separately (it is I/O, not rendering), and once more with content credentials
(a C2PA-signed copy of every photo): the difference is their cost.
--runs N alternates the two sides N times on the same images and reports medians.
Run: python bench/packet_bench.py [--photos N] [--volume-mb M] [--runs N] [--profile]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _tree_rss_kb(root: int) -> int:
    """RSS of ``root`` and all its descendants, in kB."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total


class _PeakSampler(threading.Thread):
    """Samples a child's process tree from the bench process, so the measured child has no extra thread
    (the renderer forks its workers only from a single-threaded process)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            time.sleep(0.02)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _child_ours(work: Path, volume_mb: int) -> dict:
    from legal_docs.bundle import write_bundle
    from legal_docs.render import render_packet

    from tests.legal_factories import signing_key

    content, key = pickle.loads((work / "content.pickle").read_bytes()), signing_key()
    from legal_docs.render import load_weasyprint
    load_weasyprint()  # import cost is not the build's
    cpu, start = _cpu_seconds(), time.perf_counter()
    rendered = render_packet(content, work / "ours", max_volume_bytes=volume_mb * 1_000_000)
    built, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    start = time.perf_counter()
    write_bundle(work / "bundle.zip", content, rendered, key)
    bundled = time.perf_counter() - start
    from core.keys import write_development_content_credentials
    from legal_docs.credentials import ContentCredentialSigner

    signer = ContentCredentialSigner(write_development_content_credentials(work / "c2pa" / "chain.pem",
                                                                           work / "c2pa" / "key.pem", "Bench"))
    start = time.perf_counter()
    write_bundle(work / "credentialed.zip", content, rendered, key, signer)
    credentialed = time.perf_counter() - start
    return {"seconds": built, "cpu_seconds": cpu, "bundle_seconds": bundled, "credentialed_seconds": credentialed,
            "photos": len(content.exhibits), "pages": rendered.pages,
            "volumes": len(rendered.volumes), "bytes": sum(v.size for v in rendered.volumes)}


def _child_profile(work: Path, volume_mb: int) -> dict:
    """The build in one process, its CPU seconds by kind of piece laid out (render) and written (write)."""
    from collections import defaultdict

    from legal_docs import render

    content = pickle.loads((work / "content.pickle").read_bytes())
    render.load_weasyprint()
    render.RENDER_WORKERS = 1
    spent: dict[str, float] = defaultdict(float)
    layout_render, layout_write = render._Layout.render, render._Layout.write

    def timed(name, method):
        def run(self, subject, /, *args, **kwargs):
            start = time.process_time()
            try:
                return method(self, subject, *args, **kwargs)
            finally:
                kind = subject if isinstance(subject, str) else args[0].split("-")[0].rstrip("0123456789")
                spent[f"{name} {kind}"] += time.process_time() - start
        return run
    render._Layout.render, render._Layout.write = timed("lay out", layout_render), timed("write", layout_write)
    start = time.process_time()
    render.render_packet(content, work / "profiled", max_volume_bytes=volume_mb * 1_000_000)
    total = time.process_time() - start
    return {"total": total, "pdf assembly, photos, hashing": total - sum(spent.values()), **spent}


def _child_img2pdf(work: Path) -> dict:
    import img2pdf

    paths = sorted(str(p) for p in (work / "in").glob("photo*.jpg"))
    cpu, start = _cpu_seconds(), time.perf_counter()
    with open(work / "img2pdf.pdf", "wb") as out:
        img2pdf.convert(paths, outputstream=out)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu, "pages": len(paths),
            "bytes": (work / "img2pdf.pdf").stat().st_size}


def _measure(args: list[str]) -> dict:
    """Run one side in a child; return its figures and its own peak RSS."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE)
    sampler = _PeakSampler(process.pid)
    sampler.start()
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    sampler.running = False
    sampler.join()
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    figures = json.loads(output)
    figures["peak_rss_mb"] = max(usage.ru_maxrss / 1024, sampler.peak_kb / 1024)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--volume-mb", type=int, default=25)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="also show where the packet's CPU time goes")
    parser.add_argument("--child", choices=["ours", "img2pdf", "profile"])
    parser.add_argument("--work", type=Path)
    options = parser.parse_args()
    if options.child == "ours":
        print(json.dumps(_child_ours(options.work, options.volume_mb)))
        return 0
    if options.child == "profile":
        print(json.dumps(_child_profile(options.work, options.volume_mb)))
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
        runs = []
        for _run in range(options.runs):
            baseline = _measure(["--child", "img2pdf", "--work", str(work)])
            ours = _measure(["--child", "ours", "--work", str(work), "--volume-mb", str(options.volume_mb)])
            runs.append((ours, baseline, ours["seconds"] / baseline["seconds"]))
            print(f"run {_run + 1}: img2pdf {baseline['seconds']:.2f} s ({baseline['cpu_seconds']:.2f} s CPU), "
                  f"ours {ours['seconds']:.2f} s ({ours['cpu_seconds']:.2f} s CPU), ratio {runs[-1][2]:.2f}x, "
                  f"peak RSS {ours['peak_rss_mb']:.0f} MB; load {os.getloadavg()[0]:.1f}", flush=True)
        if options.profile:
            spent = _measure(["--child", "profile", "--work", str(work), "--volume-mb", str(options.volume_mb)])
            print(f"where the time goes (one process, CPU s of {spent.pop('total'):.2f}): " + ", ".join(
                f"{name} {seconds:.2f}" for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
                if name != "peak_rss_mb" and seconds >= 0.01))

    def median(side: int, key: str) -> float:
        return statistics.median(run[side][key] for run in runs)
    ratio = statistics.median(run[2] for run in runs)
    ours, baseline = runs[-1][0], runs[-1][1]
    peak = max(run[0]["peak_rss_mb"] for run in runs)
    print(f"img2pdf : {median(1, 'seconds'):.2f} s ({median(1, 'cpu_seconds'):.2f} s CPU), {baseline['pages']} pages, "
          f"{baseline['bytes'] / 1e6:.1f} MB, peak RSS {max(run[1]['peak_rss_mb'] for run in runs):.0f} MB")
    print(f"ours    : {median(0, 'seconds'):.2f} s ({median(0, 'cpu_seconds'):.2f} s CPU, all processes), "
          f"{ours['pages']} pages in {ours['volumes']} volumes, {ours['bytes'] / 1e6:.1f} MB, "
          f"peak RSS {peak:.0f} MB (sum over processes); bundle zip {median(0, 'bundle_seconds'):.2f} s")
    extra = median(0, 'credentialed_seconds') - median(0, 'bundle_seconds')
    print(f"C2PA    : bundle zip with content credentials {median(0, 'credentialed_seconds'):.2f} s, "
          f"+{extra:.2f} s over the plain zip ({1000 * extra / ours['photos']:.1f} ms per photo: read, check, "
          "sign, write the copy)")
    print(f"ratio   : {ratio:.2f}x img2pdf's time (median of {len(runs)}; target <= 12x); "
          f"CPU ratio {median(0, 'cpu_seconds') / median(1, 'cpu_seconds'):.2f}x; peak RSS target <= 512 MB")
    return 0 if peak <= 512 else 1


if __name__ == "__main__":
    sys.exit(main())
