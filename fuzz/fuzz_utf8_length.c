/* Fuzzes dalle_utf8_length against a table-driven reference validator: both must agree on
 * validity and on the code point count, which can never exceed the byte count. */
#include "rules.h"

#include <stdint.h>
#include <stdlib.h>

/* Well-formed sequences as listed in Unicode's Table 3-7: the lead byte fixes the range of the
 * second byte, which is where overlong forms, surrogates and values past U+10FFFF are refused,
 * so no code point is ever assembled. */
static long reference_length(const uint8_t *s, size_t len)
{
    long count = 0;
    size_t i = 0;
    while (i < len) {
        uint8_t lead = s[i], second_min = 0x80, second_max = 0xBF;
        size_t width;
        if (lead == 0x00)
            return -1;
        else if (lead <= 0x7F)
            width = 1;
        else if (lead >= 0xC2 && lead <= 0xDF)
            width = 2;
        else if (lead == 0xE0) {
            width = 3;
            second_min = 0xA0;
        } else if (lead == 0xED) {
            width = 3;
            second_max = 0x9F;
        } else if (lead >= 0xE1 && lead <= 0xEF)
            width = 3;
        else if (lead == 0xF0) {
            width = 4;
            second_min = 0x90;
        } else if (lead == 0xF4) {
            width = 4;
            second_max = 0x8F;
        } else if (lead >= 0xF1 && lead <= 0xF3)
            width = 4;
        else
            return -1;
        if (len - i < width) return -1;
        if (width > 1 && (s[i + 1] < second_min || s[i + 1] > second_max)) return -1;
        for (size_t k = 2; k < width; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return -1;
        i += width;
        count++;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long count = dalle_utf8_length((const char *)data, size);

    if (count < -1 || (count >= 0 && (size_t)count > size)) abort();
    if (count != reference_length(data, size)) abort();
    return 0;
}
