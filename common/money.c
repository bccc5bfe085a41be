/*
 * money.c — paise parsing, formatting and overflow-checked arithmetic.
 */
#include "money.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int nagar_money_parse(const char *text, int64_t *paise, char *error, size_t error_size)
{
    const char *p = text;
    bool negative = false;
    if (*p == '-') {
        negative = true;
        p++;
    }
    if (!isdigit((unsigned char) *p)) {
        snprintf(error, error_size, "amount \"%.40s\" must be rupees like 1234.50", text);
        return -1;
    }
    __int128 value = 0;
    int integer_digits = 0;
    while (isdigit((unsigned char) *p)) {
        value = value * 10 + (*p - '0');
        if (++integer_digits > 17) {
            snprintf(error, error_size, "amount \"%.40s\" is too large", text);
            return -1;
        }
        p++;
    }
    int decimals = 0;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char) *p)) {
            if (++decimals > 2) {
                snprintf(error, error_size,
                         "amount \"%.40s\" has more than two decimals (paise are the smallest unit)",
                         text);
                return -1;
            }
            value = value * 10 + (*p - '0');
            p++;
        }
        if (decimals == 0) {
            snprintf(error, error_size, "amount \"%.40s\" must have digits after the point", text);
            return -1;
        }
    }
    if (*p != '\0') {
        snprintf(error, error_size, "amount \"%.40s\" must be rupees like 1234.50", text);
        return -1;
    }
    for (; decimals < 2; decimals++)
        value *= 10;
    if (negative)
        value = -value;
    if (value > INT64_MAX || value < INT64_MIN) {
        snprintf(error, error_size, "amount \"%.40s\" is too large", text);
        return -1;
    }
    *paise = (int64_t) value;
    return 0;
}

void nagar_money_format(int64_t paise, char out[NAGAR_MONEY_TEXT_MAX])
{
    /* Work in unsigned magnitude so INT64_MIN formats correctly. */
    uint64_t magnitude = paise < 0 ? (uint64_t) 0 - (uint64_t) paise : (uint64_t) paise;
    snprintf(out, NAGAR_MONEY_TEXT_MAX, "%s%" PRIu64 ".%02" PRIu64, paise < 0 ? "-" : "",
             magnitude / 100, magnitude % 100);
}

bool nagar_money_add(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

bool nagar_money_multiply(int64_t a, int64_t factor, int64_t *out)
{
    return !__builtin_mul_overflow(a, factor, out);
}

bool nagar_money_scale(int64_t amount, int64_t numerator, int64_t denominator, int64_t *out)
{
    if (denominator <= 0)
        return false;
    __int128 product = (__int128) amount * numerator;
    __int128 magnitude = product < 0 ? -product : product;
    __int128 quotient = magnitude / denominator;
    if ((magnitude % denominator) * 2 >= denominator)
        quotient += 1;
    __int128 result = product < 0 ? -quotient : quotient;
    if (result > INT64_MAX || result < INT64_MIN)
        return false;
    *out = (int64_t) result;
    return true;
}

int64_t nagar_money_round_to_rupee(int64_t paise)
{
    int64_t rupees = 0;
    /* Cannot fail: dividing by 100 only shrinks the value. */
    (void) nagar_money_scale(paise, 1, 100, &rupees);
    return rupees * 100;
}
