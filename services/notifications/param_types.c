/*
 * param_types.c — the shape of each type of template param (see
 * param_types.h).
 */
#include "param_types.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "text.h"

typedef const char *(param_check_fn)(const char *value, const char *ulb,
                                      char out[PARAM_VALUE_MAX]);

/* ---- small readers ---------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits (n > 0) or between min and max when n is 0. */
static const char *digits(const char *p, size_t min, size_t max)
{
    size_t n = 0;
    while (is_digit(p[n]) && n <= max)
        n++;
    return n >= min && n <= max ? p + n : NULL;
}

/* The ULB the identifier must start with, and the separator after it. */
static const char *ulb_prefix(const char *p, const char *ulb, char separator)
{
    if (ulb && ulb[0]) {
        size_t length = strlen(ulb);
        if (strncmp(p, ulb, length) != 0)
            return NULL;
        p += length;
    } else {
        p = digits(p, 1, 10);
        if (!p)
            return NULL;
    }
    return *p == separator ? p + 1 : NULL;
}

static const char *copy(const char *value, char out[PARAM_VALUE_MAX])
{
    snprintf(out, PARAM_VALUE_MAX, "%s", value);
    return NULL;
}

/* ---- numbers, dates, enums ----------------------------------------------------- */

static const char *check_paise(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    const char *end = digits(value, 1, 14);
    if (!end || *end || strlen(value) > 14 || (strlen(value) == 14 && strcmp(value, "10000000000000") > 0))
        return "a whole number of paise from 0 to 10000000000000, such as 125000";
    return copy(value, out);
}

static const char *check_count(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    const char *end = digits(value, 1, 9);
    if (!end || *end)
        return "a whole number of 1 to 9 digits";
    return copy(value, out);
}

static const char *check_date(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    nagar_date_t date;
    char error[128];
    if (strlen(value) != 10 || nagar_date_parse(value, &date, error, sizeof error) != 0)
        return "a calendar date YYYY-MM-DD";
    return copy(value, out);
}

static const char *check_financial_year(const char *value, const char *ulb,
                                        char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    int start;
    char error[128];
    if (strlen(value) != 7 || nagar_fy_parse(value, &start, error, sizeof error) != 0)
        return "a financial year such as 2026-27";
    return copy(value, out);
}

static const char *check_period(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    const char *p = digits(value, 4, 4);
    if (!p || *p != '-' || !digits(p + 1, 2, 2) || p[3] != '\0')
        return "a billing month YYYY-MM";
    int month = (p[1] - '0') * 10 + (p[2] - '0');
    if (month < 1 || month > 12)
        return "a billing month YYYY-MM";
    return copy(value, out);
}

static const char *one_of(const char *value, const char *const *words, const char *rule,
                          char out[PARAM_VALUE_MAX])
{
    for (size_t i = 0; words[i]; i++)
        if (strcmp(value, words[i]) == 0)
            return copy(value, out);
    return rule;
}

static const char *check_kind(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    static const char *const words[] = {"birth", "death", "marriage", NULL};
    return one_of(value, words, "one of birth, death, marriage", out);
}

static const char *check_service(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    static const char *const words[] = {"property_tax", "water_tax", NULL};
    return one_of(value, words, "one of property_tax, water_tax", out);
}

static const char *check_otp(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    const char *end = digits(value, 4, 8);
    if (!end || *end)
        return "4 to 8 digits";
    return copy(value, out);
}

/* ---- identifiers of a ULB's records ----------------------------------------------- */

static const char *check_property_id(const char *value, const char *ulb,
                                     char out[PARAM_VALUE_MAX])
{
    const char *p = ulb_prefix(value, ulb, '-');
    p = p ? digits(p, 3, 3) : NULL;
    p = p && *p == '-' ? digits(p + 1, 6, 6) : NULL;
    if (!p || *p)
        return "a property id of the event's ULB: <ulb>-<ward, 3 digits>-<6 digits>";
    return copy(value, out);
}

static const char *check_connection_id(const char *value, const char *ulb,
                                       char out[PARAM_VALUE_MAX])
{
    const char *p = ulb_prefix(value, ulb, '-');
    p = p && *p == 'W' ? digits(p + 1, 3, 3) : NULL;
    p = p && *p == '-' ? digits(p + 1, 6, 6) : NULL;
    if (!p || *p)
        return "a water connection id of the event's ULB: <ulb>-W<ward, 3 digits>-<6 digits>";
    return copy(value, out);
}

static const char *check_account(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    if (!check_property_id(value, ulb, out) || !check_connection_id(value, ulb, out))
        return NULL;
    return "a property id or a water connection id of the event's ULB";
}

static const char *check_receipt_no(const char *value, const char *ulb,
                                    char out[PARAM_VALUE_MAX])
{
    static const char *const rule =
        "a receipt number of the event's ULB: <ulb>/<financial year>/<counter>/<6 to 9 digits>";
    const char *p = ulb_prefix(value, ulb, '/');
    if (!p || strlen(p) < 8)
        return rule;
    char fy[8];
    memcpy(fy, p, 7);
    fy[7] = '\0';
    int start;
    char error[128];
    if (nagar_fy_parse(fy, &start, error, sizeof error) != 0 || p[7] != '/')
        return rule;
    p += 8;
    /* The counter: 1..16 of A-Z 0-9 (common/receipt.h), never phone-length digits. */
    size_t n = 0, run = 0;
    for (; (p[n] >= 'A' && p[n] <= 'Z') || is_digit(p[n]); n++) {
        run = is_digit(p[n]) ? run + 1 : 0;
        if (run > 6)
            return rule;
    }
    if (n < 1 || n > 16 || p[n] != '/')
        return rule;
    p = digits(p + n + 1, 6, 9);
    if (!p || *p)
        return rule;
    return copy(value, out);
}

static const char *check_registration_no(const char *value, const char *ulb,
                                         char out[PARAM_VALUE_MAX])
{
    const char *p = ulb_prefix(value, ulb, '/');
    p = p && (*p == 'B' || *p == 'D' || *p == 'M') && p[1] == '/' ? digits(p + 2, 4, 4) : NULL;
    p = p && *p == '/' ? digits(p + 1, 1, 9) : NULL;
    if (!p || *p)
        return "a registration number of the event's ULB: <ulb>/<B|D|M>/<year>/<number>";
    return copy(value, out);
}

static const char *check_record_id(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";   /* Crockford */
    if (strlen(value) != 17 || !strchr("ACR", value[0]))
        return "a record id: A, C or R and 16 characters of Crockford base32";
    for (size_t i = 1; i < 17; i++)
        if (!strchr(alphabet, value[i]))
            return "a record id: A, C or R and 16 characters of Crockford base32";
    return copy(value, out);
}

/* ---- words people wrote ------------------------------------------------------------- */

/* The digit value of an ASCII or Indic digit, -1 for anything else. */
static int digit_of(uint32_t code)
{
    if (code >= '0' && code <= '9')
        return (int) (code - '0');
    /* Devanagari .. Sinhala: each block's digits sit at +0x66..+0x6F. */
    if (code >= 0x0900 && code <= 0x0DFF) {
        uint32_t offset = code & 0x7F;
        if (offset >= 0x66 && offset <= 0x6F)
            return (int) (offset - 0x66);
    }
    return -1;
}

/* A letter (or a combining mark) of the scripts names are written in. */
static bool is_letter(uint32_t code)
{
    if ((code >= 'A' && code <= 'Z') || (code >= 'a' && code <= 'z'))
        return true;
    if (code >= 0x00C0 && code <= 0x024F)
        return code != 0x00D7 && code != 0x00F7;   /* not × ÷ */
    if (code >= 0x0900 && code <= 0x0DFF)
        return digit_of(code) < 0 && code != 0x0964 && code != 0x0965;  /* not digits, dandas */
    return code == 0x200C || code == 0x200D;       /* ZWNJ, ZWJ: Indic shaping */
}

typedef struct {
    size_t max_chars;
    size_t min_chars;
    size_t max_digit_run;
    bool digit_joiners;         /* a space, '-' or '.' between digits continues the run */
    const char *punctuation;    /* ASCII punctuation allowed besides the space */
    bool rupee;                 /* the rupee sign is allowed */
    const char *rule;
} words_rule_t;

static const char *check_words(const words_rule_t *rule, const char *value,
                               char out[PARAM_VALUE_MAX])
{
    size_t used = 0, chars = 0, run = 0, run_dots = 0;
    bool joined = false;        /* the last character was a joiner inside a digit run */
    const char *p = value;
    while (*p) {
        uint32_t code;
        int length = nagar_utf8_next(p, &code);
        if (length <= 0)
            return rule->rule;
        chars++;
        if (digit_of(code) >= 0) {
            run = joined || run > 0 ? run + 1 : 1;
            joined = false;
            if (run > rule->max_digit_run)
                return rule->rule;
        } else if (code < 0x80 && strchr(rule->digit_joiners ? " -." : "", (int) code) &&
                   code != 0 && run > 0 && !joined) {
            joined = true;      /* may continue the run: "98765 43210" is one number */
            run_dots += code == '.';
            if (run_dots >= 3)
                return rule->rule;  /* 203.0.113.5 is an address, not a figure */
        } else {
            run = run_dots = 0;
            joined = false;
        }
        bool allowed = is_letter(code) || digit_of(code) >= 0 || code == ' ' ||
                       code == 0x0964 || code == 0x0965 || (rule->rupee && code == 0x20B9) ||
                       (code < 0x80 && code != 0 && strchr(rule->punctuation, (int) code));
        if (!allowed)
            return rule->rule;
        if (code == ' ' && (used == 0 || out[used - 1] == ' ')) {
            p += length;        /* spaces: one between words, none in front */
            continue;
        }
        /* "www." is how a bare link starts. */
        if ((code == 'w' || code == 'W') && (p[1] | 0x20) == 'w' && (p[2] | 0x20) == 'w' &&
            p[3] == '.')
            return rule->rule;
        if (used + (size_t) length + 2 >= PARAM_VALUE_MAX)
            return rule->rule;
        memcpy(out + used, p, (size_t) length);
        used += (size_t) length;
        p += length;
        /* A dot right before a letter could join a domain name: keep the two apart. */
        uint32_t next = 0;
        if (code == '.' && *p && nagar_utf8_next(p, &next) > 0 && is_letter(next))
            out[used++] = ' ';
    }
    while (used > 0 && out[used - 1] == ' ')
        used--;
    out[used] = '\0';
    if (chars < rule->min_chars || chars > rule->max_chars)
        return rule->rule;
    return NULL;
}

static const char *check_person_name(const char *value, const char *ulb,
                                     char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    static const words_rule_t rule = {
        .min_chars = 0, .max_chars = 210, .max_digit_run = 3, .digit_joiners = false,
        .punctuation = ".'-&,()/",
        .rule = "a name: at most 210 letters, spaces and . ' - & , ( ) / (no URL, e-mail or "
                "UPI address, no phone number)"};
    return check_words(&rule, value, out);
}

static const char *check_text(const char *value, const char *ulb, char out[PARAM_VALUE_MAX])
{
    (void) ulb;
    static const words_rule_t rule = {
        .min_chars = 1, .max_chars = 200, .max_digit_run = 8, .digit_joiners = true,
        .punctuation = ".'-&,();?!\"/%", .rupee = true,
        .rule = "plain words: 1 to 200 letters, digits, spaces and . ' - & , ( ) ; ? ! \" / % "
                "₹ (no URL, e-mail or UPI address, no phone number)"};
    return check_words(&rule, value, out);
}

/* ---- the table ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    param_check_fn *check;
} TYPES[] = {
    {"paise", check_paise},
    {"count", check_count},
    {"date", check_date},
    {"financial_year", check_financial_year},
    {"period", check_period},
    {"property_id", check_property_id},
    {"connection_id", check_connection_id},
    {"account", check_account},
    {"receipt_no", check_receipt_no},
    {"registration_no", check_registration_no},
    {"record_id", check_record_id},
    {"person_name", check_person_name},
    {"text", check_text},
    {"kind", check_kind},
    {"service", check_service},
    {"otp", check_otp},
};

bool notifications_param_type_known(const char *type)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(type, TYPES[i].name) == 0)
            return true;
    return false;
}

const char *notifications_param_type_check(const char *type, const char *value, const char *ulb,
                                           char out[PARAM_VALUE_MAX])
{
    out[0] = '\0';
    if (!value || !nagar_utf8_valid(value) || strlen(value) >= PARAM_VALUE_MAX / 2)
        return "valid UTF-8 text of bounded length";
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(type, TYPES[i].name) == 0)
            return TYPES[i].check(value, ulb, out);
    return "of a known param type";
}
