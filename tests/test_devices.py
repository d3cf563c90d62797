import pytest
import torch

from repsub.devices import pick_device, resolve_precision
from repsub.errors import UserError


@pytest.fixture
def tf32_flags():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_choosing_cuda_turns_tf32_off_so_fp32_measuring_is_fp32(monkeypatch, tf32_flags):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    assert not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32


def test_choosing_the_cpu_leaves_the_cuda_flags_alone(monkeypatch, tf32_flags):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    assert torch.backends.cudnn.allow_tf32


def test_bad_device_and_precision_names_are_one_sentence_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for call in (lambda: pick_device("cuda"), lambda: pick_device("tpu"),
                 lambda: resolve_precision("fp16", torch.device("cpu"))):
        with pytest.raises(UserError):
            call()
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"


def test_layer_width_probes_on_the_models_own_device():
    from repsub.nets.names import build_model

    model = build_model("shallow_cnn", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3).to("meta")
    assert model.layer_width("conv3", (3, 32, 32)) == 128
