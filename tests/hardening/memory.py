"""Peak resident memory of this process while a block runs (sampled), for "memory stays bounded"."""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class Growth:
    baseline: int = 0
    peak: int = 0

    @property
    def peak_growth_mb(self) -> float:
        return (self.peak - self.baseline) / (1 << 20)


@contextmanager
def rss_growth(interval: float = 0.005):
    process = psutil.Process()
    gc.collect()
    growth = Growth(baseline=process.memory_info().rss)
    growth.peak = growth.baseline
    done = threading.Event()

    def sample():
        while not done.is_set():
            growth.peak = max(growth.peak, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield growth
    finally:
        done.set()
        sampler.join()
        growth.peak = max(growth.peak, process.memory_info().rss)
