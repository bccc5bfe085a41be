/*
 * param_types.h — what a value of each kind of template param may look like.
 *
 * A publisher's params end up in an SMS or an e-mail that a citizen trusts
 * because it comes from the town. If a param could hold free text, a
 * compromised publisher could put a link, a UPI id ("pay x@okbank") or a
 * phone number into a message that looks official. So every raw param of
 * an event type has a type (notifications.event_type.params, migration
 * 003), and a value is accepted only in the shape of its type: bounded
 * length, a character set that cannot spell a URL, an e-mail or UPI
 * address, and no run of digits as long as a phone number where none is
 * expected. Identifiers of a ULB's records must start with the event's ULB.
 *
 *   paise             whole paise, 0 .. 10^13 ("125000")
 *   count             1 to 9 digits (bills, job ids, versions, minutes)
 *   date              YYYY-MM-DD, a real calendar date
 *   financial_year    2026-27
 *   period            2026-04 (a billing month)
 *   property_id       <ulb>-<ward, 3 digits>-<6 digits>
 *   connection_id     <ulb>-W<ward, 3 digits>-<6 digits>
 *   account           a property_id or a connection_id
 *   receipt_no        <ulb>/<financial year>/<counter A-Z0-9>/<6-9 digits>
 *   registration_no   <ulb>/<B|D|M>/<year>/<1-9 digits>
 *   record_id         certificates' ids: A|C|R and 16 of Crockford base32
 *   person_name       0..210 letters (Latin, Devanagari and the other Indic
 *                     scripts), spaces and . ' - & , ( ) /; digits only in
 *                     runs of at most 3
 *   text              1..200 of the same plus digits (runs of at most 8,
 *                     counting digits joined by a space, '-' or '.', and
 *                     fewer than three dots in a run: no IP address) and
 *                     ; ? ! " % and the rupee sign
 *   kind              birth | death | marriage
 *   service           property_tax | water_tax
 *   otp               4 to 8 digits
 *
 * In person_name and text no character can make a URL scheme or an
 * address (':', '@', '_', '~', '=', '#', '+', fullwidth and lookalike forms
 * are outside the allowed set), "www" followed by '.' is refused, and
 * a '.' directly followed by a letter gets a space after it ("R.K.Sharma"
 * reads "R. K. Sharma"), so no value can form a domain name a phone would
 * turn into a link. Runs of spaces become one; leading and trailing spaces
 * go.
 */
#ifndef NAGAR_NOTIFY_PARAM_TYPES_H
#define NAGAR_NOTIFY_PARAM_TYPES_H

#include <stdbool.h>
#include <stddef.h>

/* The longest value any type accepts, in bytes, after normalisation. */
#define PARAM_VALUE_MAX 1024

/* Whether type names a param type. */
bool notifications_param_type_known(const char *type);

/* Checks value against type for an event of ULB ulb (may be "" for
 * state-level messages: identifiers are then not tied to a ULB). On
 * success writes the value to use (normalised) into out (PARAM_VALUE_MAX
 * bytes) and returns NULL; on failure returns the rule the value broke, as
 * a phrase that completes "must be ..." and is safe to show. */
const char *notifications_param_type_check(const char *type, const char *value, const char *ulb,
                                           char out[PARAM_VALUE_MAX]);

#endif
