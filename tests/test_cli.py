"""The top-level `vspec` command's own helpers."""

from pathlib import Path

from valuespectrum.launch import resume_command


def test_the_resume_command_repeats_where_and_how_and_never_restarts():
    assert resume_command(Path("sweeps/demo.yaml"), None, None) == "vspec run sweeps/demo.yaml"
    cmd = resume_command(Path("my sweeps/a.yaml"), Path("/data/run 1"), "10.0.0.2:6379")
    assert cmd == "vspec run 'my sweeps/a.yaml' --output '/data/run 1' --ray-address 10.0.0.2:6379"
    assert "--restart" not in cmd  # rerunning with --restart would clear what was recorded
