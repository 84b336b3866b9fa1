import signal

from helpers.cli import main

try:
    code = main()
finally:  # winding down: a late second Ctrl-C must not turn the exit (130 after the first) into a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
raise SystemExit(code)
