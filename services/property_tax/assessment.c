/*
 * assessment.c — self-assessment and mutation methods (assessment.h); the
 * rules are pt_assessment_* and pt_mutation_record in sql/assessment.sql and sql/mutation.sql.
 */
#include "assessment.h"

#define ASSESSMENT &nagar__property_tax__assessment__descriptor

int assessment_file(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_assessment_file", ASSESSMENT, true, NULL);
}

int assessment_revise(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_assessment_revise", ASSESSMENT, true, NULL);
}

int assessment_decide(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_assessment_decide", ASSESSMENT, true, NULL);
}

int assessment_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_assessment_get", ASSESSMENT, false, NULL);
}

int mutation_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_mutation_record",
                         &nagar__property_tax__mutation__descriptor, true, NULL);
}
