/*
 * date.h — calendar dates and municipal financial years.
 *
 * Dates are ISO 8601 calendar dates (YYYY-MM-DD), proleptic Gregorian,
 * without time zone: a municipal due date is a day, not an instant.
 * Financial years run 1 April to 31 March and are written "2026-27".
 */
#ifndef NAGAR_DATE_H
#define NAGAR_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int year;    /* 1900..9999 */
    int month;   /* 1..12 */
    int day;     /* 1..days in month */
} nagar_date_t;

#define NAGAR_DATE_TEXT_MAX 11   /* "YYYY-MM-DD" and terminator */
#define NAGAR_FY_TEXT_MAX 8      /* "2026-27" and terminator */

/* Strict YYYY-MM-DD; rejects 2026-02-29, 2026-13-01, " 2026-01-01". */
int nagar_date_parse(const char *text, nagar_date_t *date, char *error, size_t error_size);
void nagar_date_format(nagar_date_t date, char out[NAGAR_DATE_TEXT_MAX]);
bool nagar_date_is_valid(nagar_date_t date);
bool nagar_date_is_leap_year(int year);
int nagar_date_days_in_month(int year, int month);

/* Days since 1970-01-01 (negative before), and back. */
int32_t nagar_date_to_days(nagar_date_t date);
nagar_date_t nagar_date_from_days(int32_t days);

/* b - a in days. */
int32_t nagar_date_diff_days(nagar_date_t a, nagar_date_t b);
int nagar_date_compare(nagar_date_t a, nagar_date_t b);   /* <0, 0, >0 */

/* Whole months from a to b (b >= a): 2026-04-15 -> 2026-05-14 is 0,
 * -> 2026-05-15 is 1. Used for per-month surcharges. */
int nagar_date_whole_months_between(nagar_date_t a, nagar_date_t b);

/* Today in India Standard Time (UTC+05:30), the civil date of every ULB. */
nagar_date_t nagar_date_today_ist(void);

/* The financial year a date falls in, as its starting calendar year:
 * 2027-03-31 -> 2026, 2027-04-01 -> 2027. */
int nagar_fy_of(nagar_date_t date);

/* "2026-27" <-> 2026. Parsing is strict: the second part must be the next
 * year's last two digits. */
int nagar_fy_parse(const char *text, int *start_year, char *error, size_t error_size);
void nagar_fy_format(int start_year, char out[NAGAR_FY_TEXT_MAX]);

nagar_date_t nagar_fy_first_day(int start_year);   /* 1 April */
nagar_date_t nagar_fy_last_day(int start_year);    /* 31 March of the next year */

#endif
