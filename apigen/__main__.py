import signal
import sys

from apigen import interrupt


def _early_exit(signum: int, frame: object) -> None:
    """Until apigen.cli installs its handlers (loading it takes ~40 ms): leave as it would."""
    interrupt.record(128 + signum)
    sys.stderr.write(f"apigen: interrupted ({signal.Signals(signum).name})\n")
    sys.exit(128 + signum)


interrupt.install()
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _early_exit)

from apigen.cli import main  # noqa: E402

try:
    main()
finally:
    interrupt.check()  # a signal whose SystemExit was dropped (apigen/interrupt.py) still exits 128+N
