# Test fixture (loaded through Apache.write_script, which defines record()):
# the password of USER is "USER-pw"; every call records the process and thread.
import os
import threading


def check_password(environ, user, password):
    record(user=user, password=password, pid=os.getpid(), tid=threading.get_ident())
    return password == user + "-pw"
