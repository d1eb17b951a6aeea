-- The widely copied recipe, kept to prove the tests catch its leak: it
-- strips and reflects X-Remote-User in the log phase, which runs after the
-- response (headers included) has been sent. Do not use it.
function reflect_late(r)
    local user = r.headers_out["X-Remote-User"]
    if user then
        r.user = user
        r.headers_out["X-Remote-User"] = nil
    end
    return apache2.DECLINED
end
