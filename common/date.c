/*
 * date.c — civil-date arithmetic and financial years.
 *
 * Day numbers use the well-known days-from-civil algorithm (H. Hinnant),
 * exact over the whole proleptic Gregorian calendar with no table or libc
 * time zone involved.
 */
#include "date.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool nagar_date_is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int nagar_date_days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month < 1 || month > 12)
        return 0;
    return month == 2 && nagar_date_is_leap_year(year) ? 29 : days[month - 1];
}

bool nagar_date_is_valid(nagar_date_t date)
{
    return date.year >= 1900 && date.year <= 9999 && date.month >= 1 && date.month <= 12 &&
           date.day >= 1 && date.day <= nagar_date_days_in_month(date.year, date.month);
}

static bool digits(const char *text, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isdigit((unsigned char) text[i]))
            return false;
    return true;
}

int nagar_date_parse(const char *text, nagar_date_t *date, char *error, size_t error_size)
{
    if (strlen(text) != 10 || !digits(text, 4) || text[4] != '-' || !digits(text + 5, 2) ||
        text[7] != '-' || !digits(text + 8, 2)) {
        snprintf(error, error_size, "date \"%.32s\" must be written YYYY-MM-DD", text);
        return -1;
    }
    nagar_date_t parsed = {
        .year = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0'),
        .month = (text[5] - '0') * 10 + (text[6] - '0'),
        .day = (text[8] - '0') * 10 + (text[9] - '0'),
    };
    if (!nagar_date_is_valid(parsed)) {
        snprintf(error, error_size, "date \"%s\" does not exist in the calendar (years 1900-9999)",
                 text);
        return -1;
    }
    *date = parsed;
    return 0;
}

void nagar_date_format(nagar_date_t date, char out[NAGAR_DATE_TEXT_MAX])
{
    snprintf(out, NAGAR_DATE_TEXT_MAX, "%04u-%02u-%02u", (unsigned) date.year % 10000u,
             (unsigned) date.month % 100u, (unsigned) date.day % 100u);
}

int32_t nagar_date_to_days(nagar_date_t date)
{
    int year = date.year - (date.month <= 2);
    int era = (year >= 0 ? year : year - 399) / 400;
    int year_of_era = year - era * 400;
    int day_of_year = (153 * (date.month + (date.month > 2 ? -3 : 9)) + 2) / 5 + date.day - 1;
    int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

nagar_date_t nagar_date_from_days(int32_t days)
{
    int z = days + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int day_of_era = z - era * 146097;
    int year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int mp = (5 * day_of_year + 2) / 153;
    nagar_date_t date;
    date.day = day_of_year - (153 * mp + 2) / 5 + 1;
    date.month = mp < 10 ? mp + 3 : mp - 9;
    date.year = year_of_era + era * 400 + (date.month <= 2);
    return date;
}

int32_t nagar_date_diff_days(nagar_date_t a, nagar_date_t b)
{
    return nagar_date_to_days(b) - nagar_date_to_days(a);
}

int nagar_date_compare(nagar_date_t a, nagar_date_t b)
{
    int32_t diff = nagar_date_diff_days(b, a);
    return (diff > 0) - (diff < 0);
}

int nagar_date_whole_months_between(nagar_date_t a, nagar_date_t b)
{
    int months = (b.year - a.year) * 12 + (b.month - a.month);
    /* A month is complete on the same day-of-month, or at the end of a
     * shorter month (31 Jan -> 28 Feb counts as one month). */
    int anniversary_day = a.day;
    int month_length = nagar_date_days_in_month(b.year, b.month);
    if (anniversary_day > month_length)
        anniversary_day = month_length;
    if (b.day < anniversary_day)
        months--;
    return months < 0 ? 0 : months;
}

nagar_date_t nagar_date_today_ist(void)
{
    time_t now = time(NULL) + (5 * 60 + 30) * 60;
    return nagar_date_from_days((int32_t) (now / 86400));
}

int nagar_fy_of(nagar_date_t date)
{
    return date.month >= 4 ? date.year : date.year - 1;
}

int nagar_fy_parse(const char *text, int *start_year, char *error, size_t error_size)
{
    if (strlen(text) != 7 || !digits(text, 4) || text[4] != '-' || !digits(text + 5, 2)) {
        snprintf(error, error_size, "financial year \"%.32s\" must be written like 2026-27", text);
        return -1;
    }
    int start = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    int end = (text[5] - '0') * 10 + (text[6] - '0');
    if (start < 1900 || start > 9998 || end != (start + 1) % 100) {
        snprintf(error, error_size,
                 "financial year \"%s\" must name two consecutive years, like 2026-27", text);
        return -1;
    }
    *start_year = start;
    return 0;
}

void nagar_fy_format(int start_year, char out[NAGAR_FY_TEXT_MAX])
{
    snprintf(out, NAGAR_FY_TEXT_MAX, "%04u-%02u", (unsigned) start_year % 10000u,
             (unsigned) (start_year + 1) % 100u);
}

nagar_date_t nagar_fy_first_day(int start_year)
{
    return (nagar_date_t) { start_year, 4, 1 };
}

nagar_date_t nagar_fy_last_day(int start_year)
{
    return (nagar_date_t) { start_year + 1, 3, 31 };
}
