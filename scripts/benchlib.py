"""What the benchmark scripts (bench_service.py, bench_gcs.py, bench_scaleout.py) share."""
import os
import socket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, ".build", "release", "geoinfer")


def free_port():
    """A port of loopback that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
