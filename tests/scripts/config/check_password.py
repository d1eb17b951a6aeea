# Test fixture (loaded through Apache.write_script, which defines record()):
# the password of USER is "USER-pw"; every call is recorded.


def check_password(environ, user, password):
    record(user=user, password=password, uri=environ["REQUEST_URI"])
    return password == user + "-pw"
