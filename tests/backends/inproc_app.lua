-- An application running inside Apache (a mod_lua handler) that names its
-- user in X-Remote-User. ?status=N: with 200 it writes a body and returns OK;
-- otherwise it returns N from the handler, as in-process applications may.
-- For 204 and 304 Apache then sends r->headers_out from its error path
-- (ap_die -> ap_send_error_response, header-only), where neither resource
-- and content filters nor `Header` (without `always`) run.
function handle(r)
    local args = r:parseargs()
    local status = tonumber(args.status or "200")
    r.headers_out["X-Remote-User"] = args.user or "alice"
    if args.type then
        r.headers_out["X-Auth-Type"] = args.type
    end
    if status == 200 then
        r.content_type = "text/plain"
        r:puts("in-process app\n")
        return apache2.OK
    end
    return status
end
