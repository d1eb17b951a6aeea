# Test fixture: which signal handlers Python sees in the Apache child. With
# Python's own handlers off, SIGINT is not Python's default_int_handler and
# Apache's C handlers stay in place.
import os
import signal


def describe(sig):
    handler = signal.getsignal(sig)
    if handler is signal.default_int_handler:
        return "python-default_int_handler"
    if handler is None:
        return "not-from-python"
    if handler == signal.SIG_DFL:
        return "SIG_DFL"
    if handler == signal.SIG_IGN:
        return "SIG_IGN"
    return repr(handler)


record("signals", pid=os.getpid(),
       **{name: describe(getattr(signal, name)) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")})


def check_password(environ, user, password):
    record(pid=os.getpid())
    return password == user + "-pw"
