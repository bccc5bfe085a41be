/*
 * routes.c — the route table and request-target parsing; see routes.h.
 *
 * The table is data: to expose a new bus method over HTTP, add a line
 * here. Path matching walks the pattern and the path segment by segment;
 * with a few dozen routes a linear scan costs less than building a trie.
 */
#include "routes.h"

#include <limits.h>   /* protoc-c output uses INT_MAX without including it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/certificates.pb-c.h"
#include "proto/identity.pb-c.h"
#include "proto/notifications.pb-c.h"
#include "proto/operations.pb-c.h"
#include "proto/payments.pb-c.h"
#include "proto/property_tax.pb-c.h"
#include "proto/water_tax.pb-c.h"
#include "proto/witness.pb-c.h"

#define STAFF_ADMINS (GATEWAY_ROLE_STATE_ADMIN | GATEWAY_ROLE_COMMISSIONER)
#define STAFF_ANY                                                                               \
    (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR | GATEWAY_ROLE_REVENUE_OFFICER | STAFF_ADMINS)

#define ID(name) &nagar__identity__##name##__descriptor
#define CERT(name) &nagar__certificates__##name##__descriptor
/* proto/payments.proto: what the taxes (and certificates' fees) share */
#define PAY(name) &nagar__payments__##name##__descriptor
#define CERT_APPLICANTS (GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR)
#define CERT_READERS                                                                            \
    (GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR |                      \
     GATEWAY_ROLE_COMMISSIONER | GATEWAY_ROLE_STATE_ADMIN)

static const gateway_route_t routes[] = {
    /* ULB master data */
    {"GET", "/api/v1/ulbs", "identity", "ulb.list", ID(list_ulbs_request), ID(list_ulbs_reply),
     GATEWAY_ROLE_PUBLIC, false, false, "List and search urban local bodies"},
    {"GET", "/api/v1/ulbs/{code}", "identity", "ulb.get", ID(get_ulb_request), ID(ulb),
     GATEWAY_ROLE_PUBLIC, false, false, "Get one urban local body by its LGD code"},
    {"POST", "/api/v1/ulbs", "identity", "ulb.create", ID(create_ulb_request), ID(ulb),
     GATEWAY_ROLE_STATE_ADMIN, true, false, "Add an urban local body"},
    /* Logins and sessions */
    {"POST", "/api/v1/auth/otp", "identity", "otp.request", ID(request_otp_request),
     ID(request_otp_reply), GATEWAY_ROLE_PUBLIC, true, false,
     "Send a one-time password to a citizen's mobile"},
    {"POST", "/api/v1/auth/otp/verify", "identity", "otp.verify", ID(verify_otp_request),
     ID(token_pair), GATEWAY_ROLE_PUBLIC, true, false,
     "Exchange a one-time password for tokens"},
    {"POST", "/api/v1/auth/staff/login", "identity", "staff.login", ID(staff_login_request),
     ID(token_pair), GATEWAY_ROLE_PUBLIC, true, false, "Staff login with username and password"},
    {"POST", "/api/v1/auth/refresh", "identity", "token.refresh", ID(refresh_request),
     ID(token_pair), GATEWAY_ROLE_PUBLIC, true, false,
     "Exchange a refresh token for a new token pair"},
    {"POST", "/api/v1/auth/logout", "identity", "token.logout", ID(logout_request),
     ID(logout_reply), GATEWAY_ROLES_ANY_USER, true, false, "End a session"},
    {"POST", "/api/v1/auth/staff/password", "identity", "staff.replace_one_time_password",
     ID(replace_one_time_password_request), ID(change_password_reply), GATEWAY_ROLE_PUBLIC, true,
     false, "Replace a one-time password with the password-change token its login answered"},
    /* Staff administration */
    {"GET", "/api/v1/staff", "identity", "staff.list", ID(list_staff_request),
     ID(list_staff_reply), STAFF_ADMINS, false, false, "List staff accounts"},
    {"POST", "/api/v1/staff", "identity", "staff.create", ID(create_staff_request),
     ID(staff_account), STAFF_ADMINS, true, false, "Create a staff account"},
    {"POST", "/api/v1/staff/{userId}/disable", "identity", "staff.disable",
     ID(disable_staff_request), ID(staff_account), STAFF_ADMINS, true, false,
     "Disable a staff account and revoke its sessions"},
    {"PUT", "/api/v1/staff/{userId}/role", "identity", "staff.set_role",
     ID(set_staff_role_request), ID(staff_account), STAFF_ADMINS, true, false,
     "Change a staff account's role and ULB"},
    {"POST", "/api/v1/staff/me/password", "identity", "staff.change_password",
     ID(change_password_request), ID(change_password_reply), STAFF_ANY, true, false,
     "Change your own password (the current one is required); every session ends"},
    {"GET", "/api/v1/audit", "identity", "audit.list", ID(list_audit_request),
     ID(list_audit_reply), STAFF_ADMINS, false, false, "Read the identity audit trail"},
    /* Certificates: births, deaths and marriages (fixed paths before {certificateId}) */
    {"POST", "/api/v1/certificates/applications/birth", "certificates", "birth.apply",
     CERT(apply_birth_request), CERT(application), CERT_APPLICANTS, true, false,
     "Apply for (or report) the registration of a birth"},
    {"POST", "/api/v1/certificates/applications/death", "certificates", "death.apply",
     CERT(apply_death_request), CERT(application), CERT_APPLICANTS, true, false,
     "Apply for (or report) the registration of a death"},
    {"POST", "/api/v1/certificates/applications/marriage", "certificates", "marriage.apply",
     CERT(apply_marriage_request), CERT(application), CERT_APPLICANTS, true, false,
     "Apply for the registration of a marriage"},
    {"GET", "/api/v1/certificates/applications", "certificates", "application.list",
     CERT(list_applications_request), CERT(list_applications_reply), CERT_READERS, false, false,
     "List applications (staff: their ULB; citizens: their own)"},
    {"GET", "/api/v1/certificates/applications/{applicationId}", "certificates",
     "application.get", CERT(get_application_request), CERT(application), CERT_READERS, false,
     false, "Get one application"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/child-name", "certificates",
     "birth.set_child_name", CERT(set_child_name_request), CERT(application), CERT_APPLICANTS,
     true, false, "Enter the child's name of a birth (RBD Act section 14)"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/register", "certificates",
     "application.register", CERT(register_application_request), CERT(certificate),
     GATEWAY_ROLE_REGISTRAR, true, false, "Register an application and issue its certificate"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/reject", "certificates",
     "application.reject", CERT(reject_application_request), CERT(application),
     GATEWAY_ROLE_REGISTRAR, true, false, "Reject an application with a reason"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/fee/payment", "certificates",
     "application.pay_fee", CERT(pay_fee_request), CERT(fee_settlement),
     GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR, true, true,
     "Record an application's fee paid at a counter; answers the receipt"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/fee/waiver", "certificates",
     "application.waive_fee", CERT(waive_fee_request), CERT(fee_settlement),
     GATEWAY_ROLE_COMMISSIONER, true, false, "Waive an application's fee, with the reason"},
    {"POST", "/api/v1/certificates/applications/{applicationId}/fee/online-payments",
     "certificates", "fee_online.initiate", CERT(initiate_fee_payment_request), CERT(fee_order),
     GATEWAY_ROLE_CITIZEN, true, false,
     "Start paying an application's fee online (its applicant): the signed order for the "
     "provider's checkout"},
    {"GET", "/api/v1/certificates/applications/{applicationId}/fee/receipt/pdf", "certificates",
     "fee_receipt.pdf", CERT(get_fee_receipt_request), CERT(fee_receipt_pdf),
     GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR |
         GATEWAY_ROLE_COMMISSIONER,
     false, false,
     "The receipt of an application's fee, paid at a counter or online, as a bilingual PDF "
     "(base64 in \"pdf\")"},
    {"POST", "/api/v1/certificates/fee-payments/callback", "certificates", "fee_online.callback",
     PAY(online_payment_callback), CERT(fee_order), GATEWAY_ROLE_PUBLIC, false, false,
     "The payment provider's signed callback for a certificate fee"},
    {"GET", "/api/v1/certificates/fee-payments/{orderId}", "certificates", "fee_online.get",
     CERT(get_fee_order_request), CERT(fee_order), CERT_APPLICANTS | GATEWAY_ROLE_COMMISSIONER,
     false, false, "Get an online certificate-fee order"},
    {"GET", "/api/v1/certificates/fee-refunds", "certificates", "fee_refund.list",
     CERT(list_fee_refunds_request), CERT(list_fee_refunds_reply),
     GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR | GATEWAY_ROLE_COMMISSIONER, false, false,
     "A ULB's online fee payments to be refunded (paid after the fee was settled otherwise)"},
    {"POST", "/api/v1/certificates/fee-payments/{orderId}/refund", "certificates",
     "fee_refund.record", CERT(record_fee_refund_request), CERT(fee_order),
     GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR | GATEWAY_ROLE_COMMISSIONER, true, true,
     "Record that an online fee payment due for a refund was refunded (once)"},
    {"GET", "/api/v1/certificates/verify", "certificates", "certificate.verify",
     CERT(verify_certificate_request), CERT(verify_certificate_reply), GATEWAY_ROLE_PUBLIC, false,
     false, "Verify a certificate by its QR payload or number (valid, superseded, unknown)"},
    {"GET", "/api/v1/certificates/keys", "certificates", "certificate.keys",
     CERT(list_seal_keys_request), CERT(list_seal_keys_reply), GATEWAY_ROLE_PUBLIC, false, false,
     "The public keys certificates' QR codes verify with, each with its key id and validity"},
    {"GET", "/api/v1/certificates/search", "certificates", "certificate.search",
     CERT(search_certificates_request), CERT(search_certificates_reply), CERT_READERS, false,
     false, "Search the register (staff: their ULB; citizens: their own)"},
    {"GET", "/api/v1/certificates/fees", "certificates", "fees.get",
     CERT(get_fee_schedule_request), CERT(fee_schedule), GATEWAY_ROLE_PUBLIC, false, false,
     "The late-registration windows and fees in force"},
    {"PUT", "/api/v1/certificates/fees", "certificates", "fees.set",
     CERT(set_fee_schedule_request), CERT(fee_schedule), STAFF_ADMINS, true, false,
     "Save a new version of a fee schedule"},
    {"GET", "/api/v1/certificates/fees/daily-collection", "certificates",
     "fees.daily_collection", CERT(get_fee_collection_request), CERT(fee_collection),
     GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR | STAFF_ADMINS, false, false,
     "The certificate fees a ULB collected (and waived) on one day"},
    {"GET", "/api/v1/certificates/corrections", "certificates", "correction.list",
     CERT(list_corrections_request), CERT(list_corrections_reply), CERT_READERS, false, false,
     "List correction requests"},
    {"POST", "/api/v1/certificates/corrections/{correctionId}/approve", "certificates",
     "correction.approve", CERT(decide_correction_request), CERT(certificate),
     GATEWAY_ROLE_REGISTRAR, true, false, "Approve a correction: issue the corrected version"},
    {"POST", "/api/v1/certificates/corrections/{correctionId}/reject", "certificates",
     "correction.reject", CERT(decide_correction_request), CERT(correction),
     GATEWAY_ROLE_REGISTRAR, true, false, "Decline a correction with a note"},
    {"GET", "/api/v1/certificates/audit", "certificates", "audit.list", CERT(list_audit_request),
     CERT(list_audit_reply), GATEWAY_ROLE_REGISTRAR | STAFF_ADMINS, false, false,
     "Read the certificates audit trail"},
    {"GET", "/api/v1/certificates/{certificateId}", "certificates", "certificate.get",
     CERT(get_certificate_request), CERT(certificate), CERT_READERS, false, false,
     "Get an issued certificate"},
    {"GET", "/api/v1/certificates/{certificateId}/pdf", "certificates", "certificate.pdf",
     CERT(get_certificate_request), CERT(certificate_pdf), CERT_READERS, false, false,
     "The certificate as a bilingual PDF with its QR code (base64 in \"pdf\")"},
    {"POST", "/api/v1/certificates/{certificateId}/corrections", "certificates",
     "correction.request", CERT(request_correction_request), CERT(correction), CERT_APPLICANTS,
     true, false, "Request a correction of a certificate"},
    /* Property tax */
#define PT(name) &nagar__property_tax__##name##__descriptor
#define PT_STAFF (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | \
                  GATEWAY_ROLE_STATE_ADMIN)
#define PT_COUNTER (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER)
#define PT_OFFICERS (GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | \
                     GATEWAY_ROLE_STATE_ADMIN)
    {"POST", "/api/v1/property-tax/properties", "property_tax", "property.create",
     PT(create_property_request), PT(property), PT_STAFF, true, false,
     "Register a property with its owners and floors"},
    {"GET", "/api/v1/property-tax/properties", "property_tax", "property.list",
     PT(list_properties_request), PT(list_properties_reply), GATEWAY_ROLES_ANY_USER, false, false,
     "List a ULB's properties (staff) or your own (citizens)"},
    {"POST", "/api/v1/property-tax/properties/import", "property_tax", "property.import",
     PT(import_properties_request), PT(import_properties_reply), PT_STAFF, true, false,
     "Import properties from CSV (all or nothing)"},
    {"GET", "/api/v1/property-tax/properties/{propertyId}", "property_tax", "property.get",
     PT(get_property_request), PT(property), GATEWAY_ROLES_ANY_USER, false, false,
     "Get a property"},
    {"GET", "/api/v1/property-tax/properties/{propertyId}/dues", "property_tax", "dues.get",
     PT(get_dues_request), PT(dues), GATEWAY_ROLES_ANY_USER, false, false,
     "What a property owes on a day, with surcharge, rebate and advance"},
    {"GET", "/api/v1/property-tax/properties/{propertyId}/demand-notices/{fy}", "property_tax",
     "demand_notice.get", PT(get_demand_notice_request), PT(demand_notice),
     GATEWAY_ROLES_ANY_USER, false, false,
     "The year's demand notice: the computation head by head and what is payable (?asOf=)"},
    {"GET", "/api/v1/property-tax/properties/{propertyId}/demand-notices/{fy}/pdf",
     "property_tax", "demand_notice.pdf", PT(get_demand_notice_request),
     PT(demand_notice_pdf), GATEWAY_ROLES_ANY_USER, false, false,
     "The demand notice as a bilingual PDF with a QR code to the payment page (base64 in "
     "\"pdf\")"},
    {"GET", "/api/v1/property-tax/demand-notices/pdf", "property_tax", "demand_notice.ward_pdf",
     PT(ward_notices_request), PT(ward_notices_pdf), PT_STAFF, false, false,
     "A ward's demand notices, one page each, a PDF per page of properties "
     "(?ulb=&ward=&fy=&pageSize=&pageToken=)"},
    {"POST", "/api/v1/property-tax/properties/{propertyId}/mutations", "property_tax",
     "mutation.record", PT(record_mutation_request), PT(mutation), PT_COUNTER, true, false,
     "Transfer ownership; the mutation fee joins the year's dues"},
    {"POST", "/api/v1/property-tax/properties/{propertyId}/mutation-applications",
     "property_tax", "mutation.apply", PT(apply_mutation_request), PT(mutation_application),
     GATEWAY_ROLE_CITIZEN, true, false,
     "Apply for a mutation of a property you own (new owners, deed and documents' references); "
     "it waits for an officer"},
    {"GET", "/api/v1/property-tax/mutation-applications", "property_tax", "mutation.list",
     PT(list_mutation_applications_request), PT(list_mutation_applications_reply),
     GATEWAY_ROLE_CITIZEN | PT_STAFF, false, false,
     "List mutation applications: citizens their own, staff their ULB's "
     "(?status=PENDING for the inbox, oldest first; &propertyId=&pageSize=&pageToken=)"},
    {"GET", "/api/v1/property-tax/mutation-applications/{applicationId}", "property_tax",
     "mutation.get", PT(get_mutation_application_request), PT(mutation_application),
     GATEWAY_ROLE_CITIZEN | PT_STAFF, false, false,
     "Get a mutation application (its applicant, staff of its ULB)"},
    {"POST", "/api/v1/property-tax/mutation-applications/{applicationId}/decision",
     "property_tax", "mutation.decide", PT(decide_mutation_application_request),
     PT(mutation_application), PT_COUNTER, true, false,
     "Approve a mutation application (records the mutation; its fee joins the year's dues) or "
     "reject it with a reason"},
    {"GET", "/api/v1/property-tax/rates/{ulb}/{fy}", "property_tax", "rates.get",
     PT(get_rates_request), PT(rate_schedule), GATEWAY_ROLES_ANY_USER, false, false,
     "Rates of a ULB and financial year (newest version, or the defaults)"},
    {"PUT", "/api/v1/property-tax/rates/{ulb}/{fy}", "property_tax", "rates.set",
     PT(set_rates_request), PT(rate_schedule), PT_OFFICERS, true, false,
     "Save a new version of a ULB's rates for a financial year"},
    {"POST", "/api/v1/property-tax/assessments", "property_tax", "assessment.file",
     PT(file_assessment_request), PT(assessment),
     GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER, true, false,
     "File a self-assessment return"},
    {"GET", "/api/v1/property-tax/assessments", "property_tax", "assessment.list",
     PT(list_assessments_request), PT(list_assessments_reply), GATEWAY_ROLE_CITIZEN | PT_STAFF,
     false, false,
     "List self-assessment returns: a property's (?propertyId=), a citizen's own, or a ULB's for "
     "staff (?status=FILED for those awaiting a decision, oldest first; &fy=&pageSize=&pageToken=)"},
    {"GET", "/api/v1/property-tax/assessments/{assessmentId}", "property_tax", "assessment.get",
     PT(get_assessment_request), PT(assessment), GATEWAY_ROLES_ANY_USER, false, false,
     "Get an assessment return"},
    {"POST", "/api/v1/property-tax/assessments/{assessmentId}/revise", "property_tax",
     "assessment.revise", PT(revise_assessment_request), PT(assessment),
     GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER, true, false,
     "File a revised return"},
    {"POST", "/api/v1/property-tax/assessments/{assessmentId}/decision", "property_tax",
     "assessment.decide", PT(decide_assessment_request), PT(assessment),
     GATEWAY_ROLE_REVENUE_OFFICER, true, false, "Accept or re-assess a return"},
    {"POST", "/api/v1/property-tax/demand-jobs", "property_tax", "demand.generate",
     PT(generate_demand_request), PT(demand_job), PT_OFFICERS, true, false,
     "Start the annual demand for a ULB (or all) and a financial year"},
    {"GET", "/api/v1/property-tax/demand-jobs/{jobId}", "property_tax", "demand.status",
     PT(demand_status_request), PT(demand_job), PT_OFFICERS, false, false,
     "Progress of a demand job"},
    {"POST", "/api/v1/property-tax/payments", "property_tax", "payment.record",
     PT(record_payment_request), PT(receipt), PT_COUNTER, true, true,
     "Record a counter payment (cash, cheque, demand draft, UPI reference)"},
    {"POST", "/api/v1/property-tax/payments/reversals", "property_tax", "payment.reverse",
     PT(reverse_payment_request), PT(receipt), GATEWAY_ROLE_REVENUE_OFFICER, true, true,
     "Reverse a payment (cancellation, bounced cheque) with a reversing entry"},
    {"GET", "/api/v1/property-tax/receipts", "property_tax", "receipt.get",
     PAY(get_receipt_request), PT(receipt), GATEWAY_ROLES_ANY_USER, false, false,
     "Get a receipt by its number (?receiptNo=)"},
    {"GET", "/api/v1/property-tax/receipts/pdf", "property_tax", "receipt.pdf",
     PAY(get_receipt_request), PAY(receipt_pdf), GATEWAY_ROLES_ANY_USER, false, false,
     "A receipt as a bilingual PDF whose QR code names its ledger row (?receiptNo=; base64 in "
     "\"pdf\")"},
    {"POST", "/api/v1/property-tax/online-payments", "property_tax", "online.initiate",
     PT(initiate_online_payment_request), PT(online_order),
     GATEWAY_ROLE_CITIZEN | PT_COUNTER, true, false, "Start an online payment (signed order)"},
    {"POST", "/api/v1/property-tax/online-payments/callback", "property_tax", "online.callback",
     PAY(online_payment_callback), PT(online_order), GATEWAY_ROLE_PUBLIC, false, false,
     "The payment provider's signed callback"},
    {"GET", "/api/v1/property-tax/online-payments/{orderId}", "property_tax", "online.get",
     PAY(get_online_order_request), PT(online_order), GATEWAY_ROLES_ANY_USER, false, false,
     "Get an online payment order"},
    {"GET", "/api/v1/property-tax/ledger/verify", "property_tax", "ledger.verify",
     PAY(verify_ledger_request), PT(verify_ledger_reply), PT_OFFICERS, false, false,
     "Verify the hash chain of a ULB's ledger (?ulb=)"},
    {"GET", "/api/v1/property-tax/reports/dcb", "property_tax", "report.dcb", PAY(dcb_request),
     PT(dcb_report), PT_STAFF, false, false,
     "Demand, collection and balance by ward and head (?ulb=&fy=)"},
    {"GET", "/api/v1/property-tax/reports/daily-collection", "property_tax",
     "report.daily_collection", PAY(daily_collection_request), PT(daily_collection_report),
     PT_STAFF, false, false, "Collection of a day by counter and mode (?ulb=&date=)"},
    {"GET", "/api/v1/property-tax/reports/defaulters", "property_tax", "report.defaulters",
     PAY(defaulters_request), PT(defaulters_report), PT_STAFF, false, false,
     "Properties owing arrears, largest first (?ulb=)"},
#undef PT
    /* Water and sanitation charges */
#define WT(name) &nagar__water_tax__##name##__descriptor
#define WT_STAFF (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | \
                  GATEWAY_ROLE_STATE_ADMIN)
#define WT_COUNTER (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER)
#define WT_OFFICERS (GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | \
                     GATEWAY_ROLE_STATE_ADMIN)
    {"POST", "/api/v1/water-tax/connections", "water_tax", "connection.apply",
     WT(apply_connection_request), WT(connection),
     GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REVENUE_OFFICER, true, false,
     "Apply for a water connection (citizen or clerk)"},
    {"GET", "/api/v1/water-tax/connections", "water_tax", "connection.list",
     WT(list_connections_request), WT(list_connections_reply), GATEWAY_ROLES_ANY_USER, false,
     false, "List a ULB's connections (staff) or your own (citizens) (?ulb=&ward=)"},
    {"GET", "/api/v1/water-tax/connections/{connectionId}", "water_tax", "connection.get",
     WT(get_connection_request), WT(connection), GATEWAY_ROLES_ANY_USER, false, false,
     "Get a connection with its history"},
    {"POST", "/api/v1/water-tax/connections/{connectionId}/decision", "water_tax",
     "connection.decide", WT(decide_connection_request), WT(connection), WT_OFFICERS, true, false,
     "Approve (charging the connection fee) or reject an application"},
    {"POST", "/api/v1/water-tax/connections/{connectionId}/disconnect", "water_tax",
     "connection.disconnect", WT(change_connection_request), WT(connection), WT_OFFICERS, true,
     false, "Disconnect a connection (disconnection fee)"},
    {"POST", "/api/v1/water-tax/connections/{connectionId}/reconnect", "water_tax",
     "connection.reconnect", WT(change_connection_request), WT(connection), WT_OFFICERS, true,
     false, "Reconnect a connection (reconnection fee)"},
    {"POST", "/api/v1/water-tax/connections/{connectionId}/meter-replacements", "water_tax",
     "meter.replace", WT(replace_meter_request), WT(connection), WT_COUNTER, true, false,
     "Record a meter replacement (old meter's final, new meter's initial reading)"},
    {"GET", "/api/v1/water-tax/connections/{connectionId}/readings", "water_tax", "reading.list",
     WT(list_readings_request), WT(list_readings_reply), GATEWAY_ROLES_ANY_USER, false, false,
     "Meter readings of a connection"},
    {"POST", "/api/v1/water-tax/connections/{connectionId}/readings", "water_tax",
     "reading.record", WT(record_reading_request), WT(meter_reading), WT_COUNTER, true, false,
     "Record a meter reading"},
    {"GET", "/api/v1/water-tax/connections/{connectionId}/dues", "water_tax", "dues.get",
     WT(get_dues_request), WT(dues), GATEWAY_ROLES_ANY_USER, false, false,
     "What a connection owes, with advance credit"},
    {"GET", "/api/v1/water-tax/connections/{connectionId}/bills/{period}", "water_tax",
     "bill.get", WT(get_bill_request), WT(bill), GATEWAY_ROLES_ANY_USER, false, false,
     "A connection's bill for a month"},
    {"GET", "/api/v1/water-tax/connections/{connectionId}/bills/{period}/pdf", "water_tax",
     "bill.pdf", WT(get_bill_request), WT(bill_pdf), GATEWAY_ROLES_ANY_USER, false, false,
     "The bill as a bilingual PDF with its QR code (base64 in \"pdf\")"},
    {"POST", "/api/v1/water-tax/readings/import", "water_tax", "reading.import",
     WT(import_readings_request), WT(import_readings_reply), WT_STAFF, true, false,
     "Import meter readings from CSV (each row taken or refused with its line)"},
    {"GET", "/api/v1/water-tax/tariffs/{ulb}/{fy}", "water_tax", "tariff.get",
     WT(get_tariff_request), WT(tariff), GATEWAY_ROLES_ANY_USER, false, false,
     "Tariff of a ULB and financial year (newest version, or the defaults)"},
    {"PUT", "/api/v1/water-tax/tariffs/{ulb}/{fy}", "water_tax", "tariff.set",
     WT(set_tariff_request), WT(tariff), WT_OFFICERS, true, false,
     "Save a new version of a ULB's water tariff for a financial year"},
    {"POST", "/api/v1/water-tax/bill-jobs", "water_tax", "bill.generate",
     WT(generate_bills_request), WT(bill_job), WT_OFFICERS, true, false,
     "Start the monthly bill run for a ULB (or all) and a month"},
    {"GET", "/api/v1/water-tax/bill-jobs/{jobId}", "water_tax", "bill.status",
     WT(bill_job_status_request), WT(bill_job), WT_OFFICERS, false, false,
     "Progress of a bill job"},
    {"POST", "/api/v1/water-tax/payments", "water_tax", "payment.record",
     WT(record_payment_request), WT(receipt), WT_COUNTER, true, true,
     "Record a counter payment (partial or advance)"},
    {"POST", "/api/v1/water-tax/payments/reversals", "water_tax", "payment.reverse",
     WT(reverse_payment_request), WT(receipt), GATEWAY_ROLE_REVENUE_OFFICER, true, true,
     "Reverse a payment with a reversing entry"},
    {"GET", "/api/v1/water-tax/receipts", "water_tax", "receipt.get", PAY(get_receipt_request),
     WT(receipt), GATEWAY_ROLES_ANY_USER, false, false, "Get a receipt by its number (?receiptNo=)"},
    {"GET", "/api/v1/water-tax/receipts/pdf", "water_tax", "receipt.pdf", PAY(get_receipt_request),
     PAY(receipt_pdf), GATEWAY_ROLES_ANY_USER, false, false,
     "A receipt as a bilingual PDF whose QR code names its ledger row (base64 in \"pdf\")"},
    {"POST", "/api/v1/water-tax/online-payments", "water_tax", "online.initiate",
     WT(initiate_online_payment_request), WT(online_order), GATEWAY_ROLE_CITIZEN | WT_COUNTER,
     true, false, "Start an online payment (signed order)"},
    {"POST", "/api/v1/water-tax/online-payments/callback", "water_tax", "online.callback",
     PAY(online_payment_callback), WT(online_order), GATEWAY_ROLE_PUBLIC, false, false,
     "The payment provider's signed callback"},
    {"GET", "/api/v1/water-tax/online-payments/{orderId}", "water_tax", "online.get",
     PAY(get_online_order_request), WT(online_order), GATEWAY_ROLES_ANY_USER, false, false,
     "Get an online payment order"},
    {"GET", "/api/v1/water-tax/ledger/verify", "water_tax", "ledger.verify",
     PAY(verify_ledger_request), WT(verify_ledger_reply), WT_OFFICERS, false, false,
     "Verify the hash chain of a ULB's water ledger (?ulb=)"},
    {"GET", "/api/v1/water-tax/reports/dcb", "water_tax", "report.dcb", PAY(dcb_request),
     WT(dcb_report), WT_STAFF, false, false,
     "Demand, collection and balance by ward (?ulb=&fy=)"},
    {"GET", "/api/v1/water-tax/reports/daily-collection", "water_tax", "report.daily_collection",
     PAY(daily_collection_request), WT(daily_collection_report), WT_STAFF, false, false,
     "Collection of a day by counter and mode (?ulb=&date=)"},
    {"GET", "/api/v1/water-tax/reports/defaulters", "water_tax", "report.defaulters",
     PAY(defaulters_request), WT(defaulters_report), WT_STAFF, false, false,
     "Connections owing past their due date, largest first (?ulb=)"},
    {"POST", "/api/v1/water-tax/disconnection-notices", "water_tax", "notices.send",
     WT(send_notices_request), WT(send_notices_reply),
     GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER, true, false,
     "Send disconnection notices to the defaulters"},
#undef WT
    /* Notifications: delivery status, templates, opt-out, reminder campaigns. The
     * service checks each actor's ULB and role again. */
#define WIT(name) &nagar__witness__##name##__descriptor
    /* The signed checkpoints of every hash chain, for anyone to hold the state to. */
    {"GET", "/api/v1/checkpoints/latest", "witness", "checkpoint.latest",
     WIT(get_latest_checkpoint_request), WIT(checkpoint), GATEWAY_ROLE_PUBLIC, false, false,
     "The latest signed checkpoint of every ledger and history chain"},
    {"GET", "/api/v1/checkpoints", "witness", "checkpoint.list", WIT(list_checkpoints_request),
     WIT(list_checkpoints_reply), GATEWAY_ROLE_PUBLIC, false, false,
     "Signed checkpoints, newest first (beforeUs, pageSize)"},

    /* The operations page: the gateway's own view of the services and the witness's latest
     * checkpoint, composed by operations.c (the witness answers checkpoint.summary). */
    {"GET", "/api/v1/operations", "witness", "checkpoint.summary",
     WIT(get_latest_checkpoint_request), &nagar__operations__operations_status__descriptor,
     STAFF_ADMINS, false, false,
     "The operations page: each service's worker as the gateway sees it, whether quarantines "
     "can be known here, and the latest checkpoint (verified, how old, how much it pins)"},

#define NT(name) &nagar__notifications__##name##__descriptor
#define NT_STAFF (GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR | GATEWAY_ROLE_REVENUE_OFFICER | \
                  GATEWAY_ROLE_COMMISSIONER | GATEWAY_ROLE_STATE_ADMIN)
#define NT_CAMPAIGNERS (GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | \
                        GATEWAY_ROLE_STATE_ADMIN)
    {"GET", "/api/v1/notifications/messages", "notifications", "message.list",
     NT(list_messages_request), NT(list_messages_reply), NT_STAFF, false, false,
     "Delivery status of SMS and e-mail (staff: their ULB)"},
    {"GET", "/api/v1/notifications/my-messages", "notifications", "message.mine",
     NT(list_my_messages_request), NT(list_my_messages_reply), GATEWAY_ROLE_CITIZEN, false,
     false, "The signed-in citizen's own messages, newest first (never an OTP)"},
    {"GET", "/api/v1/notifications/events", "notifications", "event.list",
     NT(list_events_request), NT(list_events_reply), NT_STAFF, false, false,
     "Events not (yet) delivered to their person, with the reason (staff: their ULB)"},
    {"POST", "/api/v1/notifications/events/{eventId}/retry", "notifications", "event.retry",
     NT(retry_event_request), NT(event_info), NT_STAFF, true, false,
     "Resolve an undelivered event to its person again now (e.g. after a contact was added)"},
    {"GET", "/api/v1/notifications/templates", "notifications", "template.list",
     NT(list_templates_request), NT(list_templates_reply), NT_STAFF, false, false,
     "Message templates and the placeholders of each event type"},
    {"PUT", "/api/v1/notifications/templates", "notifications", "template.save",
     NT(save_template_request), NT(template), STAFF_ADMINS, true, false,
     "Save a new version of a template (placeholders are checked)"},
    {"PUT", "/api/v1/notifications/opt-out", "notifications", "optout.set",
     NT(set_opt_out_request), NT(opt_out), GATEWAY_ROLES_ANY_USER, true, false,
     "Opt out of (or back into) non-essential messages"},
    {"POST", "/api/v1/notifications/campaigns", "notifications", "campaign.start",
     NT(start_campaign_request), NT(campaign), NT_CAMPAIGNERS, true, false,
     "Start (or find again) a due-date reminder campaign"},
    {"GET", "/api/v1/notifications/campaigns/{campaignId}", "notifications", "campaign.status",
     NT(campaign_status_request), NT(campaign), NT_CAMPAIGNERS, false, false,
     "Progress of a reminder campaign"},
#undef NT
};

static const char *const route_services[] = {"identity", "certificates", "property_tax",
                                             "water_tax", "notifications", NULL};

const gateway_route_t *gateway_routes(size_t *count)
{
    *count = sizeof routes / sizeof routes[0];
    return routes;
}

const char *const *gateway_route_services(void)
{
    return route_services;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long gateway_percent_decode(const char *in, size_t length, bool plus_is_space, char *out,
                            size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) in[i];
        if (c == '%') {
            if (i + 2 >= length)
                return -1;
            int high = hex_value(in[i + 1]), low = hex_value(in[i + 2]);
            if (high < 0 || low < 0)
                return -1;
            c = (unsigned char) (high * 16 + low);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        /* Control characters have no business in a path or query value;
         * refusing them here keeps NULs and newlines out of logs and JSON. */
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (used + 1 >= out_size)
            return -1;
        out[used++] = (char) c;
    }
    if (out_size == 0)
        return -1;
    out[used] = '\0';
    return (long) used;
}

/* Matches one pattern; fills params. Returns 1 on a match, 0 on none, -1
 * when the path matches but a parameter is malformed. */
static int pattern_match(const char *pattern, const char *path, gateway_route_match_t *match)
{
    size_t count = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        const char *p_end = strchr(p, '/');
        const char *s_end = strchr(s, '/');
        size_t p_len = p_end ? (size_t) (p_end - p) : strlen(p);
        size_t s_len = s_end ? (size_t) (s_end - s) : strlen(s);
        if (p_len >= 2 && p[0] == '{' && p[p_len - 1] == '}') {
            if (s_len == 0)
                return 0;
            if (count == GATEWAY_PATH_PARAMS_MAX || p_len - 2 > GATEWAY_PARAM_NAME_MAX)
                return -1;
            gateway_path_param_t *param = &match->params[count++];
            memcpy(param->name, p + 1, p_len - 2);
            param->name[p_len - 2] = '\0';
            if (gateway_percent_decode(s, s_len, false, param->value, sizeof param->value) < 0)
                return -1;
        } else if (p_len != s_len || memcmp(p, s, p_len) != 0) {
            return 0;
        }
        p += p_len;
        s += s_len;
    }
    if (*p || *s)
        return 0;
    match->param_count = count;
    return 1;
}

gateway_route_result_t gateway_route_match_in(const gateway_route_t *table, size_t count,
                                              const char *method, const char *path,
                                              gateway_route_match_t *match, char *allow,
                                              size_t allow_size)
{
    bool path_matched = false, bad_path = false;
    if (allow_size)
        allow[0] = '\0';
    memset(match, 0, sizeof *match);
    for (size_t i = 0; i < count; i++) {
        gateway_route_match_t candidate;
        int result = pattern_match(table[i].pattern, path, &candidate);
        if (result < 0) {
            bad_path = true;
            continue;
        }
        if (result == 0)
            continue;
        if (strcmp(table[i].method, method) == 0) {
            *match = candidate;
            match->route = &table[i];
            match->route_index = i;
            return GATEWAY_ROUTE_FOUND;
        }
        if (!strstr(allow, table[i].method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_size - used, "%s%s", path_matched ? ", " : "",
                     table[i].method);
        }
        path_matched = true;
    }
    if (path_matched)
        return GATEWAY_ROUTE_WRONG_METHOD;
    return bad_path ? GATEWAY_ROUTE_BAD_PATH : GATEWAY_ROUTE_NOT_FOUND;
}

gateway_route_result_t gateway_route_match(const char *method, const char *path,
                                           gateway_route_match_t *match, char *allow,
                                           size_t allow_size)
{
    return gateway_route_match_in(routes, sizeof routes / sizeof routes[0], method, path, match,
                                  allow, allow_size);
}

void gateway_query_free(gateway_query_t *query)
{
    free(query->buffer);
    memset(query, 0, sizeof *query);
}

int gateway_query_parse(const char *query, gateway_query_t *out, char *error, size_t error_size,
                        char *field, size_t field_size)
{
    memset(out, 0, sizeof *out);
    if (field_size)
        field[0] = '\0';
    if (!query || !*query)
        return 0;
    size_t length = strlen(query);
    /* Decoding never lengthens text, so one buffer of the input's size
     * (plus a terminator per pair) holds every name and value. */
    out->buffer = malloc(length + 2 * GATEWAY_QUERY_PARAMS_MAX + 2);
    if (!out->buffer) {
        snprintf(error, error_size, "out of memory parsing the query string");
        return -1;
    }
    char *cursor = out->buffer;
    const char *pair = query;
    while (pair) {
        const char *amp = strchr(pair, '&');
        size_t pair_len = amp ? (size_t) (amp - pair) : strlen(pair);
        const char *next = amp ? amp + 1 : NULL;
        if (pair_len == 0) {            /* "a=1&&b=2" or a trailing '&' */
            pair = next;
            continue;
        }
        if (out->count == GATEWAY_QUERY_PARAMS_MAX) {
            snprintf(error, error_size, "the query string has more than %d parameters",
                     GATEWAY_QUERY_PARAMS_MAX);
            return -1;
        }
        const char *eq = memchr(pair, '=', pair_len);
        size_t name_len = eq ? (size_t) (eq - pair) : pair_len;
        const char *value = eq ? eq + 1 : pair + pair_len;
        size_t value_len = eq ? pair_len - name_len - 1 : 0;
        long decoded = gateway_percent_decode(pair, name_len, true, cursor,
                                              GATEWAY_PARAM_NAME_MAX + 1);
        if (decoded <= 0) {
            snprintf(error, error_size,
                     decoded == 0 ? "a query parameter has an empty name"
                                  : "a query parameter name is longer than %d bytes, badly "
                                    "percent-encoded or holds control characters",
                     GATEWAY_PARAM_NAME_MAX);
            return -1;
        }
        out->names[out->count] = cursor;
        cursor += decoded + 1;
        decoded = gateway_percent_decode(value, value_len, true, cursor,
                                         GATEWAY_QUERY_VALUE_MAX + 1);
        if (decoded < 0) {
            snprintf(field, field_size, "%s", out->names[out->count]);
            snprintf(error, error_size,
                     "query parameter \"%s\" is longer than %d bytes, badly percent-encoded "
                     "or holds control characters",
                     out->names[out->count], GATEWAY_QUERY_VALUE_MAX);
            return -1;
        }
        out->values[out->count] = cursor;
        cursor += decoded + 1;
        out->count++;
        pair = next;
    }
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    {"PUBLIC", GATEWAY_ROLE_PUBLIC},
    {"CITIZEN", GATEWAY_ROLE_CITIZEN},
    {"CLERK", GATEWAY_ROLE_CLERK},
    {"REGISTRAR", GATEWAY_ROLE_REGISTRAR},
    {"REVENUE_OFFICER", GATEWAY_ROLE_REVENUE_OFFICER},
    {"COMMISSIONER", GATEWAY_ROLE_COMMISSIONER},
    {"STATE_ADMIN", GATEWAY_ROLE_STATE_ADMIN},
};

unsigned gateway_role_bit(const char *role)
{
    for (size_t i = 1; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(role_names[i].name, role) == 0)
            return role_names[i].bit;
    return 0;
}

void gateway_roles_text(unsigned roles, char *out, size_t out_size)
{
    size_t used = 0;
    if (out_size)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (!(roles & role_names[i].bit))
            continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "",
                         role_names[i].name);
        if (n < 0 || (size_t) n >= out_size - used)
            return;
        used += (size_t) n;
    }
}
