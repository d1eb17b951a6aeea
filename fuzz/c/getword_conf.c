/*
 * Oracle for the require_words fuzz target: httpd 2.4's ap_getword_conf()
 * and substring_conf() from server/util.c (Apache License 2.0), with the
 * APR pool replaced by a caller-supplied buffer and apr_isspace() by the C
 * locale's isspace(). The logic is unchanged, so the fuzz target compares
 * authnz-core's require_words() with the way httpd itself splits words.
 */
#include <ctype.h>
#include <stddef.h>

static size_t substring_conf(char *result, const char *start, int len, char quote)
{
    char *resp = result;
    int i;

    for (i = 0; i < len; ++i) {
        if (start[i] == '\\' && (start[i + 1] == '\\'
                                 || (quote && start[i + 1] == quote)))
            *resp++ = start[++i];
        else
            *resp++ = start[i];
    }

    *resp = '\0';
    return (size_t)(resp - result);
}

/* Writes the next word of *line into out (room for strlen(*line) + 1 bytes),
 * advances *line past it and the white space after it, and returns the
 * word's length. *quoted tells whether the word was a quoted token.
 * Like httpd, returns an empty word (and quoted = 0) at the end of the line. */
size_t oracle_getword_conf(const char **line, char *out, int *quoted)
{
    const char *str = *line, *strend;
    size_t len;
    char quote;

    *quoted = 0;
    while (isspace((unsigned char)*str))
        ++str;

    if (!*str) {
        *line = str;
        out[0] = '\0';
        return 0;
    }

    if ((quote = *str) == '"' || quote == '\'') {
        *quoted = 1;
        strend = str + 1;
        while (*strend && *strend != quote) {
            if (*strend == '\\' && strend[1] &&
                (strend[1] == quote || strend[1] == '\\')) {
                strend += 2;
            }
            else {
                ++strend;
            }
        }
        len = substring_conf(out, str + 1, (int)(strend - str - 1), quote);

        if (*strend == quote)
            ++strend;
    }
    else {
        strend = str;
        while (*strend && !isspace((unsigned char)*strend))
            ++strend;

        len = substring_conf(out, str, (int)(strend - str), 0);
    }

    while (isspace((unsigned char)*strend))
        ++strend;
    *line = strend;
    return len;
}
