"""The application the EC2 instances run. It owns its health path: the target group and the
Route 53 health checks read HEALTH_PATH from here, so they can never probe a path the service
does not serve (F7).

Runs on the instance's system Python (Amazon Linux 2023: Python 3.9) with the standard library
only, so this package must stay Python 3.9 compatible: its tests run on a real 3.9 too
(tests/test_runtimes_real.py), and ruff lints it for 3.9 (pyproject.toml).
"""

HEALTH_PATH = "/health"  # liveness: 200 while the process is healthy
READY_PATH = "/ready"  # readiness: 200 only when the database answers
PORT = 8080  # the target group's port; unprivileged, so the service runs as a system user
SERVICE = "webapp"
