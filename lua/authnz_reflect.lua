--[[
authnz_reflect.lua: identity reflection with mod_lua (no custom module).

An application that does its own login names the user in a response header
(`X-Remote-User: alice`, optionally `X-Auth-Type: Session`). This file lets
Apache log that user as %u without the header ever reaching the client.
Wire it with authnz_reflect.conf (see lua/README.md); three entry points:

  strip_request(r)   LuaHookFixups: removes request headers that spell an
                     identity header name (any case, `-` or `_`), so a client
                     cannot hand the app a name to echo back; refuses
                     protocol upgrades (WebSocket), whose `101` response
                     mod_proxy sends without any filter or hook running; and
                     suppresses the `1xx` interim responses mod_proxy relays
                     the same way.
  strip_request_before_handler(r)
                     LuaMapHandler, run just before the handler of every
                     request of the location: the same again, for requests
                     that reached the location after their fixups ran
                     (DirectoryIndex, FallbackResource). Declines, so the
                     location's own handler answers.
  reflect_filter(r)  LuaOutputFilter, run when the handler's response headers
                     pass through the filter chain, before the HTTP header
                     filter writes them: removes the identity headers from
                     headers_out and err_headers_out, validates them and sets
                     r.user (and AUTH_TYPE in the environment) on the request
                     that produced them. It never yields, so mod_lua removes
                     it from the chain without touching the body,
                     Content-Length or ETag.

mod_headers (`Header unset` / `Header always unset` in the .conf) strips the
same names again as a second line of defence: it also runs on Apache's own
error responses, where resource filters such as this one are dropped.

No state is kept between calls, so any LuaScope works.
]]

-- Header names. If you change them, change the `Header ... unset` lines in
-- authnz_reflect.conf to match.
local USER_HEADER = "X-Remote-User"
local AUTH_TYPE_HEADER = "X-Auth-Type"
-- Protocol upgrades (WebSocket) through this location. mod_proxy sends the
-- backend's `101 Switching Protocols` head as it is, before any filter runs,
-- so an identity header in it would reach the client; with false, the
-- `Upgrade` request header is removed and the backend answers an ordinary
-- request. Set it to true only for backends that never name the user in
-- a `101`.
local ALLOW_UPGRADE = false
-- Longest value accepted, in bytes.
local MAX_LEN = 256
-- Every log line starts with this, so `grep authnz_reflect` finds them.
local TAG = "authnz_reflect: "

local function canonical(name)
    return (string.gsub(string.lower(name), "_", "-"))
end

local IDENTITY_NAMES = {
    [canonical(USER_HEADER)] = true,
    [canonical(AUTH_TYPE_HEADER)] = true,
}

-- Identity comes from the response only. Drop request headers whose name is
-- an identity header in any spelling (case, `-` or `_`) before the handler
-- (CGI environment, proxied request, ...) is built; `moment` goes into the
-- log line.
local function remove_identity_headers(r, moment)
    local found = {}
    local headers = r:headers_in_table()
    for name in pairs(headers) do
        if IDENTITY_NAMES[canonical(name)] then
            found[#found + 1] = name
        end
    end
    for _, name in ipairs(found) do
        r.headers_in[name] = nil
        r:info(TAG .. "removed request header " .. name .. " from " .. r.uri .. moment
               .. " (identity is taken from the response only)")
    end
    -- The CGI variables such headers become: mod_include puts the page's
    -- into its environment before `include virtual`, and the subrequest
    -- starts with a copy of it.
    local variables = {}
    for key in pairs(r:subprocess_env_table()) do
        if string.sub(key, 1, 5) == "HTTP_" and IDENTITY_NAMES[canonical(string.sub(key, 6))] then
            variables[#variables + 1] = key
        end
    end
    for _, key in ipairs(variables) do
        r.subprocess_env[key] = nil
        r:info(TAG .. "removed environment variable " .. key .. " from " .. r.uri .. moment
               .. " (identity is taken from the response only)")
    end
    if not ALLOW_UPGRADE and r.headers_in["Upgrade"] then
        r:info(TAG .. "removed request header Upgrade (" .. r.headers_in["Upgrade"]
               .. ") from " .. r.uri .. moment .. ": mod_proxy would relay the backend's"
               .. " 101 response unfiltered")
        r.headers_in["Upgrade"] = nil
    end
    -- mod_proxy relays 1xx interim responses (103 Early Hints) without
    -- running any filter; this makes it drop them.
    r.subprocess_env["proxy-interim-response"] = "Suppress"
end

-- LuaHookFixups.
function strip_request(r)
    remove_identity_headers(r, "")
    return apache2.DECLINED
end

-- What httpd's ap_invoke_handler would pick for a request without a
-- handler: the media type without parameters, else the default handler.
local function handler_for_content_type(r)
    local content_type = r.content_type
    if content_type == nil or content_type == "" then
        return "default-handler"
    end
    return (string.gsub(string.match(content_type, "^[^;]*"), "%s+$", ""))
end

-- LuaMapHandler (pattern "." in authnz_reflect.conf): mod_dir's
-- DirectoryIndex and FallbackResource switch a request to another location
-- during its fixups, after strip_request ran with the old location's
-- configuration, and keep its original request headers; this runs in the
-- final location, just before the handler.
function strip_request_before_handler(r)
    remove_identity_headers(r, " just before the handler")
    -- mod_lua names the handler "lua-map-handler" for a request that has
    -- none when its fixups run (static files, directory listings, handlers
    -- chosen by media type). Give such a request the handler httpd would
    -- have chosen, so the location's content is served as before.
    if r.handler == "lua-map-handler" then
        r.handler = handler_for_content_type(r)
    end
    return apache2.DECLINED
end

-- Removes the identity headers from headers_out and err_headers_out; returns
-- the values found, as two lists (user, auth type).
local function take(r)
    local wanted = {
        [string.lower(USER_HEADER)] = {},
        [string.lower(AUTH_TYPE_HEADER)] = {},
    }
    -- The second result of r:headers_out_table() maps each name, as spelled
    -- in the table, to the list of its values.
    local _, out_multi = r:headers_out_table()
    local _, err_multi = r:err_headers_out_table()
    for _, multi in ipairs({ out_multi, err_multi }) do
        for name, list in pairs(multi) do
            local values = wanted[string.lower(name)]
            if values then
                for _, value in ipairs(list) do
                    values[#values + 1] = value
                end
            end
        end
    end
    for _, name in ipairs({ USER_HEADER, AUTH_TYPE_HEADER }) do
        r.headers_out[name] = nil      -- apr_table_unset: every case, every value
        r.err_headers_out[name] = nil
    end
    return wanted[string.lower(USER_HEADER)], wanted[string.lower(AUTH_TYPE_HEADER)]
end

-- One valid value, or nil and why not.
local function validate(values)
    local value = values[1]
    for i = 2, #values do
        if values[i] ~= value then
            return nil, "appears " .. #values .. " times with different values"
        end
    end
    if value == "" then
        return nil, "is empty"
    end
    if #value > MAX_LEN then
        return nil, "is " .. #value .. " bytes long (limit " .. MAX_LEN .. ")"
    end
    local at = string.find(value, "[%c\127]")
    if at then
        return nil, "has a control character at byte " .. (at - 1)
    end
    return value
end

local function reflect(r)
    local users, types = take(r)
    if #users == 0 then
        return
    end
    local user, why = validate(users)
    if not user then
        r:warn(TAG .. "dropped " .. USER_HEADER .. " from the response: the value " .. why)
        return
    end
    local auth_type
    if #types > 0 then
        auth_type, why = validate(types)
        if not auth_type then
            r:warn(TAG .. "dropped " .. AUTH_TYPE_HEADER .. " from the response: the value " .. why)
        end
    end
    local current = r.user
    if current ~= nil and current ~= "" then
        -- Apache authenticated this request itself: that identity stands.
        if current ~= user then
            r:debug(TAG .. "kept user '" .. current .. "' authenticated by Apache; the response named '"
                    .. user .. "'")
        end
        return
    end
    r.user = user
    if auth_type then
        -- mod_lua cannot set r->ap_auth_type; the environment variable is
        -- what %{AUTH_TYPE}e logs.
        r.subprocess_env["AUTH_TYPE"] = auth_type
    end
end

-- LuaOutputFilter. Returning without coroutine.yield() tells mod_lua that
-- this filter does not want the body: it is removed from the chain, and the
-- brigade passes on untouched.
function reflect_filter(r)
    local ok, err = pcall(reflect, r)
    if not ok then
        -- Fail closed: the identity headers are gone either way (and the
        -- mod_headers lines in authnz_reflect.conf remove them again).
        pcall(function()
            r.headers_out[USER_HEADER] = nil
            r.err_headers_out[USER_HEADER] = nil
            r.headers_out[AUTH_TYPE_HEADER] = nil
            r.err_headers_out[AUTH_TYPE_HEADER] = nil
        end)
        r:err(TAG .. "reflection failed: " .. tostring(err))
    end
end
