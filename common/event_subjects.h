/*
 * event_subjects.h — a publisher answering notifications' question "who are
 * the persons of this record?" (notify.subjects, nagar.notifications.
 * SubjectsRequest -> SubjectsReply).
 *
 * Events name the record they are about ("property:<id>") and, at most, the
 * person's user id, never a contact (issue 12 item 4). Notifications then
 * asks the publisher for the record's persons, checks the user id against
 * them and finds the contact: the verified one in identity, or the one on
 * the record for a person without an account. A raw bus client holding the
 * publisher's key cannot name someone else: the answer comes from the
 * publisher's database.
 *
 * Each publisher lists its record kinds with one query each: $1 is the
 * record's id; the rows are (ulb, user_id, mobile[, ref]), one per person in
 * the order they should be told (a row with neither user id nor mobile only
 * proves the record exists). ref, when given, is the record's own key for
 * the person ("owner:2"), unique within the record: an event names a person
 * without an account by it (Recipient.person), so each owner of a property
 * can be told, not only the first. The method is a table row:
 *
 *   static const nagar_subject_source_t SUBJECTS[] = {
 *       {"property", "subject_property", "SELECT p.ulb, ... WHERE p.property_id = $1"},
 *       {NULL, NULL, NULL}};
 *   ... {"notify.subjects", &nagar__notifications__subjects_request__descriptor,
 *        NOTIFICATIONS, handler calling nagar_subjects_answer} ...
 */
#ifndef NAGAR_EVENT_SUBJECTS_H
#define NAGAR_EVENT_SUBJECTS_H

#include "bus_worker.h"
#include "db.h"

#define NAGAR_SUBJECTS_MAX 100

typedef struct {
    const char *kind;         /* "property" */
    const char *statement;    /* the prepared statement's name */
    const char *sql;          /* $1 = id; rows (ulb, user_id, mobile[, ref]) */
} nagar_subject_source_t;

/* Answers the call (a SubjectsRequest) from sources, a table ended by a
 * row of NULLs. service names the publisher in logs. Returns what the
 * reply or failure returned. */
int nagar_subjects_answer(nagar_db_t *db, const char *service,
                          const nagar_subject_source_t *sources, nagar_worker_call_t *call,
                          const ProtobufCMessage *request);

#endif
