"""No code from files, ever: a malicious pickle planted wherever acdc-tui reads a file never runs,
and the command ends in one line. A deeply nested pickle ends in one line too (no SIGSEGV)."""

from __future__ import annotations

import io
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import torch

from acdc_tui.core.errors import UserError
from acdc_tui.core.safe_load import MAX_DEPTH, load_plain_pickle, torch_load

TRACR = Path(__file__).parent.parent / "tasks" / "tracr" / "reverse"


class _RunsCode:
    """Unpickling this calls open(marker, 'w'): the marker file exists iff pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_torch(path: Path, marker: Path) -> Path:
    torch.save({"clean": _RunsCode(marker), "corrupted": torch.zeros(2, 3, dtype=torch.long)}, path)
    return path


def _deep_torch(path: Path, depth: int = 100_000) -> Path:
    """A torch.save zip whose pickle nests a tuple `depth` deep as a dict key (hashed in C while unpickling)."""
    body = b"\x80\x02}(" + b")" + b"\x85" * depth + b"\x88u."  # {(((...),),): True}
    buf = io.BytesIO()
    torch.save({"x": 1}, buf)
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info, body if info.filename.endswith("data.pkl") else src.read(info))
    path.write_bytes(out.getvalue())
    return path


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    root = str(Path(__file__).parent.parent)
    env = {"PYTHONPATH": root, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _one_line_refusal(p: subprocess.CompletedProcess) -> str:
    assert p.returncode not in (0, -11), (p.returncode, p.stderr)
    err = p.stderr.strip()
    assert err.startswith("acdc-tui: error:") and "\n" not in err and "Traceback" not in err, p.stderr
    return err


def _task_dir(tmp_path: Path) -> Path:
    d = tmp_path / "task"
    d.mkdir()
    shutil.copy(TRACR / "config.json", d / "config.json")
    shutil.copy(TRACR / "weights.pt", d / "weights.pt")
    torch.save({"clean": torch.zeros(2, 5, dtype=torch.long), "corrupted": torch.zeros(2, 5, dtype=torch.long)}, d / "tokens.pt")
    return d


@pytest.mark.parametrize("target", ["tokens.pt", "weights.pt"])
def test_task_dir_pickles_never_run(tmp_path, target):
    d, marker = _task_dir(tmp_path), tmp_path / "pwned"
    _evil_torch(d / target, marker)
    p = _cli(["run", "--task-dir", str(d), "--threshold", "0.1", "--quiet", "--out", str(tmp_path / "c.json")], tmp_path)
    err = _one_line_refusal(p)
    assert not marker.exists() and "never runs pickled code" in err


def test_reference_pth_and_scores_pickles_never_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = _evil_torch(tmp_path / "evil.pth", marker)
    for args in (["dot", str(evil)], ["diff", str(evil), str(evil)], ["open", str(evil)], ["open", str(TRACR / "canonical_circuit.json"), "--scores", str(evil)]):
        _one_line_refusal(_cli(args, tmp_path))
        assert not marker.exists(), args


def test_a_deeply_nested_pth_ends_in_one_line(tmp_path):
    deep = _deep_torch(tmp_path / "deep.pth")
    for args in (["dot", str(deep)], ["diff", str(deep), str(deep)]):
        err = _one_line_refusal(_cli(args, tmp_path))
        assert "deep" in err or "cannot be read" in err
    with pytest.raises(UserError, match=f"more than {MAX_DEPTH} deep"):
        torch_load(deep, "deep.pth")


def test_hub_cache_files_never_run_code(tmp_path, monkeypatch):
    """induction-redwood's hub data (a torch.save file and a pickle.dump file) and a TL-format checkpoint."""
    import huggingface_hub

    from tasks import hub_tasks

    marker = tmp_path / "pwned"
    data = tmp_path / "validation_data.pt"
    torch.save(torch.zeros(4, 8, dtype=torch.long), data)
    mask = tmp_path / "mask_repeat_candidates.pkl"
    mask.write_bytes(pickle.dumps(_RunsCode(marker)))
    files = {"validation_data.pt": str(data), "mask_repeat_candidates.pkl": str(mask)}
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, **kw: files[name])
    with pytest.raises(UserError, match="never runs pickled code"):
        hub_tasks._redwood_data()
    assert not marker.exists()
    # the same, the data file poisoned
    _evil_torch(data, marker)
    mask.write_bytes(pickle.dumps(torch.ones(4, 8, dtype=torch.bool)))
    with pytest.raises(UserError, match="never runs pickled code"):
        hub_tasks._redwood_data()
    assert not marker.exists()
    # clean files load: a pickled tensor (its storage is a torch.save blob, read with weights_only)
    torch.save(torch.zeros(4, 8, dtype=torch.long), data)
    got, m = hub_tasks._redwood_data()
    assert got.shape == (4, 8) and m.dtype == torch.bool and bool(m.all())

    from acdc_tui.models import hub

    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "config.json").write_bytes(orjson.dumps({"n_layers": 1}))
    _evil_torch(snap / "model_final.pth", marker)
    monkeypatch.setattr(hub, "_snapshot", lambda repo, patterns: str(snap))
    with pytest.raises(UserError):
        hub.load_pretrained("attn-only-2l")
    assert not marker.exists()


def test_plain_pickle_reader_allows_only_tensor_names(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": _RunsCode(marker)}))
    with pytest.raises(UserError, match="names the code"):
        load_plain_pickle(path, "x.pkl")
    assert not marker.exists()
    path.write_bytes(b"\x80\x02" + b"(" + b")" + b"\x85" * 50_000 + b".")
    with pytest.raises(UserError, match="deep"):
        load_plain_pickle(path, "x.pkl")


def test_the_load_size_limit_is_read_from_the_environment_and_a_bad_one_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(256)}, path)
    monkeypatch.setenv("ACDC_TUI_MAX_LOAD_BYTES", "100")
    with pytest.raises(UserError, match=r"over the 100-byte limit \(ACDC_TUI_MAX_LOAD_BYTES\)"):
        torch_load(path, "w.pt")
    monkeypatch.setenv("ACDC_TUI_MAX_LOAD_BYTES", "lots")
    with pytest.raises(UserError, match="ACDC_TUI_MAX_LOAD_BYTES='lots' is not a number of bytes"):
        torch_load(path, "w.pt")
    monkeypatch.delenv("ACDC_TUI_MAX_LOAD_BYTES")
    assert torch.equal(torch_load(path, "w.pt")["w"], torch.zeros(256))
