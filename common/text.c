/*
 * text.c — UTF-8 text as Nagar accepts it from people; see text.h.
 */
#include "text.h"

#include <string.h>

int nagar_utf8_next(const char *text, uint32_t *code)
{
    const unsigned char *p = (const unsigned char *) text;
    unsigned char c = p[0];
    int extra;
    uint32_t value;
    if (c < 0x80) {
        *code = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        extra = 1;
        value = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        extra = 2;
        value = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        extra = 3;
        value = c & 0x07;
    } else {
        return 0;
    }
    /* A NUL ends the loop here too: it is not a continuation byte. */
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates, values past U+10FFFF. */
    if ((extra == 1 && value < 0x80) || (extra == 2 && value < 0x800) ||
        (extra == 3 && value < 0x10000) || (value >= 0xd800 && value <= 0xdfff) ||
        value > 0x10ffff)
        return 0;
    *code = value;
    return extra + 1;
}

bool nagar_utf8_valid(const char *text)
{
    while (*text) {
        uint32_t code;
        int length = nagar_utf8_next(text, &code);
        if (length == 0)
            return false;
        text += length;
    }
    return true;
}

size_t nagar_utf8_length(const char *text)
{
    size_t characters = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xc0) != 0x80)
            characters++;
    return characters;
}

bool nagar_text_valid(const char *text, size_t min, size_t max, bool newlines)
{
    if (!text)
        return false;
    size_t characters = 0;
    while (*text) {
        uint32_t code;
        int length = nagar_utf8_next(text, &code);
        if (length == 0)
            return false;
        bool control = code < 0x20 || code == 0x7f || (code >= 0x80 && code < 0xa0);
        if (control && !(newlines && code == '\n'))
            return false;
        text += length;
        if (++characters > max)
            return false;
    }
    return characters >= min;
}

bool nagar_text_digits(const char *text, size_t min, size_t max)
{
    if (!text)
        return false;
    size_t length = strnlen(text, max + 1);
    if (length < min || length > max)
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

bool nagar_text_plain_name(const char *name, size_t max)
{
    if (!name)
        return false;
    size_t length = strnlen(name, max + 1);
    if (length < 1 || length > max || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            return false;
    return true;
}
