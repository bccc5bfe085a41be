/*
 * money.h — amounts of money as int64 paise (1 rupee = 100 paise).
 *
 * Never floating point. Arithmetic that could overflow reports it instead
 * of wrapping. Rounding is explicit and always "half away from zero" (the
 * rule municipal accounts use: Rs 10.50 rounds to Rs 11, -10.50 to -11).
 */
#ifndef NAGAR_MONEY_H
#define NAGAR_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text nagar_money_format writes, terminator included. */
#define NAGAR_MONEY_TEXT_MAX 32

/* Parses "1234", "1234.5", "1234.50" or "-12.05" (rupees, at most two
 * decimals, no exponent, no grouping, no spaces) into paise. Returns -1
 * with the rule that was broken in error. */
int nagar_money_parse(const char *text, int64_t *paise, char *error, size_t error_size);

/* Writes rupees with two decimals: 123450 -> "1234.50", -5 -> "-0.05". */
void nagar_money_format(int64_t paise, char out[NAGAR_MONEY_TEXT_MAX]);

/* *out = a + b, or false when that overflows int64. */
bool nagar_money_add(int64_t a, int64_t b, int64_t *out);

/* *out = a * factor, or false when that overflows. */
bool nagar_money_multiply(int64_t a, int64_t factor, int64_t *out);

/* amount * numerator / denominator rounded half away from zero, computed in
 * 128 bits so intermediate products cannot overflow. Rates are expressed
 * as fractions: 6% = 6/100, 1.5% = 15/1000, 0.25% = 25/10000. Returns false
 * when denominator is not positive or the result does not fit. */
bool nagar_money_scale(int64_t amount, int64_t numerator, int64_t denominator, int64_t *out);

/* Rounds paise to whole rupees, half away from zero: 1050 -> 1100. */
int64_t nagar_money_round_to_rupee(int64_t paise);

#endif
