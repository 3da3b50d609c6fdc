"""outputs.MetricsLog's TensorBoard scalars, read back from the event file with tensorboardX's own
protobuf definitions, written by a process that never imports PyTorch."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path


def read_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} from a TFRecord event file (length, crc, payload, crc per record)."""
    from tensorboardX.proto import event_pb2

    data, at, out = path.read_bytes(), 0, {}
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        event = event_pb2.Event.FromString(data[at + 12:at + 12 + n])
        at += 12 + n + 4
        for v in event.summary.value:
            out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_metrics_log_writes_scalars_without_importing_pytorch(tmp_path):
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from laser_jax.outputs import MetricsLog\n"
        f"log = MetricsLog(Path({str(tmp_path)!r}), resume_step=0, tensorboard=True)\n"
        "log.write({'step': 1, 'loss': 0.5, 'arm': 2, 'ok': True, 'note': 'x'})\n"
        "log.write({'step': 2, 'loss': 0.25, 'arm': 0, 'ok': False, 'note': 'y'})\n"
        "log.close()\n"
        "print('torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stderr[-2000:]
    [events] = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
    assert read_scalars(events) == {"loss": [(1, 0.5), (2, 0.25)], "arm": [(1, 2.0), (2, 0.0)]}
    assert [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0.5, 0.25]
