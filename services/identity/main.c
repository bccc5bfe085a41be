/*
 * main.c — nagar-identity: wiring and command line.
 *
 *   nagar-identity                         serve "identity" on the bus
 *   nagar-identity seed-ulbs FILE          load the LGD ULB list (idempotent)
 *   nagar-identity keygen DIR KEY_ID       token signing key pair (DIR/KEY_ID.key, .pub)
 *   nagar-identity otp-keygen FILE         key for the OTP hashes
 *   nagar-identity bootstrap-admin USER    first STATE_ADMIN; prints its password once
 *                                          (exit 3 when an enabled one exists already)
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO               libpq connection string (identity_app role)
 *   NAGAR_IDENTITY_TOKEN_KEY        path to <key id>.key, the Ed25519 signing key
 *   NAGAR_TOKEN_PUBLIC_KEYS_DIR     <key id>.pub files (default: the signing key's directory)
 *   NAGAR_IDENTITY_ACCESS_TTL_S     access token lifetime (900)
 *   NAGAR_IDENTITY_REFRESH_TTL_S    refresh token lifetime (604800)
 *   NAGAR_IDENTITY_OTP_KEY_FILE     32-byte hex key for the OTP hashes
 *   NAGAR_IDENTITY_OTP_VIA          "file" (default: the development sink below) or
 *                                   "notifications" (SMS through nagar-notifications)
 *   NAGAR_IDENTITY_OTP_SEND_TIMEOUT_MS  how long an OTP request waits for notifications (3000)
 *   NAGAR_OTP_SINK_FILE             development OTP delivery file (unset: OTPs refused
 *                                   unless they go via notifications)
 *   NAGAR_IDENTITY_OTP_TTL_S, _OTP_RESEND_S, _OTP_WINDOW_S, _OTP_PER_NUMBER,
 *   _OTP_PER_IP, _OTP_MAX_ATTEMPTS (see otp.h)
 *   NAGAR_IDENTITY_LOGIN_FREE_FAILURES, _LOGIN_CLIENT_FREE_FAILURES,
 *   _LOGIN_ACCOUNT_FREE_FAILURES, _LOGIN_BACKOFF_MAX_S, _LOGIN_WINDOW_S
 *                                   failed-login back-off (see login_throttle.h)
 *   NAGAR_BUS_*                     as bus.h and bus_worker.h
 */
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "bus_worker.h"
#include "contact.h"
#include "grant.h"
#include "identity.h"
#include "log.h"
#include "login_throttle.h"
#include "otp.h"
#include "program.h"
#include "session.h"
#include "password.h"
#include "staff.h"
#include "staff_names.h"
#include "ulb.h"

static const char *const GATEWAY[] = {"gateway", NULL};
/* ULB master data is also what other services check codes against. */
/* The principals batch jobs run as ask for grants (nagar-batch, nagarctl). */
static const char *const JOB_RUNNERS[] = {"batch", "operator", NULL};
/* Everyone who verifies tokens learns of logouts and disabled accounts. */
/* Every principal that verifies end-user tokens: the witness too, for its operations summary. */
static const char *const REVOCATION_READERS[] = {"gateway", "certificates", "property_tax",
                                                 "water_tax", "notifications", "witness", NULL};
static const char *const ULB_READERS[] = {"gateway", "certificates", "property_tax", "water_tax",
                                          "notifications", "batch", NULL};
/* Services whose documents name the staff member who recorded them. */
static const char *const DOCUMENT_PRINTERS[] = {"property_tax", "water_tax", "certificates",
                                                  NULL};

/* Verified contacts: only notifications, to reach a person named by user id. */
static const char *const NOTIFICATIONS[] = {"notifications", NULL};

static const nagar_method_t METHODS[] = {
    {"ulb.list", &nagar__identity__list_ulbs_request__descriptor, ULB_READERS, identity_ulb_list},
    {"ulb.get", &nagar__identity__get_ulb_request__descriptor, ULB_READERS, identity_ulb_get},
    {"ulb.create", &nagar__identity__create_ulb_request__descriptor, GATEWAY, identity_ulb_create},
    {"otp.request", &nagar__identity__request_otp_request__descriptor, GATEWAY,
     identity_otp_request},
    {"otp.verify", &nagar__identity__verify_otp_request__descriptor, GATEWAY, identity_otp_verify},
    {"staff.login", &nagar__identity__staff_login_request__descriptor, GATEWAY,
     identity_staff_login},
    {"staff.create", &nagar__identity__create_staff_request__descriptor, GATEWAY,
     identity_staff_create},
    {"staff.disable", &nagar__identity__disable_staff_request__descriptor, GATEWAY,
     identity_staff_disable},
    {"staff.set_role", &nagar__identity__set_staff_role_request__descriptor, GATEWAY,
     identity_staff_set_role},
    {"staff.list", &nagar__identity__list_staff_request__descriptor, GATEWAY, identity_staff_list},
    {"staff.names", &nagar__identity__staff_names_request__descriptor, DOCUMENT_PRINTERS,
     identity_staff_names},
    {"staff.change_password", &nagar__identity__change_password_request__descriptor, GATEWAY,
     identity_staff_change_password},
    {"staff.replace_one_time_password",
     &nagar__identity__replace_one_time_password_request__descriptor, GATEWAY,
     identity_staff_replace_one_time_password},
    {"audit.list", &nagar__identity__list_audit_request__descriptor, GATEWAY, identity_audit_list},
    {"token.refresh", &nagar__identity__refresh_request__descriptor, GATEWAY,
     identity_session_refresh},
    {"token.logout", &nagar__identity__logout_request__descriptor, GATEWAY,
     identity_session_logout},
    {"token.revocations", &nagar__identity__list_revocations_request__descriptor,
     REVOCATION_READERS, identity_session_revocations},
    {"grant.issue", &nagar__identity__issue_grant_request__descriptor, JOB_RUNNERS,
     identity_grant_issue},
    {"contact.lookup", &nagar__identity__lookup_contacts_request__descriptor, NOTIFICATIONS,
     identity_contact_lookup},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-identity                       serve the identity service on the bus\n"
            "       nagar-identity seed-ulbs FILE        load the LGD ULB CSV (idempotent)\n"
            "       nagar-identity keygen DIR KEY_ID     create a token signing key pair\n"
            "       nagar-identity otp-keygen FILE       create the OTP hashing key\n"
            "       nagar-identity bootstrap-admin USER  create the first STATE_ADMIN and print\n"
            "                                            its one-time password (replaced at the\n"
            "                                            first login)\n");
}

static int get_long(identity_t *self, const char *key, long default_value, long min, long max,
                    long *out)
{
    return nagar_service_config_long(self->config, IDENTITY_SERVICE, key, default_value, min, max,
                                     out);
}

static int connect_db(identity_t *self)
{
    self->db = nagar_service_db_connect(self->config, IDENTITY_SERVICE);
    return self->db ? 0 : -1;
}

/* Signing key, our verifier, OTP key, sink and limits. */
static int load_service_settings(identity_t *self)
{
    char error[1024];
    const char *key_path = nagar_config_get(self->config, "NAGAR_IDENTITY_TOKEN_KEY", NULL);
    if (!key_path || !key_path[0]) {
        nagar_log_error("identity.config_invalid",
                        "NAGAR_IDENTITY_TOKEN_KEY is not set; create a key pair with "
                        "nagar-identity keygen DIR KEY_ID and point it at DIR/KEY_ID.key");
        return -1;
    }
    char path_copy[PATH_MAX];
    snprintf(path_copy, sizeof path_copy, "%s", key_path);
    const char *base = basename(path_copy);
    size_t base_length = strlen(base);
    if (base_length < 5 || strcmp(base + base_length - 4, ".key") != 0 ||
        base_length - 4 > NAGAR_TOKEN_KEY_ID_MAX) {
        nagar_log_error("identity.config_invalid",
                        "NAGAR_IDENTITY_TOKEN_KEY=%s must name a file <key id>.key", key_path);
        return -1;
    }
    snprintf(self->key_id, sizeof self->key_id, "%.*s", (int) (base_length - 4), base);
    self->signer = nagar_token_signer_new(key_path, self->key_id, error, sizeof error);
    if (!self->signer) {
        nagar_log_error("identity.config_invalid", "%s", error);
        return -1;
    }
    snprintf(path_copy, sizeof path_copy, "%s", key_path);
    const char *public_dir =
        nagar_config_get(self->config, "NAGAR_TOKEN_PUBLIC_KEYS_DIR", dirname(path_copy));
    self->verifier = nagar_token_verifier_new();
    if (!self->verifier ||
        nagar_token_verifier_load_dir(self->verifier, public_dir, error, sizeof error) < 0) {
        nagar_log_error("identity.config_invalid", "public token keys: %s",
                        self->verifier ? error : "out of memory");
        return -1;
    }
    /* Our own tokens must verify, or refresh would refuse every session. */
    nagar_token_claims_t probe = {.type = NAGAR__TOKEN_TYPE__ACCESS, .user_id = "probe",
                                  .role = "probe", .session_id = "probe",
                                  .issued_at_ms = nagar_bus_now_ms(),
                                  .expires_at_ms = nagar_bus_now_ms() + 60000};
    char *token = nagar_token_sign(self->signer, &probe);
    nagar_token_claims_t out;
    nagar_token_result_t probe_result =
        token ? nagar_token_verify(self->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                   nagar_bus_now_ms(), &out)
              : NAGAR_TOKEN_MALFORMED;
    free(token);
    if (probe_result != NAGAR_TOKEN_OK) {
        nagar_log_error("identity.config_invalid",
                        "tokens signed with %s do not verify with the public keys in %s (%s); "
                        "put %s.pub there",
                        key_path, public_dir, nagar_token_result_text(probe_result), self->key_id);
        return -1;
    }

    const char *otp_key_path = nagar_config_get(self->config, "NAGAR_IDENTITY_OTP_KEY_FILE", NULL);
    if (!otp_key_path || !otp_key_path[0]) {
        nagar_log_error("identity.config_invalid",
                        "NAGAR_IDENTITY_OTP_KEY_FILE is not set; create one with "
                        "nagar-identity otp-keygen FILE");
        return -1;
    }
    if (identity_otp_key_load(otp_key_path, self->otp_key, error, sizeof error) != 0) {
        nagar_log_error("identity.config_invalid", "%s", error);
        return -1;
    }
    const char *sink = nagar_config_get(self->config, "NAGAR_OTP_SINK_FILE", "");
    snprintf(self->otp_sink_path, sizeof self->otp_sink_path, "%s", sink);
    const char *via = nagar_config_get(self->config, "NAGAR_IDENTITY_OTP_VIA", "file");
    if (strcmp(via, "notifications") != 0 && strcmp(via, "file") != 0) {
        nagar_log_error("identity.config_invalid",
                        "NAGAR_IDENTITY_OTP_VIA=%s must be \"file\" or \"notifications\"", via);
        return -1;
    }
    self->otp_via_notifications = strcmp(via, "notifications") == 0;
    if (!self->otp_via_notifications && !sink[0])
        nagar_log_warn("identity.otp_no_delivery",
                       "NAGAR_OTP_SINK_FILE is not set and NAGAR_IDENTITY_OTP_VIA is not "
                       "notifications: citizen OTP requests will be refused");

    if (get_long(self, "NAGAR_IDENTITY_ACCESS_TTL_S", 900, 10, 86400, &self->access_ttl_s) ||
        get_long(self, "NAGAR_IDENTITY_REFRESH_TTL_S", 7 * 86400, 60, 90 * 86400,
                 &self->refresh_ttl_s) ||
        get_long(self, "NAGAR_IDENTITY_OTP_TTL_S", 300, 10, 3600, &self->otp_ttl_s) ||
        get_long(self, "NAGAR_IDENTITY_OTP_RESEND_S", 30, 0, 3600, &self->otp_resend_s) ||
        get_long(self, "NAGAR_IDENTITY_OTP_WINDOW_S", 900, 60, 86400, &self->otp_window_s) ||
        get_long(self, "NAGAR_IDENTITY_OTP_PER_NUMBER", 3, 1, 1000, &self->otp_per_number) ||
        get_long(self, "NAGAR_IDENTITY_OTP_PER_IP", 10, 1, 100000, &self->otp_per_ip) ||
        get_long(self, "NAGAR_IDENTITY_OTP_MAX_ATTEMPTS", 3, 1, 10, &self->otp_max_attempts) ||
        get_long(self, "NAGAR_IDENTITY_LOGIN_FREE_FAILURES", 3, 0, 100,
                 &self->login_free_failures) ||
        get_long(self, "NAGAR_IDENTITY_LOGIN_CLIENT_FREE_FAILURES", 20, 0, 100000,
                 &self->login_client_free_failures) ||
        get_long(self, "NAGAR_IDENTITY_LOGIN_ACCOUNT_FREE_FAILURES", 50, 0, 100000,
                 &self->login_account_free_failures) ||
        get_long(self, "NAGAR_IDENTITY_LOGIN_BACKOFF_MAX_S", 900, 1, 86400,
                 &self->login_backoff_max_s) ||
        get_long(self, "NAGAR_IDENTITY_LOGIN_WINDOW_S", 3600, 60, 7 * 86400,
                 &self->login_window_s) ||
        get_long(self, "NAGAR_IDENTITY_OTP_SEND_TIMEOUT_MS", 3000, 100, 30000,
                 &self->otp_send_timeout_ms))
        return -1;
    if (self->refresh_ttl_s <= self->access_ttl_s) {
        nagar_log_error("identity.config_invalid",
                        "NAGAR_IDENTITY_REFRESH_TTL_S (%ld) must be longer than "
                        "NAGAR_IDENTITY_ACCESS_TTL_S (%ld)",
                        self->refresh_ttl_s, self->access_ttl_s);
        return -1;
    }
    return 0;
}

/* Spent codes are kept a day for the rate limits and then removed; quiet
 * failed-login counters after their window. */
static void housekeeping(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    identity_t *self = arg;
    PGresult *result = nagar_service_query(
        self->db, "otp_cleanup",
        "DELETE FROM identity.otp WHERE created_at < now() - interval '1 day'", 0, NULL);
    if (result)
        PQclear(result);
    else
        nagar_log_warn("identity.housekeeping_failed", "removing old OTP rows failed: %s",
                       nagar_db_error(self->db));
    identity_login_throttle_forget_old(self);
}

static int serve(identity_t *self)
{
    if (load_service_settings(self) != 0 || connect_db(self) != 0)
        return 1;
    char error[1024];
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        nagar_log_error("identity.config_invalid", "%s", error);
        return 1;
    }
    if (self->otp_via_notifications) {
        self->notify_client = nagar_bus_client_new(&options, self->config, error, sizeof error);
        if (!self->notify_client) {
            nagar_log_error("identity.worker_failed", "bus client for notifications: %s", error);
            return 1;
        }
    }
    nagar_worker_t *worker =
        nagar_worker_new(&options, self->config, "identity", METHODS, self, error, sizeof error);
    if (!worker) {
        nagar_log_error("identity.worker_failed", "%s", error);
        return 1;
    }
    nagar_worker_set_tick(worker, 60000, housekeeping, self);
    nagar_worker_set_revocations_source(worker, identity_session_revocations_fetch, self);
    self->worker = worker;
    nagar_service_keep_worker_alive(self->db, worker);
    nagar_service_keep_worker_alive_on_bus(self->notify_client, worker);
    json_t *fields = json_pack("{s:s, s:i, s:i}", "key_id", self->key_id, "access_ttl_s",
                               (int) self->access_ttl_s, "refresh_ttl_s",
                               (int) self->refresh_ttl_s);
    nagar_log_write(NAGAR_LOG_INFO, "identity.ready", fields, "identity serving on the bus");
    int rc = nagar_worker_run(worker);
    self->worker = NULL;
    nagar_worker_destroy(&worker);
    nagar_log_info("identity.stopped", "identity stopped");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *command;
    int started = nagar_program_start(IDENTITY_SERVICE, argc, argv, usage, &command);
    if (started >= 0)
        return started;
    if (strcmp(command, "keygen") == 0)
        return nagar_program_keygen(IDENTITY_SERVICE, argc, argv, usage, "token key pair", "");
    char error[1024];
    if (strcmp(command, "otp-keygen") == 0) {
        if (argc != 3) {
            usage(stderr);
            return 2;
        }
        if (identity_otp_keygen(argv[2], error, sizeof error) != 0) {
            nagar_log_error("identity.keygen_failed", "%s", error);
            return 1;
        }
        nagar_log_info("identity.otp_keygen", "OTP hashing key written to %s", argv[2]);
        return 0;
    }

    identity_t self;
    memset(&self, 0, sizeof self);
    self.config = nagar_config_new(NULL, error, sizeof error);
    if (!self.config) {
        nagar_log_error("identity.config_invalid", "%s", error);
        return 1;
    }
    int rc;
    if (strcmp(command, "serve") == 0 && argc <= 2) {
        rc = serve(&self);
    } else if (strcmp(command, "seed-ulbs") == 0 && argc == 3) {
        rc = connect_db(&self) != 0 ? 1
                                    : identity_ulb_seed(&self, argv[2], error, sizeof error) != 0;
        if (rc && self.db)
            nagar_log_error("identity.seed_failed", "%s", error);
    } else if (strcmp(command, "bootstrap-admin") == 0 && argc == 3) {
        /* Exit 3 = a state admin exists already: scripts run this every time. */
        rc = connect_db(&self) != 0
                 ? 1
                 : identity_staff_bootstrap_admin(&self, argv[2], error, sizeof error);
        if (rc == -2) {
            nagar_log_info("identity.bootstrap_skipped", "%s", error);
            rc = 3;
        } else if (rc != 0) {
            if (self.db)
                nagar_log_error("identity.bootstrap_failed", "%s", error);
            rc = 1;
        }
    } else {
        usage(stderr);
        rc = 2;
    }
    sodium_memzero(self.otp_key, sizeof self.otp_key);
    nagar_bus_client_destroy(&self.notify_client);
    nagar_token_signer_destroy(&self.signer);
    nagar_token_verifier_destroy(&self.verifier);
    nagar_db_destroy(&self.db);
    nagar_config_destroy(&self.config);
    return rc;
}
