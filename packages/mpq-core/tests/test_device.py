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
