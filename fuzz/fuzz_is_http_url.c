/* Fuzzes dalle_is_http_url: an accepted URL starts with http:// or https:// (any case), has a
 * host, carries no user info, spaces or control bytes, and fits DALLE_RULES_URL_MAX. */
#include "rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t scheme_length(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0) return 8;
    if (strncasecmp(url, "http://", 7) == 0) return 7;
    return 0;
}

static int has_space_or_control(const char *url)
{
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7F) return 1;
    return 0;
}

/* The authority runs from after the scheme to the first '/', '?' or '#'. */
static int authority_has_user_info(const char *authority)
{
    size_t authority_len = strcspn(authority, "/?#");
    return memchr(authority, '@', authority_len) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy lets ASan catch any read past the terminating NUL. */
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';

    int accepted = dalle_is_http_url(url);
    if (accepted != 0 && accepted != 1) abort();
    if (accepted) {
        size_t scheme_len = scheme_length(url);
        if (scheme_len == 0) abort();
        if (strlen(url) > DALLE_RULES_URL_MAX) abort();
        if (has_space_or_control(url)) abort();
        if (strchr(":/?#", url[scheme_len])) abort(); /* also catches the empty host */
        if (authority_has_user_info(url + scheme_len)) abort();
    }
    free(url);
    return 0;
}
