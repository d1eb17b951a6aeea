# Test fixture: imports modules that only WSGIPythonPath (and a .pth file in
# it) make importable, and records what the interpreter looks like.
import os
import sys

import dup_mod
import path_mod
import pth_mod

record("env", pid=os.getpid(), prefix=sys.prefix, base_prefix=sys.base_prefix,
       path=list(sys.path), path_mod=path_mod.__file__, pth_mod=pth_mod.__file__,
       dup=dup_mod.WHERE)


def check_password(environ, user, password):
    record(user=user, prefix=sys.prefix, where=path_mod.WHERE)
    return password == user + "-pw"
