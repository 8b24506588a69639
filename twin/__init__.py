"""twin: a digital twin of a zero-trust, microsegmented network, verified with real packets."""

try:  # a Ctrl-C within twin's first milliseconds (its first imports): a plain exit, no traceback
    import _thread
    import signal as _signal
    import sys as _sys
    from typing import Any as _Any

    __version__ = "0.1.0"

    def _signal_again(unraisable: _Any) -> None:
        """A Ctrl-C or SIGTERM raised inside a callback Python cannot raise from (importlib's
        module-lock weakref callback, hit while twin still imports) is printed as "Exception
        ignored" with a traceback and then lost. Signal it again once this hook has returned (a
        thread trips the flag: tripped here, the handler would run inside the hook), so it
        arrives at the next bytecode of the interrupted code, where twin makes it one line and
        the usual exit code."""
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt):
            _sys.__unraisablehook__(unraisable)
            return
        sig = _signal.SIGTERM if type(exc).__name__ == "Terminated" else _signal.SIGINT
        _thread.start_new_thread(_thread.interrupt_main, (sig,))

    _sys.unraisablehook = _signal_again
except KeyboardInterrupt:  # pragma: no cover - timing
    raise SystemExit(130) from None
