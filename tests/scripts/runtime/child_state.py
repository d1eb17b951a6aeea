# Test fixture: what this interpreter drew at import time (per child: the PRNG
# and the str-hash secret are seeded when Python starts), and a slow
# check_password so concurrent requests spread over the prefork children.
import os
import random
import time

PID = os.getpid()
DRAWN = random.random()
HASHED = hash("mod_authnz_wsgi: per-interpreter hash secret")
record("imports", pid=PID, random=DRAWN, hash=HASHED)


def check_password(environ, user, password):
    time.sleep(0.2)
    record("slow", pid=os.getpid(), import_pid=PID, random=DRAWN)
    return password == user + "-pw"
