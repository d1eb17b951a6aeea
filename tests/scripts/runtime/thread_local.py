# Test fixture: a threading.local counter that must survive between requests
# handled by the same Apache worker thread.
import os
import threading

LOCAL = threading.local()


def check_password(environ, user, password):
    LOCAL.count = getattr(LOCAL, "count", 0) + 1
    record(count=LOCAL.count, tid=threading.get_ident(), pid=os.getpid(),
           thread=threading.current_thread().name)
    return password == user + "-pw"
