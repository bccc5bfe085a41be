/*
 * event_subjects.c — notify.subjects for publishers (see event_subjects.h).
 */
#include "event_subjects.h"

#include <stdlib.h>
#include <string.h>

#include "proto/notifications.pb-c.h"
#include "service.h"

#define SUBJECT_TEXT_MAX 120
#define PERSONS_MAX 16

static const nagar_subject_source_t *source_of(const nagar_subject_source_t *sources,
                                               const char *subject, const char **id)
{
    const char *colon = strchr(subject, ':');
    if (!colon || !colon[1] || strlen(subject) > SUBJECT_TEXT_MAX)
        return NULL;
    for (size_t i = 0; sources[i].kind; i++)
        if (strlen(sources[i].kind) == (size_t) (colon - subject) &&
            strncmp(subject, sources[i].kind, (size_t) (colon - subject)) == 0) {
            *id = colon + 1;
            return &sources[i];
        }
    return NULL;
}

typedef struct {
    Nagar__Notifications__Subject subject;
    Nagar__Notifications__SubjectPerson persons[PERSONS_MAX];
    Nagar__Notifications__SubjectPerson *pointers[PERSONS_MAX];
    PGresult *rows;
} subject_slot_t;

int nagar_subjects_answer(nagar_db_t *db, const char *service,
                          const nagar_subject_source_t *sources, nagar_worker_call_t *call,
                          const ProtobufCMessage *message)
{
    const Nagar__Notifications__SubjectsRequest *request =
        (const Nagar__Notifications__SubjectsRequest *) message;
    size_t count = request->n_subjects;
    if (count < 1 || count > NAGAR_SUBJECTS_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "subjects",
                                      "subjects must list 1 to %d records", NAGAR_SUBJECTS_MAX);
    for (size_t i = 0; i < count; i++) {
        const char *id;
        if (!source_of(sources, request->subjects[i], &id))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "subjects",
                                          "subjects[%zu] is not \"<kind>:<id>\" of a record "
                                          "kind %s keeps",
                                          i, service);
    }
    subject_slot_t *slots = calloc(count, sizeof *slots);
    Nagar__Notifications__Subject **pointers = calloc(count, sizeof *pointers);
    int rc = 0;
    for (size_t i = 0; slots && pointers && i < count && rc == 0; i++) {
        subject_slot_t *slot = &slots[i];
        const char *id;
        const nagar_subject_source_t *source = source_of(sources, request->subjects[i], &id);
        nagar__notifications__subject__init(&slot->subject);
        slot->subject.subject = request->subjects[i];
        pointers[i] = &slot->subject;
        const char *values[] = {id};
        slot->rows = nagar_service_query(db, source->statement, source->sql, 1, values);
        if (!slot->rows) {
            rc = -1;
            break;
        }
        int rows = PQntuples(slot->rows);
        slot->subject.found = rows > 0;
        slot->subject.ulb = rows > 0 ? PQgetvalue(slot->rows, 0, 0) : "";
        slot->subject.persons = slot->pointers;
        for (int row = 0; row < rows && slot->subject.n_persons < PERSONS_MAX; row++) {
            const char *user_id = PQgetvalue(slot->rows, row, 1);
            const char *mobile = PQgetvalue(slot->rows, row, 2);
            const char *ref = PQnfields(slot->rows) > 3 ? PQgetvalue(slot->rows, row, 3) : "";
            if (!user_id[0] && !mobile[0])
                continue;       /* the record exists; this row names nobody */
            Nagar__Notifications__SubjectPerson *person =
                &slot->persons[slot->subject.n_persons];
            nagar__notifications__subject_person__init(person);
            person->user_id = (char *) user_id;
            person->mobile = (char *) mobile;
            person->ref = (char *) ref;
            slot->pointers[slot->subject.n_persons++] = person;
        }
    }
    if (!slots || !pointers)
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    else if (rc != 0)
        rc = nagar_service_fail(db, service, call, -1, NULL);
    else {
        Nagar__Notifications__SubjectsReply reply = NAGAR__NOTIFICATIONS__SUBJECTS_REPLY__INIT;
        reply.n_subjects = count;
        reply.subjects = pointers;
        rc = nagar_worker_call_reply(call, &reply.base);
    }
    for (size_t i = 0; slots && i < count; i++)
        if (slots[i].rows)
            PQclear(slots[i].rows);
    free(slots);
    free(pointers);
    return rc;
}
