/* The parts of httpd's module API that exist only as C macros, compiled
 * against the installed httpd headers (build.rs, with the `cc` crate), so
 * that those headers — not a copy of them in Rust — decide their values:
 *
 * - STANDARD20_MODULE_STUFF, the start of the module record (magic cookie,
 *   MMN, the module's name). The macro records __FILE__ as the name: this
 *   file is named after the module, so httpd knows it as "mod_authnz_wsgi.c".
 * - ap_get_module_config / ap_set_module_config, a module's slot in a
 *   configuration vector.
 * - APR_OPTIONAL_HOOK(ap, status_hook, ...), mod_status's optional hook for
 *   a section of /server-status (harmless when mod_status is not loaded).
 */
#include <httpd.h>
#include <http_config.h>
#include <apr_optional_hooks.h>
#include <mod_status.h>

static const module header = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL, NULL
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 70)
    , AP_MODULE_FLAG_NONE
#endif
};

/* Copy the standard start of a module record into `m`. */
void authnz_wsgi_module_header(module *m)
{
    m->version = header.version;
    m->minor_version = header.minor_version;
    m->module_index = header.module_index;
    m->name = header.name;
    m->dynamic_load_handle = header.dynamic_load_handle;
    m->next = header.next;
    m->magic = header.magic;
    m->rewrite_args = header.rewrite_args;
}

void *authnz_wsgi_get_module_config(const ap_conf_vector_t *cv, const module *m)
{
    return ap_get_module_config(cv, m);
}

void authnz_wsgi_set_module_config(ap_conf_vector_t *cv, const module *m, void *val)
{
    ap_set_module_config(cv, m, val);
}

void authnz_wsgi_hook_status(int (*section)(request_rec *r, int flags), int order)
{
    APR_OPTIONAL_HOOK(ap, status_hook, section, NULL, NULL, order);
}
