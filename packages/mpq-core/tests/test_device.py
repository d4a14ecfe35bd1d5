import subprocess
import sys

import pytest

from mpq.core.device import autocast, is_out_of_memory, resolve_device, seed_all
from mpq.core.errors import MpqError

torch = pytest.importorskip("torch")


def test_auto_is_cpu_without_a_gpu_and_explicit_cuda_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(MpqError, match="not available here"):
        resolve_device("cuda")


def test_unknown_device():
    with pytest.raises(MpqError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_autocast_runs_cpu_matmul_in_bfloat16_and_off_in_float32():
    a = torch.ones(4, 4)
    with autocast("cpu", enabled=True):
        assert (a @ a).dtype == torch.bfloat16
        assert torch.is_inference_mode_enabled()
    with autocast("cpu", enabled=False):
        assert (a @ a).dtype == torch.float32


def test_out_of_memory_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_seed_all_seeds_torch():
    seed_all(3)
    first = torch.rand(3)
    seed_all(3)
    assert torch.equal(first, torch.rand(3))


KEPT = """
import os
import sys
from pathlib import Path
import numpy as np
from mpq.core.device import keep_freed_memory

def resident_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

if sys.argv[1] == "keep":
    keep_freed_memory()
before = resident_mb()
block = np.ones(2**23)  # 64 MB, freed as a batch's activations are
del block
print(resident_mb() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_memory_is_kept_for_the_next_batch():
    def kept_mb(mode):
        run = subprocess.run([sys.executable, "-c", KEPT, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return float(run.stdout)

    assert kept_mb("default") < 8  # given back at once, faulted in again by the next batch
    assert kept_mb("keep") > 56
