import signal
import sys


def _early_exit(signum: int, frame: object) -> None:
    """Until apigen.cli installs its handlers (loading it takes ~40 ms): leave as it would."""
    sys.stderr.write(f"apigen: interrupted ({signal.Signals(signum).name})\n")
    sys.exit(128 + signum)


for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _early_exit)

from apigen.cli import main  # noqa: E402

main()
