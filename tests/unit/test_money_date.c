/* Unit tests for money.h and date.h: the arithmetic every bill relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "date.h"
#include "money.h"

static void money_parse_accepts_rupees_and_paise(void **state)
{
    (void) state;
    char error[128];
    int64_t paise = 0;
    assert_int_equal(nagar_money_parse("1234", &paise, error, sizeof error), 0);
    assert_int_equal(paise, 123400);
    assert_int_equal(nagar_money_parse("1234.5", &paise, error, sizeof error), 0);
    assert_int_equal(paise, 123450);
    assert_int_equal(nagar_money_parse("0.05", &paise, error, sizeof error), 0);
    assert_int_equal(paise, 5);
    assert_int_equal(nagar_money_parse("-12.05", &paise, error, sizeof error), 0);
    assert_int_equal(paise, -1205);
}

static void money_parse_rejects_malformed(void **state)
{
    (void) state;
    static const char *const bad[] = { "", "-", "1.", ".5", "1.234", "1e3", "1,000", " 1",
                                       "1 ", "+1", "12a", "99999999999999999999" };
    char error[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t paise = 42;
        error[0] = '\0';
        assert_int_equal(nagar_money_parse(bad[i], &paise, error, sizeof error), -1);
        assert_int_equal(paise, 42);
        assert_true(strlen(error) > 0);
    }
    int64_t paise;
    nagar_money_parse("1.234", &paise, error, sizeof error);
    assert_non_null(strstr(error, "two decimals"));
}

static void money_format_round_trips(void **state)
{
    (void) state;
    char text[NAGAR_MONEY_TEXT_MAX];
    nagar_money_format(123450, text);
    assert_string_equal(text, "1234.50");
    nagar_money_format(-5, text);
    assert_string_equal(text, "-0.05");
    nagar_money_format(0, text);
    assert_string_equal(text, "0.00");
    nagar_money_format(INT64_MIN, text);
    assert_string_equal(text, "-92233720368547758.08");
    char error[64];
    int64_t back;
    nagar_money_format(INT64_MAX, text);
    assert_int_equal(nagar_money_parse(text, &back, error, sizeof error), 0);
    assert_true(back == INT64_MAX);
}

static void money_arithmetic_detects_overflow(void **state)
{
    (void) state;
    int64_t out;
    assert_true(nagar_money_add(1, 2, &out));
    assert_int_equal(out, 3);
    assert_false(nagar_money_add(INT64_MAX, 1, &out));
    assert_false(nagar_money_multiply(INT64_MAX / 2 + 1, 2, &out));
    assert_true(nagar_money_multiply(-150, 3, &out));
    assert_int_equal(out, -450);
}

static void money_scale_rounds_half_away_from_zero(void **state)
{
    (void) state;
    int64_t out;
    /* 6% of Rs 36,000 = Rs 2,160 exactly. */
    assert_true(nagar_money_scale(3600000, 6, 100, &out));
    assert_int_equal(out, 216000);
    /* 1.5% of 33 paise = 0.495 -> 0 paise; of 34 paise = 0.51 -> 1. */
    assert_true(nagar_money_scale(33, 15, 1000, &out));
    assert_int_equal(out, 0);
    assert_true(nagar_money_scale(34, 15, 1000, &out));
    assert_int_equal(out, 1);
    /* 50% of 1 paisa is half a paisa: rounds away from zero, both signs. */
    assert_true(nagar_money_scale(1, 1, 2, &out));
    assert_int_equal(out, 1);
    assert_true(nagar_money_scale(-1, 1, 2, &out));
    assert_int_equal(out, -1);
    /* Intermediate product beyond int64 is still exact. */
    assert_true(nagar_money_scale(INT64_MAX, 100, 100, &out));
    assert_true(out == INT64_MAX);
    assert_false(nagar_money_scale(INT64_MAX, 2, 1, &out));
    assert_false(nagar_money_scale(100, 1, 0, &out));
    assert_int_equal(nagar_money_round_to_rupee(1049), 1000);
    assert_int_equal(nagar_money_round_to_rupee(1050), 1100);
    assert_int_equal(nagar_money_round_to_rupee(-1050), -1100);
}

static void date_parse_is_strict(void **state)
{
    (void) state;
    char error[128];
    nagar_date_t date;
    assert_int_equal(nagar_date_parse("2024-02-29", &date, error, sizeof error), 0);
    assert_int_equal(date.year, 2024);
    assert_int_equal(date.month, 2);
    assert_int_equal(date.day, 29);
    static const char *const bad[] = { "2026-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
                                       "26-04-01", "2026/04/01", " 2026-04-01", "2026-4-1",
                                       "1899-12-31", "2026-04-01T00:00" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(nagar_date_parse(bad[i], &date, error, sizeof error), -1);
    char text[NAGAR_DATE_TEXT_MAX];
    nagar_date_format((nagar_date_t) { 2026, 4, 1 }, text);
    assert_string_equal(text, "2026-04-01");
}

static void date_day_numbers_round_trip(void **state)
{
    (void) state;
    assert_int_equal(nagar_date_to_days((nagar_date_t) { 1970, 1, 1 }), 0);
    assert_int_equal(nagar_date_to_days((nagar_date_t) { 2000, 3, 1 }), 11017);
    for (int32_t d = -25567; d < 2932896; d += 97) {   /* 1900-01-01 .. 9999-12-31 */
        nagar_date_t date = nagar_date_from_days(d);
        assert_true(nagar_date_is_valid(date));
        assert_int_equal(nagar_date_to_days(date), d);
    }
    assert_int_equal(nagar_date_diff_days((nagar_date_t) { 2026, 8, 31 },
                                          (nagar_date_t) { 2026, 9, 1 }), 1);
    assert_true(nagar_date_compare((nagar_date_t) { 2026, 8, 31 }, (nagar_date_t) { 2026, 9, 1 }) < 0);
}

static void date_whole_months(void **state)
{
    (void) state;
    assert_int_equal(nagar_date_whole_months_between((nagar_date_t) { 2026, 4, 15 },
                                                     (nagar_date_t) { 2026, 5, 14 }), 0);
    assert_int_equal(nagar_date_whole_months_between((nagar_date_t) { 2026, 4, 15 },
                                                     (nagar_date_t) { 2026, 5, 15 }), 1);
    assert_int_equal(nagar_date_whole_months_between((nagar_date_t) { 2026, 1, 31 },
                                                     (nagar_date_t) { 2026, 2, 28 }), 1);
    assert_int_equal(nagar_date_whole_months_between((nagar_date_t) { 2027, 4, 1 },
                                                     (nagar_date_t) { 2028, 3, 31 }), 11);
}

static void financial_years(void **state)
{
    (void) state;
    assert_int_equal(nagar_fy_of((nagar_date_t) { 2027, 3, 31 }), 2026);
    assert_int_equal(nagar_fy_of((nagar_date_t) { 2027, 4, 1 }), 2027);
    char text[NAGAR_FY_TEXT_MAX];
    nagar_fy_format(2026, text);
    assert_string_equal(text, "2026-27");
    nagar_fy_format(2099, text);
    assert_string_equal(text, "2099-00");
    int year = 0;
    char error[128];
    assert_int_equal(nagar_fy_parse("2026-27", &year, error, sizeof error), 0);
    assert_int_equal(year, 2026);
    assert_int_equal(nagar_fy_parse("2099-00", &year, error, sizeof error), 0);
    assert_int_equal(year, 2099);
    assert_int_equal(nagar_fy_parse("2026-28", &year, error, sizeof error), -1);
    assert_non_null(strstr(error, "consecutive"));
    assert_int_equal(nagar_fy_parse("2026-2027", &year, error, sizeof error), -1);
    nagar_date_t first = nagar_fy_first_day(2026), last = nagar_fy_last_day(2026);
    assert_int_equal(nagar_date_diff_days(first, last), 364);
    assert_true(nagar_date_is_valid(nagar_date_today_ist()));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_parse_accepts_rupees_and_paise),
        cmocka_unit_test(money_parse_rejects_malformed),
        cmocka_unit_test(money_format_round_trips),
        cmocka_unit_test(money_arithmetic_detects_overflow),
        cmocka_unit_test(money_scale_rounds_half_away_from_zero),
        cmocka_unit_test(date_parse_is_strict),
        cmocka_unit_test(date_day_numbers_round_trip),
        cmocka_unit_test(date_whole_months),
        cmocka_unit_test(financial_years),
    };
    return cmocka_run_group_tests_name("money_date", tests, NULL, NULL);
}
