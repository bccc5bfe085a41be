/*
 * job_grant.c — obtaining and renewing a batch job's grant from identity's
 * grant.issue (job_grant.h).
 */
#include "job_grant.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "key_file.h"
#include "proto/identity.pb-c.h"

#define SECRET_MAX 1100            /* a password (128) or an access token (1024) */
#define GRANT_CALL_TIMEOUT_MS 15000

struct nagar_job_grant_t {
    nagar_bus_client_t *client;
    char username[65];
    char *secret;                  /* sodium_malloc'd: password or access token */
    bool secret_is_token;
    char job[48], ulb[16], fy[16], clerk[100];
    char *grant;                   /* malloc'd */
    char operator_id[96];
    int64_t expires_at_ms;
    int64_t renew_at_ms;
};

/* Asks for the password on the terminal without echo. */
static int prompt_password(const char *username, char *out, size_t size)
{
    if (!isatty(STDIN_FILENO))
        return -1;
    fprintf(stderr, "password for %s: ", username);
    fflush(stderr);
    struct termios saved, quiet;
    bool restore = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (restore) {
        quiet = saved;
        quiet.c_lflag &= (tcflag_t) ~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    bool ok = fgets(out, (int) size, stdin) != NULL;
    if (restore)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fputc('\n', stderr);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

static int load_credentials(nagar_job_grant_t *self, nagar_config_t *config,
                            const char *operator_user, char *error, size_t error_size)
{
    const char *token = nagar_config_get(config, "NAGAR_OPERATOR_TOKEN", NULL);
    const char *token_file = nagar_config_get(config, "NAGAR_OPERATOR_TOKEN_FILE", NULL);
    const char *user = operator_user ? operator_user
                                     : nagar_config_get(config, "NAGAR_OPERATOR_USER", NULL);
    if ((token && token[0]) || (token_file && token_file[0])) {
        self->secret_is_token = true;
        if (token && token[0]) {
            if (strlen(token) >= SECRET_MAX) {
                snprintf(error, error_size, "NAGAR_OPERATOR_TOKEN is too long to be a token");
                return -1;
            }
            snprintf(self->secret, SECRET_MAX, "%s", token);
            return 0;
        }
        return nagar_key_file_read_secret(token_file, self->secret, SECRET_MAX, error, error_size);
    }
    if (!user || !user[0]) {
        snprintf(error, error_size,
                 "this job acts for a person, so it needs a grant from identity, obtained by "
                 "logging in as staff: set NAGAR_OPERATOR_USER (or --operator) and "
                 "NAGAR_OPERATOR_PASSWORD or NAGAR_OPERATOR_PASSWORD_FILE, or "
                 "NAGAR_OPERATOR_TOKEN(_FILE) with your access token; the batch key alone "
                 "starts nothing");
        return -1;
    }
    if (strlen(user) >= sizeof self->username) {
        snprintf(error, error_size, "operator username \"%.70s...\" is too long", user);
        return -1;
    }
    snprintf(self->username, sizeof self->username, "%s", user);
    const char *password = nagar_config_get(config, "NAGAR_OPERATOR_PASSWORD", NULL);
    const char *password_file = nagar_config_get(config, "NAGAR_OPERATOR_PASSWORD_FILE", NULL);
    if (password && password[0]) {
        snprintf(self->secret, SECRET_MAX, "%s", password);
        return 0;
    }
    if (password_file && password_file[0])
        return nagar_key_file_read_secret(password_file, self->secret, SECRET_MAX, error,
                                          error_size);
    if (prompt_password(user, self->secret, SECRET_MAX) == 0)
        return 0;
    snprintf(error, error_size, "no password for operator %s: set NAGAR_OPERATOR_PASSWORD or "
             "NAGAR_OPERATOR_PASSWORD_FILE (or run on a terminal to be asked)", user);
    return -1;
}

static const char *status_name(nagar_status_code_t code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&nagar__status_code__descriptor, (int) code);
    return value ? value->name : "UNKNOWN";
}

/* Asks identity for a (new) grant. */
static int obtain(nagar_job_grant_t *self, char *error, size_t error_size)
{
    Nagar__Identity__IssueGrantRequest request = NAGAR__IDENTITY__ISSUE_GRANT_REQUEST__INIT;
    if (self->secret_is_token) {
        request.access_token = self->secret;
    } else {
        request.username = self->username;
        request.password = self->secret;
    }
    request.job = self->job;
    request.ulb = self->ulb;
    request.fy = self->fy;
    request.on_behalf_of = self->clerk;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    nagar_bus_call_t call = {.service = "identity", .method = "grant.issue", .context = &context,
                             .request = &request.base, .timeout_ms = GRANT_CALL_TIMEOUT_MS,
                             .max_attempts = 3};
    Nagar__Identity__Grant *grant = NULL;
    char message[512] = "", field[64] = "";
    int64_t asked_at = nagar_bus_now_ms();
    nagar_status_code_t code = nagar_bus_client_call(
        self->client, &call, &nagar__identity__grant__descriptor, (ProtobufCMessage **) &grant,
        message, sizeof message, field, sizeof field);
    if (code != NAGAR__STATUS_CODE__OK) {
        snprintf(error, error_size, "identity refused a grant for %s in ULB %s: %s: %s%s%s",
                 self->job, self->ulb, status_name(code), message, field[0] ? " (field " : "",
                 field[0] ? field : "");
        if (field[0])
            strncat(error, ")", error_size - strlen(error) - 1);
        return -1;
    }
    if (self->grant) {
        sodium_memzero(self->grant, strlen(self->grant));
        free(self->grant);
    }
    self->grant = strdup(grant->grant);
    snprintf(self->operator_id, sizeof self->operator_id, "%s", grant->user_id);
    int64_t life_ms = (int64_t) grant->expires_in_seconds * 1000;
    self->expires_at_ms = asked_at + life_ms;
    self->renew_at_ms = asked_at + life_ms * 2 / 3;
    protobuf_c_message_free_unpacked(&grant->base, NULL);
    if (!self->grant) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    return 0;
}

nagar_job_grant_t *nagar_job_grant_new(nagar_config_t *config, nagar_bus_client_t *client,
                                       const char *operator_user, const char *job,
                                       const char *ulb, const char *fy, const char *clerk,
                                       char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium could not be initialised");
        return NULL;
    }
    nagar_job_grant_t *self = calloc(1, sizeof *self);
    if (self)
        self->secret = sodium_malloc(SECRET_MAX);
    if (!self || !self->secret) {
        free(self);
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->secret[0] = '\0';
    self->client = client;
    snprintf(self->job, sizeof self->job, "%s", job);
    snprintf(self->ulb, sizeof self->ulb, "%s", ulb ? ulb : "");
    snprintf(self->fy, sizeof self->fy, "%s", fy ? fy : "");
    snprintf(self->clerk, sizeof self->clerk, "%s", clerk ? clerk : "");
    if (load_credentials(self, config, operator_user, error, error_size) != 0 ||
        obtain(self, error, error_size) != 0) {
        nagar_job_grant_destroy(&self);
        return NULL;
    }
    return self;
}

void nagar_job_grant_destroy(nagar_job_grant_t **self_p)
{
    nagar_job_grant_t *self = *self_p;
    if (!self)
        return;
    sodium_free(self->secret);
    if (self->grant) {
        sodium_memzero(self->grant, strlen(self->grant));
        free(self->grant);
    }
    free(self);
    *self_p = NULL;
}

const char *nagar_job_grant_token(nagar_job_grant_t *self, char *error, size_t error_size)
{
    if (nagar_bus_now_ms() >= self->renew_at_ms && obtain(self, error, error_size) != 0)
        return nagar_bus_now_ms() < self->expires_at_ms ? self->grant : NULL;
    return self->grant;
}

const char *nagar_job_grant_operator(nagar_job_grant_t *self)
{
    return self->operator_id;
}
