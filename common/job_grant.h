/*
 * job_grant.h — the grant a batch job carries (nagar-batch, nagarctl):
 * obtained from identity by logging in as the operator, renewed while the
 * job runs (issue 12; authority.h says what a grant is and who checks it).
 *
 * The operator's credentials come from the settings (environment or the
 * NAGAR_CONFIG file), never from the command line where ps would show them:
 *
 *   NAGAR_OPERATOR_USER            staff username (or the tool's --operator)
 *   NAGAR_OPERATOR_PASSWORD        its password, or
 *   NAGAR_OPERATOR_PASSWORD_FILE   a file holding it alone on one line
 *                                  (nagar_key_file_read_secret of
 *                                  key_file.h), or, when neither is set and
 *                                  stdin is a terminal, asked for without echo
 *   NAGAR_OPERATOR_TOKEN(_FILE)    instead of the above: the operator's own
 *                                  access token (already logged in); its
 *                                  file holds it alone on one line
 *
 * The password is kept (in memory locked and wiped on destroy) only so the
 * grant can be renewed: grants live 15 minutes, a demand run may take
 * longer; a grant with less than a third of its life left is replaced before
 * the next call.
 */
#ifndef NAGAR_JOB_GRANT_H
#define NAGAR_JOB_GRANT_H

#include <stddef.h>

#include "bus_client.h"
#include "config.h"

typedef struct nagar_job_grant_t nagar_job_grant_t;

/* Logs in and obtains the first grant for job in ulb (fy and the clerk of a
 * replay as the job needs, else NULL). operator_user overrides
 * NAGAR_OPERATOR_USER when not NULL. NULL with the reason in error (which
 * says what to set when no credentials were given). */
nagar_job_grant_t *nagar_job_grant_new(nagar_config_t *config, nagar_bus_client_t *client,
                                       const char *operator_user, const char *job,
                                       const char *ulb, const char *fy, const char *clerk,
                                       char *error, size_t error_size);
void nagar_job_grant_destroy(nagar_job_grant_t **self_p);

/* The grant to send now (renewed when near its end); NULL with error when
 * it could not be renewed. Valid until the next call. */
const char *nagar_job_grant_token(nagar_job_grant_t *self, char *error, size_t error_size);

/* The operator the grant names (their user id). */
const char *nagar_job_grant_operator(nagar_job_grant_t *self);

#endif
