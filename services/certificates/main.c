/*
 * main.c — nagar-certificates: wiring and command line.
 *
 *   nagar-certificates                        serve "certificates" on the bus
 *   nagar-certificates keygen DIR KEY_ID      certificate signing key pair
 *   nagar-certificates verify-qr --public-key FILE PAYLOAD
 *                                             check a QR payload offline (exit 0 valid,
 *                                             1 not valid, 2 usage); PAYLOAD "-" reads stdin
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO                     libpq connection string (certificates_app role)
 *   NAGAR_CERTIFICATES_SEAL_KEY           path to <key id>.key, the Ed25519 signing key
 *   NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR    <key id>.pub files accepted when verifying
 *                                         (default: the signing key's directory)
 *   NAGAR_CERTIFICATES_VERIFY_URL         printed on certificates
 *   NAGAR_CERTIFICATES_OUTBOX_RELAY       1 (default) relays events to notifications
 *   NAGAR_CERTIFICATES_RELAY_INTERVAL_MS  1000
 *   NAGAR_PAYMENT_PROVIDER_KEY_FILE       the payment provider's key (fees paid online;
 *                                         unset: refused, pay at a counter)
 *   NAGAR_BUS_*                           as bus.h and bus_worker.h
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certificates.h"
#include "event_subjects.h"
#include "fee_payment.h"
#include "fees.h"
#include "issue.h"
#include "keys.h"
#include "log.h"
#include "program.h"
#include "proto/payments.pb-c.h"
#include "token.h"
#include "workflow.h"

static const char *const GATEWAY[] = {"gateway", NULL};
static const char *const GATEWAY_AND_BATCH[] = {"gateway", "batch", NULL};

/* Who an application's events are for, asked by notifications: the citizen
 * who applied (their verified contact is identity's), then the informant's
 * mobile on the report (a staff member who reported is nobody to tell). */
static const char *const NOTIFICATIONS[] = {"notifications", NULL};
static const nagar_subject_source_t SUBJECTS[] = {
    {"application", "subject_application",
     "SELECT ulb, CASE WHEN applicant LIKE 'citizen:%' THEN applicant ELSE '' END, '', 1 "
     "FROM certificates.application WHERE application_id = $1 "
     "UNION ALL SELECT ulb, '', informant_mobile, 2 FROM certificates.application "
     "WHERE application_id = $1 ORDER BY 4"},
    {NULL, NULL, NULL},
};

static int subjects(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    certificates_t *self = arg;
    return nagar_subjects_answer(self->db, CERT_SERVICE, SUBJECTS, call, request);
}

#define M(name, type, callers, handler) \
    {name, &nagar__certificates__##type##__descriptor, callers, handler}

static const nagar_method_t METHODS[] = {
    M("birth.apply", apply_birth_request, GATEWAY, certificates_birth_apply),
    M("death.apply", apply_death_request, GATEWAY, certificates_death_apply),
    M("marriage.apply", apply_marriage_request, GATEWAY, certificates_marriage_apply),
    M("birth.set_child_name", set_child_name_request, GATEWAY, certificates_birth_set_child_name),
    M("application.get", get_application_request, GATEWAY, certificates_application_get),
    M("application.list", list_applications_request, GATEWAY, certificates_application_list),
    M("application.register", register_application_request, GATEWAY,
      certificates_application_register),
    M("application.reject", reject_application_request, GATEWAY, certificates_application_reject),
    M("application.pay_fee", pay_fee_request, GATEWAY, certificates_application_pay_fee),
    M("application.waive_fee", waive_fee_request, GATEWAY, certificates_application_waive_fee),
    M("certificate.get", get_certificate_request, GATEWAY, certificates_certificate_get),
    M("certificate.pdf", get_certificate_request, GATEWAY, certificates_certificate_pdf),
    M("certificate.verify", verify_certificate_request, GATEWAY_AND_BATCH,
      certificates_certificate_verify),
    M("certificate.keys", list_seal_keys_request, GATEWAY_AND_BATCH, certificates_certificate_keys),
    M("certificate.search", search_certificates_request, GATEWAY, certificates_certificate_search),
    M("correction.request", request_correction_request, GATEWAY, certificates_correction_request),
    M("correction.approve", decide_correction_request, GATEWAY, certificates_correction_approve),
    M("correction.reject", decide_correction_request, GATEWAY, certificates_correction_reject),
    M("correction.list", list_corrections_request, GATEWAY, certificates_correction_list),
    M("fees.get", get_fee_schedule_request, GATEWAY_AND_BATCH, certificates_fees_get),
    M("fees.set", set_fee_schedule_request, GATEWAY, certificates_fees_set),
    M("fees.daily_collection", get_fee_collection_request, GATEWAY,
      certificates_fees_daily_collection),
    M("fee_online.initiate", initiate_fee_payment_request, GATEWAY,
      certificates_fee_online_initiate),
    {"fee_online.callback", &nagar__payments__online_payment_callback__descriptor, GATEWAY,
     certificates_fee_online_callback},
    M("fee_online.get", get_fee_order_request, GATEWAY, certificates_fee_online_get),
    M("fee_receipt.pdf", get_fee_receipt_request, GATEWAY, certificates_fee_receipt_pdf),
    M("fee_refund.list", list_fee_refunds_request, GATEWAY, certificates_fee_refunds_list),
    M("fee_refund.record", record_fee_refund_request, GATEWAY, certificates_fee_refund_record),
    M("audit.list", list_audit_request, GATEWAY, certificates_audit_list),
    {"notify.subjects", &nagar__notifications__subjects_request__descriptor, NOTIFICATIONS,
     subjects},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-certificates                     serve the certificates service\n"
            "       nagar-certificates keygen DIR KEY_ID   create a certificate signing key pair\n"
            "       nagar-certificates verify-qr --public-key FILE PAYLOAD\n"
            "                                              check a certificate's QR payload\n"
            "                                              offline with only the public key\n"
            "                                              (FILE is <key id>.pub; PAYLOAD - reads\n"
            "                                              stdin); exit 0 valid, 1 not valid\n");
}

/* verify-qr: the same check a phone app makes, with nothing but the key. */
static int verify_qr(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[2], "--public-key") != 0) {
        usage(stderr);
        return 2;
    }
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1], error[512];
    uint8_t public_key[32];
    if (nagar_seal_load_public_key(argv[3], key_id, public_key, error, sizeof error) != 0) {
        fprintf(stderr, "nagar-certificates: %s\n", error);
        return 2;
    }
    char buffer[NAGAR_SEAL_TEXT_MAX + 2];
    const char *payload = argv[4];
    if (strcmp(payload, "-") == 0) {
        size_t length = fread(buffer, 1, sizeof buffer - 1, stdin);
        buffer[length] = '\0';
        while (length > 0 && (buffer[length - 1] == '\n' || buffer[length - 1] == '\r'))
            buffer[--length] = '\0';
        payload = buffer;
    }
    nagar_seal_t seal;
    nagar_seal_result_t result = nagar_seal_verify(payload, key_id, public_key, &seal);
    if (result != NAGAR_SEAL_OK) {
        json_t *out = json_pack("{s:b, s:s, s:s}", "valid", 0, "reason",
                                nagar_seal_result_text(result), "publicKey", key_id);
        char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text ? text : "{\"valid\":false}");
        free(text);
        json_decref(out);
        return 1;
    }
    static const char *const kinds[] = {"", "BIRTH", "DEATH", "MARRIAGE"};
    json_t *out = json_pack("{s:b, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "valid", 1,
                            "keyId", seal.key_id, "certificateId", seal.certificate_id, "kind",
                            kinds[seal.kind], "registrationNumber", seal.registration_number,
                            "version", (int) seal.version, "subjectName", seal.subject_name,
                            "eventDate", seal.event_date, "issuedOn", seal.issued_on);
    if (out)
        json_object_set_new(out, "ulb", json_string(seal.ulb));
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "{\"valid\":true}");
    free(text);
    json_decref(out);
    return 0;
}

static int connect_db(certificates_t *self)
{
    self->db = nagar_service_db_connect(self->config, CERT_SERVICE);
    self->rules = (nagar_rules_t){.db = self->db, .service = CERT_SERVICE};
    return self->db ? 0 : -1;
}

static void relay_tick(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    certificates_t *self = arg;
    if (self->relay)
        nagar_outbox_relay_run_once(self->relay, 100, 2000);
}

static int serve(certificates_t *self)
{
    if (!nagar_document_available()) {
        nagar_log_error("certificates.config_invalid",
                        "this build cannot render PDFs (no pangocairo); add pangocairo and "
                        "libqrencode to the Makefile's PKGS and rebuild");
        return 1;
    }
    if (cert_keys_load(self) != 0 || connect_db(self) != 0)
        return 1;
    snprintf(self->verify_url, sizeof self->verify_url, "%s",
             nagar_config_get(self->config, "NAGAR_CERTIFICATES_VERIFY_URL",
                              "/api/v1/certificates/verify"));
    char error[1024];
    const char *key_file = nagar_config_get(self->config, "NAGAR_PAYMENT_PROVIDER_KEY_FILE", "");
    if (key_file[0]) {
        self->provider = nagar_payment_provider_new(key_file, error, sizeof error);
        if (!self->provider) {
            nagar_log_error("certificates.config_invalid", "%s", error);
            return 1;
        }
    } else {
        nagar_log_warn("certificates.online_off", "NAGAR_PAYMENT_PROVIDER_KEY_FILE is not set: "
                       "fees paid online will be refused (pay at a counter)");
    }
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        nagar_log_error("certificates.config_invalid", "%s", error);
        return 1;
    }
    bool relay = true;
    long relay_interval_ms = 1000;
    if (nagar_config_get_bool(self->config, "NAGAR_CERTIFICATES_OUTBOX_RELAY", true, &relay,
                              error, sizeof error) != 0 ||
        nagar_config_get_int(self->config, "NAGAR_CERTIFICATES_RELAY_INTERVAL_MS", 1000, 50,
                             600000, &relay_interval_ms, error, sizeof error) != 0) {
        nagar_log_error("certificates.config_invalid", "%s", error);
        return 1;
    }
    if (relay) {
        self->bus = nagar_bus_client_new(&options, self->config, error, sizeof error);
        if (!self->bus) {
            nagar_log_error("certificates.worker_failed", "bus client for the outbox: %s",
                            error);
            return 1;
        }
        self->relay = nagar_outbox_relay_new(self->db, self->bus, CERT_SERVICE);
    }
    nagar_worker_t *worker = nagar_worker_new(&options, self->config, CERT_SERVICE, METHODS, self,
                                              error, sizeof error);
    if (!worker) {
        nagar_log_error("certificates.worker_failed", "%s", error);
        return 1;
    }
    if (relay)
        nagar_worker_set_tick(worker, (int) relay_interval_ms, relay_tick, self);
    nagar_service_keep_worker_alive(self->db, worker);
    nagar_service_keep_worker_alive_on_bus(self->bus, worker);
    json_t *fields = json_pack("{s:s, s:i, s:b, s:b}", "key_id",
                               nagar_sealer_key_id(self->sealer), "public_keys", self->key_count,
                               "relay", relay, "online_payments", self->provider != NULL);
    nagar_log_write(NAGAR_LOG_INFO, "certificates.ready", fields,
                    "certificates serving on the bus");
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    nagar_log_info("certificates.stopped", "certificates stopped");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *command;
    int started = nagar_program_start(CERT_SERVICE, argc, argv, usage, &command);
    if (started >= 0)
        return started;
    if (strcmp(command, "verify-qr") == 0)
        return verify_qr(argc, argv);
    if (strcmp(command, "keygen") == 0)
        return nagar_program_keygen(CERT_SERVICE, argc, argv, usage, "certificate key pair",
                                    ": publish it for offline verification");
    char error[1024];
    if (strcmp(command, "serve") != 0 || argc > 2) {
        usage(stderr);
        return 2;
    }
    certificates_t self;
    memset(&self, 0, sizeof self);
    self.config = nagar_config_new(NULL, error, sizeof error);
    if (!self.config) {
        nagar_log_error("certificates.config_invalid", "%s", error);
        return 1;
    }
    int rc = serve(&self);
    nagar_outbox_relay_destroy(&self.relay);
    nagar_payment_provider_destroy(&self.provider);
    nagar_bus_client_destroy(&self.bus);
    nagar_sealer_destroy(&self.sealer);
    nagar_db_destroy(&self.db);
    nagar_config_destroy(&self.config);
    nagar_document_shutdown();
    return rc;
}
