/* Measures what apr_password_validate costs for each salted hash scheme a
 * module could hand to mod_authn_socache (and, for reference, unsalted
 * {SHA}). Built and run by scripts/benchmark.sh. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <crypt.h>
#include <apr_general.h>
#include <apr_md5.h>
#include <apr_sha1.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void measure(const char *label, const char *hash, const char *pw)
{
    int n = 0;
    double start = now(), elapsed;
    if (apr_password_validate(pw, hash) != APR_SUCCESS) {
        printf("%-28s does not validate: %s\n", label, hash);
        return;
    }
    do {
        apr_password_validate(pw, hash);
        n++;
        elapsed = now() - start;
    } while (elapsed < 0.5);
    printf("%-28s %9.1f us/validation  (%zu bytes)\n", label, elapsed / n * 1e6,
           strlen(hash));
}

int main(void)
{
    const char *pw = "correct horse battery staple";
    unsigned char salt[16] = "0123456789abcdef";
    char out[256];
    struct crypt_data data;
    const char *settings[][2] = {
        {"sha1-crypt rounds=1", "$sha1$1$abcdefghijklmnop$"},
        {"sha1-crypt rounds=2", "$sha1$2$abcdefghijklmnop$"},
        {"sha1-crypt rounds=8", "$sha1$8$abcdefghijklmnop$"},
        {"sha256-crypt rounds=1000", "$5$rounds=1000$abcdefghijklmnop$"},
        {"sha256-crypt rounds=5000", "$5$abcdefghijklmnop$"},
        {"sha512-crypt rounds=1000", "$6$rounds=1000$abcdefghijklmnop$"},
        {"sha512-crypt rounds=5000", "$6$abcdefghijklmnop$"},
        {"yescrypt (lowest cost)", NULL},
        {"yescrypt (Debian default)", NULL},
    };

    apr_initialize();
    apr_sha1_base64(pw, strlen(pw), out);
    measure("{SHA} (unsalted, rejected)", out, pw);
    apr_md5_encode(pw, "abcdefgh", out, sizeof out);
    measure("$apr1$ (md5-crypt)", out, pw);
    for (unsigned cost = 4; cost <= 6; cost++) {
        char label[64];
        apr_bcrypt_encode(pw, cost, salt, sizeof salt, out, sizeof out);
        snprintf(label, sizeof label, "bcrypt cost %u", cost);
        measure(label, out, pw);
    }
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        memset(&data, 0, sizeof data);
        const char *setting = settings[i][1];
        if (setting == NULL) /* yescrypt: let libcrypt encode cost and salt */
            setting = crypt_gensalt("$y$", strstr(settings[i][0], "lowest") ? 1 : 0,
                                    NULL, 0);
        char *h = crypt_r(pw, setting, &data);
        if (!h || h[0] == '*') {
            printf("%-28s unsupported\n", settings[i][0]);
            continue;
        }
        snprintf(out, sizeof out, "%s", h);
        measure(settings[i][0], out, pw);
    }
    return 0;
}
